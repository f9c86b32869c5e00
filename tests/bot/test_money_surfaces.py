"""One money format on every surface: an unknown price reads "unknown" (never $0.00) and a
sum says how many requests of unknown cost it leaves out — on the console, in Slack's
blocks, Discord's embeds and App Home, as ``/usage``, ``/ask`` and ``/byok list`` show it.

Each user here asks one question of a model the price list does not know, and one of
gpt-5.6-terra that costs $0.0032 (1,000 tokens in, 100 out).
"""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path

import pytest

from adapters.discord.render import render as discord_render
from adapters.slack.render import render_reply as slack_render
from bot.reply import Reply
from tests.bot.conftest import Chat
from tests.bot.test_console import console, write_config
from tests.fakes.plugin import FakeProviders

UNPRICED_MODEL = "gpt-99-unreleased"
MIXED_TITLE = "openai — 2 requests, $0.0032 + 1 request of unknown cost"
UNPRICED_LINE = f"{UNPRICED_MODEL}: 1 request, 11 in / 6 out tokens, cost unknown"
UNPRICED_FOOTER = f"openai · {UNPRICED_MODEL} · 11 in / 6 out tokens · cost unknown"
# The console runs the configured bot, where openai is named by its display name.
CONSOLE_MIXED_TITLE = "OpenAI — 2 requests, $0.0032 + 1 request of unknown cost"
CONSOLE_UNPRICED_FOOTER = f"OpenAI · {UNPRICED_MODEL} · 11 in / 6 out tokens · cost unknown"
KEY_SPEND = "$0.0032 + 1 request of unknown cost"
PANEL_USAGE = "2 requests since 01 November, $0.0032 + 1 request of unknown cost."
ZERO_DOLLARS = re.compile(r"\$0\.00(?!\d)")  # $0.00, not $0.0032


async def _two_questions(chat: Chat) -> Reply:
    """The reply to the question of unknown price; then the priced one is asked too."""
    await chat.add_key("openai")
    fake = chat.rig.fakes["openai"]
    fake.models.append(UNPRICED_MODEL)
    fake.reply(text="a", input_tokens=11, output_tokens=6)
    unpriced = await chat.say(f"/ask --model {UNPRICED_MODEL} one")
    fake.reply(text="b", input_tokens=1000, output_tokens=100)
    await chat.say("/ask two")
    return unpriced.reply


def _slack_text(reply: Reply) -> str:
    return json.dumps([m.blocks for m in slack_render(reply)], ensure_ascii=False)


def _discord_text(reply: Reply) -> str:
    parts = []
    for out in discord_render(reply):
        parts.append(out.content or "")
        for embed in out.embeds:
            parts += [embed.title or "", embed.description or "", embed.footer.text or ""]
            parts += [f"{f.name}: {f.value}" for f in embed.fields]
    return "\n".join(parts)


async def test_usage_and_answer_footer_in_slack_and_discord(chat: Chat) -> None:
    answer = await _two_questions(chat)
    usage = (await chat.say("/usage")).reply
    assert answer.footer == UNPRICED_FOOTER
    for rendered in (_slack_text(usage), _discord_text(usage), usage.plain_text()):
        assert MIXED_TITLE in rendered
        assert UNPRICED_LINE in rendered
        assert not ZERO_DOLLARS.search(rendered)
    assert UNPRICED_FOOTER in _slack_text(answer)
    assert UNPRICED_FOOTER in _discord_text(answer)


async def test_home_names_the_month_spend_with_its_unknown_part(chat: Chat) -> None:
    await _two_questions(chat)
    home = (await chat.say("/home")).reply
    for rendered in (_slack_text(home), _discord_text(home), home.plain_text()):
        assert PANEL_USAGE in rendered


async def test_byok_list_names_the_requests_of_unknown_cost(chat: Chat) -> None:
    await _two_questions(chat)
    listed = (await chat.say("/byok list")).reply
    assert f"*This month*\\n{KEY_SPEND}" in _slack_text(listed)
    assert f"**This month:** {KEY_SPEND}" in _discord_text(listed)
    assert f"This month: {KEY_SPEND}" in listed.plain_text()


@pytest.mark.slow
async def test_the_console_shows_the_same_text(
    tmp_path: Path, fake_providers: FakeProviders
) -> None:
    config = write_config(tmp_path, fake_providers)
    fake = fake_providers["openai"]
    fake.models.append(UNPRICED_MODEL)
    fake.reply(text="a", input_tokens=11, output_tokens=6)
    fake.reply(text="b", input_tokens=1000, output_tokens=100)
    script = "\n".join(
        ["/byok add openai", fake_providers.key("openai"),
         f"/ask --model {UNPRICED_MODEL} one", "/ask two", "/usage"]
    )  # fmt: skip
    env = {"BYOK_ENCRYPTION_KEY": secrets.token_hex(32)}
    out, err, code = await console(tmp_path, config, script + "\n", env=env)
    assert code == 0, err
    assert f"— {CONSOLE_UNPRICED_FOOTER}" in out
    assert CONSOLE_MIXED_TITLE in out and UNPRICED_LINE in out
    assert not ZERO_DOLLARS.search(out)
