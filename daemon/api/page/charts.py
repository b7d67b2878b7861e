"""Line charts as geometry: pure functions from points to positions, ticks and paths.

The template draws the SVG from these (so every text in it is escaped by
Jinja2); nothing here renders markup. Each drawn point keeps the stored point
it came from, for the page's data attributes and tooltips.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from daemon.api.page.data import Point

# Axis and tick text, in SVG user units: a chart is drawn at about its viewBox width
# on a laptop screen, so this is about the text's size in CSS pixels (>= 11 wanted).
FONT_SIZE = 12


@dataclass(frozen=True, kw_only=True)
class Frame:
    """A chart's size and its plot area inside it, in SVG user units."""

    width: int
    height: int
    # Room for tick labels at FONT_SIZE (below) and the rotated y label.
    left: int = 54
    right: int = 12
    top: int = 10
    bottom: int = 24

    @property
    def plot_right(self) -> int:
        return self.width - self.right

    @property
    def plot_bottom(self) -> int:
        return self.height - self.bottom


@dataclass(frozen=True, kw_only=True)
class Line:
    """One series to draw: its key (CSS class and data-series), legend label, points."""

    key: str
    label: str
    points: Sequence[Point]


@dataclass(frozen=True, kw_only=True)
class Tick:
    at: float
    label: str
    # SVG text-anchor for x ticks: labels at the plot's edges stay inside the chart.
    anchor: str = "end"


@dataclass(frozen=True, kw_only=True)
class Dot:
    x: float
    y: float
    point: Point


@dataclass(frozen=True, kw_only=True)
class DrawnLine:
    key: str
    label: str
    path: str
    dots: tuple[Dot, ...]
    # A step line through each point's own threshold (calibrated thresholds move
    # with the window's size, realized and estimated performance have their own);
    # empty when no point has one.
    threshold: str


@dataclass(frozen=True, kw_only=True)
class Chart:
    frame: Frame
    lines: tuple[DrawnLine, ...]
    # A horizontal reference (the performance baseline), as a y position.
    baseline_y: float | None
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    y_label: str

    @property
    def empty(self) -> bool:
        return not any(line.dots for line in self.lines)


def nice_step(span: float, ticks: int) -> float:
    """A step of 1, 2, 2.5 or 5 times a power of ten giving about `ticks` intervals."""
    raw = span / max(ticks, 1)
    if raw <= 0 or not math.isfinite(raw):
        return 1.0
    power = 10.0 ** math.floor(math.log10(raw))
    for factor in (1.0, 2.0, 2.5, 5.0):
        if raw <= factor * power:
            return factor * power
    return 10 * power


def fit_label(text: str, length: float) -> str:
    """`text` cut with an ellipsis to about `length` user units at FONT_SIZE (an average
    glyph is about 0.6 em wide): the rotated y label stays beside its plot."""
    chars = max(int(length / (FONT_SIZE * 0.6)), 4)
    return text if len(text) <= chars else text[: chars - 1] + "…"


