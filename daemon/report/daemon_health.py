"""The report's "Daemon health": its jobs, rejected rows and notifications of a week."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from daemon.report.model import DaemonHealth, JobHealth, RejectedExample
from daemon.report.queries import num
from daemon.report.weeks import Week
from daemon.store.tables import (
    IngestCount,
    JobRun,
    Notification,
    NotificationState,
    RejectedRow,
    Report,
)

REJECTED_EXAMPLES = 3
# The newest undeliverable notifications the report lists.
FAILED_NOTIFICATIONS = 10


# The report built within this long after its week's end holds the week-end counters
# (the scheduled build is Monday 08:00); its predecessor's, built within this long
# after the week's start, the start ones.
BOUNDARY = timedelta(days=1)


def _counters_at(summary: object) -> tuple[Mapping[str, object], datetime | None]:
    if not isinstance(summary, dict):
        return {}, None
    counters = summary.get("job_counters")
    at = summary.get("job_counters_at")
    try:
        moment = datetime.fromisoformat(at) if isinstance(at, str) else None
    except ValueError:
        moment = None
    return (counters if isinstance(counters, dict) else {}), moment


def _start_counters(session: Session, week: Week, now: datetime) -> Mapping[str, object] | None:
    """The job counters at the week's start, or None when they are not known.

    `job_runs` keeps totals, not a history: a week's runs are the difference of the
    totals at its end (now, for a report built at its end) and at its start (the
    previous week's report, built at its own end). A report built later (a past
    week rebuilt, a week in progress) cannot split the totals by week.
    """
    if not week.end <= now < week.end + BOUNDARY:
        return None
    summary = session.execute(
        select(Report.summary).where(Report.week == week.previous().label)
    ).scalar_one_or_none()
    counters, at = _counters_at(summary)
    if at is None or not week.start <= at < week.start + BOUNDARY:
        return None
    return counters


def daemon_health(
    session: Session, week: Week, names: Mapping[int, str], now: datetime
) -> DaemonHealth:
    """The daemon over the week: its jobs' runs (where the counters allow), rejected
    rows and notifications whose time falls in the week."""
    start = _start_counters(session, week, now)
    previous = start or {}
    jobs = []
    for job in session.execute(select(JobRun).order_by(JobRun.job_id)).scalars():
        # A job with no counters at the week's start first ran during it (its row is
        # written at its first run).
        before = previous.get(job.job_id, [0, 0] if start is not None else None)
        runs_before = num(before[0]) if isinstance(before, list) and len(before) == 2 else None
        fails_before = num(before[1]) if isinstance(before, list) and len(before) == 2 else None
        jobs.append(
            JobHealth(
                job_id=job.job_id,
                runs=job.runs,
                failures=job.failures,
                runs_this_week=None if runs_before is None else job.runs - int(runs_before),
                failures_this_week=None
                if fails_before is None
                else job.failures - int(fails_before),
                last_status=job.last_status,
                last_success_at=job.last_success_at,
                last_error=job.last_error,
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
        jobs=tuple(jobs),
        jobs_in_week=start is not None,
        sampled=sampled,
        rejected=sum(rejected.values()),
        rejected_by_reason=dict(sorted(rejected.items())),
        rejected_examples=examples,
        notifications=states,
        failed_notifications=failed,
    )
