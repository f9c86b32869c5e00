"""The chat platforms ``byok-bot run`` and ``digest --send-now`` know: one entry each.

Adding a platform is its package (with a :class:`bot.chat_platform.ChatPlatform`) and one
entry here. Each builder imports its package only when that platform is enabled, so a
process never loads a chat SDK it does not use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.chat_platform import ChatPlatform
from bot.config import Config

if TYPE_CHECKING:
    from adapters.instance import Membership
    from bot.app import App

__all__ = ["PLATFORMS", "Build", "Platform", "sections"]

#: Builds a platform from the configuration and the app; ``membership`` is this ``run``
#: process's instance registration, None when only sending (``digest --send-now``).
Build = Callable[["Config", "App", "Membership | None"], ChatPlatform]


@dataclass(frozen=True, slots=True)
class Platform:
    """A chat platform: its name for operators, its config section, how to build it."""

    name: str
    section: str
    enabled: Callable[[Config], bool]
    build: Build

    @property
    def disabled(self) -> str:
        """The "not started" line when it is off."""
        return f"{self.name}: [{self.section}] enabled = false"


def _slack(config: Config, app: App, membership: Membership | None) -> ChatPlatform:
    from adapters.slack.platform import SlackPlatform

    return SlackPlatform(config.slack, app)


def _discord(config: Config, app: App, membership: Membership | None) -> ChatPlatform:
    from adapters.discord.platform import DiscordPlatform

    return DiscordPlatform(config.discord, app, membership)


PLATFORMS: tuple[Platform, ...] = (
    Platform("Slack", "slack", lambda config: config.slack.enabled, _slack),
    Platform("Discord", "discord", lambda config: config.discord.enabled, _discord),
)


def sections(platforms: tuple[Platform, ...]) -> str:
    """Their config sections, e.g. ``[slack] or [discord]``, for a message to operators."""
    return " or ".join(f"[{p.section}]" for p in platforms)
