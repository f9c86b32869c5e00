"""Replies as Discord messages: every limit respected, code blocks never cut open."""

from __future__ import annotations

import re

import discord

from adapters.discord.render import (
    CONTENT_LIMIT,
    EMBED_TOTAL_LIMIT,
    PROSE_LIMIT,
    live_view,
    render,
    split_text,
)
from bot.reply import Field, FileOut, Reply, Section


def _fences_balanced(chunk: str) -> bool:
    return sum(1 for line in chunk.split("\n") if re.match(r"\s*```", line)) % 2 == 0


def _embed_total(embeds: tuple[discord.Embed, ...]) -> int:
    total = 0
    for e in embeds:
        total += len(e.title or "") + len(e.description or "") + len(e.footer.text or "")
        total += sum(len(f.name or "") + len(f.value or "") for f in e.fields)
    return total


def test_short_text_is_one_piece() -> None:
    assert split_text("Hello.") == ["Hello."]


def test_long_prose_splits_on_paragraphs_within_the_limit() -> None:
    paragraphs = [f"Paragraph {i}: " + "word " * 60 for i in range(30)]
    text = "\n\n".join(p.strip() for p in paragraphs)
    chunks = split_text(text, 1000)
    assert all(len(c) <= 1000 for c in chunks)
    assert all(c.startswith("Paragraph") for c in chunks)  # cut between paragraphs
    assert " ".join(" ".join(chunks).split()) == " ".join(text.split())


def test_a_code_block_cut_by_a_split_is_closed_and_reopened_with_its_language() -> None:
    code = "\n".join(f"    value_{i} = compute({i})  # step {i}" for i in range(120))
    text = f"Here is the script:\n\n```python\n{code}\n```\n\nThat is all."
    chunks = split_text(text, PROSE_LIMIT)
    assert len(chunks) >= 3
    for chunk in chunks:
        assert len(chunk) <= PROSE_LIMIT
        assert _fences_balanced(chunk), chunk[-200:]
    assert all(c.startswith("```python\n") for c in chunks[1:-1])
    rebuilt = "\n".join(chunks).replace("\n```\n```python\n", "\n")
    assert rebuilt == text


def test_a_word_longer_than_the_limit_is_cut_hard() -> None:
    chunks = split_text("x" * 4500, 2000)
    assert [len(c) for c in chunks] == [1996, 1996, 508]


def test_answer_text_is_content_with_the_footer_as_subtext() -> None:
    reply = Reply(text="The answer.", footer="openai · gpt-4o · $0.01", tone="answer")
    [out] = render(reply)
    assert out.content == "The answer.\n-# openai · gpt-4o · $0.01"
    assert out.embeds == ()


def test_a_long_answer_becomes_several_messages_within_limits() -> None:
    reply = Reply(
        text="\n\n".join("line " * 50 for _ in range(40)),
        footer="f",
        tone="answer",
        sections=(Section(title="Spending", bullets=("80% of your limit",)),),
    )
    outs = render(reply)
    assert len(outs) > 1
    assert all(o.content is not None and len(o.content) <= CONTENT_LIMIT for o in outs)
    assert outs[-1].content is not None and outs[-1].content.endswith("-# f")
    assert outs[-1].embeds[0].fields[0].name == "Spending"


def test_a_summary_is_an_embed_with_its_four_parts() -> None:
    reply = Reply(
        title="Meeting summary",
        tone="answer",
        footer="openai · 2 calls",
        sections=(
            Section(title="Overview", text="We planned the launch."),
            Section(title="Decisions", bullets=("Ship Friday",)),
            Section(title="Action items", bullets=("Docs — Bob, due Thursday",)),
            Section(title="Open questions", bullets=("Pricing?",)),
        ),
    )
    [out] = render(reply)
    assert out.content is None
    [embed] = out.embeds
    assert embed.title == "Meeting summary"
    assert [f.name for f in embed.fields] == [
        "Overview",
        "Decisions",
        "Action items",
        "Open questions",
    ]
    assert embed.fields[2].value == "• Docs — Bob, due Thursday"
    assert embed.footer.text == "openai · 2 calls"


def test_field_lists_are_labelled_lines() -> None:
    reply = Reply(
        title="Your keys",
        sections=(
            Section(title="openai", fields=(Field("Key", "…a1b2"), Field("Status", "active"))),
        ),
    )
    [out] = render(reply)
    assert out.embeds[0].fields[0].value == "**Key:** …a1b2\n**Status:** active"


def test_big_replies_are_paged_within_every_embed_limit() -> None:
    sections = tuple(
        Section(title=f"Section {i}", text="detail " * 150, bullets=("a", "b")) for i in range(60)
    )
    reply = Reply(title="Lots", text="intro " * 900, sections=sections, footer="end")
    outs = render(reply)
    assert len(outs) > 1
    for out in outs:
        assert len(out.embeds) <= 10
        assert _embed_total(out.embeds) <= EMBED_TOTAL_LIMIT
        for embed in out.embeds:
            assert len(embed.fields) <= 25
            assert len(embed.description or "") <= 4096
            assert all(
                len(f.value or "") <= 1024 and len(f.name or "") <= 256 for f in embed.fields
            )
    names = [f.name for o in outs for e in o.embeds for f in e.fields]
    assert "Section 59" in names
    assert outs[-1].embeds[-1].footer.text == "end"


def test_files_go_with_the_last_message() -> None:
    chart = FileOut("chart.png", b"\x89PNG...", "image/png", title="Spend by week")
    outs = render(Reply(title="Digest", text="Your week.", files=(chart,)))
    assert outs[-1].files == (chart,)
    kwargs = outs[-1].send_kwargs()
    assert kwargs["files"][0].filename == "chart.png"


def test_the_live_view_marks_the_last_message_and_closes_an_open_fence() -> None:
    assert live_view("", None) == ["-# ✍️ thinking…"]
    assert live_view("", "Summarising part 1 of 3…") == ["-# ⏳ Summarising part 1 of 3…"]
    [shown] = live_view("Look:\n```py\nprint(1)", None)
    assert shown == "Look:\n```py\nprint(1)\n```\n-# ✍️ still writing…"
    assert len(live_view("word " * 1000, None)) == 3


def test_the_live_view_fits_discords_limit_whatever_status_sits_under_it() -> None:
    fallback = (
        "openai failed (The provider is unavailable right now (HTTP 503); please try again "
        "shortly, or ask another provider with `--provider`.) — trying anthropic…"
    )
    code = "\n".join(f"print('line {i}')  # {'x' * (i % 50)}" for i in range(300))
    texts = [
        "word " * 1000,
        "y" * 5000,
        f"Here:\n\n```python\n{code}\n```",
        f"Here:\n\n```python\n{code}",  # still inside the fence
    ]
    for status in (None, fallback, "s" * 500, "two\nlines " * 100):
        for text in texts:
            for end in range(1, len(text), 37):
                pieces = live_view(text[:end], status)
                assert max(len(p) for p in pieces) <= CONTENT_LIMIT, (status, end)
    [shown] = live_view("An answer.", "line one\n\nline two")
    assert shown == "An answer.\n-# ⏳ line one line two"  # one subtext line
