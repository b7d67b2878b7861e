"""The store reads behind the /v1 API: one or two SELECTs per answer, each bounded.

Each function takes an open session and returns the response models of
v1_schema.py; a list is cut at `limit` and says whether more matched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, Select, case, func, select
from sqlalchemy.orm import Session

from checks.frameworks.severity import SEVERITY_ORDER
from checks.interface import CheckKind, Status
from daemon.api.v1_schema import (
    AlertOut,
    CheckOut,
    EnvironmentOut,
    FindingOut,
    JobOut,
    MeasureOut,
    PinOut,
    RunOut,
    VersionOut,
)
from daemon.report.queries import METRIC_COLUMNS
from daemon.stages import Stage
from daemon.store.tables import (
    Alert,
    AlertState,
    CheckMetric,
    CheckRun,
    FrameworkFinding,
    IngestCount,
    JobRun,
    Model,
    RetrainJob,
    of_segment,
)
from daemon.store.versions import VersionRecord, stored_versions
from retrain.interface import JobState

KINDS = frozenset(k.value for k in CheckKind)


@dataclass(frozen=True, kw_only=True)
class StoredModel:
    """What the store knows of one model: its row's fields and its counters."""

    serving_version: str | None
    pin: PinOut | None
    rows_sampled: int
    rows_rejected: int
    firing_alerts: int


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def stored_models(session: Session, now: datetime) -> dict[str, StoredModel]:
    """Every model row with its sampled and rejected counts and firing alerts: one SELECT."""
    counts = (
        select(
            IngestCount.model_id.label("model_id"),
            func.sum(IngestCount.count).filter(IngestCount.outcome == "sampled").label("sampled"),
            func.sum(IngestCount.count)
            .filter(IngestCount.outcome.like("rejected:%"))
            .label("rejected"),
        )
        .where(IngestCount.stream == "predictions")
        .group_by(IngestCount.model_id)
        .subquery()
    )
    firing = (
        select(Alert.scope.label("scope"), func.count().label("firing"))
        .where(Alert.state == AlertState.FIRING)
        .group_by(Alert.scope)
        .subquery()
    )
    rows = session.execute(
        select(Model, counts.c.sampled, counts.c.rejected, firing.c.firing)
        .outerjoin(counts, counts.c.model_id == Model.id)
        .outerjoin(firing, firing.c.scope == Model.name)
    ).all()
    out = {}
    for model, sampled, rejected, firing_count in rows:
        pin = None
        if model.pinned_version is not None and model.pinned_at is not None:
            until = model.pinned_until
            pin = PinOut(
                version=model.pinned_version,
                since=model.pinned_at,
                until=until,
                by=model.pinned_by,
                active=until is None or now < until,
            )
        out[model.name] = StoredModel(
            serving_version=model.current_version,
            pin=pin,
            rows_sampled=int(sampled or 0),
            rows_rejected=int(rejected or 0),
            firing_alerts=int(firing_count or 0),
        )
    return out


def latest_runs(session: Session, names: Sequence[str]) -> dict[str, list[CheckOut]]:
    """The latest run of each kind of each named model: one SELECT (a window function)."""
    ranked = (
        select(
            CheckRun,
            Model.name.label("model"),
            func.row_number()
            .over(
                partition_by=(CheckRun.model_id, CheckRun.kind),
                order_by=(CheckRun.window_end.desc(), CheckRun.id.desc()),
            )
            .label("rank"),
        )
        .join(Model, Model.id == CheckRun.model_id)
        .where(Model.name.in_(list(names)), CheckRun.segment.is_(None))
        .subquery()
    )
    run = ranked.c
    rows = session.execute(
        select(
            run.model,
            run.kind,
            run.status,
            run.id,
            run.window_start,
            run.window_end,
            run.rows,
            run.model_version,
        )
        .where(run.rank == 1)
        .order_by(run.model, run.kind)
    ).all()
    out: dict[str, list[CheckOut]] = {}
    for model, kind, status, run_id, start, end, count, version in rows:
        if kind not in KINDS:
            continue  # a kind this release no longer runs
        out.setdefault(model, []).append(
            CheckOut(
                kind=CheckKind(kind),
                status=Status(status),
                run_id=run_id,
                window_start=_utc(start),
                window_end=_utc(end),
                rows=count,
                model_version=version,
            )
        )
    return out


def _utc(value: datetime) -> datetime:
    # Columns read through a subquery or an aggregate keep their type decorator on both
    # backends; this is the belt to those braces.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Columns, not ORM entities: a 10,000-measure answer reads 10,000 plain tuples.
_MEASURE_COLUMNS = (
    CheckRun.id,
    CheckRun.kind,
    CheckRun.status,
    CheckRun.window_start,
    CheckRun.window_end,
    CheckRun.model_version,
    *METRIC_COLUMNS,
)


def _measures_query() -> Select[tuple[object, ...]]:
    return (
        select(*_MEASURE_COLUMNS)
        .select_from(CheckMetric)
        .join(CheckRun, CheckRun.id == CheckMetric.run_id)
        .where(CheckRun.kind.in_(sorted(KINDS)))
    )


