"""Geometry of the overview's volume chart, drawn as server-rendered SVG.

The page's CSP allows no inline styles or scripts, so the chart is plain SVG whose sizes are
attributes, computed here in integer arithmetic from minor units: bars on a value axis with
round, currency-formatted ticks and gridlines, a time axis with a handful of labels, and a
sentence describing the data for screen readers (the page adds the full table).

The drawing is narrow (a phone's width in SVG units) and the page caps its width, so its
text stays legible from a phone to a desktop without a second rendering.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from payments.money import exponent, format_amount
from payments.overview import SeriesPoint

WIDTH = 360
HEIGHT = 220
LEFT = 70  # room for the value labels
RIGHT = 8
TOP = 10
BOTTOM = 26  # room for the time labels
GAP = 1
TICKS = 4
X_LABELS = 4
_STEPS = (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5), Decimal(10))


@dataclass(frozen=True)
class Bar:
    x: int
    y: int
    width: int
    height: int
    at: datetime
    amount: int
    value: str  # "£12.00"
    label: str  # "2025-03-01: £12.00", the bar's tooltip


@dataclass(frozen=True)
class Tick:
    y: int
    label: str


@dataclass(frozen=True)
class XLabel:
    x: int
    label: str
    anchor: str  # start | middle | end


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    right: int
    baseline: int
    bars: list[Bar]
    ticks: list[Tick]
    x_labels: list[XLabel]
    description: str


def axis_amount(amount: int, currency: str) -> str:
    """A tick's label: the amount without its minor units when they are zero ("£1,200")."""
    text = format_amount(amount, currency)
    places = exponent(currency)
    if places and amount % (10**places) == 0:
        zeros = "." + "0" * places
        text = text.replace(zeros, "", 1)
    return text


def nice_ceiling(peak: int) -> int:
    """The smallest TICKS steps of 1, 2, 2.5 or 5 x 10^k covering `peak` (minor units)."""
    if peak <= 0:
        return TICKS * 100
    raw = Decimal(peak) / TICKS
    magnitude = Decimal(10) ** (len(str(int(raw))) - 1)
    for step in _STEPS:
        candidate = step * magnitude
        if candidate == int(candidate) and int(candidate) * TICKS >= peak:
            return int(candidate) * TICKS
    return int(10 * magnitude) * TICKS  # pragma: no cover - _STEPS ends at 10


def _time_label(at: datetime, *, hourly: bool) -> str:
    return at.strftime("%H:%M") if hourly else f"{at:%b} {at.day}"


def volume_chart(
    series: Sequence[SeriesPoint], currency: str, *, hourly: bool, title: str
) -> Chart:
    """Bars for `series`, scaled to a round maximum, with ticks, gridlines and time labels."""
    plot_width = WIDTH - LEFT - RIGHT
    baseline = HEIGHT - BOTTOM
    plot_height = baseline - TOP
    peak = max((point.amount for point in series), default=0)
    top = nice_ceiling(peak)
    count = max(len(series), 1)
    bars = []
    for index, point in enumerate(series):
        x0 = LEFT + index * plot_width // count
        x1 = LEFT + (index + 1) * plot_width // count
        height = point.amount * plot_height // top
        if point.amount and not height:
            height = 1  # a bucket with any volume never looks empty
        stamp = point.at.strftime("%Y-%m-%d %H:%M" if hourly else "%Y-%m-%d")
        value = format_amount(point.amount, currency)
        bars.append(
            Bar(
                x=x0,
                y=baseline - height,
                width=max(x1 - x0 - GAP, 1),
                height=height,
                at=point.at,
                amount=point.amount,
                value=value,
                label=f"{stamp}: {value}",
            )
        )
    ticks = [
        Tick(
            y=baseline - plot_height * step // TICKS,
            label=axis_amount(top * step // TICKS, currency),
        )
        for step in range(TICKS + 1)
    ]
    x_labels: list[XLabel] = []
    if bars:
        picks = sorted({round(i * (len(bars) - 1) / (X_LABELS - 1)) for i in range(X_LABELS)})
        for position, index in enumerate(picks):
            bar = bars[index]
            anchor = "start" if position == 0 else "end" if index == len(bars) - 1 else "middle"
            x = (
                bar.x
                if anchor == "start"
                else bar.x + bar.width
                if anchor == "end"
                else (bar.x + bar.width // 2)
            )
            x_labels.append(XLabel(x=x, label=_time_label(bar.at, hourly=hourly), anchor=anchor))
    total = sum(point.amount for point in series)
    busiest = max(bars, key=lambda bar: bar.amount, default=None)
    unit = "hour" if hourly else "day"
    description = f"{title}: {format_amount(total, currency)} in total"
    if busiest is not None and busiest.amount:
        description += f"; the busiest {unit} was {busiest.label}"
    else:
        description += f"; no volume in any {unit}"
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        left=LEFT,
        right=WIDTH - RIGHT,
        baseline=baseline,
        bars=bars,
        ticks=ticks,
        x_labels=x_labels,
        description=description + ".",
    )
