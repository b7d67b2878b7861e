"""The `checks` queue in `mlmaint status`: read from `check_tasks`, like /metrics.

Shown when the store holds check runs sent to workers (`[checks] run_on =
"celery"`; `status` reads only `[store]`): the runs queued, running and given up,
how long the oldest unfinished run has waited, and the workers seen in the last
hour. There a `checks:*` job that is "ok" only sent its run; the queue says
whether a worker ran it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from daemon.store.tables import CheckTask, CheckTaskState

# What status counts as given up, and the workers it lists: this recent.
RECENT = timedelta(days=1)
WORKERS_SEEN = timedelta(hours=1)
SENT_NOTE = "checks run on workers: a checks:* job that is ok has sent its run"


@dataclass(frozen=True, kw_only=True)
class QueueStatus:
    queued: int
    running: int
    # Given up by the leader or failed on a worker, in the last day.
    failed: int
    # How long the oldest unfinished run has waited (0: none waits).
    lag_s: float
    # (worker, runs finished in the last hour, last seen), most recent first.
    workers: tuple[tuple[str, int, datetime], ...]


def _naive(value: datetime) -> datetime:
    return value.replace(tzinfo=None) if value.tzinfo else value


def queue_status(session: Session, now: datetime) -> QueueStatus | None:
    """The queue's state, or None when no run was ever sent to workers (kept 35 days)."""
    if session.scalar(select(CheckTask.id).limit(1)) is None:
        return None
    pending = CheckTask.applied_at.is_(None)
    counts = dict(
        session.execute(
            select(CheckTask.state, func.count()).where(pending).group_by(CheckTask.state)
        )
        .tuples()
        .all()
    )
    failed = session.scalar(
        select(func.count()).where(
            CheckTask.state == CheckTaskState.FAILED.value, CheckTask.finished_at >= now - RECENT
        )
    )
    oldest = session.scalar(
        select(func.min(CheckTask.queued_at)).where(
            CheckTask.state.in_((CheckTaskState.QUEUED.value, CheckTaskState.RUNNING.value))
        )
    )
    seen = func.max(func.coalesce(CheckTask.finished_at, CheckTask.started_at))
    done = func.count().filter(
        CheckTask.state == CheckTaskState.DONE.value,
        CheckTask.finished_at >= now - WORKERS_SEEN,
    )
    workers = [
        (str(worker), int(n), last)
        for worker, n, last in session.execute(
            select(CheckTask.worker, done, seen)
            .where(
                CheckTask.worker.is_not(None),
                func.coalesce(CheckTask.finished_at, CheckTask.started_at) >= now - WORKERS_SEEN,
            )
            .group_by(CheckTask.worker)
        ).tuples()
        if last is not None
    ]
    workers.sort(key=lambda w: _naive(w[2]), reverse=True)
    return QueueStatus(
        queued=int(counts.get(CheckTaskState.QUEUED.value, 0)),
        running=int(counts.get(CheckTaskState.RUNNING.value, 0)),
        failed=int(failed or 0),
        lag_s=0.0 if oldest is None else max(0.0, (_naive(now) - _naive(oldest)).total_seconds()),
        workers=tuple(workers),
    )
