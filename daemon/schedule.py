"""The scheduler: one APScheduler 3.11 job per (model, stage), built from the config.

Schedules live in APScheduler's memory job store and are rebuilt from config.toml at
every start and reload (PITFALLS: a pickled job that fails to unpickle vanishes
without a trace). What must survive a restart lives in our own tables: `job_runs`
holds the last run of every job, which is how a restarted daemon, or a standby that
takes over, runs a missed cycle once (not a backlog) and never runs a cycle twice.

Interval schedules are laid on a fixed grid (multiples of the interval since a fixed
epoch), not on the process start, so every daemon sharing a store agrees on what a
"cycle" is. Cron schedules carry their own time zone (PITFALLS: `from_crontab`
ignores the scheduler's), and crontab weekday numbers are translated to names
(APScheduler 3 counts Monday as 0, crontab counts Sunday as 0).

`replay` walks the same jobs through simulated time, which is what the demo and the
soak benchmark use: the live daemon and the replay call the same functions.
"""

from __future__ import annotations

import contextlib
import enum
import heapq
import logging
import re
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, assert_never
from zoneinfo import ZoneInfo

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobEvent,
    JobExecutionEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.exc import SQLAlchemyError

from daemon.config import ModelSettings, Schedule, Settings
from daemon.store.engine import transaction
from daemon.store.tables import JobRun

if TYPE_CHECKING:
    from daemon.jobs import JobContext

log = logging.getLogger(__name__)

# A Monday at midnight UTC: interval grids start here, so weekly intervals fall on Mondays.
GRID_EPOCH = datetime(2000, 1, 3, tzinfo=UTC)

JobFn = Callable[["JobContext", str | None, datetime], object]
GlobalJobFn = Callable[["JobContext", datetime], object]
ModelJobFn = Callable[["JobContext", str, datetime], object]


def _per_model(fn: ModelJobFn) -> JobFn:
    """Per-model jobs take the model's name."""

    def run(ctx: JobContext, model: str | None, now: datetime) -> object:
        if model is None:
            raise ValueError(f"{getattr(fn, '__name__', 'job')} runs for a model, none given")
        return fn(ctx, model, now)

    run.__qualname__ = run.__name__ = getattr(fn, "__name__", "job")
    return run


def _global(fn: GlobalJobFn) -> JobFn:
    """Jobs without a model take (ctx, now); the scheduler calls every job the same way."""

    def run(ctx: JobContext, _model: str | None, now: datetime) -> object:
        return fn(ctx, now)

    run.__qualname__ = run.__name__ = getattr(fn, "__name__", "job")
    return run


class Stage(enum.StrEnum):
    """What a job does. Per-model stages run once per configured model."""

    SAMPLE = "sample"
    LABELS = "labels"
    RETENTION = "retention"
    DRIFT = "drift"
    QUALITY = "quality"
    PERFORMANCE = "performance"
    OPERATIONS = "operations"
    RETRAIN_POLICY = "retrain_policy"
    RETRAIN_POLL = "retrain_poll"
    DELIVER = "deliver"
    FRAMEWORKS = "frameworks"
    REPORT = "report"

    @property
    def per_model(self) -> bool:
        return self not in (Stage.DELIVER, Stage.FRAMEWORKS, Stage.REPORT, Stage.RETRAIN_POLL)


def job_function(stage: Stage) -> JobFn:
    """The function that runs `stage`; imported here so start-up stays light."""
    match stage:
        case Stage.SAMPLE:
            from daemon.sampling import sample_predictions

            return _per_model(sample_predictions)
        case Stage.LABELS:
            from daemon.sampling import ingest_labels

            return _per_model(ingest_labels)
        case Stage.RETENTION:
            from daemon.sampling import purge_expired

            return _per_model(purge_expired)
        case Stage.DRIFT:
            from daemon.checking import run_drift

            return run_drift
        case Stage.QUALITY:
            from daemon.checking import run_quality

            return run_quality
        case Stage.PERFORMANCE:
            from daemon.checking import run_performance

            return run_performance
        case Stage.OPERATIONS:
            from daemon.checking import run_operations

            return run_operations
        case Stage.RETRAIN_POLICY:
            from daemon.retraining import retrain_policy

            # Retrain findings are applied with the job state they come from.
            return retrain_policy
        case Stage.RETRAIN_POLL:
            from daemon.retraining import poll_jobs

            return poll_jobs
        case Stage.DELIVER:
            # Not only delivery: repeats and resolutions that fell due are queued first.
            from daemon.alerts.jobs import alert_cycle

            return _global(alert_cycle)
        case Stage.FRAMEWORKS:
            from daemon.frameworks.job import scan_frameworks

            # Its alerts are applied in the transaction that stores the findings.
            return _global(scan_frameworks)
        case Stage.REPORT:
            from daemon.report.deliver import weekly_report

            return _global(weekly_report)
        case _:
            assert_never(stage)


