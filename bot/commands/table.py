"""The one table of chat commands: every platform, ``/help`` and the dispatcher read it.

The dispatcher runs a row's handler (by name or alias, subcommands routed), ``/help``
shows its summary and examples, and the adapters offer it: Slack registers its slash
command, Discord builds an application command, the console completes it.
``tests/test_command_parity.py`` holds every platform to this table.

Adding a command: write its handler (a module here in ``bot/commands/``) and add its
row. The only other file is ``slack-manifest.yml`` for a Slack slash command:
``tests/slack/test_manifest.py`` fails until the manifest holds the entry, and prints it.
On Discord the row becomes a command with one free-text option; for typed options
(choices, files, autocomplete), give it a builder in ``adapters/discord/commands.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

from bot.commands import ask, help, home, keys, prefs, summarize, usage
from bot.commands.spec import AppHomeTab, ChatCommand, DiscordCommand, SlashCommand, Subcommand
from bot.context import BotContext
from bot.invocation import Invocation
from bot.remedy_text import CommandHints
from bot.reply import ReplyEvent
from byok.remedies import (
    AddKey,
    CheckKey,
    EnableKey,
    RaiseLimit,
    RemoveLimit,
    SetAllowedModels,
    SetPreferredModel,
)

__all__ = [
    "COMMANDS_BY_NAME",
    "COMMAND_HINTS",
    "COMMAND_TABLE",
    "FILE_COMMAND_WORDS",
    "SHARED_FILE_COMMAND",
    "command_named",
    "subcommand_named",
]


async def _help(inv: Invocation, ctx: BotContext) -> AsyncIterator[ReplyEvent]:
    # Read at call time: /help is itself a row of the table it describes.
    async for event in help.help_command(inv, ctx, COMMAND_TABLE):
        yield event


_BYOK_SUBCOMMANDS = (
    Subcommand("add", keys.add, "Add a key (asked for in a private form)", remedies=(AddKey,)),
    Subcommand("list", keys.list_keys, "Your keys, their status and this month's spend", ("ls",)),
    Subcommand("remove", keys.remove, "Delete a key for good", ("rm", "delete")),
    Subcommand("test", keys.test, "Check that a key still works", ("check",), remedies=(CheckKey,)),
    Subcommand("enable", keys.enable, "Switch a key back on", remedies=(EnableKey,)),
    Subcommand("disable", keys.disable, "Switch a key off (it stays stored)"),
    Subcommand(
        "limit",
        keys.limit,
        "A monthly spending limit for a key",
        remedies=(RaiseLimit, RemoveLimit),
    ),
    Subcommand(
        "models",
        keys.models,
        "Show or restrict the models a key may use",
        remedies=(SetAllowedModels,),
    ),
    Subcommand("default", prefs.default, "The provider that answers by default"),
    Subcommand("fallback", prefs.fallback, "The provider tried when the first one fails"),
    Subcommand(
        "prefs", prefs.prefs, "Show or change your preferences", remedies=(SetPreferredModel,)
    ),
)

#: In the order ``/help`` lists them.
COMMAND_TABLE: tuple[ChatCommand, ...] = (
    ChatCommand(
        name="ask",
        handler=ask.ask,
        summary="Ask a question, routed by your preferences or to the provider you name.",
        examples=(
            "/ask What is a monad, briefly?",
            "/ask --provider grok What happened in tech today?",
            "/ask --provider anthropic --model claude-3-haiku --max-tokens 200 Summarise RFC 9110",
            "/ask --temperature 1.2 Give me five project names",
            "/ask --fresh What is a monad, briefly?",
            "/ask What is in this screenshot?   (with a PNG, JPEG, GIF or WebP image attached)",
        ),
        slack=SlashCommand(
            "Ask a question with your own keys", "[--provider grok] [--model M] your question"
        ),
        discord=DiscordCommand("Ask a question, answered with your own key"),
        public=True,
    ),
    ChatCommand(
        name="summarize",
        handler=summarize.summarize,
        summary=(
            "Summarise a meeting transcript: paste it, or attach a .txt, .vtt or .srt file. "
            "You get an overview, decisions, action items and open questions."
        ),
        examples=(
            summarize.SUMMARIZE_EXAMPLE,
            "/summarize --provider openai   (with meeting.vtt attached)",
            "/summarize --file examples/standup.vtt   (in the terminal console)",
        ),
        slack=SlashCommand("Summarise a meeting transcript (opens a form)", "[transcript]"),
        discord=DiscordCommand("Summarize a meeting transcript"),
        public=True,
        takes_file=True,
        aliases=("summarise", "summary"),
    ),
    ChatCommand(
        name="usage",
        handler=usage.usage,
        summary=(
            "What you asked and the attempts at providers behind it (fallbacks, failures), "
            "tokens and cost by provider and model, and your monthly limits."
        ),
        examples=("/usage", "/usage week", "/usage month"),
        slack=SlashCommand("Your requests, tokens and cost by provider and model", "[week|month]"),
        discord=DiscordCommand("Your requests, tokens and cost"),
    ),
    ChatCommand(
        name="home",
        handler=home.home,
        summary=(
            "Your settings on one page: your keys with this month's spend against their "
            "limits, your preferences and this month's usage. In Slack it is the bot's Home "
            "tab; elsewhere send `/home` (on Discord, in a DM to the bot)."
        ),
        examples=("/home",),
        slack=AppHomeTab(),
        discord=DiscordCommand("Your keys, limits and preferences", name="settings"),
    ),
    ChatCommand(
        name="byok",
        handler=keys.list_keys,
        summary=(
            "Manage your own API keys and preferences. Keys are entered privately and "
            "stored encrypted; only their last four characters are ever shown."
        ),
        examples=(
            "/byok add openai   (asks for the key privately)",
            "/byok add openrouter --limit 20 --models openai/gpt-4o-mini",
            "/byok list",
            "/byok test anthropic",
            "/byok remove xai",
            "/byok disable google   ·   /byok enable google",
            "/byok limit openai 25   ·   /byok limit openai off",
            "/byok models openai   ·   /byok models openai gpt-4o-mini,gpt-4o",
            "/byok default anthropic   ·   /byok fallback openai",
            "/byok prefs   ·   /byok prefs auto-switch off   ·   /byok prefs model openai gpt-4o",
        ),
        slack=SlashCommand(
            "Your API keys and preferences (add, list, remove, test, limit, prefs…)",
            "add openai | list | test anthropic | limit openai 20 | prefs",
        ),
        discord=DiscordCommand("Your own API keys and preferences"),
        aliases=("keys",),
        subcommands=_BYOK_SUBCOMMANDS,
    ),
    ChatCommand(
        name="help",
        handler=_help,
        summary="This help.",
        examples=("/help", "/help ask"),
        slack=SlashCommand("Every byok-bot command with examples", "[command]"),
        discord=DiscordCommand("Every command, with examples"),
    ),
)

#: The rows by name, for code that relies on a command (an alias is no key here).
COMMANDS_BY_NAME: Mapping[str, ChatCommand] = {command.name: command for command in COMMAND_TABLE}
_BY_WORD = {name: command for command in COMMAND_TABLE for name in command.names}
#: The words (names and aliases) of the commands that read an attached file.
FILE_COMMAND_WORDS = frozenset(word for c in COMMAND_TABLE if c.takes_file for word in c.names)
#: Where a file shared without a command goes (a transcript dropped in a DM, a mention
#: with a file): the one row that takes a file (the unpacking fails if there are more).
[SHARED_FILE_COMMAND] = [c for c in COMMAND_TABLE if c.takes_file]
#: An error's remedies worded as these commands and /ask's options (``bot.remedy_text``).
COMMAND_HINTS = CommandHints(COMMAND_TABLE, ask.ASK_FLAGS)


def command_named(word: str) -> ChatCommand | None:
    """The command a user means by ``word`` (its name or an alias, any case)."""
    return _BY_WORD.get(word.lower())


def subcommand_named(command: ChatCommand, word: str) -> Subcommand | None:
    """The subcommand of ``command`` that ``word`` names (or is an alias of), any case."""
    word = word.lower()
    return next((sub for sub in command.subcommands if word in (sub.name, *sub.aliases)), None)
