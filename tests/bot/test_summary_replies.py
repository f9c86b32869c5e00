"""What a user reads around /summarize: /help's example, the shipped example transcript,
/home in /help, and a summary the model wrote as prose on every surface."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from adapters.discord.render import render as discord_render
from adapters.slack.render import render_reply as slack_render
from bot.commands.summarize import SUMMARIZE_EXAMPLE
from tests.bot.conftest import Chat
from tests.bot.test_console import ROOT, console, write_config
from tests.fakes.plugin import FakeProviders

PROSE = (
    "The team agreed to ship on Friday.\n\n"
    "Ben will update the docs by Thursday; nobody has confirmed the release notes."
)
PROSE_NOTE = (
    "The model answered in prose instead of the usual sections (decisions, action items, "
    "open questions), so here is its answer as written:"
)
STANDUP_SUMMARY = {
    "overview": "Stand-up on the 2.4 release and the Safari login bug.",
    "decisions": ["Ship 2.4 on Thursday", "Dark-mode toggle moves to 2.5"],
    "action_items": [
        {"task": "Write the changelog", "owner": "Priya Raman", "due": "Wednesday noon"},
        {"task": "Email support about dark mode", "owner": "Maya Chen", "due": "Friday"},
    ],
    "open_questions": ["Do we tell the customers who asked for dark mode now?"],
}


def _sent_transcript(fakes: FakeProviders) -> list[str]:
    """The transcript lines of the last prompt the fake OpenAI received."""
    content = str(fakes["openai"].requests[-1].json()["messages"][-1]["content"])
    return content.split("<transcript>\n", 1)[1].split("\n</transcript>", maxsplit=1)[0].split("\n")


async def test_help_summarize_example_as_shown_is_read_as_three_turns(chat: Chat) -> None:
    help_said = await chat.say("/help summarize")
    (examples,) = help_said.reply.sections
    assert examples.bullets[0] == SUMMARIZE_EXAMPLE
    await chat.add_key("openai")
    chat.rig.fakes["openai"].reply(text=json.dumps(STANDUP_SUMMARY))
    said = await chat.say(examples.bullets[0])
    assert said.statuses[0] == "Reading 3 turns…"
    assert _sent_transcript(chat.rig.fakes) == [
        "Ana: Let's ship the beta on Friday.",
        "Ben: Agreed. I'll update the docs by Thursday.",
        "Ana: Who tells support?",
    ]


async def test_help_lists_home_and_explains_it(chat: Chat) -> None:
    overview = await chat.say("/help")
    assert [s.title for s in overview.reply.sections] == [
        "/ask",
        "/summarize",
        "/usage",
        "/home",
        "/byok",
    ]
    home = await chat.say("/help home")
    assert home.text == (
        "/home\n"
        "Your settings on one page: your keys with this month's spend against their limits, "
        "your preferences and this month's usage. In Slack it is the bot's Home tab; "
        "elsewhere send `/home` (on Discord, in a DM to the bot).\n"
        "\nExamples\n  • /home"
    )


def test_readme_lists_home_and_summarizes_the_shipped_example() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "| `/home` |" in readme
    assert "you> /summarize --file examples/standup.vtt " in readme
    assert (ROOT / "examples" / "standup.vtt").is_file()


@pytest.mark.slow
async def test_readme_console_line_summarises_the_shipped_standup(
    tmp_path: Path, fake_providers: FakeProviders
) -> None:
    readme = (ROOT / "README.md").read_text()
    (line,) = [s for s in readme.splitlines() if s.startswith("you> /summarize --file")]
    command = line.removeprefix("you> ").split("←")[0].strip()
    (tmp_path / "examples").symlink_to(ROOT / "examples")  # the README runs from the repo
    fake_providers["openai"].reply(text=json.dumps(STANDUP_SUMMARY))
    fake_providers["openai"].reply(text=PROSE)
    key = fake_providers.key("openai")
    script = "\n".join(["/byok add openai", key, command, command]) + "\n"
    env = {"BYOK_ENCRYPTION_KEY": secrets.token_hex(32)}
    out, err, code = await console(
        tmp_path, write_config(tmp_path, fake_providers), script, env=env
    )
    assert code == 0, err
    assert err.count("Reading 14 turns…") == 2
    sent = _sent_transcript(fake_providers)
    assert len(sent) == 14
    assert sent[0] == (
        "Maya Chen [00:02]: Morning, everyone. Quick one today: the 2.4 release and the login bug."
    )
    assert {s.split(" [")[0] for s in sent} == {"Maya Chen", "Tom Okafor", "Priya Raman"}
    assert (
        "Decisions\n  • Ship 2.4 on Thursday\n  • Dark-mode toggle moves to 2.5\n"
        "\nAction items\n  • Write the changelog — Priya Raman, due Wednesday noon\n"
        "  • Email support about dark mode — Maya Chen, due Friday\n"
    ) in out
    assert f"Meeting summary\n\nSummary (unstructured)\n{PROSE_NOTE}\n\n{PROSE}\n— OpenAI" in out
    assert out.count("None recorded") == 0


async def test_a_prose_summary_reads_the_same_in_slack_and_discord(chat: Chat) -> None:
    await chat.add_key("openai")
    chat.rig.fakes["openai"].reply(text=PROSE)
    said = await chat.say(SUMMARIZE_EXAMPLE)
    (slack,) = slack_render(said.reply)
    section = slack.blocks[1]["text"]["text"]
    assert section == f"*Summary (unstructured)*\n{PROSE_NOTE}\n\n{PROSE}"
    (discord,) = discord_render(said.reply)
    (embed,) = discord.embeds
    assert [(f.name, f.value) for f in embed.fields] == [
        ("Summary (unstructured)", f"{PROSE_NOTE}\n\n{PROSE}")
    ]
    assert "None recorded" not in json.dumps([slack.blocks, embed.to_dict()])
