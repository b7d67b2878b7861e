"""Checks on workers (`[checks] run_on = "celery"`), with real components only: a real
`mlmaint worker --queue checks` process on the local Redis and the real PostgreSQL.

Equal results: the fleet checked in the daemon and on a worker stores the same
runs and measures, and the leader's alert state is the same. Worker loss: a worker
killed by `kill -9` mid-cycle leaves every run stored once and every run's
findings applied once, in window order per model.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from daemon.alerts.finding import Finding
from daemon.alerts.policy import apply_findings
from daemon.checking.job import check_model
from daemon.checking.remote import collect_checks, send_checks
from daemon.config import Settings, load_config
from daemon.jobs import JobContext
from daemon.metrics import exposition, make_registry
from daemon.report.check_workers import check_workers_health
from daemon.report.weeks import week_containing
from daemon.stages import Stage, build_jobs
from daemon.store.tables import Alert, CheckRun, CheckTask, CheckTaskState, Model
from tests.checks.fleet import (
    CheckWorker,
    fleet_config,
    forget_queue,
    require_redis,
    seed_fleet,
    stored_metrics,
)
from tests.checks.frames import START

MODELS = 3
# Drift, quality, performance, estimated performance, operations (multivariate is off).
KINDS = 5
ENDS = (START + timedelta(days=1), START + timedelta(days=2), START + timedelta(days=3))


@pytest.fixture
def queue() -> Iterator[str]:
    require_redis()
    name = f"mlmaint-checks-test-{uuid.uuid4().hex[:10]}"
    yield name
    forget_queue(name)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[list[CheckWorker]]:
    started: list[CheckWorker] = []
    yield started
    for worker in started:
        worker.stop()


def _ctx(config: Path) -> JobContext:
    return JobContext.from_settings(load_config(config))


def _collect_all(
    ctx: JobContext, now: datetime, apply: Callable[..., object], timeout: float = 90
) -> None:
    """Collect until every run is applied, as the leader's job does on its schedule."""
    limit = time.monotonic() + timeout
    while True:
        collect_checks(ctx, now, apply=apply)
        with ctx.sessions() as session:
            left = session.scalar(
                select(func.count()).select_from(CheckTask).where(CheckTask.applied_at.is_(None))
            )
        if not left:
            return
        if time.monotonic() > limit:
            pytest.fail(f"{left} check run(s) not applied after {timeout}s")
        time.sleep(0.2)


def _alerts(ctx: JobContext) -> list[tuple[str, str, str, str]]:
    with ctx.sessions() as session:
        return sorted(
            (a.scope, a.kind, a.subject, str(a.state))
            for a in session.scalars(select(Alert).where(Alert.subject != "check workers"))
        )


def test_the_config_sends_checks_to_workers_and_collects_them(tmp_path: Path) -> None:
    # A store every worker reaches (load only: nothing connects).
    config = fleet_config(tmp_path, "postgresql://127.0.0.1/none", models=1, queue="checks")
    settings: Settings = load_config(config)
    stages = [job.stage for job in build_jobs(settings)]
    assert Stage.CHECKS in stages and stages.count(Stage.COLLECT_CHECKS) == 1
    daemon = load_config(fleet_config(tmp_path, "sqlite://", models=1, queue="q", run_on="daemon"))
    assert Stage.COLLECT_CHECKS not in [job.stage for job in build_jobs(daemon)]


def test_the_fleet_checked_on_a_worker_stores_what_the_daemon_stores(
    tmp_path: Path, pg_db: Callable[[], str], queue: str, workers: list[CheckWorker]
) -> None:
    ends = ENDS[:2]
    in_daemon = _ctx(fleet_config(tmp_path / "d", pg_db(), models=MODELS, queue=queue))
    remote_config = fleet_config(tmp_path / "w", pg_db(), models=MODELS, queue=queue)
    on_workers = _ctx(remote_config)
    try:
        workers.append(CheckWorker(remote_config, queue, "equal", tmp_path / "worker.log"))
        for ctx in (in_daemon, on_workers):
            seed_fleet(ctx.engine, MODELS, ends)
        for end in ends:
            for i in range(MODELS):
                check_model(in_daemon, f"m{i}", end)
                send_checks(on_workers, f"m{i}", end, sent_at=ends[-1])
        _collect_all(on_workers, ends[-1] + timedelta(seconds=1), apply_findings)

        expected = stored_metrics(in_daemon.engine)
        assert len({(r[0], r[1], r[2]) for r in expected}) == MODELS * len(ends) * KINDS
        assert any(r[10] for r in expected), "the drifted model alerts on something"
        assert stored_metrics(on_workers.engine) == expected
        # The leader applied the same findings: the same alerts fire and resolve.
        assert _alerts(on_workers) == _alerts(in_daemon) and _alerts(in_daemon)
        with on_workers.sessions() as session:
            rows = session.scalars(select(CheckTask)).all()
            assert {r.state for r in rows} == {CheckTaskState.DONE.value}
            assert {r.worker for r in rows} == {workers[0].name}
    finally:
        in_daemon.close()
        on_workers.close()


