"""How the daemon records retrain jobs: alerts with the job's end, lost jobs, racing
submits, refused submits, executor connections. Both store backends.

The jobs run for real on the local executor, with an interpreter that exits at once
(`/bin/true`) or does not exist: what is under test is the daemon's bookkeeping, not
training, so no job here needs MLflow or a model.
"""

from __future__ import annotations

import gc
import logging
import os
import shutil
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

import daemon.retraining.promote as promote
from daemon.config import Settings, parse_config
from daemon.jobs import JobContext
from daemon.retraining.job import active_jobs, poll_jobs, retrain_policy, wait_for_jobs
from daemon.retraining.submit import SubmitError, submit_if_due
from daemon.store.engine import transaction
from daemon.store.tables import Alert, AlertState, Model, RetrainJob
from retrain.executors.local import LocalExecutor
from retrain.interface import JobState, RetrainSpec
from tests.retrain import data
from tests.retrain.conftest import BACKEND_DB, BROKER_DB, REDIS_HOST, REDIS_PORT, require_redis
from tests.retrain.test_daemon import START, seed_production

NOW = START + timedelta(days=2)


def settings_for(tmp_path: Path, **executor: object) -> Settings:
    return parse_config(
        {
            "service": {"state_dir": str(tmp_path / "state")},
            "mlflow": {
                "tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}",
                "artifact_root": str(tmp_path / "artifacts"),
            },
            "executor": {"kind": "local", "timeout": "10m", "python": "/bin/true", **executor},
            "models": [
                {
                    "name": "churn",
                    "source": {"kind": "http"},
                    "schema": {"numeric": list(data.NUMERIC), "categorical": ["plan"]},
                    "retrain": {"holdout_share": 0.3},
                }
            ],
        },
        environ={},
    )


def context(
    tmp_path: Path, engine: Engine, sessions: sessionmaker[Session], **executor: object
) -> JobContext:
    ctx = JobContext(settings=settings_for(tmp_path, **executor), engine=engine, sessions=sessions)
    with transaction(ctx.sessions) as session:
        session.add(Model(name="churn", created_at=START))
    seed_production(ctx, data.frame(200, seed=5), failing=0)
    return ctx


def retrain_alerts(ctx: JobContext) -> list[Alert]:
    with transaction(ctx.sessions) as session:
        return list(session.scalars(select(Alert).where(Alert.kind == "retrain")))


def the_job(ctx: JobContext) -> RetrainJob:
    with transaction(ctx.sessions) as session:
        return session.scalars(select(RetrainJob)).one()