_MEASURE_FIELDS = (
    *("run_id", "kind", "status", "window_start", "window_end", "model_version"),
    *("subject", "name", "value", "threshold", "alerting", "detail", "basis"),
)


def _measure(row: Sequence[object]) -> MeasureOut:
    return MeasureOut.model_validate(dict(zip(_MEASURE_FIELDS, row, strict=True)))


def measures_of_runs(session: Session, run_ids: Sequence[int]) -> list[MeasureOut]:
    """The measures of the given runs, by kind then subject."""
    if not run_ids:
        return []
    rows = session.execute(
        _measures_query()
        .where(CheckMetric.run_id.in_(list(run_ids)))
        .order_by(CheckRun.kind, CheckMetric.subject, CheckMetric.name)
    )
    return [_measure(row) for row in rows]


def measures(
    session: Session,
    model: str,
    *,
    kind: CheckKind | None,
    subject: str | None,
    name: str | None = None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    segment: str | None = None,
) -> tuple[list[MeasureOut], bool]:
    """A model's stored measures with window ends in [since, until], oldest first.

    When more than `limit` match, the newest `limit` are kept (and True returned).
    """
    query = (
        _measures_query()
        .join(Model, Model.id == CheckRun.model_id)
        .where(Model.name == model, of_segment(segment))
    )
    if kind is not None:
        query = query.where(CheckRun.kind == kind.value)
    if subject is not None:
        query = query.where(CheckMetric.subject == subject)
    if name is not None:
        query = query.where(CheckMetric.name == name)
    if since is not None:
        query = query.where(CheckRun.window_end >= since)
    if until is not None:
        query = query.where(CheckRun.window_end <= until)
    rows = session.execute(
        query.order_by(CheckRun.window_end.desc(), CheckRun.id.desc(), CheckMetric.id.desc()).limit(
            limit + 1
        )
    )
    found = [_measure(row) for row in rows]
    return found[:limit][::-1], len(found) > limit


def runs(
    session: Session,
    model: str,
    *,
    kind: CheckKind | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    segment: str | None = None,
) -> tuple[list[RunOut], bool]:
    """A model's stored runs with window ends in [since, until], oldest first: the
    status of each window, measured or not (insufficient_data runs store no measure)."""
    query = (
        select(CheckRun)
        .join(Model, Model.id == CheckRun.model_id)
        .where(Model.name == model, CheckRun.kind.in_(sorted(KINDS)), of_segment(segment))
    )
    if kind is not None:
        query = query.where(CheckRun.kind == kind.value)
    if since is not None:
        query = query.where(CheckRun.window_end >= since)
    if until is not None:
        query = query.where(CheckRun.window_end <= until)
    rows = list(
        session.scalars(
            query.order_by(CheckRun.window_end.desc(), CheckRun.id.desc()).limit(limit + 1)
        )
    )
    found = []
    for run in rows[:limit]:
        reason = (run.summary or {}).get("reason")
        found.append(
            RunOut(
                run_id=run.id,
                kind=CheckKind(run.kind),
                status=run.status,
                window_start=_utc(run.window_start),
                window_end=_utc(run.window_end),
                rows=run.rows,
                model_version=run.model_version,
                reason=reason if isinstance(reason, str) else None,
            )
        )
    return found[::-1], len(rows) > limit


def _alert(row: Alert, now: datetime) -> AlertOut:
    details = row.details or {}
    acked = row.acked_at is not None and (row.acked_until is None or now < row.acked_until)
    return AlertOut(
        id=row.id,
        scope=row.scope,
        kind=row.kind,
        subject=row.subject,
        state=row.state,
        severity=row.severity,
        summary=row.summary,
        value=_float(details.get("value")),
        threshold=_float(details.get("threshold")),
        first_fired_at=row.first_fired_at,
        last_fired_at=row.last_fired_at,
        last_seen_at=row.last_seen_at,
        resolved_at=row.resolved_at,
        fire_count=row.fire_count,
        acked=acked and row.state == AlertState.FIRING,
        acked_until=row.acked_until,
    )


def alerts(
    session: Session,
    now: datetime,
    *,
    states: Sequence[AlertState],
    scope: str | None,
    limit: int,
) -> tuple[list[AlertOut], bool]:
    """Alerts in the given states, the most recently fired first."""
    query = select(Alert).where(Alert.state.in_(list(states)))
    if scope is not None:
        query = query.where(Alert.scope == scope)
    rows = list(
        session.scalars(
            query.order_by(Alert.last_fired_at.desc(), Alert.id.desc()).limit(limit + 1)
        )
    )
    return [_alert(r, now) for r in rows[:limit]], len(rows) > limit


def _job(row: RetrainJob, model: str) -> JobOut:
    outcome = row.outcome or {}
    metric = outcome.get("metric")
    reason = outcome.get("reason")
    return JobOut(
        job_uid=row.job_uid,
        model=model,
        trigger=row.trigger,
        state=row.state,
        executor=row.executor,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        registered_version=row.registered_version,
        promoted=row.promoted,
        metric=metric if isinstance(metric, str) else None,
        challenger_score=_float(outcome.get("challenger_score")),
        champion_score=_float(outcome.get("champion_score")),
        reason=reason if isinstance(reason, str) and reason else None,
        error=row.error,
    )


