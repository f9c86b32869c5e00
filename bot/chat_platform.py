"""What ``byok-bot run`` and the CLI need of a chat platform (Slack, Discord, ...).

Each platform package in ``adapters/`` provides one :class:`ChatPlatform`, and the
composition root lists them once (``adapters/platforms.py``). ``run`` starts every enabled
one, serves its HTTP routes, asks it for readiness, sends digests and spend alerts through
its messenger, and stops it within the grace period; ``digest --send-now`` starts it only
for sending. The log mask needs nothing from it: every ``SecretStr`` setting is masked
(``bot.logs.config_secrets``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from bot.messenger import Messenger

if TYPE_CHECKING:
    from aiohttp import web

__all__ = ["ChatPlatform", "StartError"]


class StartError(Exception):
    """A part of the bot could not start; the message says which setting to check."""


@runtime_checkable
class ChatPlatform(Protocol):
    """One chat platform, built from its settings, as ``run`` starts and stops it."""

    @property
    def messenger(self) -> Messenger:
        """Sends digests and spend alerts by DM."""
        ...

    async def start(self) -> None:
        """Connect and take events; raises :class:`StartError` naming the setting to check.

        When it fails, it has closed what it opened: no :meth:`stop` is needed.
        """
        ...

    async def start_for_sending(self) -> None:
        """Only what sending DMs needs: no events are taken, no commands registered."""
        ...

    async def hand_over(self) -> None:
        """Shutdown has begun: give work other instances can take to them now (may do nothing)."""
        ...

    async def stop(self, grace_s: float) -> None:
        """Take no new work, let work in flight finish within ``grace_s``, disconnect."""
        ...

    def readiness(self) -> tuple[str, bool]:
        """For ``/readyz``: (name, ready)."""
        ...

    def routes(self) -> Sequence[web.RouteDef]:
        """Routes it serves on the bot's HTTP server (none for a gateway platform)."""
        ...

    def describe(self) -> str:
        """One line for the log: what started, e.g. ``Slack: Socket Mode``."""
        ...
