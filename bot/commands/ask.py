"""``/ask [--provider P] [--model M] [--max-tokens N] [--temperature T] <question>``.

``--provider a,b,c`` or ``--compare`` asks several providers at once and shows their
answers side by side (:func:`stream_compare`); a follow-up in a comparison's thread asks
the same providers again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal

from bot.alert_delivery import refusal_notices, spending_section
from bot.bounds import MAX_TOKENS
from bot.context import BotContext
from bot.failure_summary import attempt_text, fallback_status
from bot.formatting import answer_footer, money
from bot.grammar import (
    CommandError,
    Flag,
    model_value,
    no_value,
    parse_flags,
    parse_number,
    text_value,
)
from bot.invocation import Attachment, Invocation
from bot.provider_names import ProviderNames
from bot.reply import Delta, Part, Reply, ReplyEvent, Section, Status, closed_after
from byok.answers import Answer, CompareFailure, Comparing, FallingBack, TextDelta
from byok.errors import (
    AllProvidersFailedError,
    ProviderError,
    SpendLimitError,
    StreamInterruptedError,
)
from byok.images import check_image
from byok.remedies import ChooseMaxTokens, ChooseModel, ChooseProvider
from byok.types import ChatMessage

__all__ = [
    "ASK_FLAGS",
    "ASK_USAGE",
    "answer_reply",
    "ask",
    "compare_summary",
    "question_with_images",
    "stream_answer",
    "stream_compare",
]

ASK_USAGE = (
    "/ask [--provider P[,P2,…] | --compare] [--model M] [--max-tokens N] [--temperature T] "
    "[--fresh] <question>"
)
ASK_FLAGS = (
    Flag(
        "provider",
        text_value,
        "p",
        "openai, anthropic, google, xai (grok), openrouter; several, comma-separated, "
        "to compare their answers",
        remedy=ChooseProvider,
    ),
    Flag(
        "compare",
        no_value,
        None,
        "ask all your working keys at once and show the answers side by side",
        switch=True,
    ),
    Flag(
        "model",
        model_value,
        "m",
        "a model id or a familiar name like gpt-4 or claude-3-haiku",
        remedy=ChooseModel,
    ),
    Flag(
        "max-tokens",
        parse_number(int, 1, MAX_TOKENS),
        None,
        "the longest answer, in tokens",
        remedy=ChooseMaxTokens,
    ),
    Flag("temperature", parse_number(float, 0, 2), "t", "0 (focused) to 2 (inventive)"),
    Flag("fresh", no_value, None, "ask the provider even if the answer is cached", switch=True),
)


def answer_reply(answer: Answer, names: ProviderNames, *, public: bool) -> Reply:
    sections = []
    if answer.fell_back:
        sections.append(
            Section(
                title=f"Answered by {names.label(answer.provider_id)} instead",
                bullets=tuple(attempt_text(a, names) for a in answer.failed_attempts),
            )
        )
    notes = answer.notes
    if answer.truncated:
        notes += (
            f"The answer stopped at the token limit ({answer.usage.output_tokens:,} tokens "
            "written): ask again with a higher `--max-tokens` for the rest.",
        )
    if notes:
        sections.append(Section(bullets=notes))
    spending = spending_section(answer.notices, names)
    if spending is not None:
        sections.append(spending)
    return Reply(
        text=answer.text or "(the model returned no text)",
        sections=tuple(sections),
        footer=answer_footer(answer, names),
        tone="answer",
        private=not public,
    )


async def stream_answer(
    ctx: BotContext,
    inv: Invocation,
    messages: Sequence[ChatMessage],
    *,
    provider: str | None = None,
    model: str | None = None,
    max_tokens: int | None = None,
    temperature: float | None = None,
    kind: str = "ask",
    fresh: bool = False,
) -> AsyncIterator[ReplyEvent]:
    """Stream an answer as Deltas, then the Reply; a cut-off answer is marked incomplete."""
    service = ctx.service(inv.user_ref)
    names = ctx.provider_names
    shown: list[str] = []
    try:
        stream = service.stream(
            messages,
            provider=provider,
            model=model,
            max_tokens=max_tokens,
            temperature=temperature,
            kind=kind,
            thread=inv.thread,
            fresh=fresh,
        )
        async with closed_after(stream):
            async for event in stream:
                if isinstance(event, TextDelta):
                    shown.append(event.text)
                    yield Delta(event.text)
                elif isinstance(event, FallingBack):
                    yield Status(fallback_status(event.failed, event.next_provider_id, names))
                else:
                    await ctx.send_spend_alerts(inv.user_ref, event.notices)
                    yield answer_reply(event, names, public=not inv.private)
    except (SpendLimitError, AllProvidersFailedError) as exc:
        await ctx.send_spend_alerts(inv.user_ref, refusal_notices(exc))
        raise
    except StreamInterruptedError as exc:
        partial = exc.partial_text or "".join(shown)
        yield Reply(
            text=partial,
            sections=(Section(title="Incomplete answer", text=ctx.hints.error_text(exc)),),
            footer=f"{names.label(exc.provider_id)} · stopped early",
            tone="warning",
            private=inv.private,
            incomplete=True,
        )


def _provider_list(raw: str | None) -> list[str]:
    """``openai, anthropic,google`` as its names; an empty item is a typo, not a name."""
    if raw is None:
        return []
    names = [name.strip() for name in raw.split(",")]
    if len(names) > 1 and not all(names):
        raise CommandError(
            f"`--provider {raw}` has an empty name: separate providers with single commas "
            "and no spaces, like `--provider openai,anthropic`."
        )
    return names


async def question_with_images(text: str, attachments: Sequence[Attachment]) -> ChatMessage:
    """The user's question with the attached files as images, each checked from its bytes
    (:func:`byok.images.check_image`, off the event loop): a file that is not an image is
    an ImageError before anything is sent or billed."""
    images = tuple([await asyncio.to_thread(check_image, a.data, a.filename) for a in attachments])
    return ChatMessage("user", text or _ABOUT_THE_IMAGE, images=images)


#: The question when images come with no words.
_ABOUT_THE_IMAGE = "What is in this image?"


async def ask(inv: Invocation, ctx: BotContext) -> AsyncIterator[ReplyEvent]:
    parsed = parse_flags(inv.text, ASK_FLAGS, usage=ASK_USAGE)
    if not parsed.text and not inv.attachments:
        raise CommandError(f"What would you like to ask? Usage: `{ASK_USAGE}`")
    question = await question_with_images(parsed.text, inv.attachments)
    names = _provider_list(parsed.flags.get("provider"))
    comparing = bool(parsed.flags.get("compare")) or len(names) > 1
    followed: Sequence[str] | None = None
    if not comparing and not names and inv.thread and parsed.flags.get("model") is None:
        # A follow-up in a comparison's thread asks the same providers again.
        followed = await ctx.service(inv.user_ref).compare_set_of(inv.thread)
        comparing = followed is not None
    if comparing:
        if len(names) == 1:
            raise CommandError(
                "A comparison needs at least two providers: name them, like "
                "`--provider openai,anthropic`, or leave `--provider` out to compare all "
                "your working keys."
            )
        if parsed.flags.get("model") is not None:
            raise CommandError(
                "`--model` names one provider's model: leave it out when comparing "
                "(each provider answers with your preferred or its default model)."
            )
        events = stream_compare(
            ctx,
            inv,
            [question],
            providers=names or followed or None,
            max_tokens=parsed.flags.get("max-tokens"),
            temperature=parsed.flags.get("temperature"),
            fresh=bool(parsed.flags.get("fresh")),
        )
        async with closed_after(events):
            async for event in events:
                yield event
        return
    answering = stream_answer(
        ctx,
        inv,
        [question],
        provider=names[0] if names else None,
        model=parsed.flags.get("model"),
        max_tokens=parsed.flags.get("max-tokens"),
        temperature=parsed.flags.get("temperature"),
        fresh=bool(parsed.flags.get("fresh")),
    )
    async with closed_after(answering):
        async for event in answering:
            yield event


def _seconds(ms: int) -> str:
    """A latency as people read it: "340 ms" under a second, else "1.2 s"."""
    return f"{ms} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def _compare_reply(answer: Answer, names: ProviderNames, *, public: bool) -> Reply:
    """One provider's answer in a comparison: its footer also says how long it took."""
    reply = answer_reply(answer, names, public=public)
    footer = f"{reply.footer} · {_seconds(answer.latency_ms)}" if reply.footer else None
    return Reply(
        text=reply.text,
        sections=reply.sections,
        footer=footer,
        tone=reply.tone,
        private=reply.private,
    )


