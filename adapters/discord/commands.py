"""The application commands, mapped onto the bot's one grammar.

``/byok add|list|remove|test|enable|disable|limit|models|default|fallback|prefs|panel``,
``/settings`` (the panel again, by the name users look for), ``/ask``, ``/summarize``,
``/usage`` and ``/help``. Options become the command text the
dispatcher parses (``/ask provider:xai prompt:hi`` is ``/ask --provider xai -- hi``),
so every platform shares one parser, one set of messages and one set of rules.
Provider options are choices of the providers this deployment offers; model options
autocomplete from the user's own keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import discord
from discord import app_commands
from discord.app_commands import Choice, Range

from adapters.discord.interactions import InteractionFlows, command_text
from adapters.discord.surfaces import Interaction
from bot.commands.prefs import PREFERENCES
from bot.commands.table import COMMAND_TABLE
from bot.provider_names import ProviderNames

__all__ = ["build_commands"]

AppCommand = app_commands.Command[Any, ..., None] | app_commands.Group

_CONTEXTS = app_commands.AppCommandContext(guild=True, dm_channel=True, private_channel=False)
_INSTALLS = app_commands.AppInstallationType(guild=True, user=False)


_CHOICES = 25  # Discord's most for one option
_CHOICE_NAME_CHARS = 100  # Discord's longest choice name


def _choices(names: Sequence[str]) -> list[Choice[str]]:
    return [Choice(name=n, value=n) for n in names][:_CHOICES]


def _provider_choices(provider_ids: Sequence[str], names: ProviderNames) -> list[Choice[str]]:
    """Discord shows each provider's name and sends its id, the word the grammar parses."""
    return [Choice(name=names.label(p)[:_CHOICE_NAME_CHARS], value=p) for p in provider_ids][
        :_CHOICES
    ]


def _panel_commands(flows: InteractionFlows, byok: app_commands.Group) -> AppCommand:
    """``/byok panel``, and ``/settings`` (returned): the settings panel by either name."""

    @byok.command(name="panel", description="Your keys, limits and preferences, with controls")
    async def panel(interaction: Interaction) -> None:
        await flows.panel(interaction)

    @app_commands.command(name="settings", description="Your keys, limits and preferences")
    async def settings(interaction: Interaction) -> None:
        await flows.panel(interaction)

    return settings