@dataclass(frozen=True, kw_only=True)
class JobSpec:
    """One scheduled job: a stage, its subject (a model or none) and its cadence."""

    stage: Stage
    model: str | None
    schedule: Schedule

    @property
    def id(self) -> str:
        return f"{self.stage.value}:{self.model}" if self.model else self.stage.value


def _model_jobs(model: ModelSettings, settings: Settings) -> Iterator[JobSpec]:
    name = model.name
    yield JobSpec(stage=Stage.SAMPLE, model=name, schedule=model.sampling.schedule)
    if model.labels is not None:
        yield JobSpec(stage=Stage.LABELS, model=name, schedule=model.sampling.schedule)
    yield JobSpec(stage=Stage.RETENTION, model=name, schedule=settings.service.retention_schedule)
    checks = model.checks
    for stage, enabled in (
        (Stage.DRIFT, checks.drift.enabled),
        (Stage.QUALITY, checks.quality.enabled),
        (Stage.PERFORMANCE, checks.performance.enabled),
        (Stage.OPERATIONS, checks.operations.enabled),
    ):
        if enabled:
            yield JobSpec(stage=stage, model=name, schedule=checks.schedule)
    if model.retrain.enabled:
        yield JobSpec(stage=Stage.RETRAIN_POLICY, model=name, schedule=model.retrain.schedule)


def build_jobs(settings: Settings) -> tuple[JobSpec, ...]:
    """Every job the config asks for, in a stable order."""
    jobs: list[JobSpec] = []
    for model in settings.models:
        jobs.extend(_model_jobs(model, settings))
    if any(m.retrain.enabled for m in settings.models):
        jobs.append(
            JobSpec(
                stage=Stage.RETRAIN_POLL,
                model=None,
                schedule=settings.service.retrain_poll_schedule,
            )
        )
    jobs.append(
        JobSpec(
            stage=Stage.DELIVER, model=None, schedule=Schedule(every=settings.alerts.delivery_every)
        )
    )
    if settings.frameworks.enabled:
        jobs.append(
            JobSpec(stage=Stage.FRAMEWORKS, model=None, schedule=settings.frameworks.schedule)
        )
    if settings.report.enabled:
        jobs.append(JobSpec(stage=Stage.REPORT, model=None, schedule=settings.report.schedule))
    return tuple(jobs)


# --------------------------------------------------------------------------- triggers

_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_NUMERIC_PART = re.compile(r"^(\*|\d+)(?:-(\d+))?(?:/(\d+))?$")


def crontab_weekdays(field: str) -> str:
    """A crontab day-of-week field in APScheduler 3's terms (names, Sunday = 0 or 7)."""
    if field == "*" or not any(ch.isdigit() for ch in field.replace("*/", "")):
        return field
    days: list[str] = []
    for part in field.split(","):
        match = _NUMERIC_PART.match(part)
        if match is None:
            if part.isalpha() or re.fullmatch(r"[a-z]{3}-[a-z]{3}", part):
                days.append(part)
                continue
            raise ValueError(f"cannot read day-of-week {part!r} in {field!r}")
        start, end, step = match.groups()
        first = 0 if start == "*" else int(start)
        last = 6 if start == "*" else int(end) if end is not None else first
        if first > 7 or last > 7:
            raise ValueError(f"day-of-week {part!r} out of range 0-7")
        days.extend(_WEEKDAYS[n % 7] for n in range(first, last + 1, int(step or 1)))
    return ",".join(dict.fromkeys(days))


