"""The scheduler's pieces: stages, triggers, cycles, the job runner and replay."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from daemon.alerts.jobs import alert_cycle
from daemon.cadence import crontab_weekdays, cycle_start, misfire_grace, next_fire_time, trigger_for
from daemon.checking.job import run_model_checks
from daemon.checking.remote import collect_checks
from daemon.config import Schedule, Settings, load_config, parse_config
from daemon.frameworks.job import scan_frameworks
from daemon.frameworks.verify import verify_scheduled
from daemon.jobs import JobContext
from daemon.replay import replay
from daemon.report.deliver import weekly_report
from daemon.retention import apply_retention, sweep_all
from daemon.retraining.job import poll_jobs, retrain_policy
from daemon.runs import RunOutcome
from daemon.sampling import ingest_labels, sample_predictions
from daemon.schedule import JobRunner, Scheduler, missed_cycles
from daemon.service import Service
from daemon.stages import JobFn, JobSpec, Stage, _global, _per_model, build_jobs, job_function
from daemon.store.tables import JobRun, Model

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 2, 10, 7, 13, tzinfo=UTC)  # a Monday


# Each stage, the job function it must run, and the adapter the scheduler puts around
# it: "model" for (ctx, model, now) functions that need a model, "global" for
# (ctx, now) ones, None for functions that already take (ctx, model | None, now).
EXPECTED_JOBS: dict[Stage, tuple[Callable[..., object], str | None]] = {
    Stage.SAMPLE: (sample_predictions, "model"),
    Stage.LABELS: (ingest_labels, "model"),
    Stage.RETENTION: (apply_retention, "model"),
    Stage.SWEEP: (sweep_all, "global"),
    Stage.CHECKS: (run_model_checks, None),
    Stage.COLLECT_CHECKS: (collect_checks, "global"),
    Stage.RETRAIN_POLICY: (retrain_policy, None),
    Stage.RETRAIN_POLL: (poll_jobs, None),
    Stage.DELIVER: (alert_cycle, "global"),
    Stage.FRAMEWORKS: (scan_frameworks, "global"),
    Stage.FRAMEWORKS_VERIFY: (verify_scheduled, "global"),
    Stage.REPORT: (weekly_report, "global"),
}


def test_the_expected_job_table_covers_every_stage() -> None:
    assert set(EXPECTED_JOBS) == set(Stage)


@pytest.mark.parametrize("stage", list(Stage), ids=str)
def test_every_stage_maps_to_its_job_function(stage: Stage) -> None:
    expected, adapter = EXPECTED_JOBS[stage]
    fn = job_function(stage)
    if adapter is None:
        assert fn is expected, f"{stage} runs {fn!r}, not {expected!r}"
        return
    assert fn is not expected, f"{stage} must be adapted to (ctx, model, now)"
    assert getattr(fn, "__wrapped__", None) is expected, f"{stage} wraps the wrong function"
    assert fn.__name__ == expected.__name__
    # Every closure of one adapter shares its code: this names the adapter used.
    adapt = {"model": _per_model, "global": _global}[adapter]
    assert fn.__code__ is adapt(expected).__code__, f"{stage} needs the {adapter} adapter"
    if adapter == "model":
        # A per-model job refuses to run without its model, before touching ctx.
        with pytest.raises(ValueError, match="runs for a model"):
            fn(None, None, T0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("*", "*"),
        ("mon", "mon"),
        ("mon-fri", "mon-fri"),
        ("1", "mon"),
        ("0", "sun"),
        ("7", "sun"),
        ("1-5", "mon,tue,wed,thu,fri"),
        ("0,6", "sun,sat"),
        ("*/2", "sun,tue,thu,sat"),
        ("5-7", "fri,sat,sun"),
    ],
)
def test_crontab_weekdays_follow_crontab_not_apscheduler(field: str, expected: str) -> None:
    assert crontab_weekdays(field) == expected


def test_crontab_weekday_out_of_range_is_an_error() -> None:
    with pytest.raises(ValueError, match="out of range"):
        crontab_weekdays("8")


def test_cron_runs_in_its_own_time_zone() -> None:
    trigger = trigger_for(Schedule(cron="0 8 * * 1", timezone="Europe/Berlin"))
    # Monday 08:00 in Berlin is 07:00 UTC in winter, 06:00 UTC in summer.
    assert next_fire_time(trigger, datetime(2026, 3, 1, tzinfo=UTC)) == datetime(
        2026, 3, 2, 7, tzinfo=UTC
    )
    assert next_fire_time(trigger, datetime(2026, 7, 1, tzinfo=UTC)) == datetime(
        2026, 7, 6, 6, tzinfo=UTC
    )


def test_intervals_sit_on_a_fixed_grid() -> None:
    trigger = trigger_for(Schedule(every=timedelta(hours=1)))
    assert next_fire_time(trigger, T0) == datetime(2026, 3, 2, 11, tzinfo=UTC)
    assert cycle_start(trigger, T0) == datetime(2026, 3, 2, 10, tzinfo=UTC)
    every5 = trigger_for(Schedule(every=timedelta(minutes=5)))
    assert cycle_start(every5, T0) == datetime(2026, 3, 2, 10, 5, tzinfo=UTC)


def test_cycle_start_of_a_weekly_cron() -> None:
    trigger = trigger_for(Schedule(cron="0 8 * * mon", timezone="UTC"))
    assert cycle_start(trigger, T0) == datetime(2026, 3, 2, 8, tzinfo=UTC)
    assert cycle_start(trigger, datetime(2026, 3, 2, 7, tzinfo=UTC)) == datetime(
        2026, 2, 23, 8, tzinfo=UTC
    )


def test_misfire_grace_is_half_a_period_within_bounds() -> None:
    assert misfire_grace(trigger_for(Schedule(every=timedelta(seconds=10))), T0) == 30
    assert misfire_grace(trigger_for(Schedule(every=timedelta(minutes=5))), T0) == 150
    assert misfire_grace(trigger_for(Schedule(cron="0 8 * * mon")), T0) == 3600


def test_build_jobs_from_the_shipped_config() -> None:
    settings = load_config(REPO / "config.toml", environ={})
    ids = [job.id for job in build_jobs(settings)]
    model = settings.models[0].name
    assert f"sample:{model}" in ids
    assert f"checks:{model}" in ids
    assert "deliver" in ids
    assert len(ids) == len(set(ids))
    for job in build_jobs(settings):
        assert (job.model is not None) == job.stage.per_model


def _ctx(engine: Engine, session_factory: sessionmaker[Session]) -> JobContext:
    return JobContext(settings=Settings(), engine=engine, sessions=session_factory)


def _writing_job(ctx: JobContext, model: str | None, now: datetime) -> object:
    with ctx.sessions.begin() as session:
        session.add(Model(name=f"m-{now:%H%M%S}", created_at=now))
    return None


def _failing_job(ctx: JobContext, model: str | None, now: datetime) -> object:
    raise RuntimeError("the source is gone")


def _resolver(fn: JobFn) -> object:
    return lambda _stage: fn


def test_runner_records_runs_and_guards_the_cycle(
    engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    runner = JobRunner(_ctx(engine, session_factory), resolve=_resolver(_writing_job))  # type: ignore[arg-type]
    spec = JobSpec(stage=Stage.DELIVER, model=None, schedule=Schedule(every=timedelta(hours=1)))
    assert runner(spec, T0) is RunOutcome.OK
    # The same cycle (10:00-11:00) does not run twice, on this daemon or another.
    assert runner(spec, T0 + timedelta(minutes=20)) is RunOutcome.SKIPPED
    assert runner(spec, T0 + timedelta(minutes=20), force=True) is RunOutcome.OK
    assert runner(spec, T0 + timedelta(hours=1)) is RunOutcome.OK
    with session_factory() as session:
        row = session.get(JobRun, "deliver")
        assert row is not None
        assert (row.runs, row.failures, row.last_status) == (3, 0, "ok")
        assert row.last_success_at is not None and row.last_success_at >= T0 + timedelta(hours=1)
        assert len(session.scalars(select(Model)).all()) == 3


def test_a_failing_job_is_counted_and_the_next_still_runs(
    engine: Engine, session_factory: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    ctx = _ctx(engine, session_factory)
    failing = JobRunner(ctx, resolve=_resolver(_failing_job))  # type: ignore[arg-type]
    spec = JobSpec(stage=Stage.SAMPLE, model="m", schedule=Schedule(every=timedelta(minutes=5)))
    assert failing(spec, T0) is RunOutcome.FAILED
    assert "the source is gone" in caplog.text and "Traceback" in caplog.text
    assert failing.stats.failures["sample:m"] == 1
    assert failing.running == ()
    ok = JobRunner(ctx, resolve=_resolver(_writing_job))  # type: ignore[arg-type]
    assert ok(spec, T0 + timedelta(minutes=5)) is RunOutcome.OK
    with session_factory() as session:
        row = session.get(JobRun, "sample:m")
        assert row is not None
        assert (row.runs, row.failures, row.last_status) == (2, 1, "ok")


def test_missed_cycles_run_once_at_start(
    engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    ctx = _ctx(engine, session_factory)
    runner = JobRunner(ctx, resolve=_resolver(_writing_job))  # type: ignore[arg-type]
    hourly = Schedule(every=timedelta(hours=1))
    weekly = Schedule(cron="0 8 * * mon")
    jobs = (
        JobSpec(stage=Stage.SAMPLE, model="stale", schedule=hourly),
        JobSpec(stage=Stage.SAMPLE, model="fresh", schedule=hourly),
        JobSpec(stage=Stage.SAMPLE, model="new", schedule=hourly),
        JobSpec(stage=Stage.REPORT, model=None, schedule=weekly),
    )
    runner(jobs[0], T0 - timedelta(hours=5))
    runner(jobs[1], T0 - timedelta(minutes=2))
    assert missed_cycles(ctx, jobs, runner, T0) == {"sample:stale", "sample:new"}


def test_replay_runs_jobs_at_their_simulated_fire_times(
    engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    seen: list[datetime] = []

    def job(ctx: JobContext, model: str | None, now: datetime) -> object:
        seen.append(now)
        return None

    runner = JobRunner(_ctx(engine, session_factory), resolve=_resolver(job))  # type: ignore[arg-type]
    jobs = (
        JobSpec(stage=Stage.SAMPLE, model="m", schedule=Schedule(every=timedelta(hours=6))),
        JobSpec(stage=Stage.REPORT, model=None, schedule=Schedule(cron="30 6 * * *")),
    )
    start = datetime(2026, 3, 2, tzinfo=UTC)
    runs = replay(runner, jobs, start, start + timedelta(days=2) - timedelta(seconds=1))
    assert runs == 8 + 2
    assert seen == sorted(seen)
    assert datetime(2026, 3, 3, 6, 30, tzinfo=UTC) in seen


def _within(seconds: float, condition: Callable[[], bool]) -> bool:
    """Whether `condition` holds at some poll within `seconds`."""
    limit = time.monotonic() + seconds
    while time.monotonic() < limit:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_a_paused_scheduler_stops_the_watchdog(
    engine: Engine, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    settings = parse_config({"service": {"watchdog_stall": "0.6s"}}, environ={})
    ctx = JobContext(settings=settings, engine=engine, sessions=session_factory)
    runner = JobRunner(ctx, resolve=_resolver(_writing_job))  # type: ignore[arg-type]
    scheduler = Scheduler(runner, workers=1, heartbeat=0.1)
    service = Service(tmp_path / "config.toml", settings)
    service.scheduler, service.role = scheduler, "leader"
    scheduler.start(())
    try:

        def progressing() -> bool:
            # The main loop turns (it is not running here): only the dispatcher is judged.
            service._tick = time.monotonic()
            return service.progressing()

        # Polled, not slept: on a loaded machine the first beat may come late.
        assert _within(5.0, progressing)
        assert scheduler.alive
        scheduler.pause()  # a wedged dispatcher, as the watchdog sees it
        assert _within(5.0, lambda: not progressing())
        assert scheduler.beat_age() > 0.6
    finally:
        scheduler.shutdown()


def _dead_ctx() -> JobContext:
    dead = create_engine(
        "postgresql+psycopg://postgres@127.0.0.1:1/none", connect_args={"connect_timeout": 2}
    )
    return JobContext(settings=Settings(), engine=dead, sessions=sessionmaker(dead))


def test_a_job_refused_at_start_counts_as_a_failed_run(caplog: pytest.LogCaptureFixture) -> None:
    ctx = _dead_ctx()
    ran: list[datetime] = []
    runner = JobRunner(ctx, resolve=_resolver(lambda _c, _m, now: ran.append(now)))  # type: ignore[arg-type]
    spec = JobSpec(stage=Stage.SAMPLE, model="m", schedule=Schedule(every=timedelta(minutes=5)))
    try:
        assert runner(spec, T0) is RunOutcome.FAILED
    finally:
        ctx.close()
    assert ran == []
    assert runner.stats.failures["sample:m"] == 1 and runner.stats.runs["sample:m"] == 1
    assert runner.stats.bookkeeping_errors == 1
    assert "not started: the store is unavailable" in caplog.text
    assert runner.running == () and runner.owned == frozenset()


def _dropping_job(ctx: JobContext, model: str | None, now: datetime) -> object:
    # The job itself succeeds; recording its end then fails (the table is gone).
    with ctx.sessions.begin() as session:
        session.execute(text("DROP TABLE job_runs"))
    return None


def test_a_run_whose_end_cannot_be_recorded_counts_as_a_failure(
    engine: Engine, session_factory: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "daemon.schedule")
    runner = JobRunner(_ctx(engine, session_factory), resolve=_resolver(_dropping_job))  # type: ignore[arg-type]
    spec = JobSpec(stage=Stage.DELIVER, model=None, schedule=Schedule(every=timedelta(hours=1)))
    assert runner(spec, T0) is RunOutcome.FAILED
    assert runner.stats.failures["deliver"] == 1 and runner.stats.bookkeeping_errors == 1
    assert "cannot record its run" in caplog.text
    assert re.search(r"job deliver failed in [\d.]+s", caplog.text)


def _left_running(session_factory: sessionmaker[Session], job_id: str, at: datetime) -> None:
    """What a leader killed mid-run leaves: the start committed, no end."""
    with session_factory.begin() as session:
        session.add(
            JobRun(job_id=job_id, runs=3, failures=0, last_status="running", last_started_at=at)
        )


def test_a_cycle_left_running_by_a_dead_leader_runs_again_once_with_its_own_now(
    engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    ctx = _ctx(engine, session_factory)
    seen: list[datetime] = []
    runner = JobRunner(ctx, resolve=_resolver(lambda _c, _m, now: seen.append(now)))  # type: ignore[arg-type]
    hourly = JobSpec(stage=Stage.CHECKS, model="m", schedule=Schedule(every=timedelta(hours=1)))
    done = JobSpec(stage=Stage.RETENTION, model="m", schedule=Schedule(every=timedelta(hours=1)))
    _left_running(session_factory, hourly.id, T0)
    runner(done, T0)  # finished by its leader: not due again in this cycle
    later = T0 + timedelta(minutes=10)
    assert missed_cycles(ctx, (hourly, done), runner, later) == {hourly.id}
    assert runner(hourly, later) is RunOutcome.OK
    assert runner(hourly, later + timedelta(minutes=1)) is RunOutcome.SKIPPED
    assert runner(done, later) is RunOutcome.SKIPPED
    # Re-run with the dead leader's `now`: the same window end, so the same stored runs.
    assert seen == [T0, T0]
    assert missed_cycles(ctx, (hourly, done), runner, later) == set()
    with session_factory() as session:
        row = session.get(JobRun, hourly.id)
        assert row is not None and (row.last_status, row.runs) == ("ok", 4)


def test_a_cycle_left_running_in_the_previous_cycle_runs_then_the_current_one(
    engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    ctx = _ctx(engine, session_factory)
    seen: list[datetime] = []
    runner = JobRunner(ctx, resolve=_resolver(lambda _c, _m, now: seen.append(now)))  # type: ignore[arg-type]
    spec = JobSpec(stage=Stage.CHECKS, model="m", schedule=Schedule(every=timedelta(hours=1)))
    _left_running(session_factory, spec.id, T0)
    takeover = T0 + timedelta(minutes=58)  # the next cycle began at 11:00
    assert runner(spec, takeover) is RunOutcome.OK
    assert seen == [T0, takeover]
    assert runner(spec, takeover + timedelta(minutes=1)) is RunOutcome.SKIPPED
    # Left running days ago: not re-run, the current cycle runs (no backlog).
    seen.clear()
    with session_factory.begin() as session:
        row = session.get(JobRun, spec.id)
        assert row is not None
        row.last_status, row.last_started_at = "running", T0 - timedelta(days=3)
    assert runner(spec, takeover) is RunOutcome.OK
    assert seen == [takeover]


def test_a_run_of_this_process_is_not_an_orphan(
    engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    ctx = _ctx(engine, session_factory)
    spec = JobSpec(stage=Stage.CHECKS, model="m", schedule=Schedule(every=timedelta(hours=1)))
    seen: list[set[str]] = []
    runner: JobRunner

    def job(_c: JobContext, _m: str | None, now: datetime) -> object:
        seen.append(missed_cycles(ctx, (spec,), runner, now))
        # A second fire of the same cycle while this one runs (a reload) is skipped.
        seen.append({runner(spec, now + timedelta(minutes=1)).value})
        return None

    runner = JobRunner(ctx, resolve=_resolver(job))  # type: ignore[arg-type]
    assert runner(spec, T0) is RunOutcome.OK
    assert seen == [set(), {"skipped"}]


def test_check_runs_are_kept_once_per_model_kind_and_window_end(
    engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    from checks.interface import CheckKind, CheckResult, Status
    from daemon.checking.records import KindRun, store_runs
    from daemon.store.tables import CheckRun

    runs = {
        CheckKind.DRIFT: KindRun(
            result=CheckResult(kind=CheckKind.DRIFT, status=Status.OK, rows=5), duration_s=0.1
        )
    }
    ids = []
    for end in (T0, T0, T0 + timedelta(hours=1)):
        with session_factory.begin() as session:
            stored = store_runs(session, "m", runs, start=end - timedelta(hours=1), end=end)
            ids.append(stored[CheckKind.DRIFT].run_id)
    assert ids[0] == ids[1] != ids[2]
    with session_factory() as session:
        assert len(session.scalars(select(CheckRun)).all()) == 2


def test_at_start_a_models_sampling_runs_before_its_checks(
    engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    """Due at start together, a model's checks wait for its sampling (they would read a
    window with no rows: `checks buyer: insufficient_data on 0 rows` before `sampled`)."""
    events: list[tuple[str, str | None, str]] = []

    def sample(ctx: JobContext, model: str | None, now: datetime) -> object:
        events.append(("sample", model, "begin"))
        time.sleep(0.3)
        events.append(("sample", model, "end"))
        return None

    def checks(ctx: JobContext, model: str | None, now: datetime) -> object:
        events.append(("checks", model, "begin"))
        return None

    def resolve(stage: Stage) -> JobFn:
        return sample if stage is Stage.SAMPLE else checks  # type: ignore[return-value]

    runner = JobRunner(_ctx(engine, session_factory), resolve=resolve)
    hourly = Schedule(every=timedelta(hours=1))
    jobs = tuple(
        JobSpec(stage=stage, model=model, schedule=hourly)
        for model in ("buyer", "seller")
        for stage in (Stage.CHECKS, Stage.SAMPLE)
    )
    scheduler = Scheduler(runner, workers=4, heartbeat=0.2)
    scheduler.start(jobs)
    try:
        deadline = time.monotonic() + 10
        while sum(runner.stats.runs.values()) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        scheduler.shutdown()
    assert sum(runner.stats.runs.values()) == 4, events
    for model in ("buyer", "seller"):
        mine = [(stage, when) for stage, m, when in events if m == model]
        assert mine == [("sample", "begin"), ("sample", "end"), ("checks", "begin")], events
    assert scheduler.caught_up == {job.id for job in jobs}


def test_at_first_start_a_models_checks_wait_for_its_backfill_too(
    engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    """The first alert's causes read the windows the first-start backfill fills: a model
    being backfilled runs its checks due at start once the backfill has settled (a new
    user's trial: the first alert said "too few checked windows (1 of at least 3)")."""
    events: list[tuple[str, str | None]] = []

    def resolve(stage: Stage) -> JobFn:
        def job(ctx: JobContext, model: str | None, now: datetime) -> object:
            events.append((stage.value, model))
            return None

        return job  # type: ignore[return-value]

    runner = JobRunner(_ctx(engine, session_factory), resolve=resolve)
    hourly = Schedule(every=timedelta(hours=1))
    jobs = tuple(
        JobSpec(stage=stage, model=model, schedule=hourly)
        for model in ("buyer", "seller")
        for stage in (Stage.CHECKS, Stage.SAMPLE)
    )
    scheduler = Scheduler(runner, workers=4, heartbeat=0.2)
    scheduler.start(jobs, after_backfill=("buyer",))
    try:
        deadline = time.monotonic() + 10
        while sum(runner.stats.runs.values()) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        before = list(events)
        scheduler.backfill_settled("buyer")
        while sum(runner.stats.runs.values()) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        scheduler.shutdown()
    assert ("checks", "seller") in before and ("sample", "buyer") in before, before
    assert ("checks", "buyer") not in before, before
    assert events[-1] == ("checks", "buyer"), events
