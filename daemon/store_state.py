"""The store's latest results, read in one session: `mlmaint status` and the metrics.

`read_state` is what Prometheus scrapes (daemon/metrics.py turns it into metric
families) and what `mlmaint status` prints for a person at a shell. It lives
apart from the metrics so that `status` does not import prometheus_client.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from daemon.store.tables import (
    Alert,
    AlertState,
    CheckMetric,
    CheckRun,
    IngestCount,
    JobRun,
    Model,
    Notification,
    NotificationState,
    RetrainJob,
)

# The dataset-level drift share, as checks/drift/ stores it: a measure on the
# "dataset" subject (weighted by column weights), else the summary's plain share.
DRIFT_SHARE_METRICS = ("drifted_share", "drift_share")
DRIFT_SHARE_SUMMARY = ("weighted_share", "share", "drift_share")


@dataclass(frozen=True, kw_only=True)
class CheckLatest:
    model: str
    kind: str
    status: str
    ran_at: datetime
    rows: int
    duration_s: float
    summary: dict[str, object]
    metrics: tuple[tuple[str, str, float], ...]  # (subject, name, value)

    @property
    def drift_share(self) -> float | None:
        for subject, name, value in self.metrics:
            if subject == "dataset" and name in DRIFT_SHARE_METRICS:
                return value
        for key in DRIFT_SHARE_SUMMARY:
            found = self.summary.get(key)
            if isinstance(found, int | float) and not isinstance(found, bool):
                return float(found)
        return None


@dataclass(frozen=True, kw_only=True)
class JobLatest:
    job_id: str
    status: str
    started_at: datetime | None
    finished_at: datetime | None
    success_at: datetime | None
    duration_s: float | None
    runs: int
    failures: int
    error: str | None


@dataclass(frozen=True, kw_only=True)
class StoreState:
    """What the store says about every model and job, read in one go."""

    read_at: datetime
    checks: tuple[CheckLatest, ...] = ()
    alerts_firing: tuple[tuple[str, str, str, int], ...] = ()  # scope, kind, severity, n
    ingest: tuple[tuple[str, str, str, int], ...] = ()  # model, stream, outcome, n
    jobs: tuple[JobLatest, ...] = ()
    outbox: tuple[tuple[str, str, int], ...] = ()  # channel, state, n
    oldest_pending: datetime | None = None
    retrain: tuple[tuple[str, str, int], ...] = ()  # model, state, n
    error: str | None = None
    models: tuple[str, ...] = field(default=())


def _read(session: Session, now: datetime) -> StoreState:
    names = dict(session.execute(select(Model.id, Model.name)).tuples().all())
    # The latest run of a kind is the one of the latest window, not the last one run:
    # a past window checked again (a backfill) is not the model's present.
    # The model's whole windows: a segment's runs are not its status.
    ranked = (
        select(
            CheckRun.id,
            func.row_number()
            .over(
                partition_by=(CheckRun.model_id, CheckRun.kind),
                order_by=(CheckRun.window_end.desc(), CheckRun.id.desc()),
            )
            .label("rank"),
        )
        .where(CheckRun.segment.is_(None))
        .subquery()
    )
    latest_ids = select(ranked.c.id).where(ranked.c.rank == 1)
    runs = session.scalars(select(CheckRun).where(CheckRun.id.in_(latest_ids))).all()
    metrics: dict[int, list[tuple[str, str, float]]] = {}
    if runs:
        rows = session.execute(
            select(CheckMetric.run_id, CheckMetric.subject, CheckMetric.name, CheckMetric.value)
            .where(CheckMetric.run_id.in_([r.id for r in runs]))
            .where(CheckMetric.value.is_not(None))
        ).tuples()
        for run_id, subject, name, value in rows:
            if value is not None:
                metrics.setdefault(run_id, []).append((subject, name, float(value)))
    checks = tuple(
        CheckLatest(
            model=names.get(r.model_id, str(r.model_id)),
            kind=r.kind,
            status=str(r.status),
            ran_at=r.ran_at,
            rows=r.rows,
            duration_s=r.duration_s,
            summary=dict(r.summary or {}),
            metrics=tuple(metrics.get(r.id, ())),
        )
        for r in sorted(runs, key=lambda r: (r.model_id, r.kind))
    )
    alerts = session.execute(
        select(Alert.scope, Alert.kind, Alert.severity, func.count())
        .where(Alert.state == AlertState.FIRING)
        .group_by(Alert.scope, Alert.kind, Alert.severity)
        .order_by(Alert.scope, Alert.kind, Alert.severity)
    ).tuples()
    ingest = session.execute(
        select(
            IngestCount.model_id,
            IngestCount.stream,
            IngestCount.outcome,
            func.sum(IngestCount.count),
        )
        .group_by(IngestCount.model_id, IngestCount.stream, IngestCount.outcome)
        .order_by(IngestCount.model_id, IngestCount.stream, IngestCount.outcome)
    ).tuples()
    jobs = session.scalars(select(JobRun).order_by(JobRun.job_id)).all()
    outbox = session.execute(
        select(Notification.channel, Notification.state, func.count())
        .where(Notification.state != NotificationState.SENT)
        .group_by(Notification.channel, Notification.state)
        .order_by(Notification.channel, Notification.state)
    ).tuples()
    oldest = session.scalar(
        select(func.min(Notification.created_at)).where(
            Notification.state == NotificationState.PENDING
        )
    )
    retrain = session.execute(
        select(RetrainJob.model_id, RetrainJob.state, func.count())
        .group_by(RetrainJob.model_id, RetrainJob.state)
        .order_by(RetrainJob.model_id, RetrainJob.state)
    ).tuples()
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    return StoreState(
        read_at=now,
        models=tuple(sorted(names.values())),
        checks=checks,
        alerts_firing=tuple((s, k, sev, int(n)) for s, k, sev, n in alerts),
        ingest=tuple(
            (names.get(m, str(m)), stream, outcome, int(n or 0)) for m, stream, outcome, n in ingest
        ),
        jobs=tuple(
            JobLatest(
                job_id=j.job_id,
                status=j.last_status,
                started_at=j.last_started_at,
                finished_at=j.last_finished_at,
                success_at=j.last_success_at,
                duration_s=j.last_duration_s,
                runs=int(j.runs or 0),
                failures=int(j.failures or 0),
                error=j.last_error,
            )
            for j in jobs
        ),
        outbox=tuple((c, str(s), int(n)) for c, s, n in outbox),
        oldest_pending=oldest,
        retrain=tuple((names.get(m, str(m)), str(s), int(n)) for m, s, n in retrain),
    )


def read_state(engine: Engine, now: datetime | None = None) -> StoreState:
    """Read the latest results; a store that cannot be read gives a state with `error`."""
    now = now or datetime.now(UTC)
    try:
        with Session(engine) as session:
            return _read(session, now)
    except SQLAlchemyError as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return StoreState(read_at=now, error=text)
