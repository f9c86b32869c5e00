"""The application commands: one per row of the command table, mapped onto its grammar.

Most rows have a builder here that gives them typed options; a row without one becomes
a command with one optional free-text option, answered to the user alone. ``/home`` is
``/settings`` here (the name users look for), and ``/byok panel`` shows the same panel.
Options become the command text the dispatcher parses (``/ask provider:xai prompt:hi``
is ``/ask --provider xai -- hi``), so every platform shares one parser, one set of
messages and one set of rules. Provider options are choices of the providers this
deployment offers; model options autocomplete from the user's own keys.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import discord
from discord import app_commands
from discord.app_commands import Choice, Range

from adapters.discord.interactions import InteractionFlows, command_text
from adapters.discord.surfaces import Interaction
from bot.commands.prefs import PREFERENCES
from bot.commands.spec import ChatCommand, Subcommand
from bot.commands.table import COMMAND_TABLE
from bot.provider_names import ProviderNames

__all__ = ["BYOK_PANEL", "build_commands"]

AppCommand = app_commands.Command[Any, ..., None] | app_commands.Group

_CONTEXTS = app_commands.AppCommandContext(guild=True, dm_channel=True, private_channel=False)
_INSTALLS = app_commands.AppInstallationType(guild=True, user=False)


#: The subcommand of /byok that shows the settings panel (Discord's second name for /home).
BYOK_PANEL = "panel"
_CHOICES = 25  # Discord's most for one option
_CHOICE_NAME_CHARS = 100  # Discord's longest choice name


def _choices(names: Sequence[str]) -> list[Choice[str]]:
    return [Choice(name=n, value=n) for n in names][:_CHOICES]


def _provider_choices(provider_ids: Sequence[str], names: ProviderNames) -> list[Choice[str]]:
    """Discord shows each provider's name and sends its id, the word the grammar parses."""
    return [Choice(name=names.label(p)[:_CHOICE_NAME_CHARS], value=p) for p in provider_ids][
        :_CHOICES
    ]


@dataclass(slots=True)
class _Kit:
    """What the builders share: the flows that answer, and this deployment's providers."""

    flows: InteractionFlows
    providers: list[Choice[str]]
    providers_or_off: list[Choice[str]] = field(init=False)

    def __post_init__(self) -> None:
        self.providers_or_off = [*self.providers[:24], Choice(name="off", value="off")]

    async def models_for_ask(self, interaction: Interaction, current: str) -> list[Choice[str]]:
        await self.flows.suggest_models(interaction, current)
        return []  # already answered: suggest_models responds itself, inside its boundary

    async def models_for_key(self, interaction: Interaction, current: str) -> list[Choice[str]]:
        await self.flows.suggest_models(interaction, current, extra=("all",))
        return []


Builder = Callable[[_Kit, ChatCommand], AppCommand]


def build_commands(flows: InteractionFlows, provider_ids: Sequence[str]) -> list[AppCommand]:
    """Every command of the table, with provider choices for this deployment."""
    kit = _Kit(flows, _provider_choices(provider_ids, flows.dispatcher.ctx.provider_names))
    commands = [_BUILDERS.get(row.name, _plain_command)(kit, row) for row in COMMAND_TABLE]
    for command in commands:
        command.allowed_contexts = _CONTEXTS
        command.allowed_installs = _INSTALLS
    return commands


def _plain_command(kit: _Kit, row: ChatCommand) -> AppCommand:
    """``/<name> [text]``: the text as typed after the command, answered to the user alone."""
    if row.public:
        raise ValueError(f"/{row.name} answers publicly: give it a builder in {__name__}")

    @app_commands.command(name=row.discord_name, description=row.discord.description)
    @app_commands.describe(text="What follows the command (see /help)")
    async def plain(interaction: Interaction, text: str | None = None) -> None:
        await kit.flows.private_command(interaction, row.name, text or "")

    return plain


