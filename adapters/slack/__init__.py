"""The Slack adapter: slash commands, key and transcript forms, streamed answers, App Home.

``byok-bot run`` builds a :class:`SlackAdapter` from ``[slack]`` settings and starts it
(:mod:`adapters.slack.platform`);
:class:`SlackMessenger` (``SlackAdapter.messenger``) sends digests and alerts by DM.
"""

from adapters.slack.adapter import SlackAdapter
from adapters.slack.delivery import SlackOptions
from adapters.slack.messenger import SlackMessenger

__all__ = ["SlackAdapter", "SlackMessenger", "SlackOptions"]
