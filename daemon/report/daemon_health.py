"""The report's "Daemon health": its jobs, rejected rows and notifications of a week.

A week's job runs come from `job_history` (one row per run, kept for `[service]
job_history`), so a past week shows its own runs, not the totals of `job_runs`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from daemon.report.check_workers import check_workers_health
from daemon.report.model import DaemonHealth, JobHealth, RejectedExample
from daemon.report.weeks import Week
from daemon.runs import RunOutcome
from daemon.store.tables import (
    IngestCount,
    JobHistory,
    JobRun,
    Notification,
    NotificationState,
    RejectedRow,
)

REJECTED_EXAMPLES = 3
# The newest undeliverable notifications the report lists.
FAILED_NOTIFICATIONS = 10


def _week_jobs(session: Session, week: Week) -> tuple[JobHealth, ...]:
    """Per job that ran in the week: its runs and failures, and its last run there."""
    in_week = (JobHistory.started_at >= week.start, JobHistory.started_at < week.end)
    failed = case((JobHistory.outcome == RunOutcome.FAILED.value, 1), else_=0)
    counts = {
        job_id: (int(runs), int(failures or 0))
        for job_id, runs, failures in session.execute(
            select(JobHistory.job_id, func.count(), func.sum(failed))
            .where(*in_week)
            .group_by(JobHistory.job_id)
        )
    }
    success = dict(
        session.execute(
            select(JobHistory.job_id, func.max(JobHistory.finished_at))
            .where(*in_week, JobHistory.outcome == RunOutcome.OK.value)
            .group_by(JobHistory.job_id)
        )
        .tuples()
        .all()
    )
    ranked = (
        select(
            JobHistory.job_id,
            JobHistory.outcome,
            JobHistory.error,
            func.row_number()
            .over(
                partition_by=JobHistory.job_id,
                order_by=(JobHistory.started_at.desc(), JobHistory.id.desc()),
            )
            .label("rank"),
        )
        .where(*in_week)
        .subquery()
    )
    last = {
        job_id: (str(outcome), error)
        for job_id, outcome, error in session.execute(
            select(ranked.c.job_id, ranked.c.outcome, ranked.c.error).where(ranked.c.rank == 1)
        )
    }
    return tuple(
        JobHealth(
            job_id=job_id,
            runs=runs,
            failures=failures,
            last_status=last[job_id][0],
            last_success_at=success.get(job_id),
            last_error=last[job_id][1],
        )
        for job_id, (runs, failures) in sorted(counts.items())
    )


def daemon_health(
    session: Session, week: Week, names: Mapping[int, str], now: datetime
) -> DaemonHealth:
    """The daemon over the week: its jobs' runs (from the job history), rejected rows
    and notifications whose time falls in the week; and the jobs failing as of `now`."""
    jobs = _week_jobs(session, week)
    history_since = session.execute(select(func.min(JobHistory.started_at))).scalar_one()
    # What to fix is the present: a job whose latest run failed, whenever that was
    # (a failure in the week that a later run mended needs nothing).
    failing = tuple(
        (job_id, error)
        for job_id, error in session.execute(
            select(JobRun.job_id, JobRun.last_error)
            .where(JobRun.last_status == RunOutcome.FAILED.value)
            .order_by(JobRun.job_id)
        )
    )
    days = [d.isoformat() for d in week.days]
    sampled = 0
    rejected: dict[str, int] = defaultdict(int)
    for outcome, total in session.execute(
        select(IngestCount.outcome, func.sum(IngestCount.count))
        .where(IngestCount.day.in_(days))
        .group_by(IngestCount.outcome)
    ):
        if outcome == "sampled":
            sampled += int(total or 0)
        elif outcome.startswith("rejected"):
            rejected[outcome.partition(":")[2] or "unknown"] += int(total or 0)
    examples = tuple(
        RejectedExample(model=names.get(model_id, str(model_id)), reason=reason, detail=detail)
        for model_id, reason, detail in session.execute(
            select(RejectedRow.model_id, RejectedRow.reason, RejectedRow.detail)
            .where(RejectedRow.received_at >= week.start, RejectedRow.received_at < week.end)
            .order_by(RejectedRow.received_at.desc())
            .limit(REJECTED_EXAMPLES)
        )
    )
    in_week = (Notification.created_at >= week.start, Notification.created_at < week.end)
    states = {
        str(state): int(n)
        for state, n in session.execute(
            select(Notification.state, func.count()).where(*in_week).group_by(Notification.state)
        )
    }
    retried = session.execute(
        select(func.count()).where(*in_week, Notification.attempts > 1)
    ).scalar_one()
    states["retried"] = int(retried)
    failed = tuple(
        (channel, kind, error or "")
        for channel, kind, error in session.execute(
            select(Notification.channel, Notification.kind, Notification.last_error)
            .where(*in_week, Notification.state == NotificationState.DEAD)
            .order_by(Notification.created_at.desc())
            .limit(FAILED_NOTIFICATIONS)
        )
    )
    return DaemonHealth(
        jobs=jobs,
        history_since=history_since,
        failing=failing,
        sampled=sampled,
        rejected=sum(rejected.values()),
        rejected_by_reason=dict(sorted(rejected.items())),
        rejected_examples=examples,
        notifications=states,
        failed_notifications=failed,
        check_workers=check_workers_health(session, week),
    )
