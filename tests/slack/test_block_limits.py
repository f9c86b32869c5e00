"""Every Slack message we render fits Block Kit's limits, whatever the reply holds.

Limits (https://docs.slack.dev/reference/block-kit/blocks): a section's text 3,000
characters, its fields 10 of 2,000 each, a context block 10 elements of 3,000, 50 blocks
a message, and the message's ``text`` 40,000. Hostile content grows under escaping
(``<`` becomes ``&lt;``), and titles, status lines and footers are not answer text.
"""

from __future__ import annotations

from typing import Any

import pytest

from adapters.slack.render import SlackMessage, render_reply, render_stream
from bot.reply import Field, Reply, Section

CODE = "\n".join(f"if a < b && c > d: print('<{i}>')" for i in range(600))
FALLBACK = (
    "openai failed (The provider is unavailable right now (HTTP 503); please try again "
    "shortly, or ask another provider with `--provider`.) — trying anthropic…"
)


def _block_problems(block: dict[str, Any]) -> list[str]:
    problems = []
    if "text" in block and len(block["text"]["text"]) > 3000:
        problems.append(f"section text {len(block['text']['text'])}")
    fields = block.get("fields", ())
    if len(fields) > 10 or any(len(f["text"]) > 2000 for f in fields):
        problems.append("fields")
    elements = block.get("elements", ())
    if len(elements) > 10 or any(len(e.get("text", "")) > 3000 for e in elements):
        problems.append("context")
    return problems


def _problems(messages: list[SlackMessage]) -> list[str]:
    problems = []
    for message in messages:
        if len(message.text) > 40_000:
            problems.append(f"text {len(message.text)}")
        if len(message.blocks) > 50:
            problems.append(f"{len(message.blocks)} blocks")
        for block in message.blocks:
            problems.extend(_block_problems(block))
    return problems


REPLIES = {
    "escaped text": Reply(text="<" * 9000, tone="answer", footer="openai · $0.01"),
    "escaped code": Reply(text=f"```python\n{CODE}\n```", tone="answer", footer="f"),
    "long title": Reply(title="T" * 5000, text="x", tone="error"),
    "long escaped title": Reply(title="<" * 1000, text="x"),
    "long section title": Reply(text="x", sections=(Section(title="S" * 5000),)),
    "long section title and text": Reply(
        text="x", sections=(Section(title="&" * 2000, text="y" * 100),)
    ),
    "long footer": Reply(text="x", footer="F" * 5000),
    "long bullets": Reply(text="x", sections=(Section(bullets=("b" * 4000,) * 30),)),
    "many long fields": Reply(
        text="x", sections=(Section(fields=(Field("l" * 100, "<" * 3000),) * 30),)
    ),
    "many sections": Reply(
        text="x", sections=tuple(Section(title=f"s{i}", text="t") for i in range(200))
    ),
}


@pytest.mark.parametrize("name", REPLIES)
def test_a_reply_fits_block_kit_limits(name: str) -> None:
    assert _problems(render_reply(REPLIES[name])) == []


@pytest.mark.parametrize("status", [None, FALLBACK, "<" * 5000, "line\n" * 2000])
def test_a_streaming_view_fits_block_kit_limits_whatever_the_status(status: str | None) -> None:
    for text in ("<" * 20_000, f"```python\n{CODE}", "word " * 5000):
        assert _problems(render_stream(text, status=status, header="Answering")) == []


def test_a_status_line_stays_one_line() -> None:
    [message] = render_stream("so far", status="first\n\nsecond")
    assert message.blocks[-1]["elements"][0]["text"] == ":hourglass_flowing_sand: _first second_"