def test_a_failed_job_and_its_alert_commit_together(
    engine: Engine, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    ctx = context(tmp_path, engine, session_factory)
    _, job_uid = submit_if_due(ctx, ctx.settings.model("churn"), NOW, manual=True)
    assert job_uid is not None

    # The alert policy fails (a crash at that point): the job's end is not recorded
    # either, so the next poll finds it again and nothing is lost.
    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("policy down")

    limit = time.monotonic() + 30
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(promote, "apply_findings", broken)
        while True:
            try:
                poll_jobs(ctx, None, NOW)
            except RuntimeError as exc:
                assert "policy down" in str(exc)
                break
            assert time.monotonic() < limit, "the /bin/true job never ended"
            time.sleep(0.1)
    assert the_job(ctx).state in (JobState.QUEUED, JobState.RUNNING)
    assert retrain_alerts(ctx) == []

    # Nobody applies what poll_jobs returns: the alert is in the store already.
    findings = wait_for_jobs(ctx, NOW, timeout_s=30, poll_s=0.1)
    assert [f.firing for f in findings] == [True]
    job = the_job(ctx)
    assert job.state == JobState.FAILED and "without an outcome" in (job.error or "")
    # A failed job is an event: told once, never firing, repeating or resolving.
    [alert] = retrain_alerts(ctx)
    assert alert.state == AlertState.EVENT and alert.scope == "churn"
    assert job.job_uid in alert.summary


def test_a_job_that_cannot_be_polled_fails_at_its_deadline(
    engine: Engine, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    ctx = context(tmp_path, engine, session_factory)
    _, job_uid = submit_if_due(ctx, ctx.settings.model("churn"), NOW, manual=True)
    job = the_job(ctx)
    assert job.external_id is not None
    shutil.rmtree(job.external_id)  # the job directory is lost: no pid file to ask

    # Before the deadline a poll error may be transient: the job stays active.
    assert poll_jobs(ctx, None, NOW) == []
    assert active_jobs(ctx) == [job_uid]
    # The next decision is blocked by it...
    decision, second = submit_if_due(ctx, ctx.settings.model("churn"), NOW, manual=True)
    assert second is None and "already queued or running" in decision.reason

    with transaction(ctx.sessions) as session:
        session.execute(update(RetrainJob).values(deadline_at=NOW - timedelta(seconds=1)))
    findings = poll_jobs(ctx, None, NOW)
    assert len(findings) == 1 and findings[0].firing
    job = the_job(ctx)
    assert job.state == JobState.FAILED
    assert "unreachable at its deadline" in (job.error or "")
    assert "no readable pid file" in (job.error or "")
    assert [a.state for a in retrain_alerts(ctx)] == [AlertState.EVENT]
    # ...and no longer once it failed.
    _, third = submit_if_due(ctx, ctx.settings.model("churn"), NOW, manual=True)
    assert third is not None


def test_a_job_recorded_but_never_submitted_fails_at_its_deadline(
    engine: Engine, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    ctx = context(tmp_path, engine, session_factory)
    submit_if_due(ctx, ctx.settings.model("churn"), NOW, manual=True)
    # As a daemon that stopped between recording the job and submitting it leaves it:
    # no external id, and nothing at the executor.
    job_dir = Path(the_job(ctx).external_id or "")
    assert job_dir.is_dir()
    shutil.rmtree(job_dir)
    with transaction(ctx.sessions) as session:
        session.execute(update(RetrainJob).values(external_id=None))
    assert poll_jobs(ctx, None, NOW) == []
    assert the_job(ctx).state == JobState.QUEUED
    with transaction(ctx.sessions) as session:
        session.execute(update(RetrainJob).values(deadline_at=NOW - timedelta(seconds=1)))
    [finding] = poll_jobs(ctx, None, NOW)
    assert finding.firing and "never reached its executor" in finding.summary
    assert the_job(ctx).state == JobState.FAILED


def test_a_job_submitted_but_not_on_record_is_found_again_by_its_job_id(
    engine: Engine, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    ctx = context(tmp_path, engine, session_factory)
    _, job_uid = submit_if_due(ctx, ctx.settings.model("churn"), NOW, manual=True)
    external_id = the_job(ctx).external_id
    # As a daemon that stopped after the executor took the job, before it recorded
    # the executor's id, leaves it.
    with transaction(ctx.sessions) as session:
        session.execute(update(RetrainJob).values(external_id=None))
    deadline = time.monotonic() + 30
    while the_job(ctx).state in (JobState.QUEUED, JobState.RUNNING):
        assert time.monotonic() < deadline, "the job was never found again"
        poll_jobs(ctx, None, NOW)
        time.sleep(0.1)
    job = the_job(ctx)
    assert job.job_uid == job_uid and job.external_id == external_id
    # Its real end, from the executor (/bin/true writes no outcome), not a lost job.
    assert job.state == JobState.FAILED
    assert "exited without an outcome" in (job.error or "")


class WatchingExecutor(LocalExecutor):
    """The local executor, noting what the store holds when a job is submitted."""

    def __init__(self, workdir: Path, ctx: JobContext) -> None:
        super().__init__(workdir, python="/bin/true")
        self.ctx = ctx
        self.seen: list[tuple[str, JobState, str | None]] = []

    def submit(self, spec: RetrainSpec) -> str:
        with transaction(self.ctx.sessions) as session:
            for job in session.scalars(select(RetrainJob)):
                self.seen.append((job.job_uid, job.state, job.external_id))
        return super().submit(spec)


def test_a_manual_and_a_scheduled_decision_submit_one_job(
    engine: Engine, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    ctx = context(tmp_path, engine, session_factory)
    executor = WatchingExecutor(tmp_path / "jobs", ctx)
    model = ctx.settings.model("churn")
    start = threading.Barrier(2)
    results: list[str | None] = []
    errors: list[BaseException] = []

    def decide_and_submit() -> None:
        try:
            start.wait(timeout=10)
            results.append(submit_if_due(ctx, model, NOW, manual=True, executor=executor)[1])
        except BaseException as exc:  # reported below, on the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=decide_and_submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == [] and len(results) == 2
    submitted = [uid for uid in results if uid is not None]
    assert len(submitted) == 1, results
    job = the_job(ctx)
    assert job.job_uid == submitted[0]
    # On record, without an external id, before the executor saw it; then the id.
    assert executor.seen == [(job.job_uid, JobState.QUEUED, None)]
    assert job.external_id == str((tmp_path / "jobs" / job.job_uid).resolve())
    executor.close()


def test_two_models_deciding_at_once_stay_within_max_concurrent(
    engine: Engine, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    settings = parse_config(
        {
            "service": {"state_dir": str(tmp_path / "state")},
            "mlflow": {
                "tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}",
                "artifact_root": str(tmp_path / "artifacts"),
            },
            "executor": {
                "kind": "local",
                "timeout": "10m",
                "python": "/bin/true",
                "max_concurrent": 1,
            },
            "models": [
                {
                    "name": name,
                    "source": {"kind": "http"},
                    "schema": {"numeric": list(data.NUMERIC), "categorical": ["plan"]},
                    "retrain": {"holdout_share": 0.3},
                }
                for name in ("churn", "upsell")
            ],
        },
        environ={},
    )
    ctx = JobContext(settings=settings, engine=engine, sessions=session_factory)
    with transaction(ctx.sessions) as session:
        session.add(Model(name="churn", created_at=START))
        session.add(Model(name="upsell", created_at=START))
    seed_production(ctx, data.frame(200, seed=5), failing=0, model_name="churn")
    seed_production(ctx, data.frame(200, seed=6), failing=0, model_name="upsell")
    executor = WatchingExecutor(tmp_path / "jobs", ctx)
    start = threading.Barrier(2)
    results: list[str | None] = []
    errors: list[BaseException] = []

    def decide_and_submit(name: str) -> None:
        try:
            start.wait(timeout=10)
            model = ctx.settings.model(name)
            results.append(submit_if_due(ctx, model, NOW, manual=True, executor=executor)[1])
        except BaseException as exc:  # reported below, on the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=decide_and_submit, args=(n,)) for n in ("churn", "upsell")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == [] and len(results) == 2
    assert len([uid for uid in results if uid is not None]) == 1, results
    with transaction(ctx.sessions) as session:
        assert len(session.scalars(select(RetrainJob)).all()) == 1
    executor.close()


def test_a_refused_submit_is_recorded_failed_with_its_alert(
    engine: Engine, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    ctx = context(tmp_path, engine, session_factory, python=str(tmp_path / "no-such-python"))
    with pytest.raises(SubmitError, match="submit failed: FileNotFoundError") as raised:
        submit_if_due(ctx, ctx.settings.model("churn"), NOW, manual=True)
    job = the_job(ctx)
    assert job.job_uid == raised.value.job_uid
    assert job.state == JobState.FAILED and job.external_id is None
    assert "no-such-python" in (job.error or "")
    assert [a.state for a in retrain_alerts(ctx)] == [AlertState.EVENT]
    # The policy reports it and carries on; the failed job blocks nothing.
    [finding] = retrain_policy(ctx, "churn", NOW, manual=True)
    assert finding.firing and "submit failed" in finding.summary
    assert active_jobs(ctx) == []


def open_sockets() -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:
            continue
    return count


def test_polling_celery_jobs_gives_its_connections_back(
    engine: Engine, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    require_redis()
    ctx = context(
        tmp_path,
        engine,
        session_factory,
        kind="celery",
        celery={
            "broker_url": f"redis://{REDIS_HOST}:{REDIS_PORT}/{BROKER_DB}",
            "result_backend": f"redis://{REDIS_HOST}:{REDIS_PORT}/{BACKEND_DB}",
            "queue": f"mlmaint-test-{uuid.uuid4().hex[:10]}",
        },
    )
    with transaction(ctx.sessions) as session:
        model_id = session.scalars(select(Model.id)).one()
        for _ in range(3):
            # Ids no worker ever saw: PENDING until their deadline, a poll changes nothing.
            session.add(
                RetrainJob(
                    job_uid=uuid.uuid4().hex,
                    model_id=model_id,
                    trigger="manual",
                    state=JobState.QUEUED,
                    executor="celery",
                    external_id=uuid.uuid4().hex,
                    spec={},
                    created_at=NOW,
                    deadline_at=datetime.now(UTC) + timedelta(hours=1),
                )
            )
    gc.collect()
    gc.disable()  # what is left open must be closed, not collected
    try:
        assert poll_jobs(ctx, None, NOW) == []
        before = open_sockets()
        for _ in range(5):
            assert poll_jobs(ctx, None, NOW) == []
        after = open_sockets()
    finally:
        gc.enable()
    assert after <= before, f"{after - before} sockets left open by 5 polls"
    assert len(active_jobs(ctx)) == 3


def test_celery_finds_a_job_by_its_job_id_once_a_worker_has_taken_it() -> None:
    from retrain.executors.celery import CeleryExecutor

    require_redis()
    executor = CeleryExecutor(
        f"redis://{REDIS_HOST}:{REDIS_PORT}/{BROKER_DB}",
        f"redis://{REDIS_HOST}:{REDIS_PORT}/{BACKEND_DB}",
        f"mlmaint-test-{uuid.uuid4().hex[:10]}",
        timedelta(minutes=10),
    )
    try:
        job_id = uuid.uuid4().hex
        # Queued or never sent: Celery can't tell them apart, so not found (yet).
        assert executor.locate(job_id) is None
        # What a worker records when it starts the task.
        executor.app.backend.store_result(job_id, {"pid": 1}, "STARTED")
        assert executor.locate(job_id) == job_id
        assert executor.poll(job_id, datetime.now(UTC) + timedelta(hours=1)).state.value == (
            "running"
        )
    finally:
        executor.close()


def test_a_job_started_by_drift_alone_names_drift_in_its_record_and_its_alert(
    engine: Engine,
    session_factory: sessionmaker[Session],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Inputs drifting three passes in a row while the performance holds: the job is a
    drift job, not a decay one, in the job's row and in the alert of its end."""
    from checks.interface import Status
    from daemon.retraining.findings import job_finding
    from daemon.store.tables import CheckRun
    from retrain.interface import JobStatus

    ctx = context(tmp_path, engine, session_factory)
    with transaction(ctx.sessions) as session:
        model_id = session.scalars(select(Model.id)).one()
        for day in range(3):
            end = START + timedelta(days=1, hours=day + 1)
            for kind, status in (("drift", Status.ALERT), ("performance", Status.OK)):
                session.add(
                    CheckRun(
                        model_id=model_id,
                        kind=kind,
                        status=status,
                        window_start=end - timedelta(days=1),
                        window_end=end,
                        ran_at=end,
                        duration_s=0.1,
                        rows=100,
                        summary={},
                    )
                )
    with caplog.at_level(logging.INFO, logger="daemon.retraining.submit"):
        assert retrain_policy(ctx, "churn", NOW) == []
    job = the_job(ctx)
    assert job.trigger == "drift"
    # The log line names the trigger once, in the reason's words.
    [said] = [r.getMessage() for r in caplog.records if "submitted job" in r.getMessage()]
    assert said.startswith(
        f"retrain policy for churn: submitted job {job.job_uid} (drift: 3 failing drift "
        "check passes in a row (threshold 3); "
    ), said
    assert said.count("drift:") == 1, said
    # /bin/true leaves no outcome: the job fails, and its alert says what started it.
    [finding] = wait_for_jobs(ctx, NOW, timeout_s=30, poll_s=0.1)
    assert finding.details["trigger"] == "drift"
    assert finding.summary.endswith("; started for drift"), finding.summary
    assert "decay" not in finding.summary
    [alert] = retrain_alerts(ctx)
    assert alert.summary == finding.summary
    # The same job, had it run for decay or both, says so.
    for trigger, words in (
        ("decay", "performance decay"),
        ("drift_and_decay", "drift and performance decay"),
    ):
        job.trigger = trigger
        said = job_finding("churn", job, JobStatus(state=JobState.FAILED, error="boom"))
        assert said.summary == f"churn: retrain job {job.job_uid} failed: boom; started for {words}"


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_job_reports_when_it_really_started_not_when_its_end_was_seen(
    engine: Engine, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    """A job that ran a while and ended between two polls: GET /v1/jobs gives its start
    as the executor saw it (on the job's clock), before the end the poll recorded."""
    import httpx

    from daemon.api import ApiServer

    slow = tmp_path / "slow-python"
    slow.write_text("#!/bin/sh\nexec sleep 1\n")
    slow.chmod(0o755)
    ctx = context(tmp_path, engine, session_factory, python=str(slow))
    retrain_policy(ctx, "churn", NOW, manual=True)
    time.sleep(1.5)  # it ran for a second and ended before anyone polled it
    seen = NOW + timedelta(hours=1)
    [finding] = wait_for_jobs(ctx, seen, timeout_s=30, poll_s=0.1)
    assert "exited without an outcome" in finding.summary
    with ApiServer(ctx, port=0, clock=lambda: seen) as server:
        [job] = httpx.get(f"{server.url}/v1/jobs").json()["jobs"]
    created, started, finished = (
        datetime.fromisoformat(job[k].replace("Z", "+00:00"))
        for k in ("created_at", "started_at", "finished_at")
    )
    assert (created, finished) == (NOW, seen)
    assert timedelta(seconds=1) <= finished - started < timedelta(minutes=1), job
