"""``/usage [week|month]``: requests, tokens and cost by provider and model, and limits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

from bot.context import BotContext
from bot.formatting import money, tokens
from bot.grammar import CommandError, closest
from bot.invocation import Invocation
from bot.reply import Field, Reply, ReplyEvent, Section
from byok.usage import UsageReport

__all__ = ["report_sections", "usage"]


def report_sections(report: UsageReport) -> list[Section]:
    sections = []
    for provider in sorted({line.provider_id for line in report.lines}):
        lines = [line for line in report.lines if line.provider_id == provider]
        bullets = []
        for line in lines:
            text = (
                f"{line.model}: {line.requests} request{'s' if line.requests != 1 else ''}, "
                f"{tokens(line.input_tokens)} in / {tokens(line.output_tokens)} out tokens, "
                f"{money(line.cost)}"
            )
            extras = []
            if line.unpriced:
                extras.append(f"{line.unpriced} with unknown price")
            if line.failures:
                extras.append(f"{line.failures} failed")
            if line.fallbacks:
                extras.append(f"{line.fallbacks} as fallback")
            if extras:
                text += f" ({', '.join(extras)})"
            bullets.append(text)
        total = sum((line.cost for line in lines), Decimal(0))
        sections.append(Section(title=f"{provider} — {money(total)}", bullets=tuple(bullets)))
    return sections


async def usage(inv: Invocation, ctx: BotContext) -> AsyncIterator[ReplyEvent]:
    word = (inv.text.strip().lower() or "month").split()[0]
    if word not in ("week", "month"):
        guess = closest(word, ["week", "month"])
        hint = f" Did you mean `{guess}`?" if guess else ""
        raise CommandError(f"Usage: `/usage [week|month]`.{hint}")
    service = ctx.service(inv.user_ref)
    report = await service.usage_report("week" if word == "week" else "month")
    period = (
        f"this week (since {report.start:%a %d %b})"
        if word == "week"
        else f"{report.start:%B %Y} so far"
    )
    sections = report_sections(report)
    statuses = [s for s in await service.get_user_api_keys() if s.key.monthly_limit is not None]
    if statuses:
        sections.append(
            Section(
                title="Monthly limits",
                fields=tuple(
                    Field(
                        s.key.provider_id,
                        f"{money(s.spent_this_month)} of {money(s.key.monthly_limit)} "
                        f"({s.limit_used_fraction or 0:.0%})",
                    )
                    for s in statuses
                ),
            )
        )
    if not report.lines:
        text = f"No requests {period}."
    else:
        text = f"{report.requests} requests {period}, {money(report.cost)} in total"
        if report.unpriced:
            text += f" plus {report.unpriced} request(s) whose price is unknown"
        text += "."
    yield Reply(title="Your usage", text=text, sections=tuple(sections))
