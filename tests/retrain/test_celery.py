"""A real Celery worker process on the local Redis trains with torch on the CPU."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from retrain.executors.celery import CeleryExecutor
from retrain.interface import JobState, JobStatus, RetrainSpec, TrainerKind
from retrain.job import execute
from tests.retrain import data
from tests.retrain.conftest import Worker, decayed_data

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

MakeSpec = Callable[..., RetrainSpec]
TORCH = {"max_epochs": 6, "batch_size": 256, "patience": 2}


def executor_for(worker: Worker) -> CeleryExecutor:
    return CeleryExecutor(worker.broker, worker.backend, worker.queue, timedelta(minutes=10))


def wait(executor: CeleryExecutor, job_id: str, deadline: datetime, worker: Worker) -> JobStatus:
    while True:
        status = executor.poll(job_id, deadline)
        if status.state.finished:
            return status
        if datetime.now(UTC) > deadline + timedelta(seconds=30):
            pytest.fail(f"job {job_id} did not end:\n{worker.log_text()[-3000:]}")
        time.sleep(0.3)


def test_torch_retrain_on_a_worker_promotes_and_reproduces(
    celery_worker: Worker, make_spec: MakeSpec
) -> None:
    old, new, holdout = decayed_data()
    assert execute(make_spec(old, trigger="initial")).promoted
    executor = executor_for(celery_worker)
    spec = make_spec(new, holdout, trainer=TrainerKind.TORCH, params=TORCH, trigger="decay")
    executor.submit(spec)
    status = wait(executor, spec.job_id, spec.deadline, celery_worker)
    outcome = status.outcome
    assert status.state is JobState.SUCCEEDED and outcome is not None, status.log_tail
    assert outcome.promoted and outcome.registered_version == "2", outcome.reason
    assert outcome.device == "cpu" and "torch" in outcome.framework_versions
    assert outcome.challenger_score is not None and outcome.champion_score is not None
    assert outcome.challenger_score > outcome.champion_score

    # The same snapshot hash again (into another registered model, where it is new): the
    # same training set, the same model, the same metrics.
    again = replace(spec, job_id=f"{spec.job_id}-again", registered_model="churn-again")
    executor.submit(again)
    rerun = wait(executor, again.job_id, again.deadline, celery_worker).outcome
    assert rerun is not None and rerun.state is JobState.SUCCEEDED, rerun
    assert rerun.challenger_score == outcome.challenger_score
    assert rerun.training_metrics["best_val_loss"] == outcome.training_metrics["best_val_loss"]
    # Into the model that already holds that snapshot: nothing new is registered.
    twin = replace(spec, job_id=f"{spec.job_id}-twin")
    executor.submit(twin)
    skipped = wait(executor, twin.job_id, twin.deadline, celery_worker).outcome
    assert skipped is not None and skipped.state is JobState.SUCCEEDED, skipped
    assert skipped.registered_version is None and skipped.existing_version == "2"
    assert not skipped.promoted and "already registered as version 2" in skipped.reason


def test_a_worker_killed_mid_job_ends_the_job_within_its_deadline(
    celery_worker: Worker, make_spec: MakeSpec
) -> None:
    executor = executor_for(celery_worker)
    spec = make_spec(
        data.frame(3000, seed=5),
        data.frame(500, seed=6, start=50_000),
        trainer=TrainerKind.TORCH,
        params=TORCH,
        deadline=datetime.now(UTC) + timedelta(minutes=3),
    )
    executor.submit(spec)
    pid = None
    limit = time.monotonic() + 120
    while pid is None:
        status = executor.poll(spec.job_id, spec.deadline)
        result = executor.app.AsyncResult(spec.job_id)
        if status.state is JobState.RUNNING and isinstance(result.info, dict):
            pid = int(result.info["pid"])
        assert not status.state.finished, "the job ended before it could be killed"
        assert time.monotonic() < limit, celery_worker.log_text()[-3000:]
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    # Polling keeps answering while the worker replaces its child.
    final = wait(executor, spec.job_id, spec.deadline, celery_worker)
    assert datetime.now(UTC) <= spec.deadline + timedelta(seconds=5)
    assert final.state in (JobState.SUCCEEDED, JobState.FAILED, JobState.TIMED_OUT), final
    log = celery_worker.log_text()
    assert "WorkerLostError" in log or "redelivered" in log or "exited" in log, log[-3000:]
    assert celery_worker.process.poll() is None, "the worker itself must keep running"