def jobs(
    session: Session,
    *,
    model: str | None,
    state: JobState | None,
    limit: int,
) -> tuple[list[JobOut], bool]:
    """Retrain jobs, the newest first."""
    query = select(RetrainJob, Model.name).join(Model, Model.id == RetrainJob.model_id)
    if model is not None:
        query = query.where(Model.name == model)
    if state is not None:
        query = query.where(RetrainJob.state == state)
    rows = session.execute(
        query.order_by(RetrainJob.created_at.desc(), RetrainJob.id.desc()).limit(limit + 1)
    ).tuples()
    found = [_job(job, name) for job, name in rows]
    return found[:limit], len(found) > limit


# Within one kind, the most severe first: a vulnerability's severity in the advisory
# order (checks/frameworks/severity.py), the other kinds' "warning" then "info".
SEVERITY_RANK = {label: rank for rank, label in enumerate((*SEVERITY_ORDER, "warning", "info"))}


def _kind_gravity() -> ColumnElement[int]:
    """Actionable kinds before informational ones, each in the policy's order: a
    vulnerability of unknown severity is above any note."""
    from checks.frameworks.policy import ACTIONABLE, FindingKind

    ordered = [
        *(k for k in FindingKind if k in ACTIONABLE),
        *(k for k in FindingKind if k not in ACTIONABLE),
    ]
    ranks = {k.value: rank for rank, k in enumerate(ordered)}
    return case(ranks, value=FrameworkFinding.kind, else_=len(ranks))


def findings(
    session: Session,
    *,
    environment: str | None,
    kind: str | None,
    limit: int,
) -> tuple[list[FindingOut], bool]:
    """The findings of each environment's latest scan, the most severe first."""
    query = select(FrameworkFinding)
    if environment is not None:
        query = query.where(FrameworkFinding.environment == environment)
    if kind is not None:
        query = query.where(FrameworkFinding.kind == kind)
    rows = list(
        session.scalars(
            query.order_by(
                _kind_gravity(),
                case(SEVERITY_RANK, value=FrameworkFinding.severity, else_=len(SEVERITY_RANK)),
                FrameworkFinding.environment,
                FrameworkFinding.package,
                FrameworkFinding.id,
            ).limit(limit + 1)
        )
    )
    out = []
    for row in rows[:limit]:
        stored = row.advisory_ids or {}
        ids = stored.get("ids")
        fixed = stored.get("fixed")
        out.append(
            FindingOut(
                environment=row.environment,
                package=row.package,
                installed=row.installed,
                kind=row.kind,
                severity=row.severity,
                advisory_ids=[str(i) for i in ids] if isinstance(ids, list) else [],
                score=_float(stored.get("score")),
                fixed=fixed if isinstance(fixed, str) else None,
                recommended=row.recommended,
                detail=row.detail,
                scanned_at=row.scanned_at,
                first_seen_at=row.first_seen_at,
                ignored_reason=row.ignored_reason,
            )
        )
    return out, len(rows) > limit


def environments(session: Session, configured: Sequence[str]) -> list[EnvironmentOut]:
    """Each configured (or stored) environment, its latest scan time and finding count."""
    rows = session.execute(
        select(
            FrameworkFinding.environment,
            func.max(FrameworkFinding.scanned_at),
            func.count(),
        ).group_by(FrameworkFinding.environment)
    ).all()
    stored = {name: (_utc(at) if at is not None else None, int(n)) for name, at, n in rows}
    clean = clean_scan(session)
    names = [*configured, *sorted(set(stored) - set(configured))]
    return [
        EnvironmentOut(
            name=name,
            scanned_at=stored[name][0] if name in stored else _clean_scan(name, configured, clean),
            findings=stored.get(name, (None, 0))[1],
        )
        for name in names
    ]


def clean_scan(session: Session) -> datetime | None:
    """When the daemon's scan job last succeeded: a scan that found nothing stores no
    finding, so the job's own record is what says it ran."""
    at = session.scalar(
        select(JobRun.last_success_at).where(JobRun.job_id == Stage.FRAMEWORKS.value)
    )
    return _utc(at) if at is not None else None


def _clean_scan(name: str, configured: Sequence[str], at: datetime | None) -> datetime | None:
    return at if name in configured else None


def versions(session: Session, model: str, serving: str | None) -> list[VersionOut]:
    """Every registered version the store recorded for `model`, newest first; the
    serving version too when the registry was never read for it."""
    model_id = session.execute(select(Model.id).where(Model.name == model)).scalar_one_or_none()
    records = list(stored_versions(session, [model_id]).get(model_id, ())) if model_id else []
    if serving is not None and serving not in {r.version for r in records}:
        records.insert(0, VersionRecord(version=serving))
    return [
        VersionOut(
            version=r.version,
            aliases=list(r.aliases),
            serving=r.version == serving,
            registered_at=r.registered_at,
            run_id=r.run_id,
        )
        for r in records
    ]