def _failure_reply(failure: CompareFailure, ctx: BotContext, *, private: bool) -> Reply:
    """One provider's failure, shown in its place; a cut-off answer keeps its text."""
    label = ctx.provider_names.label(failure.provider_id)
    explained = ctx.hints.error_text(failure.error)
    if failure.partial_text:
        return Reply(
            text=failure.partial_text,
            sections=(Section(title="Incomplete answer", text=explained),),
            footer=f"{label} · stopped early",
            tone="warning",
            private=private,
            incomplete=True,
        )
    return Reply(text=explained, footer=f"{label} · failed", tone="error", private=private)


def _may_have_billed(failure: CompareFailure) -> bool:
    """A failed attempt the provider may still bill (an answer cut off midway)."""
    error = failure.error
    return bool(failure.partial_text) or (
        isinstance(error, ProviderError) and error.may_have_billed
    )


def compare_summary(
    answers: Sequence[Answer], failures: Sequence[CompareFailure], names: ProviderNames
) -> str:
    """The closing line: ``fastest: Anthropic (1.2 s) · cheapest: Google ($0.0003) · total
    $0.0051``. Cached answers are left out of fastest and cheapest (nobody was asked);
    answers of unknown cost are left out of cheapest, and the total says it is at least
    the known part: ``total ≥ $0.0048 + unknown``."""
    parts: list[str] = []
    asked = [a for a in answers if a.from_cache is None]
    if len(asked) >= 2:
        fastest = min(asked, key=lambda a: a.latency_ms)
        parts.append(
            f"fastest: {names.label(fastest.provider_id)} ({_seconds(fastest.latency_ms)})"
        )
        priced = [a for a in asked if a.cost is not None]
        if priced:
            cheapest = min(priced, key=lambda a: a.cost or Decimal(0))
            parts.append(f"cheapest: {names.label(cheapest.provider_id)} ({money(cheapest.cost)})")
    elif len(answers) == 1:
        parts.append(f"only {names.label(answers[0].provider_id)} answered")
    known = sum((a.cost for a in answers if a.cost is not None), Decimal(0))
    unknown = any(a.cost is None for a in answers) or any(_may_have_billed(f) for f in failures)
    if not answers and not unknown:
        parts.append("no provider answered")
    elif unknown and known == 0:
        parts.append("total unknown")
    elif unknown:
        parts.append(f"total ≥ {money(known)} + unknown")
    else:
        parts.append(f"total {money(known)}")
    if failures:
        parts.append(f"{len(failures)} failed")
    return " · ".join(parts)


