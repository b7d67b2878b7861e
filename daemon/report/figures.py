"""The week's figures per model, derived from its loaded check runs.

Daily series, run counts by check kind, the most drifted features, the performance
trend, quality issues and the model's health: pure functions of the rows that
daemon/report/queries.py read, with no store behind them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta

from checks.interface import CheckKind, Status
from checks.thresholds import ThresholdMode
from daemon.cadence import next_fire_time, trigger_for
from daemon.config import ModelSettings, Schedule
from daemon.report.model import (
    DriftPolicy,
    FeatureDrift,
    Health,
    KindCounts,
    PerformanceRow,
    PerformanceTrend,
    QualityIssue,
)
from daemon.report.queries import HEADLINE_NAMES, MetricRow, RunRow, num
from daemon.report.weeks import Week

# The drift check's aggregate subject (the other subjects are columns).
DATASET = "dataset"
# A schedule's fires are counted one by one up to this many (a minutely cron fires
# 10,080 times a week); beyond it the count stops.
MAX_FIRES_COUNTED = 20_000


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _daily(week: Week, points: Iterable[tuple[date, float]]) -> tuple[float | None, ...]:
    by_day: dict[date, list[float]] = defaultdict(list)
    for day, value in points:
        by_day[day].append(value)
    return tuple(_mean(by_day.get(day, [])) for day in week.days)


def _last(values: Sequence[float | None]) -> float | None:
    return next((v for v in reversed(values) if v is not None), None)


def kind_counts(runs: Sequence[RunRow]) -> dict[str, KindCounts]:
    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for run in runs:
        t = tally[run.kind]
        t[0] += 1
        t[1] += run.status == Status.ALERT
        t[2] += run.status == Status.INSUFFICIENT_DATA
        t[3] += run.status == Status.ERROR
    return {
        k: KindCounts(runs=v[0], alert=v[1], insufficient=v[2], error=v[3])
        for k, v in sorted(tally.items())
    }


def _run_drift_share(run: RunRow) -> float | None:
    share = num(run.summary.get("share"))
    if share is not None:
        return share
    for m in run.metrics:
        if m.subject == DATASET:
            return m.value
    columns = [m for m in run.metrics if m.subject != DATASET]
    return sum(m.alerting for m in columns) / len(columns) if columns else None


def drift_figures(
    week: Week, runs: Sequence[RunRow]
) -> tuple[tuple[float | None, ...], float | None, tuple[FeatureDrift, ...]]:
    points: list[tuple[date, float]] = []
    threshold: float | None = None
    per_column: dict[str, list[MetricRow]] = defaultdict(list)
    for run in runs:
        if run.status not in (Status.OK, Status.ALERT):
            continue
        share = _run_drift_share(run)
        if share is not None:
            points.append((run.day, share))
        for m in run.metrics:
            if m.subject == DATASET:
                threshold = m.threshold if m.threshold is not None else threshold
            else:
                per_column[m.subject].append(m)
    features = []
    for column, metrics in per_column.items():
        scored = [m.value for m in metrics if m.value is not None]
        last = metrics[-1]
        features.append(
            FeatureDrift(
                column=column,
                method=last.name,
                detail=last.detail,
                runs=len(metrics),
                drifted_runs=sum(m.alerting for m in metrics),
                last_score=last.value,
                max_score=max(scored) if scored else None,
                threshold=last.threshold,
                basis=last.basis,
            )
        )
    features.sort(key=lambda f: (-f.drifted_share, f.column))
    drifting = tuple(f for f in features if f.drifted_runs)
    return _daily(week, points), threshold, drifting


def _primary(run: RunRow) -> MetricRow | None:
    """The run's headline metric: the one the summary names, else the first with a threshold."""
    wanted = run.summary.get("metric")
    for m in run.metrics:
        if m.subject == wanted and m.name in HEADLINE_NAMES:
            return m
    return next((m for m in run.metrics if m.threshold is not None), None) or next(
        iter(run.metrics), None
    )


def _baseline(run: RunRow) -> float | None:
    for key in ("baseline", "reference", "baseline_value"):
        value = num(run.summary.get(key))
        if value is not None:
            return value
    return next((m.value for m in run.metrics if m.name == "baseline"), None)


