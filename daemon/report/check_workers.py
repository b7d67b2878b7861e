"""The report's "Check workers" in the daemon health: the week's runs on the
`checks` queue, each worker's throughput, the queue's lag and the overran cycles."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from daemon.report.model import CheckWorkersHealth
from daemon.report.weeks import Week
from daemon.store.tables import CheckTask, CheckTaskState


def check_workers_health(session: Session, week: Week) -> CheckWorkersHealth | None:
    rows = session.execute(
        select(
            CheckTask.state,
            CheckTask.worker,
            CheckTask.queued_at,
            CheckTask.started_at,
            CheckTask.duration_s,
            CheckTask.overran,
            CheckTask.attempts,
        ).where(CheckTask.window_end >= week.start, CheckTask.window_end < week.end)
    ).all()
    if not rows:
        return None
    per: dict[str, list[float]] = defaultdict(list)
    lags: list[float] = []
    for state, worker, queued, started, duration, _overran, _attempts in rows:
        if state == CheckTaskState.DONE.value:
            per[worker or "unknown"].append(duration or 0.0)
        if started is not None:
            lags.append(max(0.0, (started - queued).total_seconds()))
    by_worker = tuple(
        sorted(
            ((w, len(d), sum(d) / len(d)) for w, d in per.items()),
            key=lambda x: (-x[1], x[0]),
        )
    )
    return CheckWorkersHealth(
        runs=sum(n for _, n, _ in by_worker),
        by_worker=by_worker,
        mean_lag_s=sum(lags) / len(lags) if lags else 0.0,
        max_lag_s=max(lags, default=0.0),
        overran=sum(1 for r in rows if r.overran),
        resent=sum(1 for r in rows if r.attempts > 1),
        failed=sum(1 for r in rows if r.state == CheckTaskState.FAILED.value),
    )
