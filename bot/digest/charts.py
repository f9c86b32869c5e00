"""The digest's chart: daily cost by provider over the last weeks, as a PNG.

Drawn with matplotlib's object API on the Agg backend (no pyplot, no display, no
global figure state), imported on first use so the bot starts without it. Rendering
is CPU work: call :func:`daily_cost_chart` through ``asyncio.to_thread``.

Money on the chart (axis ticks, legend) reads as everywhere else (:mod:`bot.formatting`),
and the legend names each provider as people know it (:mod:`bot.provider_names`).
Requests whose price is unknown have no place on a cost axis: they are drawn apart,
as a count of requests per day under the cost panel, and labelled so.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING

from bot.formatting import cost_text, money
from bot.provider_names import ProviderNames
from byok.providers.builtins import BUILTIN_RECORDS

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "PROVIDER_COLORS",
    "UNPRICED_BELOW_COST_TITLE",
    "UNPRICED_TITLE",
    "daily_cost_chart",
    "daily_cost_figure",
]

#: Each built-in provider's own colour; operator-added ones take the next of _OTHER_COLORS.
PROVIDER_COLORS: Mapping[str, str] = MappingProxyType(
    {r.provider_id: r.chart_color for r in BUILTIN_RECORDS}
)
UNPRICED_TITLE = "Requests of unknown cost"
UNPRICED_BELOW_COST_TITLE = f"{UNPRICED_TITLE} (not in the cost above)"
_OTHER_COLORS = ("#e6a700", "#00a6b4", "#c2185b", "#8d6e63", "#7cb342", "#5c6bc0")
_WIDTH_IN, _HEIGHT_IN, _UNPRICED_HEIGHT_IN, _DPI = 8.0, 3.6, 1.3, 100
# The cost axis spans at least this much, so its ticks stay a few millionths apart (each
# readable as itself) even when a week's costs are all but nothing.
_LEAST_COST_SPAN = 0.00001
# Round steps only: below a dollar each tick then has at most three significant digits,
# exactly what money() shows, so no two ticks read the same.
_TICK_STEPS = (1, 2, 2.5, 5, 10)
# matplotlib's font and text caches are shared by all figures and not thread-safe.
_RENDER_LOCK = threading.Lock()


def _colors(providers: Sequence[str]) -> dict[str, str]:
    others = iter(_OTHER_COLORS * (len(providers) // len(_OTHER_COLORS) + 1))
    return {p: PROVIDER_COLORS.get(p) or next(others) for p in providers}


def _money_tick(value: float, _position: object = None) -> str:
    return money(Decimal(repr(float(value))))


def daily_cost_figure(
    days: Sequence[date],
    costs: Mapping[str, Sequence[Decimal]],
    unpriced: Mapping[str, Sequence[int]] | None = None,
    *,
    highlight_from: date | None = None,
    title: str = "Daily cost by provider",
    names: ProviderNames | None = None,
) -> Figure:
    """The chart as a matplotlib figure (call under no other thread's rendering).

    A stacked bar per day, one colour per provider: ``costs[p][i]`` is provider ``p``'s
    known cost on day ``i``, ``unpriced[p][i]`` its requests of unknown price that day
    (drawn in a panel of their own). Days from ``highlight_from`` on are shaded. The
    legend names providers by ``names`` (by id when not given).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    unpriced = {p: counts for p, counts in (unpriced or {}).items() if any(counts)}
    priced = {p: values for p, values in costs.items() if any(values)}
    totals = {p: sum(costs.get(p, ()), Decimal(0)) for p in costs.keys() | unpriced.keys()}
    unknown = {p: sum(unpriced.get(p, ())) for p in totals}
    providers = sorted(totals, key=lambda p: (-totals[p], -unknown[p], p))
    colors = _colors(providers)
    panels = (["cost"] if priced or not unpriced else []) + (["unpriced"] if unpriced else [])
    height = _HEIGHT_IN + (_UNPRICED_HEIGHT_IN if len(panels) == 2 else 0)
    figure = Figure(figsize=(_WIDTH_IN, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    ratios = [_HEIGHT_IN - 1, _UNPRICED_HEIGHT_IN] if len(panels) == 2 else [1]
    axes_list = figure.subplots(len(panels), 1, sharex=True, squeeze=False,
                                height_ratios=ratios)[:, 0]  # fmt: skip
    by_panel = dict(zip(panels, axes_list, strict=True))
    if "cost" in by_panel:
        _draw_costs(by_panel["cost"], days, priced, providers, colors)
    if "unpriced" in by_panel:
        unpriced_axes = by_panel["unpriced"]
        _draw_unpriced(unpriced_axes, days, unpriced, providers, colors)
        below_cost = "cost" in by_panel
        unpriced_axes.set_title(UNPRICED_BELOW_COST_TITLE if below_cost else UNPRICED_TITLE,
                                loc="left", fontsize=9, color="#444444")  # fmt: skip
    for axes in axes_list:
        _frame(axes, days, highlight_from, labelled=axes is axes_list[0])
    figure.suptitle(title, x=0.01, ha="left", fontsize=11)
    bottom = axes_list[-1]
    bottom.set_xticks(range(0, len(days), 7), [d.strftime("%d %b") for d in days[::7]])
    if providers:
        label = (names or ProviderNames()).label
        labels = [f"{label(p)} ({cost_text(totals[p], unknown[p])})" for p in providers]
        handles = [Patch(color=colors[p]) for p in providers]
        wide = any(len(label) > 24 for label in labels)
        figure.legend(handles, labels, loc="outside lower center", fontsize=8, frameon=False,
                      ncols=min(2 if wide else 5, len(providers)))  # fmt: skip
    return figure


def _draw_costs(
    axes: Axes,
    days: Sequence[date],
    priced: Mapping[str, Sequence[Decimal]],
    providers: Sequence[str],
    colors: Mapping[str, str],
) -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    bottom = [0.0] * len(days)
    for provider in (p for p in providers if p in priced):
        values = [float(v) for v in priced[provider]]
        axes.bar(range(len(days)), values, bottom=bottom, width=0.8, zorder=2,
                 color=colors[provider])  # fmt: skip
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    axes.set_ylim(0, max([*bottom, _LEAST_COST_SPAN]) * 1.15)
    axes.yaxis.set_major_locator(MaxNLocator(nbins=5, steps=list(_TICK_STEPS)))
    axes.yaxis.set_major_formatter(FuncFormatter(_money_tick))


def _draw_unpriced(
    axes: Axes,
    days: Sequence[date],
    unpriced: Mapping[str, Sequence[int]],
    providers: Sequence[str],
    colors: Mapping[str, str],
) -> None:
    from matplotlib.ticker import MaxNLocator

    bottom = [0] * len(days)
    for provider in (p for p in providers if p in unpriced):
        counts = list(unpriced[provider])
        axes.bar(range(len(days)), counts, bottom=bottom, width=0.8, zorder=2,
                 color=colors[provider], hatch="///", edgecolor="white")  # fmt: skip
        bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    axes.set_ylim(0, max(bottom) * 1.15)
    axes.yaxis.set_major_locator(MaxNLocator(nbins=3, integer=True))


def _frame(
    axes: Axes, days: Sequence[date], highlight_from: date | None, *, labelled: bool
) -> None:
    axes.set_xlim(-0.5, len(days) - 0.5)
    axes.grid(axis="y", color="#dddddd", zorder=1)
    axes.spines[["top", "right"]].set_visible(False)
    if highlight_from is not None and highlight_from in days:
        first = days.index(highlight_from)
        axes.axvspan(first - 0.5, len(days) - 0.5, color="#f0f0f0", zorder=0)
        if labelled:
            axes.text((first + len(days) - 1) / 2, 1.0, "this week", transform=axes.get_xaxis_transform(),
                      ha="center", va="bottom", fontsize=8, color="#666666")  # fmt: skip


def daily_cost_chart(
    days: Sequence[date],
    costs: Mapping[str, Sequence[Decimal]],
    unpriced: Mapping[str, Sequence[int]] | None = None,
    *,
    highlight_from: date | None = None,
    title: str = "Daily cost by provider",
    names: ProviderNames | None = None,
) -> bytes:
    """:func:`daily_cost_figure` as PNG bytes (thread-safe)."""
    with _RENDER_LOCK:
        figure = daily_cost_figure(
            days, costs, unpriced, highlight_from=highlight_from, title=title, names=names
        )
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
    return buffer.getvalue()
