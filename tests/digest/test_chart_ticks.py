"""The digest chart read as a picture: distinct, readable money ticks at every scale, and
requests of unknown cost drawn apart and labelled (never a provider at "($0.00)").

Tick labels are read from the drawn matplotlib figure; each case is also saved as a PNG
in the test's temporary folder for a person to look at.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from PIL import Image

from bot.digest.charts import daily_cost_chart, daily_cost_figure
from bot.provider_names import ProviderNames

DAYS = tuple(date(2026, 10, 19) + timedelta(days=n) for n in range(35))
WEEK = DAYS[28]
NAMES = ProviderNames.builtin()


def every_day(*values: str) -> list[Decimal]:
    """The given daily costs, repeated over the chart's 35 days."""
    return [Decimal(values[n % len(values)]) for n in range(len(DAYS))]


def drawn(
    costs: Mapping[str, Sequence[Decimal]],
    unpriced: Mapping[str, Sequence[int]] | None = None,
    names: ProviderNames = NAMES,
) -> tuple[list[list[str]], list[str], list[str]]:
    """Y tick labels and title of each panel, and the legend's labels, as drawn."""
    figure = daily_cost_figure(DAYS, costs, unpriced, highlight_from=WEEK, names=names)
    figure.canvas.draw()
    ticks = []
    for axes in figure.axes:
        low, high = axes.get_ylim()  # the locator also labels a tick past the top: not drawn
        ticks.append(
            [t.get_text() for t in axes.get_yticklabels() if low <= t.get_position()[1] <= high]
        )
    titles = [axes.get_title(loc="left") for axes in figure.axes]
    [legend] = figure.legends
    return ticks, titles, [t.get_text() for t in legend.get_texts()]


def saved(tmp_path: Path, name: str, costs: Mapping[str, Sequence[Decimal]],
          unpriced: Mapping[str, Sequence[int]] | None = None) -> Path:  # fmt: skip
    png = daily_cost_chart(DAYS, costs, unpriced, highlight_from=WEEK, title=name, names=NAMES)
    path = tmp_path / f"{name}.png"
    path.write_bytes(png)
    Image.open(io.BytesIO(png)).verify()
    return path


def test_a_sub_cent_week(tmp_path: Path) -> None:
    costs = {"openai": every_day("0.0004", "0.00012", "0"), "anthropic": every_day("0.0002")}
    ticks, titles, legend = drawn(costs)
    assert ticks == [["$0.00", "$0.0002", "$0.0004", "$0.0006"]]
    assert titles == [""]  # one panel: cost
    assert legend == ["Anthropic ($0.007)", "OpenAI ($0.00624)"]
    saved(tmp_path, "sub-cent", costs)


def test_a_week_of_dollars(tmp_path: Path) -> None:
    costs = {"openai": every_day("3.10", "0.40"), "google": every_day("1.25")}
    ticks, _, legend = drawn(costs)
    assert ticks == [["$0.00", "$2.00", "$4.00"]]
    assert legend == ["OpenAI ($62.60)", "Google Gemini ($43.75)"]
    saved(tmp_path, "dollars", costs)


def test_a_mixed_week_draws_unknown_cost_apart_and_labelled(tmp_path: Path) -> None:
    costs = {"openai": every_day("0.012", "0.003"), "xai": every_day("0")}
    unpriced = {
        "xai": [n % 3 for n in range(35)],
        "openai": [1 if n == 30 else 0 for n in range(35)],
    }
    ticks, titles, legend = drawn(costs, unpriced)
    assert ticks == [
        ["$0.00", "$0.005", "$0.01"],
        ["0", "1", "2"],
    ]
    assert titles == ["", "Requests of unknown cost (not in the cost above)"]
    assert legend == ["OpenAI ($0.267 + 1 request of unknown cost)", "xAI Grok (cost unknown)"]
    assert not any("$0.00)" in label for label in legend)
    saved(tmp_path, "mixed", costs, unpriced)


def test_a_week_of_unknown_cost_only_has_no_cost_axis(tmp_path: Path) -> None:
    ticks, titles, legend = drawn({"xai": every_day("0")}, {"xai": [2] * 35})
    assert ticks == [["0", "1", "2"]]
    assert titles == ["Requests of unknown cost"]
    assert legend == ["xAI Grok (cost unknown)"]
    saved(tmp_path, "unknown-only", {"xai": every_day("0")}, {"xai": [2] * 35})


def test_the_legend_names_an_operators_provider_and_an_unknown_id_as_itself() -> None:
    costs = {"local": every_day("0.02"), "gone": every_day("0.01")}
    _, _, legend = drawn(costs, names=ProviderNames({"local": "Office Llama"}))
    assert legend == ["Office Llama ($0.70)", "gone ($0.35)"]


@pytest.mark.parametrize(
    "top",
    ["0.0000003", "0.000004", "0.00003", "0.00042", "0.0031", "0.0123", "0.07", "0.3", "0.999",
     "1.2", "7", "42", "999", "12345", "2500000"],
)  # fmt: skip
def test_ticks_are_distinct_at_every_scale(top: str) -> None:
    ticks, _, _ = drawn({"openai": every_day(top, "0")})
    [labels] = ticks
    assert len(labels) >= 3
    assert len(set(labels)) == len(labels), labels
    assert all(label.startswith("$") for label in labels), labels
