"""The `checks` queue on /metrics, read from `check_tasks` at scrape time.

`mlmaint_check_queue_lag_seconds` (the oldest unfinished run's wait) and
`mlmaint_check_queue_runs{state}` say whether the workers keep up;
`mlmaint_check_worker_runs{worker}` and `..._last_hour` are each worker's
throughput; `mlmaint_check_cycles_overran` counts cycles that started before the
model's previous run finished. `mlmaint_check_runs_resent` and
`mlmaint_check_runs_given_up` (and their `_last_day` gauges) count the sends again
and the runs given up or failed, from the rows kept (35 days). Empty (zeros) when
checks run in the daemon.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from daemon.store.tables import CheckTask, CheckTaskState

log = logging.getLogger(__name__)

PENDING = (CheckTaskState.QUEUED.value, CheckTaskState.RUNNING.value)


def queue_metrics(session: Session, now: datetime) -> Iterator[Metric]:
    runs = GaugeMetricFamily(
        "mlmaint_check_queue_runs",
        "Check runs sent and not yet applied, by state",
        labels=["state"],
    )
    counts = dict(
        session.execute(
            select(CheckTask.state, func.count())
            .where(CheckTask.applied_at.is_(None))
            .group_by(CheckTask.state)
        )
        .tuples()
        .all()
    )
    for state in CheckTaskState:
        runs.add_metric([state.value], float(counts.get(state.value, 0)))
    yield runs
    oldest = session.scalar(
        select(func.min(CheckTask.queued_at)).where(CheckTask.state.in_(PENDING))
    )
    lag = GaugeMetricFamily(
        "mlmaint_check_queue_lag_seconds", "How long the oldest unfinished check run has waited"
    )
    lag.add_metric([], 0.0 if oldest is None else max(0.0, (now - oldest).total_seconds()))
    yield lag
    total = CounterMetricFamily(
        "mlmaint_check_worker_runs",
        "Check runs each worker finished (kept 35 days)",
        labels=["worker"],
    )
    hour = GaugeMetricFamily(
        "mlmaint_check_worker_runs_last_hour",
        "Check runs each worker finished in the last hour",
        labels=["worker"],
    )
    done = CheckTask.state == CheckTaskState.DONE.value
    for worker, n in session.execute(
        select(CheckTask.worker, func.count()).where(done).group_by(CheckTask.worker)
    ).tuples():
        total.add_metric([worker or "unknown"], float(n))
    for worker, n in session.execute(
        select(CheckTask.worker, func.count())
        .where(done, CheckTask.finished_at >= now - timedelta(hours=1))
        .group_by(CheckTask.worker)
    ).tuples():
        hour.add_metric([worker or "unknown"], float(n))
    yield from (total, hour)
    overran = CounterMetricFamily(
        "mlmaint_check_cycles_overran",
        "Check cycles that started before the model's previous run finished",
    )
    overran.add_metric(
        [], float(session.scalar(select(func.count()).where(CheckTask.overran)) or 0)
    )
    yield overran
    day = now - timedelta(days=1)
    failed = CheckTask.state == CheckTaskState.FAILED.value
    again = func.coalesce(func.sum(CheckTask.attempts - 1), 0)
    for name, what, count, recent in (
        (
            "mlmaint_check_runs_resent",
            "Sends again of check runs (a lost or overdue run)",
            select(again),
            select(again).where(CheckTask.queued_at >= day),
        ),
        (
            "mlmaint_check_runs_given_up",
            "Check runs given up by the leader or failed on a worker",
            select(func.count()).where(failed),
            select(func.count()).where(failed, CheckTask.finished_at >= day),
        ),
    ):
        counter = CounterMetricFamily(name, f"{what} (kept 35 days)")
        counter.add_metric([], float(session.scalar(count) or 0))
        gauge = GaugeMetricFamily(f"{name}_last_day", f"{what} in the last day")
        gauge.add_metric([], float(session.scalar(recent) or 0))
        yield from (counter, gauge)


class CheckQueueCollector(Collector):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        try:
            with Session(self.engine) as session:
                metrics = list(queue_metrics(session, datetime.now(UTC)))
        except SQLAlchemyError as exc:
            # mlmaint_store_up says the store is down; this adds nothing to it.
            log.warning("check queue metrics: the store did not answer: %s", exc)
            return
        yield from metrics