def value_label(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _y_range(values: Sequence[float], floor: float | None) -> tuple[float, float, float]:
    lo, hi = min(values), max(values)
    if floor is not None:
        lo = min(lo, floor)
    if hi == lo:
        pad = abs(hi) * 0.1 or 0.1
        lo, hi = (lo if floor is not None and lo == floor else lo - pad), hi + pad
    else:
        pad = (hi - lo) * 0.08
        hi += pad
        lo = lo if floor is not None and lo >= floor else lo - pad
    step = nice_step(hi - lo, 4)
    lo = math.floor(lo / step) * step
    if floor is not None:
        lo = max(lo, floor)
    return lo, math.ceil(hi / step) * step, step


# Steps between time ticks, aligned to the epoch (so to UTC midnights from a day up).
_TIME_STEPS = (
    *(timedelta(minutes=m) for m in (1, 5, 10, 15, 30)),
    *(timedelta(hours=h) for h in (1, 2, 3, 6, 12)),
    *(timedelta(days=d) for d in (1, 2, 7, 14, 28, 91, 182, 364)),
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# A tick label this close to an edge of the plot is anchored to stay inside the chart.
_EDGE = 18


def _time_label(at: datetime, step: timedelta, span: timedelta) -> str:
    if step >= timedelta(days=1):
        return at.strftime("%b %d")
    if span >= timedelta(days=1):
        return at.strftime("%b %d %H:%M")
    return at.strftime("%H:%M")


def _anchor(x: float, frame: Frame) -> str:
    if x - frame.left < _EDGE:
        return "start"
    if frame.plot_right - x < _EDGE:
        return "end"
    return "middle"


def _x_ticks(
    start: datetime, end: datetime, x_of: Callable[[datetime], float], frame: Frame, count: int
) -> tuple[Tick, ...]:
    """Ticks at round times (midnights, whole hours), at most `count` of them."""
    span = end - start
    if span <= timedelta(0):
        return (Tick(at=x_of(start), label=start.strftime("%b %d %H:%M"), anchor="middle"),)
    step = next((s for s in _TIME_STEPS if span / s <= count), _TIME_STEPS[-1])
    moment = _EPOCH + math.ceil((start - _EPOCH) / step) * step
    out = []
    while moment <= end:
        x = x_of(moment)
        out.append(Tick(at=x, label=_time_label(moment, step, span), anchor=_anchor(x, frame)))
        moment += step
    if not out:
        # A span shorter than a minute: its two ends.
        out = [
            Tick(at=x_of(t), label=t.strftime("%H:%M:%S"), anchor=_anchor(x_of(t), frame))
            for t in (start, end)
        ]
    return tuple(out)


def line_chart(
    lines: Sequence[Line],
    *,
    start: datetime,
    end: datetime,
    frame: Frame,
    y_label: str,
    floor: float | None = None,
    baseline: float | None = None,
    x_ticks: int = 4,
) -> Chart:
    """Place the lines on a shared time axis [start, end] and a y axis that holds
    every value, threshold and the baseline; each line's thresholds are drawn."""
    values = [p.value for line in lines for p in line.points]
    values += [p.threshold for line in lines for p in line.points if p.threshold is not None]
    if baseline is not None:
        values.append(baseline)
    if not values:
        values = [0.0, 1.0]
    lo, hi, step = _y_range(values, floor)
    span = (end - start).total_seconds()
    width = frame.plot_right - frame.left
    height = frame.plot_bottom - frame.top

    def x_of(at: datetime) -> float:
        if span <= 0:
            return frame.left + width / 2
        return round(frame.left + width * (at - start).total_seconds() / span, 2)

    def y_of(value: float) -> float:
        return round(frame.plot_bottom - height * (value - lo) / (hi - lo), 2)

    def threshold_path(dots: Sequence[Dot]) -> str:
        held = [(d.x, d.point.threshold) for d in dots if d.point.threshold is not None]
        if len(held) == 1:
            # One point: a short mark across it, so the threshold is seen.
            x, threshold = held[0]
            y = y_of(threshold)
            return f"M{max(frame.left, x - 12)},{y} H{min(frame.plot_right, x + 12)}"
        steps: list[str] = []
        for i, (x, threshold) in enumerate(held):
            steps.append(f"M{x},{y_of(threshold)}" if i == 0 else f"V{y_of(threshold)}")
            steps.append(f"H{held[i + 1][0] if i + 1 < len(held) else x}")
        return " ".join(steps)

    drawn = []
    for line in lines:
        dots = tuple(Dot(x=x_of(p.at), y=y_of(p.value), point=p) for p in line.points)
        path = " ".join(f"{'M' if i == 0 else 'L'}{d.x},{d.y}" for i, d in enumerate(dots))
        drawn.append(
            DrawnLine(
                key=line.key, label=line.label, path=path, dots=dots, threshold=threshold_path(dots)
            )
        )

    count = round((hi - lo) / step)
    y_ticks = tuple(
        Tick(at=y_of(lo + i * step), label=value_label(round(lo + i * step, 12)))
        for i in range(count + 1)
    )
    return Chart(
        frame=frame,
        lines=tuple(drawn),
        baseline_y=None if baseline is None else y_of(baseline),
        x_ticks=_x_ticks(start, end, x_of, frame, x_ticks),
        y_ticks=y_ticks,
        y_label=fit_label(y_label, frame.plot_bottom - frame.top),
    )
