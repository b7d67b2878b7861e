"""The executor's word on one job, judged on the job's clock.

Every comparison here is with the `now` the job was given, against the job's
deadline on record (`specs.job_deadline`): a job the executor cannot answer for
(a lost job directory, an executor that is gone, a job never submitted) is
waited on until `now` passes it, then failed, so it never holds a slot forever.
The executor itself is handed the deadline of the job's process (wall-clock
time, `specs.process_deadline`), by which it ends a process that runs too long.
"""

from __future__ import annotations

import logging
from datetime import datetime

from daemon.retraining.executors import Executors
from daemon.store.tables import RetrainJob
from retrain.interface import JobState, JobStatus

log = logging.getLogger(__name__)


def process_deadline_of(job: RetrainJob, otherwise: datetime) -> datetime:
    """The wall-clock deadline the job's spec carries; `otherwise` for a spec without one."""
    text = job.spec.get("deadline")
    return datetime.fromisoformat(text) if isinstance(text, str) else otherwise


def poll_one(executors: Executors, job: RetrainJob, now: datetime) -> JobStatus | None:
    """The executor's word on a job; None while it cannot say and the deadline is ahead."""
    deadline = job.deadline_at or now
    if job.external_id is None:
        # Submitted by a daemon that stopped before recording the executor's id (or
        # being submitted right now): the executor may know the job by its job id.
        try:
            job.external_id = executors.get(job.executor).locate(job.job_uid)
        except Exception as exc:
            log.warning("retrain job %s: cannot ask its executor: %s", job.job_uid, exc)
        if job.external_id is not None:
            log.info("retrain job %s found at its executor as %s", job.job_uid, job.external_id)
        elif now <= deadline:
            return None
        else:
            return JobStatus(
                state=JobState.FAILED,
                error="never reached its executor (the daemon stopped while submitting it)",
            )
    try:
        return executors.get(job.executor).poll(job.external_id, process_deadline_of(job, deadline))
    except Exception as exc:
        # One broken job must not stop the rest; past its deadline it ends here.
        error = f"{type(exc).__name__}: {exc}"
        if now <= deadline:
            log.warning("retrain job %s: cannot poll: %s", job.job_uid, error)
            return None
        return JobStatus(
            state=JobState.FAILED,
            error=f"still unreachable at its deadline {deadline.isoformat()}: {error}",
        )
