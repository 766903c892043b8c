"""Geometry of the home page's daily volume bar chart, drawn as server-rendered SVG.

The page's CSP allows no inline styles or scripts, so the chart is plain SVG whose sizes are
attributes (`height="…"`), computed here in integer arithmetic from minor units.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from payments.money import format_amount
from payments.reports import DailyVolume

WIDTH = 600
HEIGHT = 160
AXIS_BOTTOM = 20  # room for the first and last day labels
GAP = 2


@dataclass(frozen=True)
class Bar:
    x: int
    y: int
    width: int
    height: int
    day: date
    amount_label: str  # "£12.00"

    @property
    def label(self) -> str:
        """The bar's tooltip: "2025-03-01: £12.00"."""
        return f"{self.day.isoformat()}: {self.amount_label}"


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    baseline: int
    bars: list[Bar]
    peak_label: str


def bar_chart(days: list[DailyVolume], currency: str) -> BarChart:
    """One bar per day, scaled so the busiest day fills the plot height."""
    plot = HEIGHT - AXIS_BOTTOM
    peak = max((point.amount for point in days), default=0)
    slot = WIDTH // max(len(days), 1)
    bars = []
    for index, point in enumerate(days):
        # A day with any volume gets at least one pixel, so it never looks like an empty day.
        height = (point.amount * plot) // peak if peak else 0
        if point.amount and not height:
            height = 1
        bars.append(
            Bar(
                x=index * slot + GAP // 2,
                y=plot - height,
                width=max(slot - GAP, 1),
                height=height,
                day=point.day,
                amount_label=format_amount(point.amount, currency),
            )
        )
    return BarChart(
        width=WIDTH,
        height=HEIGHT,
        baseline=plot,
        bars=bars,
        peak_label=format_amount(peak, currency),
    )
