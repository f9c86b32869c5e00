"""Block Kit rendering within Slack's limits, and Markdown shown as mrkdwn."""

from __future__ import annotations

from adapters.slack.render import (
    MAX_BLOCKS,
    SECTION_CHARS,
    mrkdwn,
    render_reply,
    split_text,
)
from bot.reply import Field, Reply, Section


def test_markdown_becomes_mrkdwn() -> None:
    text = mrkdwn(
        "# Plan\n**Bold** and *italic* and ~~old~~, see [docs](https://x.test/a?b=1&c=2).\n"
        "- one\n* two\n`a <b>` stays\n```python\nif a < b: pass\n```"
    )
    assert text.splitlines()[:4] == [
        "*Plan*",
        "*Bold* and _italic_ and ~old~, see <https://x.test/a?b=1&amp;c=2|docs>.",
        "• one",
        "• two",
    ]
    assert "`a &lt;b&gt;` stays" in text
    assert text.endswith("```\nif a &lt; b: pass\n```")


def test_long_text_is_cut_at_paragraphs_and_code_fences_stay_closed() -> None:
    text = "\n\n".join(["para " * 100] * 20) + "\n\n```\n" + "code line\n" * 800 + "```"
    pieces = split_text(text, 3000)
    assert all(len(p) <= 3000 for p in pieces)
    assert all(p.count("```") % 2 == 0 for p in pieces)
    assert pieces[0].endswith("para")  # a paragraph boundary, not mid-word


def test_a_reply_with_many_sections_spills_into_more_messages() -> None:
    sections = tuple(
        Section(title=f"Part {i}", fields=tuple(Field(f"k{j}", "v" * 50) for j in range(12)))
        for i in range(40)
    )
    messages = render_reply(Reply(title="Big", sections=sections, footer="who · cost"))
    assert len(messages) > 1
    for message in messages:
        assert len(message.blocks) <= MAX_BLOCKS
        for block in message.blocks:
            assert len(block.get("fields", ())) <= 10
            if block["type"] == "section" and "text" in block:
                assert len(block["text"]["text"]) <= SECTION_CHARS
    assert messages[-1].blocks[-1]["type"] == "context"
    assert messages[0].text == "Big"


def test_tone_and_title_are_visible() -> None:
    (message,) = render_reply(Reply(tone="error", title="Key not stored", text="Nope."))
    assert message.blocks[0]["text"]["text"] == "*:x: Key not stored*"
    (plain,) = render_reply(Reply(tone="success", text="Done."))
    assert plain.blocks[0]["text"]["text"] == ":white_check_mark: Done."
