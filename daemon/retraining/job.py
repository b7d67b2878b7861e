"""The scheduled entry points of retraining: `(ctx, model, now) -> findings`.

`retrain_policy` decides for one model (or each with retraining enabled) and
submits where due; `poll_jobs` asks the executors about queued and running
jobs and records what changed, a promotion included. Both return the findings
they applied already (see the package doc). `wait_for_jobs` polls until no job
is active, for the demo and `mlmaint retrain --wait`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select

from daemon.alerts.finding import Finding
from daemon.retraining.executors import executors_for
from daemon.retraining.findings import not_started
from daemon.retraining.poll import poll_one
from daemon.retraining.promote import finish
from daemon.retraining.records import ACTIVE
from daemon.retraining.specs import plan_of
from daemon.retraining.submit import SubmitError, submit_in
from daemon.store.engine import transaction
from daemon.store.tables import Model, RetrainJob
from retrain.interface import Executor

if TYPE_CHECKING:
    from daemon.jobs import JobContext


def retrain_policy(
    ctx: JobContext,
    model: str | None,
    now: datetime,
    *,
    manual: bool = False,
    executor: Executor | None = None,
) -> list[Finding]:
    """Decide for one model (or each with retraining enabled) and submit where due.

    Returns the alerts of failed submits (applied already) and, when `manual`,
    a not-started notice for a model the policy said no to (a reply to whoever
    asked, not an alert).
    """
    names = [model] if model is not None else [m.name for m in ctx.settings.models]
    findings: list[Finding] = []
    with executors_for(ctx.settings, executor) as executors:
        for name in names:
            plan = plan_of(ctx.settings, name)
            if not plan.enabled and not manual:
                continue
            try:
                decision, job_uid = submit_in(ctx, plan, now, manual, executors)
            except SubmitError as exc:
                # On record and alerted already; the other models still get their turn.
                findings.append(exc.finding)
                continue
            if job_uid is None and manual:
                findings.append(not_started(name, decision.reason))
    return findings


def poll_jobs(
    ctx: JobContext,
    model: str | None,
    now: datetime,
    *,
    executor: Executor | None = None,
) -> list[Finding]:
    """Ask the executors about queued and running jobs; record what changed at `now`.

    Each job's change and its alert commit together. A job that cannot be
    polled (a lost job directory, an executor that is gone) is retried until
    its deadline, then recorded FAILED: it must not hold a slot forever.
    """
    with transaction(ctx.sessions) as session:
        query = (
            select(RetrainJob.id, Model.name)
            .join(Model, Model.id == RetrainJob.model_id)
            .where(RetrainJob.state.in_(ACTIVE))
            .order_by(RetrainJob.id)
        )
        if model is not None:
            query = query.where(Model.name == model)
        active = session.execute(query).all()
    findings: list[Finding] = []
    with executors_for(ctx.settings, executor) as executors:
        for job_id, name in active:
            with transaction(ctx.sessions) as session:
                job = session.get_one(
                    RetrainJob, job_id, with_for_update=True, populate_existing=True
                )
                if job.state not in ACTIVE:
                    continue  # another poller recorded its end meanwhile
                status = poll_one(executors, job, now)
                finding = (
                    None
                    if status is None
                    else finish(session, ctx.settings, job, name, status, now)
                )
            if finding is not None:
                findings.append(finding)
    return findings


def wait_for_jobs(
    ctx: JobContext,
    now: datetime,
    *,
    timeout_s: float = 600,
    poll_s: float = 0.5,
    model: str | None = None,
    executor: Executor | None = None,
    clock: Callable[[], datetime] | None = None,
) -> list[Finding]:
    """Poll at `now` until no job is queued or running (the demo and `mlmaint retrain`).

    `timeout_s` bounds the caller's wait in real seconds (the jobs run for real),
    not the jobs. With a `clock` (`mlmaint retrain --wait`), each poll is at its
    time instead, so a job's end is recorded when it was seen. The findings are
    applied already (see `poll_jobs`): they are returned to be shown.
    """
    findings: list[Finding] = []
    limit = time.monotonic() + timeout_s
    while True:
        findings.extend(poll_jobs(ctx, model, clock() if clock else now, executor=executor))
        if not active_jobs(ctx, model):
            return findings
        if time.monotonic() > limit:
            raise TimeoutError(f"retrain jobs still active after {timeout_s:.0f}s")
        time.sleep(poll_s)


def active_jobs(ctx: JobContext, model: str | None = None) -> Sequence[str]:
    with transaction(ctx.sessions) as session:
        query = (
            select(RetrainJob.job_uid)
            .join(Model, Model.id == RetrainJob.model_id)
            .where(RetrainJob.state.in_(ACTIVE))
        )
        if model is not None:
            query = query.where(Model.name == model)
        return list(session.scalars(query))
