"""/summarize: pasted and attached transcripts, long ones in parts, limits, errors."""

from __future__ import annotations

import json
from pathlib import Path

from bot.invocation import Attachment
from tests.bot.conftest import Chat

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "transcripts"

SUMMARY = {
    "overview": "The team agreed the Team plan price for the launch.",
    "decisions": ["Team plan is $19 a seat"],
    "action_items": [
        {"task": "Update the pricing page copy", "owner": "Priya Raman", "due": "Friday"}
    ],
    "open_questions": ["Do we grandfather existing customers?"],
}


def script_summaries(chat: Chat, provider: str, count: int) -> None:
    for _ in range(count):
        chat.rig.fakes[provider].reply(
            text=json.dumps(SUMMARY), input_tokens=900, output_tokens=120
        )


async def test_attached_vtt_gives_all_four_sections(chat: Chat) -> None:
    await chat.add_key("anthropic")
    script_summaries(chat, "anthropic", 1)
    data = (FIXTURES / "zoom_pricing_sync.vtt").read_bytes()
    said = await chat.say(
        "/summarize", private=False, attachments=(Attachment("pricing.vtt", data, "text/vtt"),)
    )
    text = said.text
    assert said.reply.title == "Meeting summary" and not said.reply.private
    for heading in ("Overview", "Decisions", "Action items", "Open questions"):
        assert heading in text
    assert "Update the pricing page copy — Priya Raman, due Friday" in text
    assert (said.reply.footer or "").startswith("anthropic · claude-sonnet-4-6 · 1 call ·")
    prompt = chat.rig.fakes["anthropic"].requests[-1].json()
    sent = json.dumps(prompt)
    assert "Maya Lindqvist" in sent and "nineteen" in sent  # speakers and text, tags stripped
    assert "<v " not in sent
    rows = await chat.rig.usage_rows()
    assert [r["request_kind"] for r in rows] == ["summary"]


async def test_pasted_transcript(chat: Chat) -> None:
    await chat.add_key("openai")
    script_summaries(chat, "openai", 1)
    said = await chat.say(
        "/summarize Alice: We ship Friday. Bob: I will update the docs by Thursday."
    )
    assert "Decisions" in said.text and said.reply.tone == "answer"


async def test_long_transcript_is_summarised_in_parts_with_progress(chat: Chat) -> None:
    await chat.add_key("openai")
    turns = "\n".join(
        f"{'Alice' if n % 2 else 'Bob'}: Point {n} about the migration plan, " + "detail " * 20
        for n in range(80)
    )
    script_summaries(chat, "openai", 30)
    said = await chat.say(f"/summarize {turns}")
    progress = [s for s in said.statuses if s.startswith("Summarising part")]
    total = len(progress)
    assert total >= 3
    assert progress == [f"Summarising part {n} of {total}…" for n in range(1, total + 1)]
    calls = [r for r in chat.rig.fakes["openai"].requests if r.method == "POST"]
    assert len(calls) >= total + 1  # every part, then the merge
    assert f"{total} parts" in (said.reply.footer or "")
    rows = await chat.rig.usage_rows()
    assert len(rows) == len(calls) and {r["request_kind"] for r in rows} == {"summary"}


async def test_transcript_over_the_limit_is_refused_before_any_call(chat: Chat) -> None:
    await chat.add_key("openai")
    before = len(chat.rig.fakes["openai"].requests)
    said = await chat.say("/summarize " + "Alice: words words words. " * 2000)
    assert said.reply.tone == "error"
    assert "the limit here is 20,000" in said.text and "Split it into parts" in said.text
    assert len(chat.rig.fakes["openai"].requests) == before


async def test_unsupported_attachment_is_named(chat: Chat) -> None:
    said = await chat.say("/summarize", attachments=(Attachment("notes.pdf", b"%PDF-1.7"),))
    assert "`notes.pdf` is not one of them" in said.text
    assert ".txt, .vtt, .srt" in said.text


async def test_srt_and_txt_fixtures_parse(chat: Chat) -> None:
    await chat.add_key("openai")
    script_summaries(chat, "openai", 2)
    for name in ("vendor_call.srt", "standup.txt"):
        data = (FIXTURES / name).read_bytes()
        said = await chat.say("/summarize", attachments=(Attachment(name, data),))
        assert said.reply.title == "Meeting summary", said.text


async def test_a_summary_in_prose_is_shown_as_written_not_as_empty_sections(chat: Chat) -> None:
    await chat.add_key("openai")
    prose = (
        "The team agreed to ship on Friday.\n\n"
        "Bob will update the docs by Thursday; nobody has confirmed the release notes."
    )
    chat.rig.fakes["openai"].reply(text=prose, input_tokens=300, output_tokens=40)
    said = await chat.say(
        "/summarize Alice: We ship Friday. Bob: I will update the docs by Thursday."
    )
    assert [(s.title, s.text, s.bullets) for s in said.reply.sections] == [
        (
            "Summary (unstructured)",
            "The model answered in prose instead of the usual sections (decisions, action "
            "items, open questions), so here is its answer as written:\n\n" + prose,
            (),
        )
    ]
    assert "None recorded" not in said.text


async def test_a_summary_of_unknown_cost_says_so_in_the_one_money_format(chat: Chat) -> None:
    await chat.add_key("openai")
    fake = chat.rig.fakes["openai"]
    fake.models.append("gpt-99-unreleased")
    fake.reply(text=json.dumps(SUMMARY), input_tokens=900, output_tokens=120)
    said = await chat.say(
        "/summarize --model gpt-99-unreleased Alice: We ship Friday. Bob: Docs by Thursday."
    )
    assert (said.reply.footer or "").endswith("900 in / 120 out tokens · cost unknown")


async def test_anthropic_parts_send_their_instructions_unmarked_while_too_short_to_cache(
    chat: Chat,
) -> None:
    """Every part repeats the summary instructions, but they are shorter than any Claude
    model caches (1,024 tokens at least): marking them would only add a cache write."""
    await chat.add_key("anthropic")
    turns = "\n".join(
        f"{'Alice' if n % 2 else 'Bob'}: Point {n} about the migration plan, " + "detail " * 20
        for n in range(80)
    )
    script_summaries(chat, "anthropic", 30)
    said = await chat.say(f"/summarize {turns}")
    assert "parts" in (said.reply.footer or ""), said.text
    bodies = [r.json() for r in chat.rig.fakes["anthropic"].requests if r.method == "POST"]
    assert len(bodies) > 2
    assert all(isinstance(b["system"], str) for b in bodies)
    assert "cache_control" not in json.dumps(bodies)
