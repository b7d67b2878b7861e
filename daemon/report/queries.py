"""The report's store queries: one week's runs, alerts, retrains, findings and jobs.

Queries select plain columns (no ORM objects) over the week's check runs and
metrics: a week of hourly checks for 50 models is ~35k runs and a few hundred
thousand metrics, aggregated in one pass (daemon/report/figures.py).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from checks.frameworks.policy import FindingKind
from checks.frameworks.severity import severity_rank
from checks.interface import CheckKind
from daemon.alerts.finding import WHY, StageKind
from daemon.report.model import (
    AlertRow,
    DecisionRow,
    FrameworkEnv,
    FrameworkRow,
    PinRow,
    RetrainRow,
)
from daemon.report.weeks import Week
from daemon.store.tables import (
    Alert,
    AlertState,
    CheckMetric,
    CheckRun,
    FrameworkFinding,
    IngestCount,
    Model,
    Prediction,
    RetrainJob,
)

# Performance measures: the headline value of realized and estimated runs.
HEADLINE_NAMES = ("value", "estimated")
# Operations measures, by name (checks/operations.py).
LATENCY_NAMES = ("p95_ms",)
ERROR_RATE_NAMES = ("error_rate",)
# Framework findings that are security issues rather than freshness.
SECURITY_KINDS = frozenset({FindingKind.VULNERABLE, FindingKind.YANKED})
# Python past or near its end of life.
EOL_KINDS = frozenset({FindingKind.PYTHON_EOL, FindingKind.PYTHON_EOL_SOON})


class Span(Protocol):
    """A stretch of time [start, end): a report's week, or the page's whole history."""

    @property
    def start(self) -> datetime: ...

    @property
    def end(self) -> datetime: ...


def num(value: object) -> float | None:
    if type(value) is float:
        return value if math.isfinite(value) else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


@dataclass(kw_only=True, slots=True)
class MetricRow:
    subject: str
    name: str
    value: float | None
    threshold: float | None
    alerting: bool
    detail: str | None
    basis: str | None = None


# A stored measure's columns, in MetricRow's order: the page, the report and /v1 read these.
METRIC_COLUMNS = (
    CheckMetric.subject,
    CheckMetric.name,
    CheckMetric.value,
    CheckMetric.threshold,
    CheckMetric.alerting,
    CheckMetric.detail,
    CheckMetric.basis,
)


def metric_row(
    subject: str,
    name: str,
    value: object,
    threshold: object,
    alerting: object,
    detail: str | None,
    basis: str | None,
) -> MetricRow:
    """One row of METRIC_COLUMNS, with non-finite numbers as None."""
    return MetricRow(
        subject=subject,
        name=name,
        value=num(value),
        threshold=num(threshold),
        alerting=bool(alerting),
        detail=detail,
        basis=basis,
    )


@dataclass(kw_only=True, slots=True)
class RunRow:
    id: int
    model_id: int
    kind: str
    status: str
    day: date
    summary: Mapping[str, object]
    evidence_path: str | None
    window_end: datetime
    metrics: list[MetricRow] = field(default_factory=list)


# The metrics the report shows; the others (per-column quality shares that never
# alerted, p50/p99, secondary performance metrics) stay in the store. This halves
# the rows read for a week of hourly checks.
_SHOWN = or_(
    CheckRun.kind == CheckKind.DRIFT.value,
    and_(CheckRun.kind == CheckKind.QUALITY.value, CheckMetric.alerting.is_(True)),
    and_(
        CheckRun.kind == CheckKind.OPERATIONS.value,
        CheckMetric.name.in_(LATENCY_NAMES + ERROR_RATE_NAMES),
    ),
    and_(
        CheckRun.kind.in_((CheckKind.PERFORMANCE.value, CheckKind.ESTIMATED_PERFORMANCE.value)),
        CheckMetric.name.in_((*HEADLINE_NAMES, "baseline")),
    ),
)


def models(session: Session) -> list[tuple[int, str, str | None]]:
    """Every model in the store: (id, name, current version), by name."""
    rows = session.execute(
        select(Model.id, Model.name, Model.current_version).order_by(Model.name)
    ).all()
    return [(mid, name, version) for mid, name, version in rows]


def runs_in_week(week: Span) -> tuple[ColumnElement[bool], ...]:
    """The runs whose window's data lies in the week: window_end in (start, end].

    Runs are filed by their window's end, so a daily window ending Monday 00:00
    covers the Sunday before: it belongs to the week that just ended, not to the
    one that begins. Every report query of check runs goes through this.
    """
    # The model's whole windows: a segment's runs speak through its alerts.
    return (
        CheckRun.window_end > week.start,
        CheckRun.window_end <= week.end,
        CheckRun.segment.is_(None),
    )


def covered_day(week: Week, midnights: Sequence[datetime], window_end: datetime) -> date:
    """The day a window with this end covers (its last instant lies in it), not its end's day.

    `midnights` are the week's local midnights after Monday, as UTC instants.
    """
    return week.days[bisect_left(midnights, window_end)]


def _why(details: Mapping[str, object] | None) -> str | None:
    """Why the alert fired, in words, when its finding said (the policy keeps a finding's
    own details under "extra")."""
    extra = (details or {}).get("extra")
    why = extra.get(WHY) if isinstance(extra, dict) else None
    return why if isinstance(why, str) else None


def load_runs(session: Session, week: Week) -> dict[int, list[RunRow]]:
    in_week = runs_in_week(week)
    # Local midnights as UTC instants: a bisect per run instead of a time zone conversion.
    midnights = [week.start_of(day) for day in week.days[1:]]
    runs: dict[int, RunRow] = {}
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
        runs[rid] = RunRow(
            id=rid,
            model_id=model_id,
            kind=kind,
            status=str(status),
            day=covered_day(week, midnights, end),
            summary=summary if isinstance(summary, dict) else {},
            evidence_path=evidence,
            window_end=end,
        )
    metric_rows = session.execute(
        select(CheckMetric.run_id, *METRIC_COLUMNS)
        .join(CheckRun, CheckRun.id == CheckMetric.run_id)
        .where(*in_week, _SHOWN)
        .order_by(CheckMetric.id)
    )
    for run_id, *metric in metric_rows:
        run = runs.get(run_id)
        if run is not None:
            run.metrics.append(metric_row(*metric))
    by_model: dict[int, list[RunRow]] = defaultdict(list)
    for run in runs.values():
        by_model[run.model_id].append(run)
    return by_model


def alerts(session: Session, week: Week) -> dict[str, list[AlertRow]]:
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
                state=AlertState.RESOLVED if resolved else AlertState.FIRING,
                summary=a.summary,
                first_fired_at=a.first_fired_at,
                resolved_at=a.resolved_at if resolved else None,
                fired_this_week=week.start <= a.last_fired_at < week.end
                or week.start <= a.first_fired_at < week.end,
                resolved_this_week=resolved,
                fire_count=a.fire_count,
                why=_why(a.details),
            )
        )
    return by_scope


def decisions(session: Session, week: Week) -> dict[str, list[DecisionRow]]:
    """The retrain decisions told during the week (events), by model, oldest first."""
    rows = session.execute(
        select(Alert.scope, Alert.first_fired_at, Alert.subject, Alert.severity, Alert.summary)
        .where(
            Alert.state == AlertState.EVENT,
            Alert.kind == StageKind.RETRAIN.value,
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


def pins(session: Session, now: datetime) -> dict[int, PinRow]:
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


def retrains(session: Session, week: Span) -> dict[int, list[RetrainRow]]:
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
                champion_score=num(outcome.get("champion_score")),
                challenger_score=num(outcome.get("challenger_score")),
                promoted=job.promoted,
                reason=str(outcome.get("reason") or ""),
                error=job.error,
            )
        )
    return by_model


def frameworks(session: Session, week: Span) -> tuple[FrameworkEnv, ...]:
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
                # Most severe first (by package within one severity, as queried).
                vulnerable=tuple(
                    sorted(
                        (row(f) for f in active if f.kind in SECURITY_KINDS),
                        key=lambda r: severity_rank(r.severity),
                    )
                ),
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


def ingest_by_model(session: Session, week: Week) -> dict[int, tuple[int, dict[str, int]]]:
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


def stored_by_model(session: Session, week: Week, model_ids: Iterable[int]) -> dict[int, int]:
    """Per model, the stored predictions whose own time falls in the week.

    What a week sampled is told by the rows' timestamps: rows read late (a backlog,
    a file of last month's predictions) belong to the week they happened in, where
    the ingest counters file them under the day they were read. One count per model,
    each a range of the (model_id, ts) index, not a scan of every model's rows.
    """
    counts: dict[int, int] = {}
    for model_id in model_ids:
        n = session.scalar(
            select(func.count())
            .select_from(Prediction)
            .where(
                Prediction.model_id == model_id,
                Prediction.ts >= week.start,
                Prediction.ts < week.end,
            )
        )
        if n:
            counts[model_id] = int(n)
    return counts