def trigger_for(schedule: Schedule) -> BaseTrigger:
    """The APScheduler trigger of a config Schedule, always with an explicit time zone."""
    if schedule.every is not None:
        return IntervalTrigger(
            seconds=schedule.every.total_seconds(), start_date=GRID_EPOCH, timezone=UTC
        )
    assert schedule.cron is not None  # a Schedule holds exactly one of the two
    minute, hour, day, month, dow = schedule.cron.split()
    return CronTrigger(
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=crontab_weekdays(dow),
        timezone=ZoneInfo(schedule.timezone),
    )


def next_fire_time(trigger: BaseTrigger, after: datetime) -> datetime | None:
    """The first fire time at or after `after`."""
    fire: datetime | None = trigger.get_next_fire_time(None, after)
    return None if fire is None else fire.astimezone(UTC)


def cycle_start(trigger: BaseTrigger, now: datetime) -> datetime | None:
    """The latest fire time at or before `now`: the start of the current cycle."""
    # Widening look-back keeps this cheap for minutely crons and correct for yearly ones.
    for back in (
        timedelta(minutes=2),
        timedelta(hours=2),
        timedelta(days=2),
        timedelta(days=35),
        timedelta(days=400),
    ):
        fire = next_fire_time(trigger, now - back)
        if fire is None or fire > now:
            continue
        while True:
            following = next_fire_time(trigger, fire + timedelta(microseconds=1))
            if following is None or following > now:
                return fire
            fire = following
    return None


def period(trigger: BaseTrigger, now: datetime) -> timedelta:
    """The gap between two consecutive fire times around `now`."""
    first = next_fire_time(trigger, now)
    second = None if first is None else next_fire_time(trigger, first + timedelta(microseconds=1))
    if first is None or second is None:
        return timedelta(days=1)
    return second - first


def misfire_grace(trigger: BaseTrigger, now: datetime) -> int:
    """Half a period, at least 30 s and at most an hour.

    A run that the scheduler could not start on time (the box was suspended, the pool
    was busy) still runs while it is useful; a later one is coalesced into the next.
    """
    half = period(trigger, now).total_seconds() / 2
    return int(max(30, min(half, 3600)))


# --------------------------------------------------------------------------- running


# `job_runs.last_status` between a run's start and its end.
RUNNING = "running"


class RunOutcome(enum.StrEnum):
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass
class SchedulerStats:
    """In-memory counters since start, exported as metrics."""

    runs: Counter[str]
    failures: Counter[str]
    missed: Counter[str]
    overlapping: Counter[str]
    duration_sum_s: dict[str, float]
    bookkeeping_errors: int = 0

    @classmethod
    def empty(cls) -> SchedulerStats:
        return cls(
            runs=Counter(),
            failures=Counter(),
            missed=Counter(),
            overlapping=Counter(),
            duration_sum_s={},
        )


