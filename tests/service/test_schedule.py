"""The scheduler's pieces: stages, triggers, cycles, the job runner and replay."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from daemon.config import Schedule, Settings, load_config, parse_config
from daemon.jobs import JobContext
from daemon.schedule import (
    JobFn,
    JobRunner,
    JobSpec,
    RunOutcome,
    Scheduler,
    Stage,
    build_jobs,
    crontab_weekdays,
    cycle_start,
    job_function,
    misfire_grace,
    missed_cycles,
    next_fire_time,
    replay,
    trigger_for,
)
from daemon.service import Service
from daemon.store.tables import JobRun, Model

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 2, 10, 7, 13, tzinfo=UTC)  # a Monday


def test_every_stage_maps_to_a_job_function() -> None:
    for stage in Stage:
        fn = job_function(stage)
        assert callable(fn), stage


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
    assert f"drift:{model}" in ids
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
        time.sleep(0.4)
        assert scheduler.alive
        assert service.progressing()
        scheduler.pause()  # a wedged dispatcher, as the watchdog sees it
        time.sleep(1.0)
        assert scheduler.beat_age() > 0.6
        assert not service.progressing()
    finally:
        scheduler.shutdown()
