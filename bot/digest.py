"""The weekly digest one user receives: a Reply built from their numbers, with a chart.

Sections: the week by provider and model (the same lines as ``/usage``), the change
from the week before, month-to-date spend against each key's monthly limit,
failures and fallbacks, and a PNG of daily cost by provider over the last weeks.
Requests whose price is unknown are counted and named, never shown as $0.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal

from bot.charts import daily_cost_chart
from bot.commands.usage import report_sections
from bot.formatting import money, plural, tokens
from bot.reply import Field, FileOut, Reply, Section
from byok.digest_data import DigestWindow, UserDigestData
from byok.usage import UsageReport

__all__ = ["build_digest", "digest_chart", "digest_reply", "week_label"]


def week_label(first: date) -> str:
    """``Mon 16 – Sun 22 Nov 2026``; months and years are repeated only when they change."""
    last = first + timedelta(days=6)
    start = f"{first:%a} {first.day}"  # no %-d: glibc only
    end = f"{last:%a} {last.day} {last:%b %Y}"
    if first.year != last.year:
        return f"{start} {first:%b %Y} – {end}"
    if first.month != last.month:
        return f"{start} {first:%b} – {end}"
    return f"{start} – {end}"


def _change(now: Decimal, before: Decimal, show: Callable[[Decimal], str]) -> str:
    if before == 0:
        return f"{show(now)} (none the week before)" if now else show(now)
    diff = now - before
    sign = "+" if diff >= 0 else "-"
    show_diff = show(abs(diff))
    return f"{show(now)} (was {show(before)}, {sign}{show_diff}, {sign}{abs(diff) * 100 / before:.0f}%)"


def _count(value: Decimal) -> str:
    return tokens(int(value))


def _summary(data: UserDigestData, report: UsageReport) -> str:
    if not data.has_usage:
        return "No requests this week."
    tokens_in = sum(line.input_tokens for line in data.week)
    tokens_out = sum(line.output_tokens for line in data.week)
    text = (
        f"{plural(report.requests, 'request')} · {tokens(tokens_in)} in / "
        f"{tokens(tokens_out)} out tokens · {money(report.cost)}"
    )
    if report.unpriced:
        text += f" plus {plural(report.unpriced, 'request')} whose price is unknown"
    return text + "."


def _comparison(data: UserDigestData, report: UsageReport) -> Section:
    before = data.previous
    if not before:
        return Section(title="Compared with the week before", text="No requests the week before.")
    used_now = sum(line.input_tokens + line.output_tokens for line in data.week)
    used_before = sum(p.input_tokens + p.output_tokens for p in before)
    cost_before = sum((p.cost for p in before), Decimal(0))
    fields = [
        Field("Requests", _change(Decimal(report.requests), Decimal(sum(p.requests for p in before)), _count)),
        Field("Tokens", _change(Decimal(used_now), Decimal(used_before), _count)),
        Field("Cost", _change(report.cost, cost_before, money)),
    ]  # fmt: skip
    now_by_provider = report.by_provider()
    before_by_provider = {p.provider_id: p.cost for p in before}
    bullets = [
        f"{provider}: {_change(now_by_provider.get(provider, Decimal(0)), before_by_provider.get(provider, Decimal(0)), money)}"
        for provider in sorted(now_by_provider.keys() | before_by_provider.keys())
        if now_by_provider.get(provider) or before_by_provider.get(provider)
    ]
    if report.unpriced or any(p.unpriced for p in before):
        bullets.append("Costs compare priced requests only.")
    return Section(
        title="Compared with the week before", fields=tuple(fields), bullets=tuple(bullets)
    )


def _month(data: UserDigestData, window: DigestWindow) -> Section | None:
    if not data.keys:
        return None
    fields = []
    for key in data.keys:
        if key.limit is None:
            value = f"{money(key.spent)}, no monthly limit"
        else:
            value = f"{money(key.spent)} of {money(key.limit)}"
            if key.limit > 0:
                share = key.spent * 100 / key.limit
                value += f" ({share:.0f}%)"
            if key.spent >= key.limit:
                value += " — limit reached"
            elif key.spent * 100 >= key.limit * 80:
                value += " — close to the limit"
        fields.append(Field(key.provider_id, value))
    month = window.month[0]
    return Section(title=f"Month to date ({month:%B %Y}, your keys)", fields=tuple(fields))


def _failures(data: UserDigestData, report: UsageReport) -> Section | None:
    if not data.has_usage:
        return None
    failed = sum(f.count for f in data.failures)
    fallbacks = sum(line.fallbacks for line in data.week)
    bullets = []
    if failed:
        kinds = ", ".join(
            f"{f.provider_id} {f.kind.replace('_', ' ')} ×{f.count}" for f in data.failures
        )
        bullets.append(f"{failed:,} of {plural(report.requests, 'request')} failed: {kinds}.")
    if fallbacks:
        bullets.append(f"{plural(fallbacks, 'answer')} came from a fallback provider.")
    if not bullets:
        bullets.append("No failed requests and no fallbacks.")
    return Section(title="Failures and fallbacks", bullets=tuple(bullets))


def digest_chart(data: UserDigestData, window: DigestWindow) -> FileOut | None:
    """The chart of daily cost by provider, or None when nothing in it had a known price."""
    if not any(point.cost for point in data.daily):
        return None
    days = window.chart_days
    index = {day: n for n, day in enumerate(days)}
    costs: dict[str, list[Decimal]] = {}
    for point in data.daily:
        if point.day in index:
            costs.setdefault(point.provider_id, [Decimal(0)] * len(days))[index[point.day]] += (
                point.cost
            )
    unpriced = sum(point.unpriced for point in data.daily)
    weeks = plural(window.chart_weeks, "week")
    title = f"Daily cost by provider, last {weeks}"
    note = f"{plural(unpriced, 'request')} with unknown price not included" if unpriced else None
    png = daily_cost_chart(days, costs, highlight_from=window.period_start, title=title, note=note)
    return FileOut(f"byok-usage-{window.period_start.isoformat()}.png", png, "image/png", title)


def digest_reply(data: UserDigestData, window: DigestWindow, chart: FileOut | None) -> Reply:
    """The digest as a Reply; ``chart`` comes from :func:`digest_chart`."""
    report = UsageReport(window.start, window.end, tuple(data.week))
    sections = [*report_sections(report), _comparison(data, report)] if data.has_usage else []
    sections += [s for s in (_month(data, window), _failures(data, report)) if s is not None]
    return Reply(
        title=f"Your week with byok-bot: {week_label(window.period_start)}",
        text=_summary(data, report),
        sections=tuple(sections),
        footer=(
            f"Weekly digest · days in {window.timezone.key} · "
            "turn it off with `/byok prefs digest off`"
        ),
        tone="info",
        private=True,
        files=(chart,) if chart is not None else (),
    )


async def build_digest(data: UserDigestData, window: DigestWindow) -> Reply:
    """The digest with its chart; the chart is drawn off the event loop."""
    chart = await asyncio.to_thread(digest_chart, data, window)
    return digest_reply(data, window, chart)
