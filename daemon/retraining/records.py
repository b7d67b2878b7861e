"""What the retraining stage writes to the store: jobs, their states, the model's version.

Times written are the job clock's `now` (simulated in the demo, pinned in tests).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import update

from daemon.alerts.finding import Finding
from daemon.retraining.findings import job_finding
from daemon.store.tables import Model, RetrainJob
from retrain.interface import JobState, JobStatus, RetrainOutcome, RetrainSpec

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from retrain.registry import Rollback

log = logging.getLogger(__name__)

# The states of a job that holds a place under `executor.max_concurrent`.
ACTIVE = (JobState.QUEUED, JobState.RUNNING)
LOG_TAIL_CHARS = 20_000


def model_row(session: Session, name: str, now: datetime) -> Model:
    from daemon.store.models import ensure_model

    return session.get_one(Model, ensure_model(session, name, now))


def add_queued_job(
    session: Session,
    row: Model,
    spec: RetrainSpec,
    *,
    executor: str,
    now: datetime,
    deadline: datetime,
) -> None:
    """On record before it exists anywhere else (QUEUED, no external id yet)."""
    job = _job_row(row, spec, JobState.QUEUED, executor, now=now, deadline=deadline)
    job.external_id = None
    session.add(job)


def _job_row(
    row: Model,
    spec: RetrainSpec,
    state: JobState,
    executor: str,
    *,
    now: datetime,
    deadline: datetime,
) -> RetrainJob:
    """A job's row as it is first recorded: its model, what it was given, when."""
    return RetrainJob(
        job_uid=spec.job_id,
        model_id=row.id,
        trigger=spec.trigger,
        state=state,
        executor=executor,
        spec=json.loads(spec.to_json()),
        snapshot_sha256=spec.snapshot.sha256,
        created_at=now,
        deadline_at=deadline,
    )


def set_external_id(session: Session, job_uid: str, external_id: str) -> None:
    session.execute(
        update(RetrainJob).where(RetrainJob.job_uid == job_uid).values(external_id=external_id)
    )


def record_status(
    session: Session, job: RetrainJob, model: str, status: JobStatus, now: datetime
) -> Finding | None:
    """Record what the executor said; a job's end moves the model when it promoted.

    The start is the executor's word (how long ago the job began, placed on the job's
    clock), else the first poll that saw it running; a job that ended between two polls
    and whose executor cannot say when it began has no start on record, not its end.
    """
    if status.state is JobState.RUNNING and job.state == JobState.QUEUED:
        job.state = JobState.RUNNING
        job.started_at = _started(job, status, now) or now
        return None
    if not status.state.finished:
        return None
    job.state = status.state
    job.started_at = job.started_at or _started(job, status, now)
    job.finished_at = now
    job.log_tail = (status.log_tail or "")[-LOG_TAIL_CHARS:] or None
    job.error = status.error
    outcome = status.outcome
    if outcome is not None:
        job.outcome = json.loads(outcome.to_json())
        job.registered_version = outcome.registered_version
        job.promoted = outcome.promoted
        if outcome.traceback and not job.log_tail:
            job.log_tail = outcome.traceback[-LOG_TAIL_CHARS:]
    if status.state is JobState.SUCCEEDED and outcome is not None and outcome.promoted:
        row = session.get_one(Model, job.model_id)
        row.current_version = outcome.registered_version
        row.reference_uri = outcome.reference_uri
        row.reference_sha256 = outcome.reference_sha256 or outcome.snapshot_sha256
    log.info(
        "retrain job %s for %s: %s%s",
        job.job_uid,
        model,
        status.state.value,
        f" ({status.error})" if status.error else "",
    )
    return job_finding(model, job, status)


def _started(job: RetrainJob, status: JobStatus, now: datetime) -> datetime | None:
    """When the job began on the job's clock: `now` less the executor's elapsed time, never
    before the job was created."""
    if status.since_start is None:
        return None
    return max(now - status.since_start, job.created_at)


def add_inline_job(
    session: Session,
    row: Model,
    spec: RetrainSpec,
    outcome: RetrainOutcome,
    *,
    now: datetime,
    deadline: datetime,
) -> None:
    """A job run in this process, ended already: the model's first version."""
    job = _job_row(row, spec, outcome.state, "inline", now=now, deadline=deadline)
    job.outcome = json.loads(outcome.to_json())
    job.started_at = now
    job.finished_at = now
    job.registered_version = outcome.registered_version
    job.promoted = outcome.promoted
    job.log_tail = outcome.traceback
    job.error = outcome.error
    session.add(job)
    if outcome.promoted:
        row.current_version = outcome.registered_version
        row.reference_uri = outcome.reference_uri or spec.snapshot.uri
        row.reference_sha256 = outcome.reference_sha256 or spec.snapshot.sha256


def set_rolled_back(
    row: Model, result: Rollback, *, now: datetime, until: datetime | None, by: str
) -> None:
    """Serve the rolled-back-to version and its reference, pinned to it."""
    row.current_version = result.to_version
    row.reference_uri = result.reference_uri
    row.reference_sha256 = result.reference_sha256
    row.pinned_version = result.to_version
    row.pinned_at = now
    row.pinned_until = until
    row.pinned_by = by


def clear_pin(row: Model) -> None:
    row.pinned_version = None
    row.pinned_at = None
    row.pinned_until = None
    row.pinned_by = None
