"""The page's chart geometry and run thinning: pure functions, no store."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from daemon.api.page.charts import FONT_SIZE, Chart, Frame, Line, line_chart, nice_step
from daemon.api.page.data import Point
from daemon.api.page.reads import RunRef, thin

T0 = datetime(2026, 3, 2, tzinfo=UTC)
FRAME = Frame(width=300, height=130)


def _points(values: list[float], thresholds: list[float | None]) -> tuple[Point, ...]:
    return tuple(
        Point(at=T0 + timedelta(hours=i), value=v, threshold=t, alerting=False, run_id=i)
        for i, (v, t) in enumerate(zip(values, thresholds, strict=True))
    )


def _spanning(*lines: Line, y_label: str, **options: float) -> Chart:
    """The chart of `lines` from the first line's first point to its last."""
    first = lines[0].points
    return line_chart(
        list(lines), start=first[0].at, end=first[-1].at, frame=FRAME, y_label=y_label, **options
    )


def test_points_are_placed_by_time_and_value_inside_the_plot() -> None:
    values = [0.02, 0.5, 0.1, 0.3]
    pts = _points(values, [0.2] * 4)
    chart = _spanning(Line(key="score", label="psi", points=pts), y_label="psi", floor=0.0)
    (line,) = chart.lines
    xs = [d.x for d in line.dots]
    ys = [d.y for d in line.dots]
    assert xs[0] == FRAME.left and xs[-1] == FRAME.plot_right
    assert xs == sorted(xs)
    # SVG y grows downwards: a higher value sits higher.
    order = sorted(range(4), key=lambda i: values[i])
    assert [ys[i] for i in order] == sorted(ys, reverse=True)
    assert all(FRAME.top <= y <= FRAME.plot_bottom for y in ys)
    assert [d.point.value for d in line.dots] == values
    # The y axis starts at the floor and reaches past the largest value.
    labels = [float(t.label) for t in chart.y_ticks]
    assert labels[0] == 0.0 and labels[-1] >= 0.5


def test_the_threshold_is_a_step_line_through_each_points_threshold() -> None:
    pts = _points([0.1, 0.1, 0.1], [0.2, 0.4, None])
    chart = _spanning(Line(key="score", label="psi", points=pts), y_label="psi", floor=0.0)
    dots = chart.lines[0].dots
    # Step after: level 0.2 from the first point to the second, then 0.4 at the second;
    # the third point has no threshold and extends nothing.
    threshold = chart.lines[0].threshold
    found = re.fullmatch(r"M([\d.]+),([\d.]+) H([\d.]+) V([\d.]+) H([\d.]+)", threshold)
    assert found is not None, threshold
    x0, y02, x1, y04, x_end = (float(g) for g in found.groups())
    assert (x0, x1, x_end) == (dots[0].x, dots[1].x, dots[1].x)
    assert FRAME.top <= y04 < y02 < dots[0].y


def test_each_line_draws_its_own_threshold() -> None:
    """Realized and estimated performance are judged against different thresholds:
    each is drawn at its own level, not the first line's alone."""
    realized = _points([0.8, 0.82], [0.75, 0.75])
    estimated = _points([0.7, 0.72], [0.6, 0.6])
    chart = _spanning(
        Line(key="realized", label="realized", points=realized),
        Line(key="estimated", label="estimated", points=estimated),
        y_label="roc_auc",
    )
    levels = []
    for line in chart.lines:
        found = re.match(r"M([\d.]+),([\d.]+) H", line.threshold)
        assert found is not None, (line.key, line.threshold)
        levels.append(float(found.group(2)))
    y_realized, y_estimated = levels
    # SVG y grows downwards: the lower threshold is drawn lower.
    assert y_realized < y_estimated
    assert y_estimated > max(d.y for d in chart.lines[1].dots)


def test_a_chart_without_thresholds_or_points_draws_none() -> None:
    pts = _points([0.8, 0.82], [None, None])
    chart = _spanning(
        Line(key="realized", label="realized", points=pts), y_label="roc_auc", baseline=0.9
    )
    assert chart.lines[0].threshold == ""
    assert chart.baseline_y is not None and chart.baseline_y < min(d.y for d in chart.lines[0].dots)
    empty = line_chart([], start=T0, end=T0, frame=FRAME, y_label="x")
    assert empty.empty and empty.x_ticks


def test_time_ticks_fall_on_round_times() -> None:
    pts = _points([0.1] * 2, [None] * 2)
    week = line_chart(
        [Line(key="score", label="s", points=pts)],
        start=T0 + timedelta(hours=5),
        end=T0 + timedelta(days=7, hours=5),
        frame=FRAME,
        y_label="s",
        x_ticks=4,
    )
    assert [t.label for t in week.x_ticks] == ["Mar 04", "Mar 06", "Mar 08"]
    hours = line_chart(
        [Line(key="score", label="s", points=pts)],
        start=T0 + timedelta(minutes=10),
        end=T0 + timedelta(hours=5),
        frame=FRAME,
        y_label="s",
        x_ticks=6,
    )
    assert [t.label for t in hours.x_ticks] == ["01:00", "02:00", "03:00", "04:00", "05:00"]


def test_nice_steps() -> None:
    assert nice_step(1.0, 4) == 0.25
    assert nice_step(0.3, 4) == 0.1
    assert nice_step(700, 4) == 200
    assert nice_step(900, 4) == 250


def test_thinning_keeps_spikes_and_the_latest_run() -> None:
    runs = [
        RunRef(id=i, at=T0 + timedelta(minutes=i), alerting=i in (17, 333)) for i in range(1000)
    ]
    kept = thin(runs, 50)
    assert len(kept) <= 50
    ids = [r.id for r in kept]
    assert ids == sorted(ids)
    assert 17 in ids and 333 in ids and ids[-1] == 999
    # Spread over the whole span, not bunched at one end.
    assert ids[0] < 40 and sum(1 for i in ids if i < 500) >= 20
    assert thin(runs[:30], 50) == tuple(runs[:30])


def test_the_y_label_is_cut_to_the_plots_height() -> None:
    pts = _points([0.1, 0.2], [0.3, 0.3])
    long = "kolmogorov_smirnov_two_sample_statistic"
    chart = _spanning(Line(key="score", label=long, points=pts), y_label=long)
    height = FRAME.plot_bottom - FRAME.top
    assert chart.y_label.endswith("…") and long.startswith(chart.y_label[:-1])
    assert len(chart.y_label) * FONT_SIZE * 0.6 <= height
    short = line_chart([], start=T0, end=T0, frame=FRAME, y_label="psi")
    assert short.y_label == "psi"
