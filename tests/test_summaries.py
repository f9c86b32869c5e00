"""Meeting summaries: one call or map-reduce within the context budget, and reading replies.

The model is the one external dependency of :func:`bot.summaries.summarize`, reached only
through the ``complete`` callable it is given; :class:`FakeModel` stands in for it, records
every prompt and answers as a scripted model would.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot.commands.table import COMMAND_HINTS
from bot.summaries.map_reduce import (
    MAP_SYSTEM_PROMPT,
    REDUCE_SYSTEM_PROMPT,
    ActionItem,
    MeetingSummary,
    SummaryError,
    estimate_tokens,
    format_markdown,
    merge_prompt_messages,
    prompt_messages,
    split_into_parts,
    summarize,
)
from bot.summaries.meeting import parse_action_item, parse_summary_reply
from bot.summaries.transcripts import Transcript, Turn, parse_transcript
from byok.types import ChatMessage

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "transcripts"


@dataclass(frozen=True, slots=True)
class Call:
    messages: tuple[ChatMessage, ...]
    max_tokens: int

    @property
    def is_merge(self) -> bool:
        return self.messages[0].content == REDUCE_SYSTEM_PROMPT

    @property
    def part(self) -> tuple[int, int] | None:
        found = re.search(r"This is part (\d+) of (\d+)", self.messages[-1].content)
        return (int(found[1]), int(found[2])) if found else None

    @property
    def transcript_lines(self) -> list[str]:
        body = self.messages[-1].content.split("<transcript>\n", 1)[1]
        return body.rsplit("\n</transcript>", 1)[0].split("\n")


@dataclass
class FakeModel:
    """Stands in for the LLM: answers each prompt with ``answer(call)``, records the calls."""

    answer: Callable[[Call], str]
    calls: list[Call] = field(default_factory=list)
    log: list[tuple[object, ...]] = field(default_factory=list)

    async def __call__(self, messages: Sequence[ChatMessage], max_tokens: int) -> str:
        call = Call(tuple(messages), max_tokens)
        self.calls.append(call)
        self.log.append(("merge",) if call.is_merge else ("summarise", call.part))
        return self.answer(call)

    async def progress(self, part: int, total: int) -> None:
        self.log.append(("progress", part, total))

    @property
    def map_calls(self) -> list[Call]:
        return [c for c in self.calls if not c.is_merge]

    @property
    def merge_calls(self) -> list[Call]:
        return [c for c in self.calls if c.is_merge]


def fits(call: Call, context_tokens: int) -> bool:
    """The prompt (at 4 characters a token, 4 tokens a message) plus the answer fit."""
    chars = sum(len(m.content) for m in call.messages)
    return math.ceil(chars / 4) + 4 * len(call.messages) + call.max_tokens <= context_tokens


# --- a long meeting -------------------------------------------------------------------------

SPEAKERS = ("Elena Marsh", "Rafael Soto", "Kenji Watanabe", "Amara Nwosu")
# Turn index -> (task, due); the owner is whoever speaks that turn.
ACTIONS = {
    10: ("benchmark the new storage tier", "the end of next week"),
    27: ("book the customer interviews", "Friday"),
    44: ("send the revised timeline to leadership", "May 30"),
    61: ("draft the migration runbook", "June 3"),
}
UNOWNED_AT = 52
UNOWNED_TASK = "update the status page wording"
TOPICS = ("storage costs", "the beta feedback", "hiring", "the migration", "support load")


def long_meeting_vtt(turns: int = 72) -> str:
    """A WebVTT planning meeting of ``turns`` turns, each spoken over two cues."""
    cues = ["WEBVTT", ""]
    clock = 0.0
    for i in range(turns):
        speaker = SPEAKERS[i % len(SPEAKERS)]
        topic = TOPICS[i % len(TOPICS)]
        first = f"On {topic}, point {i}: the numbers from last sprint look steady overall."
        if i in ACTIONS:
            task, due = ACTIONS[i]
            second = f"I'll {task} by {due}, and share it in the channel."
        elif i == UNOWNED_AT:
            second = f"Someone should {UNOWNED_TASK} at some point."
        else:
            second = f"We should revisit {topic} with fresh data before deciding anything."
        for text in (first, second):
            start, clock = clock, clock + 4.5
            cues += [f"{_stamp(start)} --> {_stamp(clock)}", f"<v {speaker}>{text}</v>", ""]
    return "\n".join(cues)


def _stamp(seconds: float) -> str:
    millis = round(seconds * 1000)
    whole, fraction = divmod(millis, 1000)
    return f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}.{fraction:03d}"


@pytest.fixture
def long_meeting() -> Transcript:
    transcript = parse_transcript(long_meeting_vtt(), "planning.vtt")
    assert len(transcript.turns) == 72
    return transcript


def expected_actions() -> set[tuple[str, str | None, str | None]]:
    owned = {(task, SPEAKERS[i % 4], due) for i, (task, due) in ACTIONS.items()}
    return owned | {(UNOWNED_TASK, None, None)}


def scripted_answer(call: Call) -> str:
    """A model that reports the action items it sees and merges what the parts report."""
    text = call.messages[-1].content
    if call.is_merge:
        items = re.findall(r"^- (.+) \(owner: (.+); due: (.+)\)$", text, re.MULTILINE)
        markers = re.findall(r"\bP\d+\b", text)
        return json.dumps(
            {
                "overview": "Merged " + " ".join(dict.fromkeys(markers)),
                "decisions": [],
                "action_items": [
                    {"task": t, "owner": None if o == "not stated" else o, "due": d}
                    for t, o, d in dict.fromkeys(items)
                ],
                "open_questions": [],
            }
        )
    part = call.part or (1, 1)
    found: list[dict[str, str | None]] = [
        {"task": task, "owner": SPEAKERS[i % 4], "due": due}
        for i, (task, due) in ACTIONS.items()
        if f"I'll {task} by {due}" in text
    ]
    if f"Someone should {UNOWNED_TASK}" in text:
        found.append({"task": UNOWNED_TASK, "owner": None, "due": "null"})
    reply = {"overview": f"P{part[0]} covered planning.", "action_items": found}
    return f"Here is the summary:\n```json\n{json.dumps(reply)}\n```"


# --- the single-call path -------------------------------------------------------------------


async def test_a_transcript_that_fits_takes_one_call() -> None:
    transcript = parse_transcript((FIXTURES / "zoom_pricing_sync.vtt").read_text(), "z.vtt")
    answer = {
        "overview": "The team locked the Team plan pricing copy.",
        "decisions": ["Show the annual discount as two months free"],
        "action_items": [
            {"task": "Send the revised copy to legal", "owner": "Priya Raman", "due": "Thursday"},
            {"task": "Update the FAQ on seat limits", "owner": "Tomás Herrera", "due": "Friday"},
            {"task": "Ask finance about billing impact", "owner": None, "due": None},
        ],
        "open_questions": ["Are existing Team customers migrated automatically?"],
    }
    model = FakeModel(lambda call: json.dumps(answer))
    summary = await summarize(
        transcript, model, context_tokens=8000, max_output_tokens=700, on_progress=model.progress
    )
    assert len(model.calls) == 1
    assert model.calls[0].messages == tuple(prompt_messages(transcript.render()))
    assert model.calls[0].max_tokens == 700
    assert model.log == [("summarise", None)]  # no progress for a single call
    assert summary == MeetingSummary(
        overview="The team locked the Team plan pricing copy.",
        decisions=("Show the annual discount as two months free",),
        action_items=(
            ActionItem("Send the revised copy to legal", "Priya Raman", "Thursday"),
            ActionItem("Update the FAQ on seat limits", "Tomás Herrera", "Friday"),
            ActionItem("Ask finance about billing impact"),
        ),
        open_questions=("Are existing Team customers migrated automatically?",),
        parts=1,
    )


@pytest.mark.parametrize(
    "name",
    ["teams_incident_review.vtt", "vendor_call.srt", "standup.txt", "otter_design_review.txt"],
)
async def test_every_fixture_is_sent_whole_with_speakers_and_times(name: str) -> None:
    path = FIXTURES / name
    transcript = parse_transcript(path.read_bytes(), name)
    model = FakeModel(lambda call: '{"overview": "ok"}')
    await summarize(transcript, model, context_tokens=16000, max_output_tokens=1000)
    (call,) = model.calls
    assert call.transcript_lines == [t.render() for t in transcript.turns]
    for speaker in transcript.speakers:
        assert f"{speaker}" in call.messages[-1].content


# --- the map-reduce path --------------------------------------------------------------------


async def test_long_meeting_is_summarised_in_parts_then_merged(long_meeting: Transcript) -> None:
    model = FakeModel(scripted_answer)
    summary = await summarize(
        long_meeting, model, context_tokens=1600, max_output_tokens=250, on_progress=model.progress
    )
    total = len(model.map_calls)
    assert total >= 4
    # Progress comes before each part, in order, then the merge.
    expected_log: list[tuple[object, ...]] = []
    for part in range(1, total + 1):
        expected_log += [("progress", part, total), ("summarise", (part, total))]
    assert model.log == [*expected_log, ("merge",)]
    assert summary.parts == total
    assert all(call.max_tokens == 250 for call in model.calls)
    assert all(fits(call, 1600) for call in model.calls)
    # The merge saw every part's summary, and owners and due dates came through.
    merge_text = model.merge_calls[0].messages[-1].content
    assert all(f"### Part {n} of {total}" in merge_text for n in range(1, total + 1))
    assert summary.overview == "Merged " + " ".join(f"P{n}" for n in range(1, total + 1))
    assert {(a.task, a.owner, a.due) for a in summary.action_items} == expected_actions()


async def test_parts_end_only_between_turns(long_meeting: Transcript) -> None:
    model = FakeModel(scripted_answer)
    await summarize(long_meeting, model, context_tokens=1600, max_output_tokens=250)
    lines = [line for call in model.map_calls for line in call.transcript_lines]
    assert lines == [turn.render() for turn in long_meeting.turns]
    sizes = [len("\n".join(call.transcript_lines)) for call in model.map_calls]
    assert min(sizes) > max(sizes) / 2  # balanced, not a tiny last part


@pytest.mark.parametrize("context_tokens", [1200, 2000, 4000])
async def test_every_prompt_fits_the_context(long_meeting: Transcript, context_tokens: int) -> None:
    model = FakeModel(scripted_answer)
    summary = await summarize(
        long_meeting, model, context_tokens=context_tokens, max_output_tokens=200
    )
    assert model.calls and all(fits(call, context_tokens) for call in model.calls)
    assert {(a.task, a.owner, a.due) for a in summary.action_items} == expected_actions()


async def test_a_turn_too_long_for_one_part_is_cut_at_sentence_ends() -> None:
    sentences = [f"Sentence {i} of the very long monologue about the roadmap." for i in range(120)]
    transcript = Transcript(
        (
            Turn("Ana", 0.0, 5.0, "Short opening."),
            Turn("Ben", 5.0, 900.0, " ".join(sentences)),
            Turn("Ana", 900.0, 905.0, "Short closing."),
        ),
        "text",
    )
    model = FakeModel(lambda call: '{"overview": "ok"}')
    await summarize(transcript, model, context_tokens=1200, max_output_tokens=200)
    assert len(model.map_calls) >= 3 and all(fits(c, 1200) for c in model.calls)
    lines = [line for call in model.map_calls for line in call.transcript_lines]
    assert lines[0] == "Ana [00:00]: Short opening." and lines[-1] == "Ana [15:00]: Short closing."
    pieces = lines[1:-1]
    assert len(pieces) >= 3
    assert all(p.startswith("Ben [00:05]: Sentence ") and p.endswith("roadmap.") for p in pieces)
    assert " ".join(p.removeprefix("Ben [00:05]: ") for p in pieces) == " ".join(sentences)


async def test_a_sentence_too_long_for_one_part_is_cut_between_words() -> None:
    words = " ".join(f"word{i}" for i in range(2000))
    transcript = Transcript((Turn("Ana", 1.0, 2.0, words),), "text")
    model = FakeModel(lambda call: '{"overview": "ok"}')
    await summarize(transcript, model, context_tokens=1000, max_output_tokens=150)
    assert all(fits(c, 1000) for c in model.calls)
    pieces = [
        line.removeprefix("Ana [00:01]: ") for c in model.map_calls for line in c.transcript_lines
    ]
    assert " ".join(pieces) == words


async def test_merging_happens_in_rounds_when_part_summaries_do_not_fit(
    long_meeting: Transcript,
) -> None:
    def verbose(call: Call) -> str:
        if call.is_merge:
            return scripted_answer(call)
        reply = json.loads(scripted_answer(call).split("```json\n")[1].split("\n```")[0])
        reply["decisions"] = [f"Long decision {n}: " + "details " * 20 for n in range(4)]
        return json.dumps(reply)

    model = FakeModel(verbose)
    summary = await summarize(long_meeting, model, context_tokens=1200, max_output_tokens=200)
    total = summary.parts
    assert len(model.merge_calls) > 1
    assert all(fits(call, 1200) for call in model.calls)
    assert "Parts 1–" in model.merge_calls[-1].messages[-1].content
    assert summary.overview == "Merged " + " ".join(f"P{n}" for n in range(1, total + 1))
    assert {(a.task, a.owner, a.due) for a in summary.action_items} == expected_actions()


async def test_parts_answered_in_markdown_or_prose_still_merge(long_meeting: Transcript) -> None:
    def mixed(call: Call) -> str:
        if call.is_merge:
            return scripted_answer(call)
        part = (call.part or (1, 1))[0]
        if part % 2:
            return scripted_answer(call)
        return f"## Overview\nP{part} was mostly status.\n\n## Action items\n- None recorded."

    model = FakeModel(mixed)
    summary = await summarize(long_meeting, model, context_tokens=1600, max_output_tokens=250)
    assert summary.overview == "Merged " + " ".join(f"P{n}" for n in range(1, summary.parts + 1))


async def test_owners_the_transcript_never_mentions_are_dropped() -> None:
    transcript = parse_transcript("Ana: I'll send the notes by Monday.\nBen: Thanks.")
    answer = {
        "overview": "Short.",
        "action_items": [
            {"task": "Send the notes", "owner": "Ana", "due": "Monday"},
            {"task": "Review the notes", "owner": "Zoltan Kovacs", "due": "Tuesday"},
            {"task": "Tidy up", "owner": "the team", "due": None},
        ],
    }
    summary = await summarize(
        transcript,
        FakeModel(lambda c: json.dumps(answer)),
        context_tokens=4000,
        max_output_tokens=500,
    )
    assert summary.action_items == (
        ActionItem("Send the notes", "Ana", "Monday"),
        ActionItem("Review the notes", None, "Tuesday"),
        ActionItem("Tidy up", "the team", None),
    )


async def test_a_context_too_small_for_any_transcript_is_refused(long_meeting: Transcript) -> None:
    model = FakeModel(scripted_answer)
    with pytest.raises(SummaryError) as caught:
        await summarize(long_meeting, model, context_tokens=900, max_output_tokens=400)
    assert caught.value.problem == "context_too_small"
    assert "--max-tokens" in COMMAND_HINTS.error_text(caught.value)
    assert model.calls == []


async def test_an_empty_answer_is_an_error_the_user_can_act_on() -> None:
    transcript = parse_transcript("Ana: Hello.")
    with pytest.raises(SummaryError) as caught:
        await summarize(
            transcript, FakeModel(lambda c: "  \n"), context_tokens=4000, max_output_tokens=500
        )
    assert caught.value.problem == "empty_reply"
    assert "another model" in COMMAND_HINTS.error_text(caught.value)


async def test_a_transcript_without_turns_is_refused() -> None:
    with pytest.raises(SummaryError) as caught:
        await summarize(
            Transcript((), "text"),
            FakeModel(lambda c: "{}"),
            context_tokens=4000,
            max_output_tokens=500,
        )
    assert caught.value.problem == "empty_transcript"


# --- prompts and budgeting ------------------------------------------------------------------


def test_prompts_ask_for_strict_json_and_stated_owners_only() -> None:
    system, user = prompt_messages("Ana [00:01]: Hi.", part=3, total=7)
    assert system.role == "system" and user.role == "user"
    for prompt in (MAP_SYSTEM_PROMPT, REDUCE_SYSTEM_PROMPT):
        assert '"action_items": [{"task"' in prompt and '"open_questions"' in prompt
        assert "Never guess or invent an owner or a date." in prompt
        assert "JSON object only" in prompt
    assert "not instructions" in system.content
    assert user.content.startswith("This is part 3 of 7 of one meeting transcript.")
    assert user.content.endswith("<transcript>\nAna [00:01]: Hi.\n</transcript>")
    assert "part" not in prompt_messages("x")[1].content.split("\n")[0].lower()


def test_merge_prompt_lists_each_summary_with_owner_and_due() -> None:
    partials = [
        MeetingSummary("First half.", ("Ship B",), (ActionItem("Mock up", "Oliver", "Tuesday"),)),
        MeetingSummary("Second half.", (), (ActionItem("Write copy"),), ("Dismissable?",)),
    ]
    system, user = merge_prompt_messages(partials)
    assert system.content == REDUCE_SYSTEM_PROMPT
    assert "### Part 1 of 2\nOverview: First half.\nDecisions:\n- Ship B\n" in user.content
    assert "- Mock up (owner: Oliver; due: Tuesday)" in user.content
    assert "- Write copy (owner: not stated; due: not stated)" in user.content
    assert "### Part 2 of 2" in user.content and "- Dismissable?" in user.content


def test_token_estimate_is_conservative() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcd") == 1
    assert estimate_tokens("abcde") == 2
    assert estimate_tokens("会議の要約") == 5  # one token per non-ASCII character
    assert estimate_tokens("é" * 4) == 4


def test_split_into_parts_is_lossless_and_within_the_limit(long_meeting: Transcript) -> None:
    parts = split_into_parts(long_meeting, 500)
    assert len(parts) > 1
    assert all(estimate_tokens(p) <= 500 for p in parts)
    assert "\n".join(parts) == long_meeting.render()


# --- reading replies ------------------------------------------------------------------------

EXPECTED = MeetingSummary(
    overview="We picked layout B.",
    decisions=("Use layout B",),
    action_items=(
        ActionItem("Mock up the empty state", "Oliver", "Tuesday"),
        ActionItem("Write copy"),
    ),
    open_questions=("Can the checklist be dismissed?",),
)
CLEAN = json.dumps(
    {
        "overview": "We picked layout B.",
        "decisions": ["Use layout B"],
        "action_items": [
            {"task": "Mock up the empty state", "owner": "Oliver", "due": "Tuesday"},
            {"task": "Write copy", "owner": None, "due": None},
        ],
        "open_questions": ["Can the checklist be dismissed?"],
    }
)


@pytest.mark.parametrize(
    "reply",
    [
        CLEAN,
        f"```json\n{CLEAN}\n```",
        f"Sure! Here is the summary you asked for:\n\n{CLEAN}\n\nLet me know if you need more.",
        CLEAN.replace('"Use layout B"]', '"Use layout B",]')
        .replace("}]", "},]")
        .replace('"dismissed?"]', '"dismissed?"],'),
        json.dumps({"summary": json.loads(CLEAN)}),
        # camelCase keys, items as objects and strings, unstated values spelled out
        json.dumps(
            {
                "Overview": ["We picked", "layout B."],
                "keyDecisions": [{"decision": "Use layout B"}],
                "actionItems": [
                    {
                        "description": "Mock up the empty state",
                        "assignee": "Oliver",
                        "deadline": "Tuesday",
                    },
                    {"task": "Write copy", "owner": "TBD", "due": "N/A"},
                ],
                "openQuestions": "- Can the checklist be dismissed?",
            }
        ),
        json.dumps(
            {
                "overview": "We picked layout B.",
                "decisions": ["Use layout B"],
                "action_items": ["Mock up the empty state — Oliver, by Tuesday", "Write copy"],
                "open_questions": ["Can the checklist be dismissed?"],
            }
        ),
    ],
)
def test_json_replies_in_many_shapes(reply: str) -> None:
    assert parse_summary_reply(reply) == EXPECTED


def test_a_reply_cut_off_at_the_token_limit_keeps_whole_items() -> None:
    cut = CLEAN[: CLEAN.index("Write copy") + 5]
    summary = parse_summary_reply(cut)
    assert summary.overview == "We picked layout B."
    assert summary.action_items == (ActionItem("Mock up the empty state", "Oliver", "Tuesday"),)


@pytest.mark.parametrize(
    "reply",
    [
        "## Overview\nWe picked layout B.\n\n## Decisions\n- Use layout B\n\n## Action items\n"
        "- Mock up the empty state — Oliver, by Tuesday\n- Write copy\n\n## Open questions\n"
        "- Can the checklist be dismissed?\n\nLet me know if you want more detail.",
        "**Overview:** We picked layout B.\n**Decisions:**\n* Use layout B\n**Action Items:**\n"
        "1. Mock up the empty state (owner: Oliver, due: Tuesday)\n2. Write copy (owner: none)\n"
        "**Open Questions:**\n1. Can the checklist be dismissed?",
        "Summary: We picked layout B.\n\nDecisions\n• Use layout B\n\nNext steps\n"
        "- [ ] **Mock up the empty state** — **Oliver**, due Tuesday\n- [ ] Write copy\n\n"
        "Open questions\n• Can the checklist be dismissed?",
        "```markdown\n### 1. Overview\nWe picked layout B.\n### Decisions (1)\n- Use layout B\n"
        "### Action items\n- Mock up the empty state\n  (owner: Oliver; deadline: Tuesday)\n"
        "- Write copy\n### Open questions\n- Can the checklist be dismissed?\n```",
    ],
)
def test_markdown_replies_are_read_when_there_is_no_json(reply: str) -> None:
    assert parse_summary_reply(reply) == EXPECTED


def test_prose_without_structure_is_kept_as_written_and_marked_unstructured() -> None:
    summary = parse_summary_reply("The meeting {was} short and nothing was decided.")
    assert summary == MeetingSummary(
        "The meeting {was} short and nothing was decided.", structured=False
    )


PROSE_REPLY = (
    "The team agreed to ship the beta on Friday.\n\n"
    "Ana will update the docs by Thursday, and Ben still has to confirm the price."
)


def test_prose_is_shown_as_written_never_as_empty_sections() -> None:
    summary = parse_summary_reply(f"```\n{PROSE_REPLY}\n```")
    assert summary == MeetingSummary(PROSE_REPLY, structured=False)
    assert format_markdown(summary) == (
        "**Summary (unstructured)**\n"
        "The model answered in prose instead of the usual sections (decisions, action items, "
        "open questions), so here is its answer as written:\n\n" + PROSE_REPLY
    )


async def test_a_part_answered_in_prose_is_merged_as_prose_not_as_none(
    long_meeting: Transcript,
) -> None:
    def second_in_prose(call: Call) -> str:
        if call.is_merge or (call.part or (1, 1))[0] != 2:
            return scripted_answer(call)
        return "Part two covered hiring; Rafael will book interviews by Friday."

    model = FakeModel(second_in_prose)
    await summarize(long_meeting, model, context_tokens=1600, max_output_tokens=250)
    merge = model.merge_calls[-1].messages[-1].content
    part_two = merge.split("### Part 2 of ")[1].split("### Part 3")[0]
    assert part_two.split("\n", 1)[1] == (
        "In prose, without separate lists:\n"
        "Part two covered hiring; Rafael will book interviews by Friday.\n\n"
    )


@pytest.mark.parametrize(
    ("line", "item"),
    [
        ("Send the deck — Alice, by Friday", ActionItem("Send the deck", "Alice", "Friday")),
        ("Send the deck - Alice Chen", ActionItem("Send the deck", "Alice Chen", None)),
        ("Send the deck – due 2026-12-01", ActionItem("Send the deck", None, "2026-12-01")),
        (
            "Send the deck (owner: Alice, due: 2026-12-01)",
            ActionItem("Send the deck", "Alice", "2026-12-01"),
        ),
        ("Send the deck (Owner: unassigned)", ActionItem("Send the deck", None, None)),
        ("Owner: Bo | Due: Fri | Ship it", ActionItem("Ship it", "Bo", "Fri")),
        ("Send the deck (by Friday)", ActionItem("Send the deck", None, "Friday")),
        (
            "Review Q3 - Q4 plan — Alice & Bob",
            ActionItem("Review Q3 - Q4 plan", "Alice & Bob", None),
        ),
        ("Fix log-in - include the edge cases", ActionItem("Fix log-in - include the edge cases")),
        ("Chase the overdue: invoices", ActionItem("Chase the overdue: invoices")),
        ("Call the vendor - Friday", ActionItem("Call the vendor", None, "Friday")),
        ("Call the vendor — next Tuesday", ActionItem("Call the vendor", None, "next Tuesday")),
        ("Ship the fix — 12 May", ActionItem("Ship the fix", None, "12 May")),
    ],
)
def test_action_item_lines(line: str, item: ActionItem) -> None:
    assert parse_action_item(line) == item


def test_format_markdown_shows_every_section_and_reads_back() -> None:
    summary = MeetingSummary(
        overview="We picked layout B.",
        decisions=("Use layout B",),
        action_items=(
            ActionItem("Mock up the empty state", "Oliver", "Tuesday"),
            ActionItem("Write copy", "Sofia"),
            ActionItem("Ask support", due="the 20th"),
            ActionItem("Tidy the board"),
        ),
        open_questions=(),
        parts=3,
    )
    text = format_markdown(summary)
    assert text == (
        "**Overview**\nWe picked layout B.\n\n**Decisions**\n- Use layout B\n\n"
        "**Action items**\n- Mock up the empty state — Oliver, due Tuesday\n"
        "- Write copy — Sofia\n- Ask support — due the 20th\n- Tidy the board\n\n"
        "**Open questions**\n- None recorded.\n\n_Summarised in 3 parts, then merged._"
    )
    assert parse_summary_reply(text) == MeetingSummary(
        summary.overview, summary.decisions, summary.action_items, ()
    )


# Provider-side prompt caching: instructions sent more than once are marked as a shared
# prefix (the provider decides whether they are long enough to cache).


def _marked(call: Call) -> list[bool]:
    return [m.cache_prefix for m in call.messages]


async def test_the_instructions_every_part_repeats_are_marked_as_a_shared_prefix(
    long_meeting: Transcript,
) -> None:
    model = FakeModel(scripted_answer)
    await summarize(long_meeting, model, context_tokens=1600, max_output_tokens=250)
    assert len(model.map_calls) > 1
    # The system prompt of every part is marked; the part itself never is.
    assert all(_marked(call) == [True, False] for call in model.map_calls)
    # One merge sends its instructions once: nothing to share.
    [merge] = model.merge_calls
    assert _marked(merge) == [False, False]


async def test_a_transcript_summarised_in_one_call_marks_nothing() -> None:
    model = FakeModel(lambda call: '{"overview": "ok"}')
    transcript = Transcript((Turn("Ana", 0.0, 5.0, "We ship on Friday."),), "text")
    await summarize(transcript, model, context_tokens=16000, max_output_tokens=500)
    [call] = model.calls
    assert _marked(call) == [False, False]


async def test_merges_in_rounds_mark_their_shared_instructions(
    long_meeting: Transcript,
) -> None:
    def verbose(call: Call) -> str:
        if call.is_merge:
            return scripted_answer(call)
        reply = json.loads(scripted_answer(call).split("```json\n")[1].split("\n```")[0])
        reply["decisions"] = [f"Long decision {n}: " + "details " * 20 for n in range(4)]
        return json.dumps(reply)

    model = FakeModel(verbose)
    await summarize(long_meeting, model, context_tokens=1200, max_output_tokens=200)
    assert len(model.merge_calls) > 1
    assert all(_marked(call) == [True, False] for call in model.merge_calls)
