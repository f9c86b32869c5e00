"""``/ask [--provider P] [--model M] [--max-tokens N] [--temperature T] <question>``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from bot.alert_delivery import refusal_notices, spending_section
from bot.bounds import MAX_TOKENS
from bot.context import BotContext
from bot.failure_summary import attempt_text, fallback_status
from bot.formatting import answer_footer
from bot.grammar import (
    CommandError,
    Flag,
    model_value,
    no_value,
    parse_flags,
    parse_number,
    text_value,
)
from bot.invocation import Invocation
from bot.provider_names import ProviderNames
from bot.reply import Delta, Reply, ReplyEvent, Section, Status
from byok.answers import Answer, FallingBack, TextDelta
from byok.errors import AllProvidersFailedError, SpendLimitError, StreamInterruptedError
from byok.remedies import ChooseMaxTokens, ChooseModel, ChooseProvider
from byok.types import ChatMessage

__all__ = ["ASK_FLAGS", "ASK_USAGE", "answer_reply", "ask", "stream_answer"]

ASK_USAGE = (
    "/ask [--provider P] [--model M] [--max-tokens N] [--temperature T] [--fresh] <question>"
)
ASK_FLAGS = (
    Flag(
        "provider",
        text_value,
        "p",
        "openai, anthropic, google, xai (grok), openrouter",
        remedy=ChooseProvider,
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
        async for event in service.stream(
            messages,
            provider=provider,
            model=model,
            max_tokens=max_tokens,
            temperature=temperature,
            kind=kind,
            thread=inv.thread,
            fresh=fresh,
        ):
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


async def ask(inv: Invocation, ctx: BotContext) -> AsyncIterator[ReplyEvent]:
    parsed = parse_flags(inv.text, ASK_FLAGS, usage=ASK_USAGE)
    if not parsed.text:
        raise CommandError(f"What would you like to ask? Usage: `{ASK_USAGE}`")
    async for event in stream_answer(
        ctx,
        inv,
        [ChatMessage("user", parsed.text)],
        provider=parsed.flags.get("provider"),
        model=parsed.flags.get("model"),
        max_tokens=parsed.flags.get("max-tokens"),
        temperature=parsed.flags.get("temperature"),
        fresh=bool(parsed.flags.get("fresh")),
    ):
        yield event