class JobRunner:
    """Runs one job: the cycle guard, the job_runs bookkeeping, one log line per run."""

    def __init__(
        self,
        ctx: JobContext,
        clock: Callable[[], datetime] | None = None,
        resolve: Callable[[Stage], JobFn] = job_function,
    ) -> None:
        self.ctx = ctx
        self.resolve = resolve
        self.clock = clock or (lambda: datetime.now(UTC))
        self.stats = SchedulerStats.empty()
        self._triggers: dict[str, BaseTrigger] = {}
        self._running: set[str] = set()
        self._model_locks: dict[str, threading.Lock] = {}
        self._cond = threading.Condition()
        # Jobs begun here and not yet finished: a "running" row not among them is an
        # orphan of a leader that died mid-run.
        self._owned: set[str] = set()

    def trigger(self, spec: JobSpec) -> BaseTrigger:
        key = spec.schedule.model_dump_json()
        trigger = self._triggers.get(key)
        if trigger is None:
            trigger = self._triggers[key] = trigger_for(spec.schedule)
        return trigger

    def _model_lock(self, model: str | None) -> contextlib.AbstractContextManager[object]:
        """One job at a time per model: its checks share a window and its rows.

        Checks of one model all fire at the same cadence; run side by side they would
        load the same window four times and race to create the model's row.
        """
        if model is None:
            return contextlib.nullcontext()
        with self._cond:
            return self._model_locks.setdefault(model, threading.Lock())

    @property
    def running(self) -> tuple[str, ...]:
        with self._cond:
            return tuple(sorted(self._running))

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no job runs; False when some still run after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._running:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def __call__(
        self, spec: JobSpec, now: datetime | None = None, *, force: bool = False
    ) -> RunOutcome:
        now = now or self.clock()
        ctx = self.ctx
        cycle = cycle_start(self.trigger(spec), now)
        # Counted as running from here, so a stop waits for the bookkeeping too.
        with self._cond:
            self._running.add(spec.id)
        try:
            return self._run(ctx, spec, now, cycle, force)
        finally:
            with self._cond:
                self._running.discard(spec.id)
                self._cond.notify_all()

    def _run(
        self, ctx: JobContext, spec: JobSpec, now: datetime, cycle: datetime | None, force: bool
    ) -> RunOutcome:
        try:
            began = self._begin(ctx, spec, now, cycle, force)
        except SQLAlchemyError as exc:
            # Refused at start is a failed run: health and metrics must not read it as quiet.
            self.stats.bookkeeping_errors += 1
            self.stats.runs[spec.id] += 1
            self.stats.failures[spec.id] += 1
            log.error("job %s not started: the store is unavailable: %s", spec.id, _line(exc))
            return RunOutcome.FAILED
        if began is None:
            log.debug("job %s: cycle %s already ran, skipped", spec.id, cycle)
            return RunOutcome.SKIPPED
        # A cycle a dead leader left unfinished runs again with its own `now`, so its
        # results land on the same window end (check runs are kept once per end).
        began_cycle = cycle if began == now else cycle_start(self.trigger(spec), began)
        try:
            outcome = self._execute(ctx, spec, began, began_cycle)
        finally:
            with self._cond:
                self._owned.discard(spec.id)
        if began_cycle != cycle:
            # That cycle was an earlier one: the current one (which has not started,
            # the re-run's start is earlier) runs now, as a missed one.
            return self._run(ctx, spec, now, cycle, force=True)
        return outcome

    def _execute(
        self, ctx: JobContext, spec: JobSpec, now: datetime, cycle: datetime | None
    ) -> RunOutcome:
        started = time.monotonic()
        error: str | None = None
        try:
            with self._model_lock(spec.model):
                # The duration is the job's own, not its wait for the model's lock.
                started = time.monotonic()
                self.resolve(spec.stage)(ctx, spec.model, now)
        except Exception as exc:
            error = "".join(traceback.format_exception_only(exc)).strip()
            log.exception("job %s failed", spec.id)
        duration = time.monotonic() - started
        try:
            self._finish(ctx, spec, now, duration, error)
        except SQLAlchemyError as exc:
            # A run whose end cannot be recorded failed too: its cycle still reads
            # "running" in the store, and the next leader runs it again.
            self.stats.bookkeeping_errors += 1
            log.error("job %s: cannot record its run: %s", spec.id, _line(exc))
            error = error or f"cannot record the run: {_line(exc)}"
        outcome = RunOutcome.OK if error is None else RunOutcome.FAILED
        self.stats.runs[spec.id] += 1
        self.stats.duration_sum_s[spec.id] = self.stats.duration_sum_s.get(spec.id, 0.0) + duration
        if error is not None:
            self.stats.failures[spec.id] += 1
        log.info(
            "job %s %s in %.2fs (cycle %s)",
            spec.id,
            outcome.value,
            duration,
            cycle.isoformat() if cycle else "-",
        )
        return outcome

    @property
    def owned(self) -> frozenset[str]:
        """Jobs this process began and has not finished."""
        with self._cond:
            return frozenset(self._owned)

    def orphaned(self, job_id: str, status: str | None) -> bool:
        """A run recorded as started that no job of this process runs: its leader died
        (or lost the lock) before recording the end."""
        return status == RUNNING and job_id not in self.owned

    def _begin(
        self, ctx: JobContext, spec: JobSpec, now: datetime, cycle: datetime | None, force: bool
    ) -> datetime | None:
        """Record the start; the `now` to run with, or None when the cycle already ran."""
        run_at = now
        with transaction(ctx.sessions) as session:
            row = session.get(JobRun, spec.id, with_for_update=True)
            if row is None:
                row = JobRun(job_id=spec.id, runs=0, failures=0, last_status="new")
                session.add(row)
            elif (
                not force
                and row.last_started_at is not None
                and self.orphaned(spec.id, row.last_status)
                and now - row.last_started_at <= period(self.trigger(spec), now)
            ):
                # Only this process runs jobs (it holds the leader lock): the run that
                # started is a leader's that is gone. It runs again, once (from here
                # this process owns it), with its own `now`. An older one is not
                # re-run: the current cycle runs, as after any outage.
                run_at = row.last_started_at
                log.warning(
                    "job %s: the run started at %s by a leader that did not finish it runs again",
                    spec.id,
                    run_at.isoformat(),
                )
            elif (
                not force
                and cycle is not None
                and row.last_started_at is not None
                and row.last_started_at >= cycle
            ):
                return None
            row.last_started_at = run_at
            row.last_status = RUNNING
        with self._cond:
            self._owned.add(spec.id)
        return run_at

    def _finish(
        self, ctx: JobContext, spec: JobSpec, now: datetime, duration: float, error: str | None
    ) -> None:
        with transaction(ctx.sessions) as session:
            row = session.get(JobRun, spec.id)
            if row is None:
                row = JobRun(job_id=spec.id, runs=0, failures=0, last_started_at=now)
                session.add(row)
            finished = now + timedelta(seconds=duration)
            row.last_finished_at = finished
            row.last_duration_s = duration
            row.runs = (row.runs or 0) + 1
            if error is None:
                row.last_status = RunOutcome.OK.value
                row.last_success_at = finished
                row.last_error = None
            else:
                row.last_status = RunOutcome.FAILED.value
                row.failures = (row.failures or 0) + 1
                row.last_error = error[:4000]


