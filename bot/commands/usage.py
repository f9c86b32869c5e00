"""``/usage [week|month]``: questions and attempts, tokens and cost by provider and model, and limits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

from bot.context import BotContext
from bot.formatting import cost_text, limit_spend, money, plural, tokens
from bot.grammar import CommandError, closest
from bot.invocation import Invocation
from bot.provider_names import ProviderNames
from bot.reply import Field, Reply, ReplyEvent, Section
from byok.usage import UsageReport

__all__ = ["report_sections", "saved_text", "usage"]


def saved_text(report: UsageReport) -> str | None:
    """``saved $0.0123 by 4 cached answers`` (``(1 of unknown value)`` when some savings
    are unknown: the sum leaves them out); None without cached answers. An unknown saving
    is never shown as $0.00. ``/usage``, App Home and the weekly digest all say it so."""
    if not report.cached:
        return None
    answers = plural(report.cached, "cached answer")
    if report.saved_unknown == report.cached:
        return f"saved an unknown amount by {answers}"
    text = f"saved {money(report.saved)} by {answers}"
    if report.saved_unknown:
        text += f" ({report.saved_unknown:,} of unknown value)"
    return text


def report_sections(report: UsageReport, names: ProviderNames) -> list[Section]:
    """A section per provider (under its name), a line per model; requests of unknown
    price are counted apart, never shown as $0.00."""
    sections = []
    for provider in sorted({line.provider_id for line in report.lines}):
        lines = [line for line in report.lines if line.provider_id == provider]
        bullets = []
        for line in lines:
            extras = []
            if line.failures:
                failed = f"{line.failures:,} failed"
                if line.held_requests:  # a subset of the failures
                    failed += (
                        f", {line.held_requests:,} of them interrupted and counted at up to "
                        f"{money(line.held)} against the limit"
                    )
                extras.append(failed)
            if line.fallbacks:
                extras.append(f"{line.fallbacks:,} as fallback")
            if line.cached:
                extras.append(f"{line.cached:,} from your cache")
            bullets.append(
                f"{line.model}: {plural(line.requests, 'request')}, "
                f"{tokens(line.input_tokens)} in / {tokens(line.output_tokens)} out tokens, "
                f"{cost_text(line.cost, line.unpriced)}"
                + (f" ({', '.join(extras)})" if extras else "")
            )
        cost = cost_text(sum((x.cost for x in lines), Decimal(0)), sum(x.unpriced for x in lines))
        count = plural(sum(x.requests for x in lines), "request")
        title = f"{names.label(provider)} — {count}, {cost}"
        sections.append(Section(title=title, bullets=tuple(bullets)))
    return sections


def _questions_and_attempts(report: UsageReport) -> str:
    """What was asked, then the calls to providers behind it: "22 questions · 33 attempts
    (8 fallbacks, 3 failed)"."""
    fallbacks = sum(line.fallbacks for line in report.lines)
    failures = sum(line.failures for line in report.lines)
    extras = [plural(fallbacks, "fallback")] if fallbacks else []
    extras += [f"{failures:,} failed"] if failures else []
    detail = f" ({', '.join(extras)})" if extras else ""
    # A cached answer is a question, but no attempt at a provider.
    attempts = plural(report.requests - report.cached, "attempt")
    text = f"{plural(report.questions, 'question')} · {attempts}{detail}"
    return text + (f" · {report.cached:,} from your cache" if report.cached else "")


async def usage(inv: Invocation, ctx: BotContext) -> AsyncIterator[ReplyEvent]:
    words = (inv.text.strip().lower() or "month").split()
    word = words[0]
    if word not in ("week", "month") or len(words) > 1:
        guess = closest(word, ["week", "month"])
        hint = f" Did you mean `{guess}`?" if guess else ""
        raise CommandError(f"Usage: `/usage [week|month]`.{hint}")
    service = ctx.service(inv.user_ref)
    report = await service.usage_report("week" if word == "week" else "month")
    period = (
        f"this week (since {report.start:%a %d %b})"
        if word == "week"
        else f"in {report.start:%B %Y} so far"
    )
    names = ctx.provider_names
    sections = report_sections(report, names)
    statuses = [s for s in await service.get_user_api_keys() if s.key.monthly_limit is not None]
    if statuses:
        sections.append(
            Section(
                title="Monthly limits",
                fields=tuple(
                    Field(
                        names.label(s.key.provider_id),
                        limit_spend(s.spent_this_month, s.key.monthly_limit),
                    )
                    for s in statuses
                ),
            )
        )
    if not report.lines:
        text = f"No questions {period}."
    else:
        text = f"{_questions_and_attempts(report)} {period}"
        if report.unpriced and report.cost == 0:
            text += f"; cost unknown ({plural(report.unpriced, 'request')} of unknown price)."
        else:
            text += f", {money(report.cost)} in total"
            if report.unpriced:
                text += f" + {plural(report.unpriced, 'request')} of unknown cost"
            text += "."
        saved = saved_text(report)
        if saved:
            text += f" You {saved}."
    yield Reply(title="Your usage", text=text, sections=tuple(sections))
