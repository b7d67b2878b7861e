"""Prometheus metrics read from the store at scrape time.

`StoreCollector` is registered on a `CollectorRegistry` the service owns (never the
global default) and reads the latest results when Prometheus scrapes: the store is
the single source of truth, so a standby or a restarted daemon exports the same
numbers as the leader. `read_state` (daemon/store_state.py) is shared with
`mlmaint status`, which prints the same picture for a person at a shell.

Which to alert on: `mlmaint_store_up` is 0 when the store cannot be read or when the
last ingest write of some model failed (a full disk answers `SELECT 1` but takes no
row); `mlmaint_store_reachable` is the read alone, and
`mlmaint_store_write_ok{model,stream}` names the model whose writes fail.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from daemon.checking.queue_metrics import CheckQueueCollector
from daemon.store.write_health import WriteState
from daemon.store_state import CheckLatest, JobLatest, StoreState, read_state

__all__ = [
    "CheckLatest",
    "JobLatest",
    "LiveState",
    "StoreState",
    "exposition",
    "make_registry",
    "read_state",
]

log = logging.getLogger(__name__)

PREFIX = "mlmaint"


@dataclass(frozen=True, kw_only=True)
class LiveState:
    """What only the running process knows, handed to the collector at scrape time."""

    leader: bool
    scheduler_alive: bool
    heartbeat_age_s: float | None
    runs: dict[str, int]
    failures: dict[str, int]
    missed: dict[str, int]
    overlapping: dict[str, int]
    duration_sum_s: dict[str, float]
    bookkeeping_errors: int
    writes: tuple[WriteState, ...] = ()


def _ts(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


class StoreCollector(Collector):
    """Reads the store (and the live process state) each time it is collected."""

    def __init__(self, engine: Engine, live: Callable[[], LiveState] | None = None) -> None:
        self.engine = engine
        self.live = live

    def describe(self) -> list[Metric]:
        # Describing would cost a store read at registration; names are all prefixed.
        return []

    def collect(self) -> Iterator[Metric]:
        state = read_state(self.engine)
        live = self.live() if self.live is not None else None
        writes_ok = live is None or all(w.ok for w in live.writes)
        yield from store_metrics(state, writes_ok=writes_ok)
        if live is not None:
            yield from live_metrics(live)


def _gauge(name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"{PREFIX}_{name}", doc, labels=labels)


def store_metrics(state: StoreState, *, writes_ok: bool = True) -> Iterator[Metric]:
    up = _gauge(
        "store_up",
        "1 when the store answered the last scrape and every model's last write committed",
        [],
    )
    up.add_metric([], 0.0 if state.error or not writes_ok else 1.0)
    reachable = _gauge("store_reachable", "1 when the store answered the last scrape", [])
    reachable.add_metric([], 0.0 if state.error else 1.0)
    yield from (up, reachable)
    if state.error:
        return

    status = _gauge(
        "check_status", "1 for the status of each check's latest run", ["model", "kind", "status"]
    )
    last = _gauge("check_last_run_timestamp_seconds", "When each check last ran", ["model", "kind"])
    rows = _gauge("check_rows", "Rows in each check's latest window", ["model", "kind"])
    value = _gauge(
        "check_metric",
        "Every metric of each check's latest run",
        ["model", "kind", "subject", "metric"],
    )
    drift = _gauge("drift_share", "Share of drifted columns in the latest drift run", ["model"])
    perf = _gauge("performance", "Latest performance metrics", ["model", "subject", "metric"])
    for check in state.checks:
        status.add_metric([check.model, check.kind, check.status], 1.0)
        last.add_metric([check.model, check.kind], check.ran_at.timestamp())
        rows.add_metric([check.model, check.kind], float(check.rows))
        for subject, name, number in check.metrics:
            value.add_metric([check.model, check.kind, subject, name], number)
            if check.kind.startswith("performance") or check.kind.startswith("estimated"):
                perf.add_metric([check.model, subject, name], number)
        share = check.drift_share if check.kind == "drift" else None
        if share is not None:
            drift.add_metric([check.model], share)
    yield from (status, last, rows, value, drift, perf)

    firing = _gauge("alerts_firing", "Firing alerts", ["scope", "kind", "severity"])
    for scope, kind, severity, n in state.alerts_firing:
        firing.add_metric([scope, kind, severity], float(n))
    yield firing

    ingested = CounterMetricFamily(
        f"{PREFIX}_ingested_rows",
        "Rows read from sources by outcome",
        labels=["model", "stream", "outcome"],
    )
    sampled = CounterMetricFamily(
        f"{PREFIX}_sampled_rows", "Rows sampled into the store", labels=["model", "stream"]
    )
    rejected = CounterMetricFamily(
        f"{PREFIX}_rejected_rows",
        "Rows rejected by validation",
        labels=["model", "stream", "reason"],
    )
    for model, stream, outcome, n in state.ingest:
        ingested.add_metric([model, stream, outcome], float(n))
        if outcome == "sampled":
            sampled.add_metric([model, stream], float(n))
        elif outcome.startswith("rejected"):
            reason = outcome.partition(":")[2] or "unknown"
            rejected.add_metric([model, stream, reason], float(n))
    yield from (ingested, sampled, rejected)

    runs = CounterMetricFamily(
        f"{PREFIX}_job_runs", "Runs of each job (all daemons)", labels=["job"]
    )
    fails = CounterMetricFamily(f"{PREFIX}_job_failures", "Failed runs of each job", labels=["job"])
    duration = _gauge("job_last_duration_seconds", "Duration of each job's last run", ["job"])
    success = _gauge("job_last_success_timestamp_seconds", "When each job last succeeded", ["job"])
    started = _gauge("job_last_run_timestamp_seconds", "When each job last started", ["job"])
    failing = _gauge("job_last_run_failed", "1 when the job's last run failed", ["job"])
    for job in state.jobs:
        runs.add_metric([job.job_id], float(job.runs))
        fails.add_metric([job.job_id], float(job.failures))
        failing.add_metric([job.job_id], 1.0 if job.status == "failed" else 0.0)
        if job.duration_s is not None:
            duration.add_metric([job.job_id], job.duration_s)
        if (ts := _ts(job.success_at)) is not None:
            success.add_metric([job.job_id], ts)
        if (ts := _ts(job.started_at)) is not None:
            started.add_metric([job.job_id], ts)
    yield from (runs, fails, duration, success, started, failing)

    outbox = _gauge(
        "outbox_notifications", "Undelivered notifications by state", ["channel", "state"]
    )
    for channel, state_name, n in state.outbox:
        outbox.add_metric([channel, state_name], float(n))
    yield outbox
    oldest = _gauge(
        "outbox_oldest_pending_age_seconds", "Age of the oldest pending notification", []
    )
    age = 0.0 if state.oldest_pending is None else (state.read_at - state.oldest_pending)
    oldest.add_metric([], age if isinstance(age, float) else max(0.0, age.total_seconds()))
    yield oldest

    retrain = _gauge("retrain_jobs", "Retraining jobs by state", ["model", "state"])
    for model, state_name, n in state.retrain:
        retrain.add_metric([model, state_name], float(n))
    yield retrain


def live_metrics(live: LiveState) -> Iterator[Metric]:
    leader = _gauge("leader", "1 when this daemon holds the leader lock and runs the jobs", [])
    leader.add_metric([], 1.0 if live.leader else 0.0)
    alive = _gauge("scheduler_running", "1 when this daemon's scheduler runs", [])
    alive.add_metric([], 1.0 if live.scheduler_alive else 0.0)
    yield from (leader, alive)
    if live.heartbeat_age_s is not None:
        beat = _gauge(
            "scheduler_heartbeat_age_seconds", "Seconds since the scheduler's heartbeat", []
        )
        beat.add_metric([], live.heartbeat_age_s)
        yield beat
    durations = SummaryMetricFamily(
        f"{PREFIX}_job_duration_seconds", "Job run durations in this process", labels=["job"]
    )
    for job, count in sorted(live.runs.items()):
        durations.add_metric([job], count_value=count, sum_value=live.duration_sum_s.get(job, 0.0))
    yield durations
    for name, doc, counts in (
        ("scheduler_job_failures", "Failed job runs in this process", live.failures),
        ("scheduler_job_missed", "Runs the scheduler missed (past the misfire grace)", live.missed),
        ("scheduler_job_overlapping", "Runs skipped because the last still ran", live.overlapping),
    ):
        family = CounterMetricFamily(f"{PREFIX}_{name}", doc, labels=["job"])
        for job, n in sorted(counts.items()):
            family.add_metric([job], float(n))
        yield family
    book = CounterMetricFamily(
        f"{PREFIX}_job_bookkeeping_errors",
        "Job runs that could not be recorded in the store",
        labels=[],
    )
    book.add_metric([], float(live.bookkeeping_errors))
    yield book
    yield from write_metrics(live.writes)


def write_metrics(writes: tuple[WriteState, ...]) -> Iterator[Metric]:
    """The last ingest write of each (model, stream) in this process."""
    labels = ["model", "stream"]
    ok = _gauge("store_write_ok", "1 when the last write of the model's rows committed", labels)
    last = _gauge("store_last_write_timestamp_seconds", "When the last write was tried", labels)
    last_ok = _gauge(
        "store_last_successful_write_timestamp_seconds", "When a write last committed", labels
    )
    failed = CounterMetricFamily(
        f"{PREFIX}_store_write_failures", "Writes the store refused in this process", labels=labels
    )
    for state in writes:
        key = [state.model, state.stream]
        ok.add_metric(key, 1.0 if state.ok else 0.0)
        last.add_metric(key, state.at.timestamp())
        if state.last_ok_at is not None:
            last_ok.add_metric(key, state.last_ok_at.timestamp())
        failed.add_metric(key, float(state.failures))
    yield from (ok, last, last_ok, failed)


class _WithoutCreated(CollectorRegistry):
    """A registry whose families carry no `_created` series, whatever is registered.

    Our counters come from the store, where a process's creation time means
    nothing: `_created` series would only add noise. The store collector's
    families never carry one (they are built without `created=`); an instrument
    (`prometheus_client.Counter`, `Summary`, `Histogram`) registered here would,
    unless prometheus_client's process-wide switch `disable_created_metrics()` were
    flipped. That switch would change every other registry in the process too,
    and depend on who called it first, so the series are dropped here instead,
    on this registry's way out, for every exposition format.
    """

    def collect(self) -> Iterator[Metric]:
        for family in super().collect():
            created = f"{family.name}_created"
            if any(sample.name == created for sample in family.samples):
                family = copy.copy(family)
                family.samples = [s for s in family.samples if s.name != created]
            yield family


def make_registry(engine: Engine, live: Callable[[], LiveState] | None = None) -> CollectorRegistry:
    """The service's own registry with the store collector on it; it exports no
    `_created` series and changes nothing outside itself."""
    registry = _WithoutCreated(auto_describe=False)
    registry.register(StoreCollector(engine, live))
    registry.register(CheckQueueCollector(engine))
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
