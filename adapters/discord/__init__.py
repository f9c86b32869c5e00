"""Discord: application commands, key modals, streamed answers, conversations and DMs.

``byok-bot run`` and ``digest --send-now`` start it as a ``ChatPlatform``
(:mod:`adapters.discord.platform`); its ``messenger`` (a :class:`DiscordMessenger`) sends
digests and alerts.
"""

from adapters.discord.adapter import DiscordAdapter
from adapters.discord.identity import PLATFORM, WORKSPACE
from adapters.discord.messenger import DiscordMessenger
from adapters.discord.shards import ShardDown
from adapters.discord.streaming import Pacing

__all__ = ["PLATFORM", "WORKSPACE", "DiscordAdapter", "DiscordMessenger", "Pacing", "ShardDown"]