def _line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def missed_cycles(
    ctx: JobContext, jobs: tuple[JobSpec, ...], runner: JobRunner, now: datetime
) -> set[str]:
    """Jobs whose current cycle has not run: they run once, right away, at start.

    A cron job that never ran waits for its first fire time (no report for a week the
    daemon never saw); an interval job that never ran starts now. A run left
    "running" by a leader that died is due too: in its own cycle it runs again with
    that cycle's `now` (see `JobRunner._begin`), from an older cycle it is caught up.
    """
    with ctx.sessions() as session:
        last = {
            row.job_id: (row.last_started_at, row.last_status)
            for row in session.query(JobRun).all()
        }
    due: set[str] = set()
    for spec in jobs:
        cycle = cycle_start(runner.trigger(spec), now)
        started, status = last.get(spec.id, (None, None))
        if started is None:
            if spec.schedule.every is not None:
                due.add(spec.id)
        elif runner.orphaned(spec.id, status) or (cycle is not None and started < cycle):
            due.add(spec.id)
    return due


class Scheduler:
    """The live scheduler: APScheduler in UTC, a memory job store, a heartbeat."""

    HEARTBEAT_EXECUTOR = "heartbeat"
    MODEL_EXECUTOR = "models"

    def __init__(self, runner: JobRunner, *, workers: int = 4, heartbeat: float = 5.0) -> None:
        self.runner = runner
        self.heartbeat_every = heartbeat
        self.last_beat = time.monotonic()
        self.jobs: tuple[JobSpec, ...] = ()
        self._aps = BackgroundScheduler(
            jobstores={"default": MemoryJobStore()},
            executors={
                # Per-model jobs wait on their model's lock: in a pool of their own they
                # cannot starve the outbox delivery and the other global jobs.
                "default": ThreadPoolExecutor(2),
                self.MODEL_EXECUTOR: ThreadPoolExecutor(workers),
                # Its own thread, so long jobs filling the pool do not look like a wedge.
                self.HEARTBEAT_EXECUTOR: ThreadPoolExecutor(1),
            },
            job_defaults={"coalesce": True, "max_instances": 1},
            timezone=UTC,
        )
        self._aps.add_listener(
            self._on_event, EVENT_JOB_ERROR | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES
        )

    @property
    def alive(self) -> bool:
        return bool(self._aps.running)

    def beat_age(self) -> float:
        """Seconds since the scheduler last dispatched its heartbeat job."""
        return time.monotonic() - self.last_beat

    def _beat(self) -> None:
        self.last_beat = time.monotonic()

    def _on_event(self, event: JobEvent) -> None:
        stats = self.runner.stats
        if event.code == EVENT_JOB_MISSED:
            stats.missed[event.job_id] += 1
            log.warning("job %s missed its run time; it runs at its next one", event.job_id)
        elif event.code == EVENT_JOB_MAX_INSTANCES:
            stats.overlapping[event.job_id] += 1
            log.warning("job %s still running from its last cycle; this one skipped", event.job_id)
        elif event.code == EVENT_JOB_ERROR and isinstance(event, JobExecutionEvent):
            stats.failures[event.job_id] += 1
            log.error(
                "job %s crashed outside its run: %s\n%s",
                event.job_id,
                event.exception,
                event.traceback,
            )

    def start(self, jobs: tuple[JobSpec, ...], now: datetime | None = None) -> None:
        """Start with `jobs`; the ones whose current cycle was missed run once at once."""
        now = now or datetime.now(UTC)
        self._aps.add_job(
            self._beat,
            IntervalTrigger(seconds=self.heartbeat_every, timezone=UTC),
            id="heartbeat",
            executor=self.HEARTBEAT_EXECUTOR,
            misfire_grace_time=None,
            replace_existing=True,
        )
        self._install(jobs, now)
        self.last_beat = time.monotonic()
        self._aps.start()

    def replace(self, jobs: tuple[JobSpec, ...], now: datetime | None = None) -> None:
        """Swap the job table (after a reload); running jobs finish on their own."""
        self._install(jobs, now or datetime.now(UTC))

    def _install(self, jobs: tuple[JobSpec, ...], now: datetime) -> None:
        try:
            due = missed_cycles(self.runner.ctx, jobs, self.runner, now)
        except SQLAlchemyError as exc:
            log.error("cannot read the last job runs, no catch-up this time: %s", _line(exc))
            due = set()
        wanted = {spec.id for spec in jobs}
        for job in self._aps.get_jobs():
            if job.id != "heartbeat" and job.id not in wanted:
                job.remove()
        for spec in jobs:
            trigger = self.runner.trigger(spec)
            extra: dict[str, object] = {}
            if spec.id in due:
                extra["next_run_time"] = now
            self._aps.add_job(
                self.runner,
                trigger,
                args=(spec,),
                id=spec.id,
                name=spec.id,
                executor=self.MODEL_EXECUTOR if spec.model else "default",
                misfire_grace_time=misfire_grace(trigger, now),
                replace_existing=True,
                **extra,
            )
        self.jobs = jobs
        if due:
            log.info(
                "catching up %d job(s) that missed their cycle: %s",
                len(due),
                ", ".join(sorted(due)),
            )

    def next_runs(self) -> dict[str, datetime | None]:
        return {job.id: job.next_run_time for job in self._aps.get_jobs() if job.id != "heartbeat"}

    def pause(self) -> None:
        """Take no new jobs; running ones go on."""
        if self._aps.running:
            self._aps.pause()

    def shutdown(self) -> None:
        if self._aps.running:
            self._aps.shutdown(wait=False)


# --------------------------------------------------------------------------- replay


def replay(
    runner: JobRunner,
    jobs: tuple[JobSpec, ...],
    start: datetime,
    end: datetime,
    on_run: Callable[[JobSpec, datetime, RunOutcome], None] | None = None,
) -> int:
    """Run `jobs` at their fire times from `start` to `end` in simulated time.

    Jobs fire in time order, ties in config order; each gets the simulated time as
    `now`. Returns how many runs happened. The demo and the soak benchmark use it.
    """
    pending: list[tuple[datetime, int]] = []
    for index, spec in enumerate(jobs):
        fire = next_fire_time(runner.trigger(spec), start)
        if fire is not None and fire <= end:
            heapq.heappush(pending, (fire, index))
    count = 0
    while pending:
        fire, index = heapq.heappop(pending)
        spec = jobs[index]
        outcome = runner(spec, fire)
        count += 1
        if on_run is not None:
            on_run(spec, fire, outcome)
        following = next_fire_time(runner.trigger(spec), fire + timedelta(microseconds=1))
        if following is not None and following <= end:
            heapq.heappush(pending, (following, index))
    return count
