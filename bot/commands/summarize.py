"""``/summarize``: a meeting summary from a pasted or attached transcript.

Long transcripts are split on speaker turns, summarised in parts with progress shown,
and merged. Each part is an ordinary engine request (kind ``summary``), so routing,
fallback, limits and usage rows all apply.

The user's response cache applies too, when they turned it on: a transcript summarised
again answers each part (and the merge, whose input is then the same) from the cache.
Each part is an entry of its own with a usage row of its own (outcome ``cached``, what
that part cost when first asked as its saving), so a transcript changed in one part asks
the provider for that part and the merge only. The footer says how many answers came
from the cache and what they saved; ``--fresh`` asks the provider for every part.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal

from bot.alert_delivery import refusal_notices, spending_section
from bot.context import BotContext
from bot.formatting import age, cost_text, money, plural, saving_note, token_counts
from bot.grammar import CommandError, Flag, model_value, no_value, parse_flags, text_value
from bot.invocation import Invocation
from bot.provider_names import ProviderNames
from bot.reply import Reply, ReplyEvent, Section, Status
from bot.summaries.map_reduce import summarize as summarize_transcript
from bot.summaries.meeting import PROSE_NOTE, PROSE_TITLE, MeetingSummary
from bot.summaries.transcripts import max_transcript_bytes, parse_transcript
from byok.answers import Answer
from byok.errors import ByokError
from byok.types import ChatMessage

__all__ = ["SUMMARIZE_EXAMPLE", "SUMMARIZE_USAGE", "summarize", "summary_reply"]

#: A pasted meeting on one line, as Discord and the console send it: three speaker turns.
SUMMARIZE_EXAMPLE = (
    "/summarize Ana: Let's ship the beta on Friday. "
    "Ben: Agreed. I'll update the docs by Thursday. Ana: Who tells support?"
)

SUMMARIZE_USAGE = (
    "/summarize [--provider P] [--model M] [--fresh] <transcript>  (or attach .txt/.vtt/.srt)"
)
_FLAGS = (
    Flag("provider", text_value, "p"),
    Flag("model", model_value, "m"),
    Flag("fresh", no_value, None, "summarise again even if your cache holds it", switch=True),
)
SUPPORTED = (".txt", ".vtt", ".srt")


def _transcript_source(inv: Invocation, text: str, limit: int) -> tuple[str | bytes, str | None]:
    if inv.attachments:
        attachment = inv.attachments[0]
        if not attachment.filename.lower().endswith(SUPPORTED):
            raise CommandError(
                f"I can read transcripts in {', '.join(SUPPORTED)} files; "
                f"`{attachment.filename}` is not one of them."
            )
        if len(attachment.data) > max_transcript_bytes(limit):
            raise _too_large(len(attachment.data), limit)
        return attachment.data, attachment.filename
    if not text:
        raise CommandError(
            f"Paste a transcript after the command or attach a file. Usage: `{SUMMARIZE_USAGE}`"
        )
    return text, None


def _too_large(size: int, limit: int) -> CommandError:
    return CommandError(
        f"That transcript is {size:,} characters; the limit here is {limit:,}. "
        "Split it into parts (for example by hour) and summarise each."
    )


def summary_reply(
    summary: MeetingSummary, answers: Sequence[Answer], names: ProviderNames, *, public: bool
) -> Reply:
    sections = _summary_sections(summary) if summary.structured else [_prose_section(summary)]
    spending = spending_section((n for a in answers for n in a.notices), names)
    if spending is not None:
        sections.append(spending)
    return Reply(
        title="Meeting summary",
        sections=tuple(sections),
        footer=_footer(answers, summary.parts, names),
        tone="answer",
        private=not public,
    )


def _prose_section(summary: MeetingSummary) -> Section:
    return Section(title=PROSE_TITLE, text=f"{PROSE_NOTE}\n\n{summary.overview}")


def _summary_sections(summary: MeetingSummary) -> list[Section]:
    sections = [Section(title="Overview", text=summary.overview or "—")]
    sections.append(Section(title="Decisions", bullets=summary.decisions or ("None recorded.",)))
    items = []
    for item in summary.action_items:
        who = item.owner or "unassigned"
        due = f", due {item.due}" if item.due else ""
        items.append(f"{item.task} — {who}{due}")
    sections.append(Section(title="Action items", bullets=tuple(items) or ("None recorded.",)))
    sections.append(
        Section(title="Open questions", bullets=summary.open_questions or ("None recorded.",))
    )
    return sections


def _footer(answers: Sequence[Answer], parts: int, names: ProviderNames) -> str:
    """Who answered, the calls made, their tokens and cost; answers from the user's cache
    are counted apart with what they saved (``saved unknown``, never $0.00, for a saving
    whose value is unknown), and ``--fresh`` is named."""
    providers = sorted({f"{names.label(a.provider_id)} · {a.model}" for a in answers})
    asked = [a for a in answers if a.from_cache is None]
    cached = [a.from_cache for a in answers if a.from_cache is not None]
    split = f"{parts} parts, " if parts > 1 else ""
    head = f"{', '.join(providers)} · {split}"
    if not cached:
        return head + _spent(asked)
    saved = [c.saved for c in cached if c.saved is not None]
    unknown = len(cached) - len(saved)
    saving = f"saved {money(sum(saved, Decimal(0)) if saved else None)}"
    if saved and unknown:
        saving += f" ({unknown:,} of unknown value)"
    when = age(max(c.age_s for c in cached))
    when = when if when == "just now" else f"from {when}"
    if not asked:
        count = "" if len(cached) == 1 else f" ({plural(len(cached), 'answer')})"
        return f"{head}cached{count} · {when} · {saving} · --fresh to ask again"
    return (
        f"{head}{_spent(asked)} · {len(cached):,} cached, {when}, {saving} · --fresh to ask again"
    )


def _spent(asked: Sequence[Answer]) -> str:
    """``2 calls · 1,800 in / 240 out tokens · $0.0123`` for the answers a provider gave."""
    tokens_in = sum(a.usage.input_tokens for a in asked)
    tokens_out = sum(a.usage.output_tokens for a in asked)
    prompt_cached = sum(a.usage.cached_input_tokens for a in asked)
    known = [a.cost for a in asked if a.cost is not None]
    cost = cost_text(sum(known, Decimal(0)), len(asked) - len(known))
    # A prompt-cache saving is claimed only when every call's is known: a part would
    # understate it.
    savings = [a.cache_saved for a in asked]
    saved = None if None in savings else sum((s for s in savings if s), Decimal(0))
    return (
        f"{plural(len(asked), 'call')} · "
        f"{token_counts(tokens_in, tokens_out, prompt_cached)} · {cost}{saving_note(saved)}"
    )


async def summarize(inv: Invocation, ctx: BotContext) -> AsyncIterator[ReplyEvent]:
    parsed = parse_flags(inv.text, _FLAGS, usage=SUMMARIZE_USAGE)
    limit = ctx.max_transcript_chars
    if len(parsed.text) > limit:
        raise _too_large(len(parsed.text), limit)
    source, filename = _transcript_source(inv, parsed.text, limit)
    transcript = parse_transcript(source, filename)
    rendered = transcript.render()
    if len(rendered) > limit:
        raise _too_large(len(rendered), limit)
    service = ctx.service(inv.user_ref)
    fresh = bool(parsed.flags.get("fresh"))
    answers: list[Answer] = []
    progress: asyncio.Queue[Status] = asyncio.Queue()

    async def complete(messages: Sequence[ChatMessage], max_tokens: int) -> str:
        try:
            answer = await service.chat(
                messages,
                provider=parsed.flags.get("provider"),
                model=parsed.flags.get("model"),
                max_tokens=max_tokens,
                kind="summary",
                fresh=fresh,
            )
        except ByokError as exc:  # a limit's refusal may bring its 100% notice due
            await ctx.send_spend_alerts(inv.user_ref, refusal_notices(exc))
            raise
        answers.append(answer)
        await ctx.send_spend_alerts(inv.user_ref, answer.notices)
        return answer.text

    async def on_progress(part: int, total: int) -> None:
        await progress.put(Status(f"Summarising part {part} of {total}…"))

    turns = len(transcript.turns)
    yield Status(f"Reading {turns} turn{'' if turns == 1 else 's'}…")
    task = asyncio.create_task(
        summarize_transcript(
            transcript,
            complete,
            context_tokens=ctx.summary_part_tokens,
            max_output_tokens=ctx.summary_output_tokens,
            on_progress=on_progress,
        )
    )
    try:
        while not task.done():
            waiter = asyncio.create_task(progress.get())
            done, _ = await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if waiter in done:
                yield waiter.result()
            else:
                waiter.cancel()
        while not progress.empty():
            yield progress.get_nowait()
        summary = task.result()
    finally:
        if not task.done():
            task.cancel()
            # The part being asked finishes its usage row as it is cancelled: waited for
            # (shielded, so a second cancel does not leave it pending), not left to run on.
            await asyncio.shield(asyncio.gather(task, return_exceptions=True))
    yield summary_reply(summary, answers, ctx.provider_names, public=not inv.private)