def _ask(kit: _Kit, row: ChatCommand) -> AppCommand:
    @app_commands.command(name=row.discord_name, description=row.discord.description)
    @app_commands.describe(
        prompt="Your question",
        provider="Which provider answers (default: your preferences)",
        model="A model id, or a familiar name like gpt-4o or claude-3-haiku",
        max_tokens="The longest answer, in tokens",
        temperature="0 (focused) to 2 (inventive)",
        fresh="Ask the provider even if the answer is in your cache",
        compare="Ask all your working keys at once and show the answers side by side",
        private="Show the answer to you alone",
        image="A picture to ask about (PNG, JPEG, GIF or WebP)",
    )
    @app_commands.choices(provider=kit.providers)
    async def ask(
        interaction: Interaction,
        prompt: Range[str, 1, 4000],
        provider: str | None = None,
        model: str | None = None,
        max_tokens: Range[int, 1, 200_000] | None = None,
        temperature: Range[float, 0.0, 2.0] | None = None,
        fresh: bool = False,
        compare: bool = False,
        private: bool = False,
        image: discord.Attachment | None = None,
    ) -> None:
        flags = {
            "provider": provider,
            "compare": True if compare else None,
            "model": model,
            "max-tokens": max_tokens,
            "temperature": temperature,
            "fresh": True if fresh else None,
        }
        await kit.flows.ask(interaction, prompt, flags, private=private, image=image)

    ask.autocomplete("model")(kit.models_for_ask)
    return ask


def _summarize(kit: _Kit, row: ChatCommand) -> AppCommand:
    @app_commands.command(name=row.discord_name, description=row.discord.description)
    @app_commands.describe(
        transcript="A .txt, .vtt or .srt file (leave empty to paste the text instead)",
        provider="Which provider summarizes",
        model="A model id",
        fresh="Summarise again even if your cache holds the answers",
        private="Show the summary to you alone",
    )
    @app_commands.choices(provider=kit.providers)
    async def summarize(
        interaction: Interaction,
        transcript: discord.Attachment | None = None,
        provider: str | None = None,
        model: str | None = None,
        fresh: bool = False,
        private: bool = False,
    ) -> None:
        flags = {"provider": provider, "model": model, "fresh": True if fresh else None}
        await kit.flows.summarize(interaction, transcript, flags, private=private)

    summarize.autocomplete("model")(kit.models_for_ask)
    return summarize


def _usage(kit: _Kit, row: ChatCommand) -> AppCommand:
    @app_commands.command(name=row.discord_name, description=row.discord.description)
    @app_commands.describe(period="This week or this month (default)")
    @app_commands.choices(period=_choices(["week", "month"]))
    async def usage(interaction: Interaction, period: str = "month") -> None:
        await kit.flows.private_command(interaction, row.name, period)

    return usage


def _help(kit: _Kit, row: ChatCommand) -> AppCommand:
    @app_commands.command(name=row.discord_name, description=row.discord.description)
    @app_commands.choices(command=_choices([c.name for c in COMMAND_TABLE]))
    async def help_(interaction: Interaction, command: str | None = None) -> None:
        await kit.flows.private_command(interaction, row.name, command or "")

    return help_


def _settings(kit: _Kit, row: ChatCommand) -> AppCommand:
    """``/home`` as ``/settings``: the settings panel, with its controls."""

    @app_commands.command(name=row.discord_name, description=row.discord.description)
    async def settings(interaction: Interaction) -> None:
        await kit.flows.panel(interaction)

    return settings


def _byok(kit: _Kit, row: ChatCommand) -> AppCommand:
    byok = app_commands.Group(name=row.discord_name, description=row.discord.description)
    for sub in row.subcommands:
        byok.add_command(_BYOK_BUILDERS.get(sub.name, _plain_subcommand)(kit, row, sub))

    @byok.command(name=BYOK_PANEL, description="Your keys, limits and preferences, with controls")
    async def panel(interaction: Interaction) -> None:
        await kit.flows.panel(interaction)

    return byok


SubCommand = app_commands.Command[Any, ..., None]
SubBuilder = Callable[[_Kit, ChatCommand, Subcommand], SubCommand]


async def _run_words(
    kit: _Kit, row: ChatCommand, interaction: Interaction, *words: str | None
) -> None:
    await kit.flows.private_command(interaction, row.name, command_text(*words))


