"""The operator guides name every command their platform offers, and no command it lacks.

docs/slack.md and docs/discord.md describe each command in prose, so they cannot be
generated from the command table; this keeps them from drifting from it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.commands.spec import AppHomeTab, ChatCommand, SlashCommand
from bot.commands.table import COMMAND_TABLE

DOCS = Path(__file__).resolve().parents[1] / "docs"
#: Slash words the guides mention that are not ours: Slack's own /invite, and URL paths.
NOT_COMMANDS = {"invite", "healthz", "readyz", "metrics", "slack", "api", "data", "etc"}


def _slack_words(command: ChatCommand) -> tuple[str, ...]:
    return command.names if isinstance(command.slack, SlashCommand) else ()


def _discord_words(command: ChatCommand) -> tuple[str, ...]:
    return (command.discord_name, *command.names)


GUIDES = {"slack.md": _slack_words, "discord.md": _discord_words}


@pytest.mark.parametrize("guide", sorted(GUIDES))
def test_the_guide_names_every_command_and_byok_subcommand(guide: str) -> None:
    text = (DOCS / guide).read_text(encoding="utf-8")
    words_of = GUIDES[guide]
    for command in COMMAND_TABLE:
        words = words_of(command)
        if not words:
            assert isinstance(command.slack, AppHomeTab)
            assert "Home tab" in text, f"{guide} does not describe the Home tab (/{command.name})"
            continue
        assert any(f"`/{word}" in text for word in words), f"{guide} never names /{words[0]}"
        byok_lines = [line for line in text.splitlines() if f"/{command.name}" in line]
        for sub in command.subcommands:
            assert any(re.search(rf"\b{sub.name}\b", line) for line in byok_lines), (
                f"{guide} never names /{command.name} {sub.name}"
            )


@pytest.mark.parametrize("guide", sorted(GUIDES))
def test_every_command_the_guide_names_exists(guide: str) -> None:
    text = (DOCS / guide).read_text(encoding="utf-8")
    offered = {word for command in COMMAND_TABLE for word in GUIDES[guide](command)}
    if guide == "slack.md":
        offered |= {"home"}  # typed in a DM; Slack shows it as the Home tab
    named = set(re.findall(r"`/([a-z]+)", text)) - NOT_COMMANDS
    assert named <= offered, f"{guide} names commands the bot lacks: {sorted(named - offered)}"
