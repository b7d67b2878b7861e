"""The facts the retrain policy decides on, read from the store at `now`.

The decision and the job's row are one transaction holding the decision lock
(one for all models): a manual `mlmaint retrain` and the scheduled policy
cannot both submit, and two models cannot both take the last place under
`executor.max_concurrent`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update

from checks.interface import CheckKind, Status
from daemon.retraining.pins import active_pin
from daemon.retraining.records import ACTIVE, model_row
from daemon.retraining.specs import RetrainPlan, plan_of
from daemon.store.engine import transaction
from daemon.store.tables import CheckRun, Model, RetrainJob
from retrain.policy import Decision, PolicyInput, decide

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from daemon.jobs import JobContext

# How many recent check runs per kind the failing streak looks at.
STREAK_LOOKBACK = 100
# Retrain decisions of every model, one at a time: `max_concurrent` counts all jobs.
DECISION_LOCK = "mlmaint-retrain-decisions"


def _streaks(
    session: Session,
    model_id: int,
    since: datetime | None,
    now: datetime,
    kinds: Sequence[str] = ("drift", "performance", "estimated_performance"),
) -> dict[CheckKind, list[bool]]:
    """Per check kind, its failing passes, newest first.

    Each check kind (drift, performance, ...) runs on its own cadence, so streaks
    are counted per kind, and the policy names the kinds whose streak called for a
    retrain. Insufficient data and errors neither count nor break a streak: they
    say nothing about the model. Live runs only: a backfill replays the past, and a
    replay must not start a retrain (the windows it fills were never news).
    """
    query = (
        select(CheckRun.kind, CheckRun.status)
        .where(
            CheckRun.model_id == model_id,
            CheckRun.ran_at <= now,
            CheckRun.kind.in_(list(kinds)),
            CheckRun.backfill.is_(False),
            # The model's whole windows: a segment's decay alerts, it does not retrain.
            CheckRun.segment.is_(None),
        )
        .order_by(CheckRun.ran_at.desc(), CheckRun.id.desc())
        .limit(STREAK_LOOKBACK * 8)
    )
    if since is not None:
        query = query.where(CheckRun.ran_at > since)
    by_kind: dict[CheckKind, list[bool]] = {}
    for kind, status in session.execute(query):
        if status in (Status.OK, Status.ALERT):
            by_kind.setdefault(CheckKind(kind), []).append(status == Status.ALERT)
    return by_kind


def facts(
    session: Session,
    plan: RetrainPlan,
    row: Model,
    now: datetime,
    manual: bool,
    max_concurrent: int,
) -> PolicyInput:
    last_job_at = session.scalar(
        select(func.max(RetrainJob.created_at)).where(RetrainJob.model_id == row.id)
    )
    active_model = session.scalar(
        select(func.count())
        .select_from(RetrainJob)
        .where(RetrainJob.model_id == row.id, RetrainJob.state.in_(ACTIVE))
    )
    active_all = session.scalar(
        select(func.count()).select_from(RetrainJob).where(RetrainJob.state.in_(ACTIVE))
    )
    return PolicyInput(
        now=now,
        manual=manual,
        passes_failed=_streaks(session, row.id, last_job_at, now, plan.on_failing),
        failing_runs=plan.failing_runs,
        every=plan.every,
        min_interval=plan.min_interval,
        last_job_at=last_job_at,
        serving_since=row.created_at,
        model_has_active_job=bool(active_model),
        active_jobs=int(active_all or 0),
        max_concurrent=max_concurrent,
        pinned=pin.reason if (pin := active_pin(row, now)) is not None else None,
    )


def policy_decision(
    ctx: JobContext, model: str, now: datetime, *, manual: bool = False
) -> Decision:
    """What the retrain policy would decide for `model` at `now`, submitting nothing."""
    plan = plan_of(ctx.settings, model)
    with transaction(ctx.sessions) as session:
        row = model_row(session, model, now)
        return decide(facts(session, plan, row, now, manual, ctx.settings.executor.max_concurrent))


def lock_decisions(session: Session, model_id: int) -> None:
    """Hold the decision lock until commit: one retrain decision at a time, any model.

    A decision counts the active jobs of its model and of all models, then records its
    job: two decisions interleaving could both see room under `max_concurrent`.
    """
    if session.get_bind().dialect.name == "postgresql":
        from daemon.leader import lock_key

        session.execute(select(func.pg_advisory_xact_lock(lock_key(DECISION_LOCK))))
        return
    # SQLite has no row locks and pysqlite starts a transaction at the first write
    # only: a write now takes the database's write lock, so a concurrent decision
    # waits here, then reads the job this one recorded.
    session.execute(update(Model).where(Model.id == model_id).values(name=Model.name))
