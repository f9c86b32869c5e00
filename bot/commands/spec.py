"""What a row of the command table says: the command, its help, and how platforms offer it.

The rows themselves are in :mod:`bot.commands.table`. These types name no platform
library: a Slack or Discord hint is plain text the adapter turns into its own surface.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from bot.context import BotContext
from bot.invocation import Invocation
from bot.reply import ReplyEvent
from byok.remedies import Remedy

__all__ = ["AppHomeTab", "ChatCommand", "DiscordCommand", "Handler", "SlashCommand", "Subcommand"]

Handler = Callable[[Invocation, BotContext], AsyncIterator[ReplyEvent]]


@dataclass(frozen=True, slots=True)
class SlashCommand:
    """A Slack slash command: the description and usage hint its manifest entry shows."""

    description: str
    usage_hint: str


@dataclass(frozen=True, slots=True)
class AppHomeTab:
    """Slack offers the command as the bot's Home tab rather than as a slash command."""


@dataclass(frozen=True, slots=True)
class DiscordCommand:
    """A Discord application command: its description, and its name when not the command's."""

    description: str  # at most 100 characters, Discord's limit
    name: str = ""


@dataclass(frozen=True, slots=True)
class Subcommand:
    """``/command <name> …``: the first word of the text picks the handler."""

    name: str
    handler: Handler
    description: str  # one line, e.g. Discord's description of the subcommand
    aliases: tuple[str, ...] = ()
    #: What it does for an error's advice (:mod:`byok.remedies`): hints to do that name it.
    remedies: tuple[type[Remedy], ...] = ()


@dataclass(frozen=True, slots=True)
class ChatCommand:
    """One chat command, offered on every platform.

    With ``subcommands``, ``handler`` answers the command given alone (``/byok``).
    """

    name: str
    handler: Handler
    #: /help's text for the command, and its examples (the overview shows the first two).
    summary: str
    examples: tuple[str, ...]
    slack: SlashCommand | AppHomeTab
    discord: DiscordCommand
    #: Its answer is for everyone in the channel (where the platform allows), not the user alone.
    public: bool = False
    #: It reads an attached file (a transcript); adapters pass attachments to it alone,
    #: and send it a file shared without a command (one row at most may).
    takes_file: bool = False
    aliases: tuple[str, ...] = ()
    subcommands: tuple[Subcommand, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """The name and every alias a user may type."""
        return (self.name, *self.aliases)

    @property
    def discord_name(self) -> str:
        return self.discord.name or self.name
