"""Read one week from the store into frozen data: what the report says, nothing rendered.

Everything the template shows is computed here, so rendering is pure and tests
can assert on figures without parsing HTML. Queries select plain columns (no ORM
objects) over the week's check runs and metrics: a week of hourly checks for 50
models is ~35k runs and a few hundred thousand metrics, aggregated in one pass.
"""

from __future__ import annotations

import enum
import math
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from checks.interface import Status
from checks.thresholds import ThresholdMode
from daemon.alerts.finding import MONITORING, RETRAIN
from daemon.cadence import next_fire_time, trigger_for
from daemon.config import ModelSettings, Schedule, Settings
from daemon.report.weeks import Week
from daemon.store.tables import (
    Alert,
    AlertState,
    CheckMetric,
    CheckRun,
    FrameworkFinding,
    IngestCount,
    JobRun,
    Model,
    Notification,
    NotificationState,
    RejectedRow,
    Report,
    RetrainJob,
)
from retrain.interface import JobState

# Check kinds as the checks write them (checks.interface.CheckKind values).
DRIFT = "drift"
QUALITY = "quality"
PERFORMANCE = "performance"
ESTIMATED = "estimated_performance"
OPERATIONS = "operations"
KINDS = (DRIFT, QUALITY, PERFORMANCE, ESTIMATED, OPERATIONS)

# Performance measures: the headline value of realized and estimated runs.
HEADLINE_NAMES = ("value", "estimated")
# The drift check's aggregate subject and its summary keys.
DATASET = "dataset"
# Operations measures, by name (checks/operations.py).
LATENCY_NAMES = ("p95_ms",)
ERROR_RATE_NAMES = ("error_rate",)
# Framework finding kinds that are security issues rather than freshness.
SECURITY_KINDS = frozenset({"vulnerable", "yanked"})
# Python past or near its end of life (checks/frameworks/policy.py FindingKind).
EOL_KINDS = frozenset({"python_eol", "python_eol_soon"})
# job_runs.last_status of a run that failed (daemon/schedule.py RunOutcome).
FAILED_JOB = "failed"
SEVERITY_WEIGHT = {"critical": 3, "high": 3, "warning": 2, "medium": 2, "info": 1, "low": 1}
TOP_FEATURES = 5
REJECTED_EXAMPLES = 3