async def stream_compare(
    ctx: BotContext,
    inv: Invocation,
    messages: Sequence[ChatMessage],
    *,
    providers: Sequence[str] | None,
    max_tokens: int | None = None,
    temperature: float | None = None,
    fresh: bool = False,
) -> AsyncIterator[ReplyEvent]:
    """Several providers at once: each answer is a :class:`Part` of its own, streamed as it
    comes and ended by its footer (or its failure, in its place); then the closing line."""
    service = ctx.service(inv.user_ref)
    names = ctx.provider_names
    answers: list[Answer] = []
    failures: list[CompareFailure] = []
    comparing = service.compare(
        messages,
        providers=providers,
        max_providers=ctx.compare_max_providers,
        max_tokens=max_tokens,
        temperature=temperature,
        thread=inv.thread,
        fresh=fresh,
    )
    async with closed_after(comparing):
        async for event in comparing:
            if isinstance(event, Comparing):
                yield Status(f"Asking {names.labels(event.provider_ids)}…")
                continue
            title = names.label(event.provider_id)
            if isinstance(event, TextDelta):
                yield Part(event.provider_id, title, Delta(event.text))
            elif isinstance(event, Answer):
                answers.append(event)
                await ctx.send_spend_alerts(inv.user_ref, event.notices)
                reply = _compare_reply(event, names, public=not inv.private)
                yield Part(event.provider_id, title, reply)
            else:
                failures.append(event)
                await ctx.send_spend_alerts(inv.user_ref, refusal_notices(event.error))
                yield Part(
                    event.provider_id, title, _failure_reply(event, ctx, private=inv.private)
                )
    yield Reply(
        text=compare_summary(answers, failures, names),
        tone="answer" if answers else "error",
        private=inv.private,
    )
