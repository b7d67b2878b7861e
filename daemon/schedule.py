"""The scheduler: one APScheduler 3.11 job per (model, stage), built from the config.

Schedules live in APScheduler's memory job store and are rebuilt from config.toml at
every start and reload (PITFALLS: a pickled job that fails to unpickle vanishes
without a trace). What must survive a restart lives in our own tables: `job_runs`
holds the last run of every job, which is how a restarted daemon, or a standby that
takes over, runs a missed cycle once (not a backlog) and never runs a cycle twice;
`job_history` holds every finished run (the weekly report counts a week's).

The triggers and the cycle math are in daemon/cadence.py, the job table (stages,
their functions, the jobs the config asks for) in daemon/stages.py, and the words
and counters a run leaves in daemon/runs.py. Here: the runner that guards a cycle
and keeps `job_runs`, the live scheduler, and replay.

`replay` walks the same jobs through simulated time, which is what the demo and the
soak benchmark use: the live daemon and the replay call the same functions.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobEvent,
    JobExecutionEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.exc import SQLAlchemyError

from daemon.cadence import cycle_start, misfire_grace, period, trigger_for
from daemon.runs import RUNNING, RunOutcome, SchedulerStats
from daemon.stages import JobFn, JobSpec, Stage, job_function, job_id
from daemon.store.engine import transaction
from daemon.store.tables import JobHistory, JobRun

if TYPE_CHECKING:
    from daemon.jobs import JobContext

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- running


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
        # Told of every run that returns (the scheduler releases what waited on it).
        self.on_done: Callable[[JobSpec], None] | None = None

    def trigger(self, spec: JobSpec) -> BaseTrigger:
        key = spec.schedule.model_dump_json()
        trigger = self._triggers.get(key)
        if trigger is None:
            trigger = self._triggers[key] = trigger_for(spec.schedule)
        return trigger

    def model_lock(self, model: str | None) -> contextlib.AbstractContextManager[object]:
        """One job at a time per model: its checks share a window and its rows.

        Checks of one model all fire at the same cadence; run side by side they would
        load the same window four times and race to create the model's row. The
        first-start backfill takes it around each of its windows too.
        """
        if model is None:
            return contextlib.nullcontext()
        with self._cond:
            return self._model_locks.setdefault(model, threading.Lock())

    def succeeded(self, stage: Stage, model: str | None) -> int:
        """How many runs of that job finished ok here since the runner began."""
        key = job_id(stage, model)
        return self.stats.runs[key] - self.stats.failures[key]

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
            if self.on_done is not None:
                self.on_done(spec)

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
        # results land on the same window end (a window end holds one run per check kind).
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
            with self.model_lock(spec.model):
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
            outcome = RunOutcome.OK if error is None else RunOutcome.FAILED
            text = None if error is None else error[:4000]
            row.last_finished_at, row.last_duration_s = finished, duration
            row.last_status, row.last_error = outcome.value, text
            row.runs = (row.runs or 0) + 1
            if error is None:
                row.last_success_at = finished
            else:
                row.failures = (row.failures or 0) + 1
            # Every run's own record too: a week's health counts these.
            session.add(
                JobHistory(
                    job_id=spec.id,
                    stage=spec.stage.value,
                    model=spec.model,
                    started_at=now,
                    finished_at=finished,
                    duration_s=duration,
                    outcome=outcome,
                    error=text,
                )
            )


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
        # The jobs the last install ran at once because their current cycle had not run.
        self.caught_up: frozenset[str] = frozenset()
        # Per model, its jobs due at start that wait for its sampling due at start; the
        # models whose checks due at start wait for their first-start backfill too (the
        # first alert's causes read the history it fills), and those checks.
        self._after_sampling: dict[str, tuple[str, ...]] = {}
        self._after_backfill: set[str] = set()
        self._held_for_backfill: dict[str, str] = {}
        self._held_lock = threading.Lock()
        runner.on_done = self._released
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

    def start(
        self,
        jobs: tuple[JobSpec, ...],
        now: datetime | None = None,
        *,
        after_backfill: tuple[str, ...] = (),
    ) -> None:
        """Start with `jobs`; the ones whose current cycle was missed run once at once
        (a model's checks among them, after `backfill_settled` for `after_backfill`)."""
        now = now or datetime.now(UTC)
        self._after_backfill = set(after_backfill)
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
        # A model's sampling due at start runs before its other jobs due at start (its
        # checks would read a window not sampled yet): they run when it returns.
        sampling = {s.model for s in jobs if s.id in due and s.stage is Stage.SAMPLE}
        held = [s for s in jobs if s.id in due and s.model in sampling and s.stage != Stage.SAMPLE]
        with self._held_lock:
            self._after_sampling = {
                m: tuple(s.id for s in held if s.model == m) for m in sampling if m is not None
            }
        for spec in jobs:
            trigger = self.runner.trigger(spec)
            extra: dict[str, object] = {}
            if spec.id in due and spec not in held:
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
        self.caught_up = frozenset(due)
        if due:
            log.info(
                "catching up %d job(s) that missed their cycle: %s",
                len(due),
                ", ".join(sorted(due)),
            )

    def _released(self, spec: JobSpec) -> None:
        """After a model's sampling: its jobs held at start run now."""
        if spec.stage is not Stage.SAMPLE or spec.model is None:
            return
        checks = job_id(Stage.CHECKS, spec.model)
        with self._held_lock:
            held = self._after_sampling.pop(spec.model, ())
            if spec.model in self._after_backfill and checks in held:
                self._held_for_backfill[spec.model] = checks
                held = tuple(h for h in held if h != checks)
        self._run_now(held)

    def backfill_settled(self, model: str) -> None:
        """A model's first-start backfill is done (or given up): its checks held run now."""
        with self._held_lock:
            self._after_backfill.discard(model)
            held = self._held_for_backfill.pop(model, None)
        self._run_now(() if held is None else (held,))

    def _run_now(self, job_ids: tuple[str, ...]) -> None:
        if not self._aps.running:
            return  # shut down meanwhile (a demotion stops the backfill too)
        for held_id in job_ids:
            with contextlib.suppress(JobLookupError):  # removed by a reload meanwhile
                self._aps.modify_job(held_id, next_run_time=datetime.now(UTC))

    def next_runs(self) -> dict[str, datetime | None]:
        return {job.id: job.next_run_time for job in self._aps.get_jobs() if job.id != "heartbeat"}

    def pause(self) -> None:
        """Take no new jobs; running ones go on."""
        if self._aps.running:
            self._aps.pause()

    def shutdown(self) -> None:
        if self._aps.running:
            self._aps.shutdown(wait=False)