def build_commands(flows: InteractionFlows, provider_ids: Sequence[str]) -> list[AppCommand]:
    """Every command, with provider choices for this deployment."""
    providers = _provider_choices(provider_ids, flows.dispatcher.ctx.provider_names)
    providers_or_off = [*providers[:24], Choice(name="off", value="off")]

    async def models_for_ask(interaction: Interaction, current: str) -> list[Choice[str]]:
        await flows.suggest_models(interaction, current)
        return []  # already answered: suggest_models responds itself, inside its boundary

    async def models_for_key(interaction: Interaction, current: str) -> list[Choice[str]]:
        await flows.suggest_models(interaction, current, extra=("all",))
        return []

    @app_commands.command(name="ask", description="Ask a question, answered with your own key")
    @app_commands.describe(
        prompt="Your question",
        provider="Which provider answers (default: your preferences)",
        model="A model id, or a familiar name like gpt-4o or claude-3-haiku",
        max_tokens="The longest answer, in tokens",
        temperature="0 (focused) to 2 (inventive)",
        private="Show the answer to you alone",
    )
    @app_commands.choices(provider=providers)
    async def ask(
        interaction: Interaction,
        prompt: Range[str, 1, 4000],
        provider: str | None = None,
        model: str | None = None,
        max_tokens: Range[int, 1, 200_000] | None = None,
        temperature: Range[float, 0.0, 2.0] | None = None,
        private: bool = False,
    ) -> None:
        flags = {
            "provider": provider,
            "model": model,
            "max-tokens": max_tokens,
            "temperature": temperature,
        }
        await flows.ask(interaction, prompt, flags, private=private)

    ask.autocomplete("model")(models_for_ask)

    @app_commands.command(name="summarize", description="Summarize a meeting transcript")
    @app_commands.describe(
        transcript="A .txt, .vtt or .srt file (leave empty to paste the text instead)",
        provider="Which provider summarizes",
        model="A model id",
        private="Show the summary to you alone",
    )
    @app_commands.choices(provider=providers)
    async def summarize(
        interaction: Interaction,
        transcript: discord.Attachment | None = None,
        provider: str | None = None,
        model: str | None = None,
        private: bool = False,
    ) -> None:
        flags = {"provider": provider, "model": model}
        await flows.summarize(interaction, transcript, flags, private=private)

    summarize.autocomplete("model")(models_for_ask)

    @app_commands.command(name="usage", description="Your requests, tokens and cost")
    @app_commands.describe(period="This week or this month (default)")
    @app_commands.choices(period=_choices(["week", "month"]))
    async def usage(interaction: Interaction, period: str = "month") -> None:
        await flows.private_command(interaction, "usage", period)

    @app_commands.command(name="help", description="Every command, with examples")
    @app_commands.choices(command=_choices([c.name for c in COMMAND_TABLE]))
    async def help_(interaction: Interaction, command: str | None = None) -> None:
        await flows.private_command(interaction, "help", command or "")

    byok = app_commands.Group(
        name="byok",
        description="Your own API keys and preferences",
        allowed_contexts=_CONTEXTS,
        allowed_installs=_INSTALLS,
    )

    async def byok_run(interaction: Interaction, *words: str | None) -> None:
        await flows.private_command(interaction, "byok", command_text(*words))

    @byok.command(name="add", description="Add a key (asked for in a private form)")
    @app_commands.choices(provider=providers)
    async def add(interaction: Interaction, provider: str) -> None:
        await flows.byok_add(interaction, provider)

    @byok.command(name="list", description="Your keys, their status and this month's spend")
    async def list_(interaction: Interaction) -> None:
        await byok_run(interaction, "list")

    @byok.command(name="remove", description="Delete a key for good")
    @app_commands.choices(provider=providers)
    async def remove(interaction: Interaction, provider: str) -> None:
        await byok_run(interaction, "remove", provider)

    @byok.command(name="test", description="Check that a key still works")
    @app_commands.choices(provider=providers)
    async def test(interaction: Interaction, provider: str) -> None:
        await byok_run(interaction, "test", provider)

    @byok.command(name="enable", description="Switch a key back on")
    @app_commands.choices(provider=providers)
    async def enable(interaction: Interaction, provider: str) -> None:
        await byok_run(interaction, "enable", provider)

    @byok.command(name="disable", description="Switch a key off (it stays stored)")
    @app_commands.choices(provider=providers)
    async def disable(interaction: Interaction, provider: str) -> None:
        await byok_run(interaction, "disable", provider)

    @byok.command(name="limit", description="A monthly spending limit for a key")
    @app_commands.describe(usd="US dollars a month, e.g. 20 or 12.50, or off")
    @app_commands.choices(provider=providers)
    async def limit(interaction: Interaction, provider: str, usd: Range[str, 1, 16]) -> None:
        await byok_run(interaction, "limit", provider, usd)

    @byok.command(name="models", description="Show or restrict the models a key may use")
    @app_commands.describe(models="Comma-separated model ids, or all (leave empty to list)")
    @app_commands.choices(provider=providers)
    async def models_(interaction: Interaction, provider: str, models: str | None = None) -> None:
        await byok_run(interaction, "models", provider, models)

    models_.autocomplete("models")(models_for_key)

    @byok.command(name="default", description="The provider that answers by default")
    @app_commands.choices(provider=providers_or_off)
    async def default(interaction: Interaction, provider: str) -> None:
        await byok_run(interaction, "default", provider)

    @byok.command(name="fallback", description="The provider tried when the first one fails")
    @app_commands.choices(provider=providers_or_off)
    async def fallback(interaction: Interaction, provider: str) -> None:
        await byok_run(interaction, "fallback", provider)

    @byok.command(name="prefs", description="Show or change your preferences")
    @app_commands.describe(
        setting="What to change (leave empty to show them all)",
        value="on/off, a number, or for model: <provider> <model|off>",
    )
    @app_commands.choices(setting=_choices([*(p.name for p in PREFERENCES), "model"]))
    async def prefs(
        interaction: Interaction, setting: str | None = None, value: str | None = None
    ) -> None:
        await byok_run(interaction, "prefs", setting, value)

    settings = _panel_commands(flows, byok)
    commands: list[AppCommand] = [ask, summarize, usage, help_, settings, byok]
    for command in commands[:5]:
        assert isinstance(command, app_commands.Command)
        command.allowed_contexts = _CONTEXTS
        command.allowed_installs = _INSTALLS
    return commands
