"""The digest's chart: daily cost by provider over the last weeks, as a PNG.

Drawn with matplotlib's object API on the Agg backend (no pyplot, no display, no
global figure state), imported on first use so the bot starts without it. Rendering
is CPU work: call :func:`daily_cost_chart` through ``asyncio.to_thread``.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal

__all__ = ["PROVIDER_COLORS", "daily_cost_chart"]

PROVIDER_COLORS = {
    "openai": "#10a37f",
    "anthropic": "#d97757",
    "google": "#4285f4",
    "xai": "#444444",
    "openrouter": "#7c4dff",
}
_OTHER_COLORS = ("#e6a700", "#00a6b4", "#c2185b", "#8d6e63", "#7cb342", "#5c6bc0")
_WIDTH_IN, _HEIGHT_IN, _DPI = 8.0, 3.6, 100
# matplotlib's font and text caches are shared by all figures and not thread-safe.
_RENDER_LOCK = threading.Lock()


def _colors(providers: Sequence[str]) -> dict[str, str]:
    others = iter(_OTHER_COLORS * (len(providers) // len(_OTHER_COLORS) + 1))
    return {p: PROVIDER_COLORS.get(p) or next(others) for p in providers}


def daily_cost_chart(
    days: Sequence[date],
    costs: Mapping[str, Sequence[Decimal]],
    *,
    highlight_from: date | None = None,
    title: str = "Daily cost by provider",
    note: str | None = None,
) -> bytes:
    """A stacked bar per day (one colour per provider); ``costs[p][i]`` is day ``i``.

    Days from ``highlight_from`` on (the digest's week) get a shaded background;
    ``note`` is printed under the chart (e.g. requests whose price is unknown).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    providers = sorted(costs, key=lambda p: (-sum(costs[p]), p))
    colors = _colors(providers)
    with _RENDER_LOCK:
        figure = Figure(figsize=(_WIDTH_IN, _HEIGHT_IN), dpi=_DPI, layout="constrained")
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        positions = list(range(len(days)))
        if highlight_from is not None and highlight_from in days:
            first = days.index(highlight_from)
            axes.axvspan(first - 0.5, len(days) - 0.5, color="#f0f0f0", zorder=0)
            axes.text((first + len(days) - 1) / 2, 1.0, "this week", transform=axes.get_xaxis_transform(),
                      ha="center", va="bottom", fontsize=8, color="#666666")  # fmt: skip
        bottom = [0.0] * len(days)
        for provider in providers:
            values = [float(v) for v in costs[provider]]
            total = sum(costs[provider], Decimal(0))
            axes.bar(positions, values, bottom=bottom, width=0.8, zorder=2,
                     color=colors[provider], label=f"{provider} (${total:,.2f})")  # fmt: skip
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        axes.set_xticks(positions[::7], [d.strftime("%d %b") for d in days[::7]])
        axes.set_xlim(-0.5, len(days) - 0.5)
        axes.set_ylim(0, max([*bottom, 0.01]) * 1.15)
        axes.yaxis.set_major_formatter(
            FuncFormatter(lambda v, _pos: f"${v:,.2f}" if v < 100 else f"${v:,.0f}")
        )
        axes.grid(axis="y", color="#dddddd", zorder=1)
        axes.spines[["top", "right"]].set_visible(False)
        axes.set_title(title, loc="left", fontsize=11)
        if providers:
            figure.legend(loc="outside lower center", fontsize=8, frameon=False,
                          ncols=min(5, len(providers)))  # fmt: skip
        if note:
            axes.set_xlabel(note, fontsize=8, color="#666666", loc="left")
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
    return buffer.getvalue()
