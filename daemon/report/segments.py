"""The report's segments: each segment's week from its stored runs.

A segment's alerts speak for it in a week the daemon watched; a week checked
after the fact (a backfill, `mlmaint check --from`) fires no alert (alerts speak
of now), so its segments said nothing at all. From the runs themselves, per model
and segment: the windows checked, how many alerted by kind, and the measure of its
latest alerting window that lies farthest beyond its threshold, as
`performance: roc_auc 0.61 below threshold 0.69 (window ending 2026-11-26 00:00)`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from checks.interface import Status
from daemon.report.model import SegmentRow
from daemon.report.queries import METRIC_COLUMNS, MetricRow, Span, metric_row
from daemon.store.tables import CheckMetric, CheckRun
from daemon.tables import fmt_value

# Which kind's measure a segment's latest alerting window is told by, first first.
_KIND_ORDER = {"performance": 0, "estimated_performance": 1, "drift": 2, "quality": 3}


@dataclass(kw_only=True)
class _Run:
    segment: str
    kind: str
    alerting: bool
    window_end: datetime
    metrics: list[MetricRow] = field(default_factory=list)


def _beyond(m: MetricRow) -> float:
    """How far a measure lies beyond its threshold, as a ratio either way."""
    if m.value is None or not m.threshold:
        return 0.0
    ratio = abs(m.value / m.threshold)
    return ratio if ratio >= 1 else (1 / ratio if ratio else float("inf"))


def _said(run: _Run) -> str:
    when = f"window ending {run.window_end:%Y-%m-%d %H:%M}"
    alerting = [m for m in run.metrics if m.alerting]
    if not alerting:
        return f"{run.kind} ({when})"
    m = max(alerting, key=_beyond)
    side = "above"
    if m.value is not None and m.threshold is not None and m.value <= m.threshold:
        side = "at" if m.value == m.threshold else "below"
    # The statistic as the check names it ("Z-test p_value"), not its short key ("z").
    what = m.detail if m.detail and not m.detail.startswith("baseline") else m.name
    subject = m.subject if m.name in ("value", m.subject) else f"{m.subject} {what}"
    return (
        f"{run.kind}: {subject} {fmt_value(m.value)} {side} threshold "
        f"{fmt_value(m.threshold)} ({when})"
    )


def rows_of(runs: Sequence[_Run]) -> tuple[SegmentRow, ...]:
    by_segment: dict[str, list[_Run]] = defaultdict(list)
    for run in runs:
        by_segment[run.segment].append(run)
    out = []
    for segment in sorted(by_segment, key=lambda s: (s.endswith("=other"), s)):
        mine = by_segment[segment]
        windows = len({r.window_end for r in mine})
        alerting: dict[str, int] = defaultdict(int)
        for kind in sorted({r.kind for r in mine}):
            alerting_ends = {r.window_end for r in mine if r.kind == kind and r.alerting}
            if alerting_ends:
                alerting[kind] = len(alerting_ends)
        # The latest alerting window; in it, a decay before a drift (what people act on).
        latest = max(
            (r for r in mine if r.alerting),
            key=lambda r: (r.window_end, -_KIND_ORDER.get(r.kind, len(_KIND_ORDER))),
            default=None,
        )
        out.append(
            SegmentRow(
                segment=segment,
                windows=windows,
                alerting=dict(alerting),
                latest=_said(latest) if latest is not None else None,
            )
        )
    return tuple(out)


def segment_weeks(session: Session, week: Span) -> dict[int, tuple[SegmentRow, ...]]:
    """Per model id, its segments' weeks (runs filed by window end, as every report query)."""
    in_week = (
        CheckRun.window_end > week.start,
        CheckRun.window_end <= week.end,
        CheckRun.segment.is_not(None),
    )
    runs: dict[int, tuple[int, _Run]] = {}
    for rid, model_id, segment, kind, status, end in session.execute(
        select(
            CheckRun.id,
            CheckRun.model_id,
            CheckRun.segment,
            CheckRun.kind,
            CheckRun.status,
            CheckRun.window_end,
        ).where(*in_week)
    ):
        runs[rid] = (
            model_id,
            _Run(
                segment=str(segment),
                kind=str(kind),
                alerting=str(status) == Status.ALERT.value,
                window_end=end,
            ),
        )
    for run_id, *metric in session.execute(
        select(CheckMetric.run_id, *METRIC_COLUMNS)
        .join(CheckRun, CheckRun.id == CheckMetric.run_id)
        .where(*in_week, CheckMetric.alerting.is_(True))
    ):
        found = runs.get(run_id)
        if found is not None:
            found[1].metrics.append(metric_row(*metric))
    by_model: dict[int, list[_Run]] = defaultdict(list)
    for model_id, run in runs.values():
        by_model[model_id].append(run)
    return {model_id: rows_of(mine) for model_id, mine in by_model.items()}