def performance_trend(
    week: Week, realized: Sequence[RunRow], estimated: Sequence[RunRow]
) -> PerformanceTrend:
    metric: str | None = None
    baseline: float | None = None
    series: dict[str, list[tuple[date, float]]] = {
        CheckKind.PERFORMANCE: [],
        CheckKind.ESTIMATED_PERFORMANCE: [],
    }
    alert_runs = 0
    note: str | None = None
    # Per check kind: its failing runs and its last judged boundary with its basis.
    failing: dict[str, int] = {}
    bounds: dict[str, tuple[float | None, str | None]] = {}
    for run in (*realized, *estimated):
        if run.status in (Status.INSUFFICIENT_DATA, Status.ERROR):
            reason = run.summary.get("reason")
            note = f"{run.kind.replace('_', ' ')}: {reason}" if reason else note
        if run.status not in (Status.OK, Status.ALERT):
            continue
        alert_runs += run.status == Status.ALERT
        failing[run.kind] = failing.get(run.kind, 0) + (run.status == Status.ALERT)
        primary = _primary(run)
        if primary is None or primary.value is None:
            continue
        metric = metric or (primary.subject if primary.subject != DATASET else primary.name)
        baseline = _baseline(run) if _baseline(run) is not None else baseline
        if primary.threshold is not None:
            bounds[run.kind] = (primary.threshold, primary.basis)
        series[run.kind].append((run.day, primary.value))
    realized_daily = _daily(week, series[CheckKind.PERFORMANCE])
    estimated_daily = _daily(week, series[CheckKind.ESTIMATED_PERFORMANCE])
    last = {
        CheckKind.PERFORMANCE: _last(realized_daily),
        CheckKind.ESTIMATED_PERFORMANCE: _last(estimated_daily),
    }
    # The week's last performance run of either kind, measured or not: a figure from
    # an earlier day (labels stopped, too few of them since) is not the last day's.
    checked_until = max((run.day for run in (*realized, *estimated)), default=None)
    measured_on = {
        kind: max((day for day, _ in points), default=None) for kind, points in series.items()
    }
    rows = tuple(
        PerformanceRow(
            kind=kind,
            metric=metric,
            last=last[kind],
            threshold=bounds.get(kind, (None, None))[0],
            basis=bounds.get(kind, (None, None))[1],
            alert_runs=failing.get(kind, 0),
            day=measured_on[kind],
            stale=_before(measured_on[kind], checked_until),
        )
        for kind in (CheckKind.PERFORMANCE, CheckKind.ESTIMATED_PERFORMANCE)
        if metric is not None and series[kind]
    )
    return PerformanceTrend(
        metric=metric,
        baseline=baseline,
        rows=rows,
        realized=realized_daily,
        estimated=estimated_daily,
        last_realized=_last(realized_daily),
        last_estimated=_last(estimated_daily),
        alert_runs=alert_runs,
        note=note,
    )


def _before(day: date | None, until: date | None) -> bool:
    return day is not None and until is not None and day < until


def quality_issues(runs: Sequence[RunRow]) -> tuple[QualityIssue, ...]:
    """Columns that failed a quality measure (only alerting quality metrics are loaded)."""
    checked = sum(1 for r in runs if r.status in (Status.OK, Status.ALERT))
    grouped: dict[tuple[str, str], list[MetricRow]] = defaultdict(list)
    for run in runs:
        for m in run.metrics:
            if m.alerting:
                grouped[(m.subject, m.name)].append(m)
    issues = []
    for (column, name), metrics in grouped.items():
        alerts = len(metrics)
        values = [m.value for m in metrics if m.value is not None]
        issues.append(
            QualityIssue(
                column=column,
                name=name,
                worst=max(values) if values else None,
                threshold=metrics[-1].threshold,
                alert_runs=alerts,
                runs=max(checked, alerts),
                detail=next((m.detail for m in reversed(metrics) if m.detail), None),
            )
        )
    issues.sort(key=lambda i: (-i.alert_runs, i.column, i.name))
    return tuple(issues)


def operations_series(
    week: Week, runs: Sequence[RunRow], names: tuple[str, ...]
) -> tuple[tuple[float | None, ...], float | None]:
    points: list[tuple[date, float]] = []
    threshold: float | None = None
    for run in runs:
        m = next((m for m in run.metrics if m.name in names), None)
        if m is not None and m.value is not None:
            points.append((run.day, m.value))
            threshold = m.threshold if m.threshold is not None else threshold
    return _daily(week, points), threshold


def _runs_per_week(schedule: Schedule, week: Week) -> int | None:
    """How often a schedule fires in the week (bounded: a minutely cron fires 10,080 times)."""
    if schedule.every is not None:
        seconds = schedule.every.total_seconds()
        return round(7 * 86_400 / seconds) if seconds > 0 else None
    trigger = trigger_for(schedule)
    fires = 0
    at: datetime | None = week.start
    while at is not None and fires <= MAX_FIRES_COUNTED:
        at = next_fire_time(trigger, at)
        if at is None or at >= week.start + timedelta(days=7):
            break
        fires += 1
        at = at + timedelta(seconds=1)
    return fires


def drift_policy(model: ModelSettings, week: Week, ran: int | None = None) -> DriftPolicy | None:
    """The model's drift policy over `week`; `ran`: the drift runs whose window lies in
    the week (the report's count), None for the schedule's count. A week with no
    drift run states no runs-a-week figure."""
    drift = model.checks.drift
    if not drift.enabled:
        return None
    calibrated = drift.thresholds is ThresholdMode.CALIBRATED
    return DriftPolicy(
        calibrated=calibrated,
        false_alarm_rate=drift.false_alarm_rate if calibrated else None,
        runs_per_week=_runs_per_week(model.checks.schedule, week) if ran is None else ran or None,
        persistence=str(drift.persistence.rule()) if drift.persistence else None,
    )


def model_health(counts: Mapping[str, KindCounts], firing: int) -> Health:
    if firing:
        return Health.ALERTING
    if not any(c.runs - c.insufficient - c.error for c in counts.values()):
        return Health.NO_DATA
    if any(c.alert or c.error for c in counts.values()):
        return Health.DEGRADED
    return Health.HEALTHY
