"""How the bot reaches a user on its own initiative (digests, spend alerts): by DM.

Each chat adapter provides a :class:`Messenger` for its platform; the scheduler and
alerting code in ``bot/`` only know this protocol.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from bot.reply import Reply
from byok.types import UserRef

__all__ = ["DeliveryError", "Messenger"]


class DeliveryError(Exception):
    """The platform refused or failed to deliver; ``retryable`` says if trying later may help."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


@runtime_checkable
class Messenger(Protocol):
    """Sends direct messages on one platform."""

    @property
    def platform(self) -> str:
        """The platform name used in UserRef (``slack``, ``discord``, ``console``)."""
        ...

    async def send_dm(self, user: UserRef, reply: Reply) -> None:
        """Deliver ``reply`` (text, sections, files such as a chart) to the user privately.

        Raises DeliveryError when the platform does not accept it.
        """
        ...
