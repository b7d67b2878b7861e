"""What `mlmaint status` says per model: the serving version, the pin, recent retrain jobs.

Read from the store in a few small queries (the last jobs per model by their
id, newest first); the label and row counts come from the ingest counters
`daemon.store_state.read_state` already reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from daemon.retraining.pins import Pin, pin_of
from daemon.store.tables import Model, RetrainJob

RECENT_JOBS = 3


@dataclass(frozen=True, kw_only=True)
class JobSummary:
    """One retrain job as status lists it."""

    job_uid: str
    state: str
    trigger: str
    created_at: datetime
    finished_at: datetime | None
    registered_version: str | None
    promoted: bool

    @property
    def at(self) -> datetime:
        return self.finished_at or self.created_at


@dataclass(frozen=True, kw_only=True)
class ModelSummary:
    """A model's serving version, its pin (held or expired) and its latest jobs."""

    name: str
    serving_version: str | None
    pin: Pin | None
    jobs: tuple[JobSummary, ...]


def utc(value: datetime) -> datetime:
    """A stored time as aware UTC (SQLite hands back naive UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def model_summaries(engine: Engine, recent: int = RECENT_JOBS) -> list[ModelSummary]:
    """Every model in the store, by name, with its last `recent` retrain jobs."""
    out: list[ModelSummary] = []
    with Session(engine) as session:
        for row in session.scalars(select(Model).order_by(Model.name)):
            jobs = session.scalars(
                select(RetrainJob)
                .where(RetrainJob.model_id == row.id)
                .order_by(RetrainJob.id.desc())
                .limit(recent)
            )
            out.append(
                ModelSummary(
                    name=row.name,
                    serving_version=row.current_version,
                    pin=pin_of(row),
                    jobs=tuple(
                        JobSummary(
                            job_uid=job.job_uid,
                            state=str(job.state),
                            trigger=job.trigger,
                            created_at=utc(job.created_at),
                            finished_at=utc(job.finished_at) if job.finished_at else None,
                            registered_version=job.registered_version,
                            promoted=bool(job.promoted),
                        )
                        for job in jobs
                    ),
                )
            )
    return out
