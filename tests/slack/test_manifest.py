"""slack-manifest.yml asks for exactly what the adapter uses."""

from __future__ import annotations

import re
from pathlib import Path

from adapters.slack.commands import SLASH_COMMANDS
from adapters.slack.events import SHORTCUT_CALLBACK
from adapters.slack.oauth import BOT_SCOPES

MANIFEST = (Path(__file__).parents[2] / "slack-manifest.yml").read_text()


def _list_under(key: str) -> list[str]:
    """The ``- item`` lines of the YAML list that follows ``key:``."""
    found = re.search(rf"^(\s*){re.escape(key)}:\n((?:\1\s*- .*\n)+)", MANIFEST, re.MULTILINE)
    assert found is not None, key
    return [line.strip()[2:] for line in found.group(2).splitlines()]


def test_scopes_match_what_the_oauth_flow_requests() -> None:
    assert sorted(_list_under("bot")) == sorted(BOT_SCOPES)


def test_every_slash_command_is_declared() -> None:
    declared = re.findall(r"- command: (/\w+)", MANIFEST)
    assert declared == list(SLASH_COMMANDS)


def test_events_shortcut_and_assistant_are_declared() -> None:
    events = _list_under("bot_events")
    for event in ("app_mention", "message.im", "app_home_opened", "assistant_thread_started",
                  "assistant_thread_context_changed", "app_uninstalled", "tokens_revoked"):  # fmt: skip
        assert event in events
    assert f"callback_id: {SHORTCUT_CALLBACK}" in MANIFEST
    assert "assistant_view:" in MANIFEST and "home_tab_enabled: true" in MANIFEST
    assert "socket_mode_enabled: true" in MANIFEST