class Health(enum.StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    ALERTING = "alerting"
    NO_DATA = "no data"


@dataclass(frozen=True, kw_only=True)
class KindCounts:
    runs: int = 0
    alert: int = 0
    insufficient: int = 0
    error: int = 0


@dataclass(frozen=True, kw_only=True)
class FeatureDrift:
    column: str
    method: str
    detail: str | None
    runs: int
    drifted_runs: int
    last_score: float | None
    max_score: float | None
    threshold: float | None
    # Where the last threshold came from ("at n=120, calibrated for 1% false alarms").
    basis: str | None = None

    @property
    def drifted_share(self) -> float:
        return self.drifted_runs / self.runs if self.runs else 0.0


@dataclass(frozen=True, kw_only=True)
class DriftPolicy:
    """How a model's drift thresholds are set, and what that means over a week."""

    calibrated: bool
    false_alarm_rate: float | None
    # Drift check runs a week at the configured cadence (None: not computable).
    runs_per_week: int | None
    persistence: str | None = None

    @property
    def expected_false_alarms(self) -> float | None:
        """Check runs a week expected to flag a column on clean data (at most)."""
        if not self.calibrated or self.false_alarm_rate is None or self.runs_per_week is None:
            return None
        return self.false_alarm_rate * self.runs_per_week

    def sentence(self) -> str:
        if not self.calibrated:
            return (
                "Drift thresholds: Evidently's fixed defaults, which ignore the window's "
                'size: the false-alarm rate is unknown (set thresholds = "calibrated").'
            )
        rate = f"{(self.false_alarm_rate or 0) * 100:.3g}%"
        text = (
            f"Drift thresholds calibrated from the reference for {rate} false alarms per check run"
        )
        expected = self.expected_false_alarms
        if expected is not None:
            text += (
                f": at {self.runs_per_week} runs a week, at most {expected:.2g} runs a week "
                "are expected to flag a column on clean data"
            )
        if self.persistence:
            text += f"; a column alerts only when beyond its threshold in {self.persistence}"
        return text + "."


@dataclass(frozen=True, kw_only=True)
class PerformanceTrend:
    metric: str | None
    baseline: float | None
    # The last judged run's boundary, and where it came from (a band, a margin).
    threshold: float | None = None
    basis: str | None = None
    realized: tuple[float | None, ...]
    estimated: tuple[float | None, ...]
    last_realized: float | None
    last_estimated: float | None
    alert_runs: int
    # Why the latest performance run measured nothing (e.g. too few labels), if it did not.
    note: str | None = None


@dataclass(frozen=True, kw_only=True)
class QualityIssue:
    column: str
    name: str
    worst: float | None
    threshold: float | None
    alert_runs: int
    runs: int
    detail: str | None


@dataclass(frozen=True, kw_only=True)
class AlertRow:
    kind: str
    subject: str
    severity: str
    state: str
    summary: str
    first_fired_at: datetime
    resolved_at: datetime | None
    fired_this_week: bool
    resolved_this_week: bool
    fire_count: int


@dataclass(frozen=True, kw_only=True)
class RetrainRow:
    job_uid: str
    trigger: str
    state: str
    created_at: datetime
    finished_at: datetime | None
    registered_version: str | None
    champion_version: str | None
    metric: str | None
    champion_score: float | None
    challenger_score: float | None
    promoted: bool
    reason: str
    error: str | None


@dataclass(frozen=True, kw_only=True)
class DecisionRow:
    """A retrain decision people were told of (promoted, skipped, rolled back, failed)."""

    at: datetime
    subject: str
    severity: str
    summary: str


@dataclass(frozen=True, kw_only=True)
class PinRow:
    """The model's pin: no automatic promotion while it holds."""

    version: str
    since: datetime
    # None: until `mlmaint retrain unpin`.
    until: datetime | None
    by: str | None
    # Whether it still held when the report was built.
    holds: bool


@dataclass(frozen=True, kw_only=True)
class Evidence:
    run_id: int
    kind: str
    window_end: datetime
    filename: str


@dataclass(frozen=True, kw_only=True)
class ModelWeek:
    name: str
    version: str | None
    health: Health
    counts: Mapping[str, KindCounts]
    drift_share: tuple[float | None, ...]
    drift_threshold: float | None
    top_drift: tuple[FeatureDrift, ...]
    drift_policy: DriftPolicy | None = None
    performance: PerformanceTrend
    quality: tuple[QualityIssue, ...]
    latency_p95: tuple[float | None, ...]
    latency_threshold: float | None
    error_rate: tuple[float | None, ...]
    error_threshold: float | None
    alerts: tuple[AlertRow, ...]
    retrains: tuple[RetrainRow, ...]
    evidence: tuple[Evidence, ...]
    sampled: int
    rejected: Mapping[str, int]
    decisions: tuple[DecisionRow, ...] = ()
    pin: PinRow | None = None
    # "churn is not monitored: no reference (why)" while that alert fired at the week's end.
    unmonitored: str | None = None

    @property
    def firing(self) -> int:
        return sum(1 for a in self.alerts if a.state == AlertState.FIRING.value)


@dataclass(frozen=True, kw_only=True)
class FrameworkRow:
    package: str
    installed: str
    kind: str
    severity: str
    advisories: tuple[str, ...]
    recommended: str | None
    detail: str


@dataclass(frozen=True, kw_only=True)
class FrameworkEnv:
    environment: str
    scanned_at: datetime
    vulnerable: tuple[FrameworkRow, ...]
    outdated: tuple[FrameworkRow, ...]
    eol: tuple[FrameworkRow, ...]
    ignored: int


@dataclass(frozen=True, kw_only=True)
class JobHealth:
    job_id: str
    runs: int
    failures: int
    runs_this_week: int | None
    failures_this_week: int | None
    last_status: str
    last_success_at: datetime | None
    last_error: str | None


@dataclass(frozen=True, kw_only=True)
class RejectedExample:
    model: str
    reason: str
    detail: str


@dataclass(frozen=True, kw_only=True)
class DaemonHealth:
    jobs: tuple[JobHealth, ...]
    sampled: int
    rejected: int
    rejected_by_reason: Mapping[str, int]
    rejected_examples: tuple[RejectedExample, ...]
    notifications: Mapping[str, int]
    failed_notifications: tuple[tuple[str, str, str], ...]


class ActionKind(enum.StrEnum):
    RETRAIN = "retrain"
    UPGRADE = "upgrade"
    INVESTIGATE = "investigate"
    FIX = "fix"


@dataclass(frozen=True, kw_only=True)
class Action:
    kind: ActionKind
    scope: str
    text: str
    score: float


@dataclass(frozen=True, kw_only=True)
class WeekReport:
    week: Week
    generated_at: datetime
    models: tuple[ModelWeek, ...]
    frameworks: tuple[FrameworkEnv, ...]
    daemon: DaemonHealth
    actions: tuple[Action, ...]
    health_counts: Mapping[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, object]:
        """The plain-data digest kept in the reports table and sent to Slack."""
        return {
            "week": self.week.label,
            "models": len(self.models),
            "health": dict(self.health_counts),
            "actions": [a.text for a in self.actions[:10]],
            "vulnerable_packages": sum(len(e.vulnerable) for e in self.frameworks),
            "job_counters": {j.job_id: [j.runs, j.failures] for j in self.daemon.jobs},
        }


# --------------------------------------------------------------------------- helpers


def _num(value: object) -> float | None:
    if type(value) is float:
        return value if math.isfinite(value) else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _daily(week: Week, points: Iterable[tuple[date, float]]) -> tuple[float | None, ...]:
    by_day: dict[date, list[float]] = defaultdict(list)
    for day, value in points:
        by_day[day].append(value)
    return tuple(_mean(by_day.get(day, [])) for day in week.days)


def _last(values: Sequence[float | None]) -> float | None:
    return next((v for v in reversed(values) if v is not None), None)


@dataclass(kw_only=True, slots=True)
class _Metric:
    subject: str
    name: str
    value: float | None
    threshold: float | None
    alerting: bool
    detail: str | None
    basis: str | None = None


@dataclass(kw_only=True, slots=True)
class _Run:
    id: int
    model_id: int
    kind: str
    status: str
    day: date
    summary: Mapping[str, object]
    evidence_path: str | None
    window_end: datetime
    metrics: list[_Metric] = field(default_factory=list)


# --------------------------------------------------------------------------- queries

# The metrics the report shows; the others (per-column quality shares that never
# alerted, p50/p99, secondary performance metrics) stay in the store. This halves
# the rows read for a week of hourly checks.
_SHOWN = or_(
    CheckRun.kind == DRIFT,
    and_(CheckRun.kind == QUALITY, CheckMetric.alerting.is_(True)),
    and_(CheckRun.kind == OPERATIONS, CheckMetric.name.in_(LATENCY_NAMES + ERROR_RATE_NAMES)),
    and_(
        CheckRun.kind.in_((PERFORMANCE, ESTIMATED)),
        CheckMetric.name.in_((*HEADLINE_NAMES, "baseline")),
    ),
)


def _load_runs(session: Session, week: Week) -> dict[int, list[_Run]]:
    in_week = (CheckRun.window_end >= week.start, CheckRun.window_end < week.end)
    # Local midnights as UTC instants: a bisect per run instead of a time zone conversion.
    midnights = [week.start_of(day) for day in week.days[1:]]
    runs: dict[int, _Run] = {}
    rows = session.execute(
        select(
            CheckRun.id,
            CheckRun.model_id,
            CheckRun.kind,
            CheckRun.status,
            CheckRun.window_end,
            CheckRun.summary,
            CheckRun.evidence_path,
        )
        .where(*in_week)
        .order_by(CheckRun.window_end, CheckRun.id)
    )
    for rid, model_id, kind, status, end, summary, evidence in rows:
        runs[rid] = _Run(
            id=rid,
            model_id=model_id,
            kind=kind,
            status=str(status),
            day=week.days[bisect_right(midnights, end)],
            summary=summary if isinstance(summary, dict) else {},
            evidence_path=evidence,
            window_end=end,
        )
    metric_rows = session.execute(
        select(
            CheckMetric.run_id,
            CheckMetric.subject,
            CheckMetric.name,
            CheckMetric.value,
            CheckMetric.threshold,
            CheckMetric.alerting,
            CheckMetric.detail,
            CheckMetric.basis,
        )
        .join(CheckRun, CheckRun.id == CheckMetric.run_id)
        .where(*in_week, _SHOWN)
        .order_by(CheckMetric.id)
    )
    for run_id, subject, name, value, threshold, alerting, detail, basis in metric_rows:
        run = runs.get(run_id)
        if run is not None:
            run.metrics.append(
                _Metric(
                    subject=subject,
                    name=name,
                    value=_num(value),
                    threshold=_num(threshold),
                    alerting=bool(alerting),
                    detail=detail,
                    basis=basis,
                )
            )
    by_model: dict[int, list[_Run]] = defaultdict(list)
    for run in runs.values():
        by_model[run.model_id].append(run)
    return by_model


def _counts(runs: Sequence[_Run]) -> dict[str, KindCounts]:
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


def _run_drift_share(run: _Run) -> float | None:
    share = _num(run.summary.get("share"))
    if share is not None:
        return share
    for m in run.metrics:
        if m.subject == DATASET:
            return m.value
    columns = [m for m in run.metrics if m.subject != DATASET]
    return sum(m.alerting for m in columns) / len(columns) if columns else None


def _drift(
    week: Week, runs: Sequence[_Run]
) -> tuple[tuple[float | None, ...], float | None, tuple[FeatureDrift, ...]]:
    points: list[tuple[date, float]] = []
    threshold: float | None = None
    per_column: dict[str, list[_Metric]] = defaultdict(list)
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
    top = tuple(f for f in features if f.drifted_runs)[:TOP_FEATURES]
    return _daily(week, points), threshold, top


def _primary(run: _Run) -> _Metric | None:
    """The run's headline metric: the one the summary names, else the first with a threshold."""
    wanted = run.summary.get("metric")
    for m in run.metrics:
        if m.subject == wanted and m.name in HEADLINE_NAMES:
            return m
    return next((m for m in run.metrics if m.threshold is not None), None) or next(
        iter(run.metrics), None
    )


def _baseline(run: _Run) -> float | None:
    for key in ("baseline", "reference", "baseline_value"):
        value = _num(run.summary.get(key))
        if value is not None:
            return value
    return next((m.value for m in run.metrics if m.name == "baseline"), None)


def _performance(
    week: Week, realized: Sequence[_Run], estimated: Sequence[_Run]
) -> PerformanceTrend:
    metric: str | None = None
    baseline: float | None = None
    series: dict[str, list[tuple[date, float]]] = {PERFORMANCE: [], ESTIMATED: []}
    alert_runs = 0
    note: str | None = None
    threshold: float | None = None
    basis: str | None = None
    for run in (*realized, *estimated):
        if run.status in (Status.INSUFFICIENT_DATA, Status.ERROR):
            reason = run.summary.get("reason")
            note = f"{run.kind.replace('_', ' ')}: {reason}" if reason else note
        if run.status not in (Status.OK, Status.ALERT):
            continue
        alert_runs += run.status == Status.ALERT
        primary = _primary(run)
        if primary is None or primary.value is None:
            continue
        metric = metric or (primary.subject if primary.subject != DATASET else primary.name)
        baseline = _baseline(run) if _baseline(run) is not None else baseline
        if primary.threshold is not None:
            threshold, basis = primary.threshold, primary.basis
        series[run.kind].append((run.day, primary.value))
    realized_daily = _daily(week, series[PERFORMANCE])
    estimated_daily = _daily(week, series[ESTIMATED])
    return PerformanceTrend(
        metric=metric,
        baseline=baseline,
        threshold=threshold,
        basis=basis,
        realized=realized_daily,
        estimated=estimated_daily,
        last_realized=_last(realized_daily),
        last_estimated=_last(estimated_daily),
        alert_runs=alert_runs,
        note=note,
    )


def _quality(runs: Sequence[_Run]) -> tuple[QualityIssue, ...]:
    """Columns that failed a quality measure (only alerting quality metrics are loaded)."""
    checked = sum(1 for r in runs if r.status in (Status.OK, Status.ALERT))
    grouped: dict[tuple[str, str], list[_Metric]] = defaultdict(list)
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


def _operations(
    week: Week, runs: Sequence[_Run], names: tuple[str, ...]
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
    while at is not None and fires <= 20_000:
        at = next_fire_time(trigger, at)
        if at is None or at >= week.start + timedelta(days=7):
            break
        fires += 1
        at = at + timedelta(seconds=1)
    return fires


def drift_policy(model: ModelSettings, week: Week) -> DriftPolicy | None:
    drift = model.checks.drift
    if not drift.enabled:
        return None
    calibrated = drift.thresholds is ThresholdMode.CALIBRATED
    return DriftPolicy(
        calibrated=calibrated,
        false_alarm_rate=drift.false_alarm_rate if calibrated else None,
        runs_per_week=_runs_per_week(model.checks.schedule, week),
        persistence=str(drift.persistence.rule()) if drift.persistence else None,
    )


def _health(counts: Mapping[str, KindCounts], firing: int) -> Health:
    if firing:
        return Health.ALERTING
    if not any(c.runs - c.insufficient - c.error for c in counts.values()):
        return Health.NO_DATA
    if any(c.alert or c.error for c in counts.values()):
        return Health.DEGRADED
    return Health.HEALTHY


def _alerts(session: Session, week: Week) -> dict[str, list[AlertRow]]:
    rows = session.execute(
        select(Alert)
        .where(
            Alert.state != AlertState.EVENT,
            Alert.first_fired_at < week.end,
            or_(Alert.resolved_at.is_(None), Alert.resolved_at >= week.start),
        )
        .order_by(Alert.scope, Alert.first_fired_at, Alert.id)
    ).scalars()
    by_scope: dict[str, list[AlertRow]] = defaultdict(list)
    for a in rows:
        # The state as of the week's end: an alert resolved later was still firing then.
        resolved = a.resolved_at is not None and a.resolved_at < week.end
        by_scope[a.scope].append(
            AlertRow(
                kind=a.kind,
                subject=a.subject,
                severity=a.severity,
                state=AlertState.RESOLVED.value if resolved else AlertState.FIRING.value,
                summary=a.summary,
                first_fired_at=a.first_fired_at,
                resolved_at=a.resolved_at if resolved else None,
                fired_this_week=week.start <= a.last_fired_at < week.end
                or week.start <= a.first_fired_at < week.end,
                resolved_this_week=resolved,
                fire_count=a.fire_count,
            )
        )
    return by_scope


def _decisions(session: Session, week: Week) -> dict[str, list[DecisionRow]]:
    """The retrain decisions told during the week (events), by model, oldest first."""
    rows = session.execute(
        select(Alert.scope, Alert.first_fired_at, Alert.subject, Alert.severity, Alert.summary)
        .where(
            Alert.state == AlertState.EVENT,
            Alert.kind == RETRAIN,
            Alert.first_fired_at >= week.start,
            Alert.first_fired_at < week.end,
        )
        .order_by(Alert.scope, Alert.first_fired_at, Alert.id)
    )
    by_scope: dict[str, list[DecisionRow]] = defaultdict(list)
    for scope, at, subject, severity, summary in rows:
        by_scope[scope].append(
            DecisionRow(at=at, subject=subject, severity=severity, summary=summary)
        )
    return by_scope


def _pins(session: Session, now: datetime) -> dict[int, PinRow]:
    rows = session.execute(
        select(
            Model.id, Model.pinned_version, Model.pinned_at, Model.pinned_until, Model.pinned_by
        ).where(Model.pinned_version.is_not(None), Model.pinned_at.is_not(None))
    )
    return {
        mid: PinRow(
            version=version,
            since=since,
            until=until,
            by=by,
            holds=until is None or now < until,
        )
        for mid, version, since, until, by in rows
    }


def _retrains(session: Session, week: Week) -> dict[int, list[RetrainRow]]:
    rows = session.execute(
        select(RetrainJob)
        .where(
            or_(
                RetrainJob.created_at.between(week.start, week.end),
                RetrainJob.finished_at.between(week.start, week.end),
            )
        )
        .order_by(RetrainJob.created_at, RetrainJob.id)
    ).scalars()
    by_model: dict[int, list[RetrainRow]] = defaultdict(list)
    for job in rows:
        outcome: Mapping[str, object] = job.outcome or {}
        by_model[job.model_id].append(
            RetrainRow(
                job_uid=job.job_uid,
                trigger=job.trigger,
                state=str(job.state),
                created_at=job.created_at,
                finished_at=job.finished_at,
                registered_version=job.registered_version
                or (
                    str(outcome["registered_version"])
                    if outcome.get("registered_version")
                    else None
                ),
                champion_version=str(outcome["champion_version"])
                if outcome.get("champion_version")
                else None,
                metric=str(outcome["metric"]) if outcome.get("metric") else None,
                champion_score=_num(outcome.get("champion_score")),
                challenger_score=_num(outcome.get("challenger_score")),
                promoted=job.promoted,
                reason=str(outcome.get("reason") or ""),
                error=job.error,
            )
        )
    return by_model


def _frameworks(session: Session, week: Week) -> tuple[FrameworkEnv, ...]:
    # A finding row is updated in place at every scan that still sees it, so the
    # findings on record during a week are those first seen before its end and
    # still seen at or after its start (reports for past weeks stay right).
    rows = session.execute(
        select(FrameworkFinding)
        .where(
            FrameworkFinding.first_seen_at < week.end,
            FrameworkFinding.scanned_at >= week.start,
        )
        .order_by(FrameworkFinding.environment, FrameworkFinding.package, FrameworkFinding.kind)
    ).scalars()
    envs: dict[str, list[FrameworkFinding]] = defaultdict(list)
    for f in rows:
        envs[f.environment].append(f)
    out = []
    for env, findings in envs.items():
        active = [f for f in findings if f.ignored_reason is None]

        def row(f: FrameworkFinding) -> FrameworkRow:
            ids = f.advisory_ids.get("ids") if isinstance(f.advisory_ids, dict) else None
            advisories = tuple(str(i) for i in ids) if isinstance(ids, list) else ()
            return FrameworkRow(
                package=f.package,
                installed=f.installed,
                kind=f.kind,
                severity=f.severity,
                advisories=advisories,
                recommended=f.recommended,
                detail=f.detail,
            )

        out.append(
            FrameworkEnv(
                environment=env,
                scanned_at=findings[0].scanned_at,
                vulnerable=tuple(row(f) for f in active if f.kind in SECURITY_KINDS),
                eol=tuple(row(f) for f in active if f.kind in EOL_KINDS),
                outdated=tuple(
                    row(f)
                    for f in active
                    if f.kind not in SECURITY_KINDS and f.kind not in EOL_KINDS
                ),
                ignored=len(findings) - len(active),
            )
        )
    return tuple(out)


def _previous_counters(session: Session, week: Week) -> Mapping[str, object]:
    summary = session.execute(
        select(Report.summary).where(Report.week < week.label).order_by(Report.week.desc()).limit(1)
    ).scalar_one_or_none()
    counters = summary.get("job_counters") if isinstance(summary, dict) else None
    return counters if isinstance(counters, dict) else {}


def _daemon(session: Session, week: Week, names: Mapping[int, str]) -> DaemonHealth:
    previous = _previous_counters(session, week)
    jobs = []
    for job in session.execute(select(JobRun).order_by(JobRun.job_id)).scalars():
        before = previous.get(job.job_id)
        runs_before = _num(before[0]) if isinstance(before, list) and len(before) == 2 else None
        fails_before = _num(before[1]) if isinstance(before, list) and len(before) == 2 else None
        jobs.append(
            JobHealth(
                job_id=job.job_id,
                runs=job.runs,
                failures=job.failures,
                runs_this_week=None if runs_before is None else job.runs - int(runs_before),
                failures_this_week=None
                if fails_before is None
                else job.failures - int(fails_before),
                last_status=job.last_status,
                last_success_at=job.last_success_at,
                last_error=job.last_error,
            )
        )
    days = [d.isoformat() for d in week.days]
    sampled = 0
    rejected: dict[str, int] = defaultdict(int)
    for outcome, total in session.execute(
        select(IngestCount.outcome, func.sum(IngestCount.count))
        .where(IngestCount.day.in_(days))
        .group_by(IngestCount.outcome)
    ):
        if outcome == "sampled":
            sampled += int(total or 0)
        elif outcome.startswith("rejected"):
            rejected[outcome.partition(":")[2] or "unknown"] += int(total or 0)
    examples = tuple(
        RejectedExample(model=names.get(model_id, str(model_id)), reason=reason, detail=detail)
        for model_id, reason, detail in session.execute(
            select(RejectedRow.model_id, RejectedRow.reason, RejectedRow.detail)
            .where(RejectedRow.received_at >= week.start, RejectedRow.received_at < week.end)
            .order_by(RejectedRow.received_at.desc())
            .limit(REJECTED_EXAMPLES)
        )
    )
    in_week = (Notification.created_at >= week.start, Notification.created_at < week.end)
    states = {
        str(state): int(n)
        for state, n in session.execute(
            select(Notification.state, func.count()).where(*in_week).group_by(Notification.state)
        )
    }
    retried = session.execute(
        select(func.count()).where(*in_week, Notification.attempts > 1)
    ).scalar_one()
    states["retried"] = int(retried)
    failed = tuple(
        (channel, kind, error or "")
        for channel, kind, error in session.execute(
            select(Notification.channel, Notification.kind, Notification.last_error)
            .where(*in_week, Notification.state == NotificationState.DEAD)
            .order_by(Notification.created_at.desc())
            .limit(10)
        )
    )
    return DaemonHealth(
        jobs=tuple(jobs),
        sampled=sampled,
        rejected=sum(rejected.values()),
        rejected_by_reason=dict(sorted(rejected.items())),
        rejected_examples=examples,
        notifications=states,
        failed_notifications=failed,
    )


def _ingest_by_model(session: Session, week: Week) -> dict[int, tuple[int, dict[str, int]]]:
    days = [d.isoformat() for d in week.days]
    out: dict[int, tuple[int, dict[str, int]]] = {}
    for model_id, outcome, total in session.execute(
        select(IngestCount.model_id, IngestCount.outcome, func.sum(IngestCount.count))
        .where(IngestCount.day.in_(days), IngestCount.stream == "predictions")
        .group_by(IngestCount.model_id, IngestCount.outcome)
    ):
        sampled, rejected = out.get(model_id, (0, {}))
        if outcome == "sampled":
            sampled += int(total or 0)
        elif outcome.startswith("rejected"):
            reason = outcome.partition(":")[2] or "unknown"
            rejected[reason] = rejected.get(reason, 0) + int(total or 0)
        out[model_id] = (sampled, rejected)
    return out


# --------------------------------------------------------------------------- actions


def _actions(
    models: Sequence[ModelWeek], frameworks: Sequence[FrameworkEnv], daemon: DaemonHealth
) -> tuple[Action, ...]:
    actions: list[Action] = []
    for m in models:
        perf = m.performance
        promoted = any(r.promoted for r in m.retrains)
        failed = [r for r in m.retrains if r.state in (JobState.FAILED, JobState.TIMED_OUT)]
        if perf.alert_runs and not promoted:
            now_value = (
                perf.last_realized if perf.last_realized is not None else perf.last_estimated
            )
            figure = (
                f": {perf.metric} {now_value:.3f} vs baseline {perf.baseline:.3f}"
                if perf.metric and now_value is not None and perf.baseline is not None
                else ""
            )
            actions.append(
                Action(
                    kind=ActionKind.RETRAIN,
                    scope=m.name,
                    text=f"Retrain {m.name}{figure} ({perf.alert_runs} failing performance checks)",
                    score=300 + perf.alert_runs,
                )
            )
        elif m.top_drift and m.top_drift[0].drifted_share >= 0.5 and not promoted:
            f = m.top_drift[0]
            actions.append(
                Action(
                    kind=ActionKind.INVESTIGATE,
                    scope=m.name,
                    text=f"Investigate feature {f.column} of {m.name}: drifted in "
                    f"{f.drifted_share:.0%} of checks ({f.method} {_fmt(f.last_score)}, "
                    f"threshold {_fmt(f.threshold)})",
                    score=150 + 100 * f.drifted_share,
                )
            )
        if m.unmonitored:
            actions.append(
                Action(
                    kind=ActionKind.FIX,
                    scope=m.name,
                    text=f"Give {m.name} a reference: {m.unmonitored}",
                    score=280,
                )
            )
        for r in failed:
            actions.append(
                Action(
                    kind=ActionKind.FIX,
                    scope=m.name,
                    text=f"Look into the failed retraining of {m.name} ({r.job_uid}: "
                    f"{(r.error or r.state)[:120]})",
                    score=250,
                )
            )
        for q in m.quality[:1]:
            actions.append(
                Action(
                    kind=ActionKind.FIX,
                    scope=m.name,
                    text=f"Fix data quality of {m.name}: {q.name} on {q.column} up to "
                    f"{_fmt(q.worst)} (limit {_fmt(q.threshold)})",
                    score=100 + q.alert_runs,
                )
            )
        if m.counts.get(OPERATIONS, KindCounts()).alert:
            actions.append(
                Action(
                    kind=ActionKind.INVESTIGATE,
                    scope=m.name,
                    text=f"Investigate latency and errors of {m.name} "
                    f"({m.counts[OPERATIONS].alert} failing operations checks)",
                    score=120 + m.counts[OPERATIONS].alert,
                )
            )
    upgrades: dict[tuple[str, str, str], tuple[set[str], set[str], int]] = {}
    for env in frameworks:
        for v in env.vulnerable:
            key = (v.package, v.installed, v.recommended or "a fixed release")
            envs, ids, weight = upgrades.get(key, (set(), set(), 0))
            envs.add(env.environment)
            ids.update(v.advisories)
            upgrades[key] = (envs, ids, max(weight, SEVERITY_WEIGHT.get(v.severity, 2)))
        for e in env.eol:
            actions.append(
                Action(
                    kind=ActionKind.UPGRADE,
                    scope=env.environment,
                    text=f"Upgrade {e.package} {e.installed} in {env.environment}: {e.detail}",
                    score=200,
                )
            )
    for (package, installed, target), (envs, ids, weight) in upgrades.items():
        n = max(len(ids), 1)
        actions.append(
            Action(
                kind=ActionKind.UPGRADE,
                scope=", ".join(sorted(envs)),
                text=f"Upgrade {package} from {installed} to {target} to clear {n} "
                f"advisor{'y' if n == 1 else 'ies'} ({', '.join(sorted(envs))})",
                score=200 + 30 * weight + n,
            )
        )
    dead = daemon.notifications.get(NotificationState.DEAD.value, 0)
    if dead:
        actions.append(
            Action(
                kind=ActionKind.FIX,
                scope="mlmaint",
                text=f"Fix notification delivery: {dead} notification(s) undeliverable",
                score=180,
            )
        )
    for job in daemon.jobs:
        if job.last_status == FAILED_JOB:
            actions.append(
                Action(
                    kind=ActionKind.FIX,
                    scope="mlmaint",
                    text=f"Job {job.job_id} failed its last run"
                    + (f": {job.last_error[:120]}" if job.last_error else ""),
                    score=160,
                )
            )
    actions.sort(key=lambda a: (-a.score, a.scope, a.text))
    return tuple(actions)


def _fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3g}"


# --------------------------------------------------------------------------- entry


def gather(session: Session, settings: Settings, week: Week, now: datetime) -> WeekReport:
    """Everything the report of `week` shows, read in one session."""
    models = session.execute(
        select(Model.id, Model.name, Model.current_version).order_by(Model.name)
    ).all()
    names = {mid: name for mid, name, _ in models}
    runs = _load_runs(session, week)
    alerts = _alerts(session, week)
    retrains = _retrains(session, week)
    decisions = _decisions(session, week)
    pins = _pins(session, now)
    ingest = _ingest_by_model(session, week)
    configured = {m.name for m in settings.models}
    out = []
    for mid, name, version in models:
        model_runs = runs.get(mid, [])
        if (
            not model_runs
            and name not in configured
            and name not in alerts
            and name not in decisions
            and mid not in pins
        ):
            continue
        by_kind: dict[str, list[_Run]] = defaultdict(list)
        for run in model_runs:
            by_kind[run.kind].append(run)
        counts = _counts(model_runs)
        drift_share, drift_threshold, top = _drift(week, by_kind[DRIFT])
        latency, latency_threshold = _operations(week, by_kind[OPERATIONS], LATENCY_NAMES)
        errors, error_threshold = _operations(week, by_kind[OPERATIONS], ERROR_RATE_NAMES)
        model_alerts = tuple(alerts.get(name, ()))
        firing = sum(1 for a in model_alerts if a.state == AlertState.FIRING.value)
        sampled, rejected = ingest.get(mid, (0, {}))
        out.append(
            ModelWeek(
                name=name,
                version=version,
                health=_health(counts, firing),
                counts=counts,
                drift_share=drift_share,
                drift_threshold=drift_threshold,
                top_drift=top,
                drift_policy=drift_policy(settings.model(name), week)
                if name in configured
                else None,
                performance=_performance(week, by_kind[PERFORMANCE], by_kind[ESTIMATED]),
                quality=_quality(by_kind[QUALITY]),
                latency_p95=latency,
                latency_threshold=latency_threshold,
                error_rate=errors,
                error_threshold=error_threshold,
                alerts=model_alerts,
                retrains=tuple(retrains.get(mid, ())),
                evidence=tuple(
                    Evidence(
                        run_id=r.id,
                        kind=r.kind,
                        window_end=r.window_end,
                        filename=r.evidence_path.replace("\\", "/").rsplit("/", 1)[-1],
                    )
                    for r in model_runs
                    if r.evidence_path
                )[-10:],
                sampled=sampled,
                rejected=rejected,
                decisions=tuple(decisions.get(name, ())),
                pin=pins.get(mid),
                unmonitored=next(
                    (
                        a.summary
                        for a in model_alerts
                        if a.kind == MONITORING and a.state == AlertState.FIRING.value
                    ),
                    None,
                ),
            )
        )
    order = {Health.ALERTING: 0, Health.DEGRADED: 1, Health.NO_DATA: 2, Health.HEALTHY: 3}
    out.sort(key=lambda m: (order[m.health], m.name))
    frameworks = _frameworks(session, week)
    daemon = _daemon(session, week, names)
    health_counts = {h.value: sum(1 for m in out if m.health is h) for h in Health}
    return WeekReport(
        week=week,
        generated_at=now,
        models=tuple(out),
        frameworks=frameworks,
        daemon=daemon,
        actions=_actions(out, frameworks, daemon),
        health_counts=health_counts,
    )
