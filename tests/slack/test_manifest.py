"""slack-manifest.yml asks for exactly what the adapter uses, and says what the table says."""

from __future__ import annotations

import re
from pathlib import Path

from adapters.slack.commands import SLASH_COMMANDS
from adapters.slack.events import SHORTCUT_CALLBACK
from adapters.slack.oauth import BOT_SCOPES
from bot.commands.spec import SlashCommand
from bot.commands.table import COMMAND_TABLE

MANIFEST = (Path(__file__).parents[2] / "slack-manifest.yml").read_text()


def _list_under(key: str) -> list[str]:
    """The ``- item`` lines of the YAML list that follows ``key:``."""
    found = re.search(rf"^(\s*){re.escape(key)}:\n((?:\1\s*- .*\n)+)", MANIFEST, re.MULTILINE)
    assert found is not None, key
    return [line.strip()[2:] for line in found.group(2).splitlines()]


def test_scopes_match_what_the_oauth_flow_requests() -> None:
    assert sorted(_list_under("bot")) == sorted(BOT_SCOPES)


def _yaml_text(value: str) -> str:
    """A one-line YAML string, quoted only where a plain one would mean something else."""
    return f'"{value}"' if value[:1] in "[]{}!&*|>%@`'\",#?:-" or ": " in value else value


def _manifest_entry(name: str, slash: SlashCommand) -> str:
    return (
        f"    - command: /{name}\n"
        "      url: https://bot.example.com/slack/events\n"
        f"      description: {_yaml_text(slash.description)}\n"
        f"      usage_hint: {_yaml_text(slash.usage_hint)}\n"
        "      should_escape: false\n"
    )


def test_every_slash_command_is_declared() -> None:
    declared = re.findall(r"- command: (/\w+)", MANIFEST)
    assert declared == list(SLASH_COMMANDS)


def test_each_slash_command_is_declared_as_the_command_table_describes_it() -> None:
    for row in COMMAND_TABLE:
        if isinstance(row.slack, SlashCommand):
            entry = _manifest_entry(row.name, row.slack)
            assert entry in MANIFEST, (
                f"slack-manifest.yml should hold, under slash_commands:\n{entry}"
            )


def test_events_shortcut_and_assistant_are_declared() -> None:
    events = _list_under("bot_events")
    for event in ("app_mention", "message.im", "app_home_opened", "assistant_thread_started",
                  "assistant_thread_context_changed", "app_uninstalled", "tokens_revoked"):  # fmt: skip
        assert event in events
    assert f"callback_id: {SHORTCUT_CALLBACK}" in MANIFEST
    assert "assistant_view:" in MANIFEST and "home_tab_enabled: true" in MANIFEST
    assert "socket_mode_enabled: true" in MANIFEST
