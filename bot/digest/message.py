"""The weekly digest one user receives: a Reply built from their numbers, with a chart.

Sections: the week by provider and model (the same lines as ``/usage``), the change
from the week before, month-to-date spend against each key's monthly limit,
failures and fallbacks, and a PNG of daily cost by provider over the last weeks. The
summary says what answers from the user's response cache saved (as ``/usage`` does).
Requests whose price is unknown are counted and named, never shown as $0, and so are
savings whose value is unknown.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal

from bot.commands.usage import report_sections, saved_text
from bot.digest.charts import daily_cost_chart
from bot.formatting import cost_text, limit_spend, money, plural, spend, tokens
from bot.provider_names import ProviderNames
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
    """``12 (was 3, +9, +300%)``."""
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
        f"{tokens(tokens_out)} out tokens · {cost_text(report.cost, report.unpriced)}."
    )
    saved = saved_text(report)
    return text + (f" You {saved}." if saved else "")


def _comparison(data: UserDigestData, report: UsageReport, names: ProviderNames) -> Section:
    before = data.previous
    if not before:
        return Section(title="Compared with the week before", text="No requests the week before.")
    used_now = sum(line.input_tokens + line.output_tokens for line in data.week)
    used_before = sum(p.input_tokens + p.output_tokens for p in before)
    cost_before = sum((p.cost for p in before), Decimal(0))
    fields = [
        Field("Requests", _change(Decimal(report.requests), Decimal(sum(p.requests for p in before)), _count)),
        Field("Tokens", _change(Decimal(used_now), Decimal(used_before), _count)),
        Field("Cost", _cost_change(report.cost, report.unpriced, cost_before,
                                   sum(p.unpriced for p in before))),
    ]  # fmt: skip
    now_cost = report.by_provider()
    now_unpriced = _unpriced_by_provider(report)
    before_cost = {p.provider_id: p.cost for p in before}
    before_unpriced = {p.provider_id: p.unpriced for p in before}
    bullets = [
        f"{names.label(provider)}: " + _cost_change(
            now_cost.get(provider, Decimal(0)), now_unpriced.get(provider, 0),
            before_cost.get(provider, Decimal(0)), before_unpriced.get(provider, 0),
        )
        for provider in sorted(now_cost.keys() | before_cost.keys())
        if now_cost.get(provider) or before_cost.get(provider)
        or now_unpriced.get(provider) or before_unpriced.get(provider)
    ]  # fmt: skip
    if report.unpriced or any(p.unpriced for p in before):
        bullets.append("Costs compare priced requests only.")
    return Section(
        title="Compared with the week before", fields=tuple(fields), bullets=tuple(bullets)
    )


def _unpriced_by_provider(report: UsageReport) -> dict[str, int]:
    found: dict[str, int] = {}
    for line in report.lines:
        found[line.provider_id] = found.get(line.provider_id, 0) + line.unpriced
    return found


def _cost_change(now: Decimal, now_unpriced: int, before: Decimal, before_unpriced: int) -> str:
    """The change in known cost; a week in which no price is known reads ``unknown``."""
    if not ((now == 0 and now_unpriced) or (before == 0 and before_unpriced)):
        return _change(now, before, money)
    used_before = before or before_unpriced
    was = f"was {spend(before, before_unpriced)}" if used_before else "none the week before"
    return f"{spend(now, now_unpriced)} ({was})"


def _month(data: UserDigestData, window: DigestWindow, names: ProviderNames) -> Section | None:
    if not data.keys:
        return None
    fields = []
    for key in data.keys:
        value = limit_spend(key.spent, key.limit, key.unpriced)
        if key.limit is not None:
            if key.spent >= key.limit:
                value += " — limit reached"
            elif key.spent * 100 >= key.limit * 80:
                value += " — close to the limit"
        fields.append(Field(names.label(key.provider_id), value))
    month = window.month[0]
    return Section(title=f"Month to date ({month:%B %Y}, your keys)", fields=tuple(fields))


def _failures(data: UserDigestData, report: UsageReport, names: ProviderNames) -> Section | None:
    if not data.has_usage:
        return None
    failed = sum(f.count for f in data.failures)
    fallbacks = sum(line.fallbacks for line in data.week)
    bullets = []
    if failed:
        kinds = ", ".join(
            f"{names.label(f.provider_id)} {f.kind.replace('_', ' ')} ×{f.count}"
            for f in data.failures
        )
        bullets.append(f"{failed:,} of {plural(report.requests, 'request')} failed: {kinds}.")
    if fallbacks:
        bullets.append(f"{plural(fallbacks, 'answer')} came from a fallback provider.")
    if not bullets:
        bullets.append("No failed requests and no fallbacks.")
    return Section(title="Failures and fallbacks", bullets=tuple(bullets))


def digest_chart(
    data: UserDigestData, window: DigestWindow, names: ProviderNames
) -> FileOut | None:
    """The chart of daily cost by provider (requests of unknown price drawn apart),
    or None when the chart's weeks had no requests to draw."""
    days = window.chart_days
    index = {day: n for n, day in enumerate(days)}
    costs: dict[str, list[Decimal]] = {}
    unpriced: dict[str, list[int]] = {}
    for point in data.daily:
        if point.day in index and (point.cost or point.unpriced):
            day = index[point.day]
            costs.setdefault(point.provider_id, [Decimal(0)] * len(days))[day] += point.cost
            unpriced.setdefault(point.provider_id, [0] * len(days))[day] += point.unpriced
    if not costs:
        return None
    title = f"Daily cost by provider, last {plural(window.chart_weeks, 'week')}"
    png = daily_cost_chart(
        days, costs, unpriced, highlight_from=window.period_start, title=title, names=names
    )
    return FileOut(f"byok-usage-{window.period_start.isoformat()}.png", png, "image/png", title)


def digest_reply(
    data: UserDigestData, window: DigestWindow, chart: FileOut | None, names: ProviderNames
) -> Reply:
    """The digest as a Reply; ``chart`` comes from :func:`digest_chart`."""
    report = UsageReport(window.start, window.end, tuple(data.week))
    sections = (
        [*report_sections(report, names), _comparison(data, report, names)]
        if data.has_usage
        else []
    )
    more = (_month(data, window, names), _failures(data, report, names))
    sections += [s for s in more if s is not None]
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


async def build_digest(data: UserDigestData, window: DigestWindow, names: ProviderNames) -> Reply:
    """The digest with its chart; the chart is drawn off the event loop."""
    chart = await asyncio.to_thread(digest_chart, data, window, names)
    return digest_reply(data, window, chart, names)