def _plain_subcommand(kit: _Kit, row: ChatCommand, sub: Subcommand) -> SubCommand:
    """``/<command> <sub> [text]``: the text as typed after the subcommand."""

    @app_commands.command(name=sub.name, description=sub.description)
    @app_commands.describe(text="What follows the subcommand (see /help)")
    async def plain(interaction: Interaction, text: str | None = None) -> None:
        await _run_words(kit, row, interaction, sub.name, text)

    return plain


def _add(kit: _Kit, row: ChatCommand, sub: Subcommand) -> SubCommand:
    @app_commands.command(name=sub.name, description=sub.description)
    @app_commands.choices(provider=kit.providers)
    async def add(interaction: Interaction, provider: str) -> None:
        await kit.flows.byok_add(interaction, provider)

    return add


def _no_options(kit: _Kit, row: ChatCommand, sub: Subcommand) -> SubCommand:
    @app_commands.command(name=sub.name, description=sub.description)
    async def bare(interaction: Interaction) -> None:
        await _run_words(kit, row, interaction, sub.name)

    return bare


def _provider_only(kit: _Kit, row: ChatCommand, sub: Subcommand) -> SubCommand:
    @app_commands.command(name=sub.name, description=sub.description)
    @app_commands.choices(provider=kit.providers)
    async def one_provider(interaction: Interaction, provider: str) -> None:
        await _run_words(kit, row, interaction, sub.name, provider)

    return one_provider


def _provider_or_off(kit: _Kit, row: ChatCommand, sub: Subcommand) -> SubCommand:
    @app_commands.command(name=sub.name, description=sub.description)
    @app_commands.choices(provider=kit.providers_or_off)
    async def provider_or_off(interaction: Interaction, provider: str) -> None:
        await _run_words(kit, row, interaction, sub.name, provider)

    return provider_or_off


def _limit(kit: _Kit, row: ChatCommand, sub: Subcommand) -> SubCommand:
    @app_commands.command(name=sub.name, description=sub.description)
    @app_commands.describe(usd="US dollars a month, e.g. 20 or 12.50, or off")
    @app_commands.choices(provider=kit.providers)
    async def limit(interaction: Interaction, provider: str, usd: Range[str, 1, 16]) -> None:
        await _run_words(kit, row, interaction, sub.name, provider, usd)

    return limit


def _models(kit: _Kit, row: ChatCommand, sub: Subcommand) -> SubCommand:
    @app_commands.command(name=sub.name, description=sub.description)
    @app_commands.describe(models="Comma-separated model ids, or all (leave empty to list)")
    @app_commands.choices(provider=kit.providers)
    async def models_(interaction: Interaction, provider: str, models: str | None = None) -> None:
        await _run_words(kit, row, interaction, sub.name, provider, models)

    models_.autocomplete("models")(kit.models_for_key)
    return models_


def _prefs(kit: _Kit, row: ChatCommand, sub: Subcommand) -> SubCommand:
    @app_commands.command(name=sub.name, description=sub.description)
    @app_commands.describe(
        setting="What to change (leave empty to show them all)",
        value="on/off, a number, or for model: <provider> <model|off>",
    )
    @app_commands.choices(setting=_choices([*(p.name for p in PREFERENCES), "model"]))
    async def prefs(
        interaction: Interaction, setting: str | None = None, value: str | None = None
    ) -> None:
        await _run_words(kit, row, interaction, sub.name, setting, value)

    return prefs


_BUILDERS: dict[str, Builder] = {
    "ask": _ask,
    "summarize": _summarize,
    "usage": _usage,
    "help": _help,
    "home": _settings,
    "byok": _byok,
}
_BYOK_BUILDERS: dict[str, SubBuilder] = {
    "add": _add,
    "list": _no_options,
    "remove": _provider_only,
    "test": _provider_only,
    "enable": _provider_only,
    "disable": _provider_only,
    "limit": _limit,
    "models": _models,
    "default": _provider_or_off,
    "fallback": _provider_or_off,
    "prefs": _prefs,
}
