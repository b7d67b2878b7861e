"""The GPU queue: specs sent by task name to `mlmaint worker` processes.

The daemon never imports the worker's code (nor torch): it sends the spec by
task name and reads the result backend. Celery reports an unknown task id as
PENDING forever, so a PENDING job past its deadline is timed out and revoked
here, never waited on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from retrain.interface import JobState, JobStatus, RetrainOutcome, RetrainSpec

log = logging.getLogger(__name__)

TASK_NAME = "mlmaint.retrain"
# Soft limit first: the job gets this long to write its failure before the hard kill.
SOFT_LIMIT_GRACE = timedelta(seconds=30)


class CeleryExecutor:
    name = "celery"

    def __init__(
        self,
        broker_url: str,
        result_backend: str,
        queue: str = "gpu",
        visibility_timeout: timedelta = timedelta(hours=7),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        from celery import Celery

        self.queue = queue
        self.clock = clock
        self.app = Celery(
            "mlmaint-daemon", broker=broker_url, backend=result_backend, set_as_current=False
        )
        seconds = int(visibility_timeout.total_seconds())
        self.app.conf.update(
            task_serializer="json",
            result_serializer="json",
            accept_content=["json"],
            broker_transport_options={"visibility_timeout": seconds},
            result_backend_transport_options={"visibility_timeout": seconds},
            broker_connection_retry_on_startup=True,
        )

    def submit(self, spec: RetrainSpec) -> str:
        remaining = (spec.deadline - self.clock()).total_seconds()
        hard = max(1, int(remaining))
        soft = max(1, hard - int(SOFT_LIMIT_GRACE.total_seconds()))
        result = self.app.send_task(
            TASK_NAME,
            args=[spec.to_json()],
            queue=self.queue,
            task_id=spec.job_id,
            time_limit=hard,
            soft_time_limit=soft,
            expires=spec.deadline,
        )
        log.info("retrain job %s sent to queue %s", spec.job_id, self.queue)
        return str(result.id)

    def locate(self, job_id: str) -> str | None:
        # The task id is the job id. A task still in the queue reads PENDING, the same
        # as one never sent: only a task a worker has taken is known for sure.
        state = self.app.AsyncResult(job_id).state
        return None if state == "PENDING" else job_id

    def poll(self, external_id: str, deadline: datetime) -> JobStatus:
        result = self.app.AsyncResult(external_id)
        state = result.state
        if state == "SUCCESS":
            outcome = RetrainOutcome.from_json(str(result.result))
            return JobStatus(
                state=outcome.state,
                outcome=outcome,
                log_tail=outcome.traceback or "",
                error=outcome.error,
                since_start=self._since_start(result.date_done, outcome.duration_s),
            )
        if state == "FAILURE":
            return JobStatus(
                state=JobState.FAILED,
                log_tail=str(result.traceback or ""),
                error=f"{type(result.result).__name__}: {result.result}",
            )
        if state == "REVOKED":
            return JobStatus(state=JobState.CANCELLED, error="revoked")
        if self.clock() > deadline:
            self.cancel(external_id)
            return JobStatus(
                state=JobState.TIMED_OUT,
                error=f"still {state.lower()} at its deadline {deadline.isoformat()}",
            )
        if state == "STARTED":
            info = result.info if isinstance(result.info, dict) else {}
            return JobStatus(
                state=JobState.RUNNING,
                log_tail=f"running on {info.get('hostname', '?')} pid {info.get('pid', '?')}",
            )
        # PENDING (queued, or an id the backend never saw) and RETRY.
        return JobStatus(state=JobState.QUEUED)

    def _since_start(self, done: object, duration_s: float) -> timedelta | None:
        """Since the task began: the backend's time of its end less the job's own duration."""
        if not isinstance(done, datetime) or duration_s <= 0:
            return None
        done = done if done.tzinfo is not None else done.replace(tzinfo=UTC)
        return max(self.clock() - (done - timedelta(seconds=duration_s)), timedelta(0))

    def cancel(self, external_id: str) -> None:
        self.app.control.revoke(external_id, terminate=True, signal="SIGKILL")

    def logs(self, external_id: str) -> str:
        result = self.app.AsyncResult(external_id)
        if result.state == "SUCCESS":
            outcome = RetrainOutcome.from_json(str(result.result))
            return outcome.traceback or outcome.reason
        return str(result.traceback or result.state)

    def close(self) -> None:
        """Close the result backend's connections and drop the app.

        Each executor opens its own Redis client for results, which lingers
        until the app is garbage collected: a daemon that makes one per stage
        run would pile them up. The broker connections are kombu's pool, shared
        per URL by the whole process and bounded by `broker_pool_limit`: closing
        that pool would break every other executor alive, so it is left alone.
        """
        client = getattr(self.app.backend, "client", None)
        pool = getattr(client, "connection_pool", None)
        if pool is not None:
            pool.disconnect()
        self.app.close()
