"""A yes from the policy becomes a training snapshot, a job on record and a submit.

The job is on record (QUEUED, no external id yet) before it is submitted, in
the transaction that holds the decision lock: the next decision's
no-duplicate guard sees it. If the daemon stops before recording the
executor's id, polling finds the job again by its job id, or ends it at its
deadline. Only a manual job gets past a pin, and it may register, not promote.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select

from daemon.alerts.finding import Finding
from daemon.retraining.decide import facts, lock_decisions
from daemon.retraining.executors import Executors, executors_for
from daemon.retraining.pins import active_pin
from daemon.retraining.promote import finish
from daemon.retraining.records import add_queued_job, model_row, set_external_id
from daemon.retraining.snapshots import build_snapshots, read_reference
from daemon.retraining.specs import RetrainPlan, build_spec, job_deadline, retrain_plan
from daemon.store.engine import transaction
from daemon.store.tables import RetrainJob
from daemon.store.windows import load_labelled
from retrain.interface import Executor, JobState, JobStatus
from retrain.policy import Decision, decide

if TYPE_CHECKING:
    from daemon.config import ModelSettings
    from daemon.jobs import JobContext

log = logging.getLogger(__name__)


class SubmitError(RuntimeError):
    """The executor refused a job: its row is FAILED and its alert applied already."""

    def __init__(self, job_uid: str, finding: Finding) -> None:
        super().__init__(finding.summary)
        self.job_uid = job_uid
        self.finding = finding


def submit_if_due(
    ctx: JobContext,
    model: ModelSettings,
    now: datetime,
    *,
    manual: bool = False,
    executor: Executor | None = None,
) -> tuple[Decision, str | None]:
    """The policy's decision and, when it said yes, the submitted job's uid.

    Raises `SubmitError` when the executor refuses the job (its row is FAILED
    and its alert applied by then).
    """
    with executors_for(ctx.settings, executor) as executors:
        return submit_in(ctx, retrain_plan(model), now, manual, executors)


def submit_in(
    ctx: JobContext,
    plan: RetrainPlan,
    now: datetime,
    manual: bool,
    executors: Executors,
) -> tuple[Decision, str | None]:
    """`submit_if_due` with the executors of the calling stage run."""
    started = time.monotonic()
    model = plan.model
    with transaction(ctx.sessions) as session:
        row = model_row(session, plan.name, now)
        lock_decisions(session, row.id)
        decision = decide(
            facts(session, plan, row, now, manual, ctx.settings.executor.max_concurrent)
        )
        if not decision.submit or decision.trigger is None:
            log.debug("retrain policy for %s: no (%s)", plan.name, decision.reason)
            return decision, None
        reference = read_reference(row) if plan.include_reference else None
        recent = load_labelled(session.connection(), row.id, model, now - plan.recent_labelled, now)
        job_uid = uuid.uuid4().hex
        snapshot, holdout = build_snapshots(
            reference, recent, plan, ctx.state_dir / "snapshots" / plan.name
        )
        spec = build_spec(
            ctx.settings,
            model,
            job_uid,
            decision.trigger.value,
            snapshot,
            holdout,
            allow_promotion=active_pin(row, now) is None,
        )
        chosen = executors.get()
        add_queued_job(
            session,
            row,
            spec,
            executor=chosen.name,
            now=now,
            deadline=job_deadline(ctx.settings, now),
        )
    try:
        external_id = chosen.submit(spec)
    except Exception as exc:
        log.exception("retrain job %s for %s: submit failed", job_uid, plan.name)
        with transaction(ctx.sessions) as session:
            job = session.scalars(select(RetrainJob).where(RetrainJob.job_uid == job_uid)).one()
            status = JobStatus(
                state=JobState.FAILED, error=f"submit failed: {type(exc).__name__}: {exc}"
            )
            finding = finish(session, ctx.settings, job, plan.name, status, now)
        assert finding is not None  # a FAILED status always makes one
        raise SubmitError(job_uid, finding) from exc
    with transaction(ctx.sessions) as session:
        set_external_id(session, job_uid, external_id)
    # The reason names what started the job already ("drift: 3 failing drift ...").
    log.info(
        "retrain policy for %s: submitted job %s (%s; %d training rows, %s holdout) in %.1fs",
        plan.name,
        job_uid,
        decision.reason,
        snapshot.rows,
        holdout.rows if holdout else "no",
        time.monotonic() - started,
    )
    return decision, job_uid