def test_a_worker_killed_mid_cycle_loses_no_run_and_doubles_none(
    tmp_path: Path, pg_db: Callable[[], str], queue: str, workers: list[CheckWorker]
) -> None:
    config = fleet_config(tmp_path, pg_db(), models=MODELS, queue=queue, deadline="60s")
    ctx = _ctx(config)
    applied: list[tuple[str, datetime | None]] = []

    def recording(
        session: Session,
        settings: Settings,
        findings: Sequence[Finding],
        now: datetime,
        *,
        present: Mapping[str, datetime] | None = None,
    ) -> object:
        windows = {(f.scope, f.window_end) for f in findings if f.window_end is not None}
        assert len(windows) == 1, windows  # one run's findings per apply
        applied.extend(windows)
        outcome = apply_findings(session, settings, findings, now, present=present)
        # The lost run's later windows were stored first: applied in order all the same.
        assert outcome.stale == 0, windows
        return outcome

    try:
        seed_fleet(ctx.engine, MODELS, ENDS)
        doomed = CheckWorker(config, queue, "doomed", tmp_path / "doomed.log")
        workers.append(doomed)
        for end in ENDS:
            for i in range(MODELS):
                send_checks(ctx, f"m{i}", end, sent_at=ENDS[-1])
        # Mid-cycle: the doomed worker is running a run (and has finished some).
        limit = time.monotonic() + 60
        while True:
            with ctx.sessions() as session:
                states = Counter(session.scalars(select(CheckTask.state)))
            if states[CheckTaskState.RUNNING.value] and states[CheckTaskState.DONE.value]:
                break
            assert time.monotonic() < limit, f"no run started: {doomed.text()[-2000:]}"
            time.sleep(0.02)
        doomed.kill()
        with ctx.sessions() as session:
            lost = session.scalars(
                select(CheckTask).where(CheckTask.state == CheckTaskState.RUNNING.value)
            ).all()
            assert len(lost) == 1 and lost[0].worker == doomed.name
            lost_id = lost[0].id
        survivor = CheckWorker(config, queue, "survivor", tmp_path / "survivor.log")
        workers.append(survivor)
        # Before the lost run's deadline the survivor does the rest; the lost run's later
        # windows wait for it. Past its deadline, it is sent again.
        limit = time.monotonic() + 60
        while True:
            collect_checks(ctx, ENDS[-1] + timedelta(seconds=1), apply=recording)
            with ctx.sessions() as session:
                states = Counter(session.scalars(select(CheckTask.state)))
            if states[CheckTaskState.DONE.value] == MODELS * len(ENDS) - 1:
                break
            assert time.monotonic() < limit, f"stuck: {states}: {survivor.text()[-2000:]}"
            time.sleep(0.2)
        # Every other run is done: one more collect applies all but the lost run's later
        # windows (a run may have finished after the collect above).
        collect_checks(ctx, ENDS[-1] + timedelta(seconds=1), apply=recording)
        with ctx.sessions() as session:
            waiting = session.scalar(
                select(func.count())
                .select_from(CheckTask)
                .where(CheckTask.applied_at.is_(None), CheckTask.state == "done")
            )
        with ctx.sessions() as session:
            row = session.get_one(CheckTask, lost_id)
            lost_end = row.window_end
            assert row.state == CheckTaskState.RUNNING.value and row.applied_at is None
        assert waiting == sum(1 for e in ENDS if e > lost_end)
        _collect_all(ctx, ENDS[-1] + timedelta(seconds=61), recording)

        with ctx.sessions() as session:
            rows = session.scalars(select(CheckTask)).all()
            assert len(rows) == MODELS * len(ENDS)
            assert all(r.state == CheckTaskState.DONE.value and r.applied_at for r in rows)
            again = session.get_one(CheckTask, lost_id)
            assert again.attempts == 2 and again.worker == survivor.name
            per_window = Counter(
                session.execute(
                    select(Model.name, CheckRun.kind, CheckRun.window_end, CheckRun.segment).join(
                        Model, Model.id == CheckRun.model_id
                    )
                ).tuples()
            )
        assert len(per_window) == MODELS * len(ENDS) * KINDS
        assert set(per_window.values()) == {1}, "a run stored twice"
        # Every run's findings applied once, and per model in window order.
        assert len(applied) == len(set(applied)) == MODELS * len(ENDS)
        order: dict[str, list[datetime | None]] = defaultdict(list)
        for model, end in applied:
            order[model].append(end)
        assert all(ends == list(ENDS) for ends in order.values()), order
        # What people see: the queue on /metrics, the workers in the report's health.
        scraped = exposition(make_registry(ctx.engine)).decode()
        assert 'mlmaint_check_queue_runs{state="queued"} 0.0' in scraped
        assert f'mlmaint_check_worker_runs_total{{worker="{survivor.name}"}}' in scraped
        with ctx.sessions() as session:
            health = check_workers_health(session, week_containing(ENDS[0]))
        assert health is not None and health.runs == MODELS * len(ENDS)
        assert {w for w, _, _ in health.by_worker} == {doomed.name, survivor.name}
        # All sent at once: every later window started before its earlier one ended.
        assert health.resent == 1 and health.failed == 0
        assert health.overran == MODELS * (len(ENDS) - 1)
    finally:
        ctx.close()
