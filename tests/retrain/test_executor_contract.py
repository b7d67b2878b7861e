"""Every executor kind through one contract: submit, poll, cancel, locate, logs.

The suite walks `ExecutorKind`, so a new kind cannot land without a fixture
here and without passing it: a kind with no entry in `EXECUTORS` fails, named.
Each kind runs real jobs (`python -m retrain.run_job` for the local executor,
a real `retrain.worker` on the local Redis for Celery) with user entry points
that fail at once or train until cancelled.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from daemon.config import ExecutorKind
from retrain.executors.celery import CeleryExecutor
from retrain.executors.local import LocalExecutor
from retrain.interface import Executor, JobState, JobStatus, RetrainSpec, TrainerKind
from tests.retrain import data

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

MakeSpec = Callable[..., RetrainSpec]
LIMIT_S = 240


def _local(request: pytest.FixtureRequest, tmp_path: Path) -> Executor:
    return LocalExecutor(tmp_path / "jobs")


def _celery(request: pytest.FixtureRequest, tmp_path: Path) -> Executor:
    worker = request.getfixturevalue("celery_worker")
    return CeleryExecutor(worker.broker, worker.backend, worker.queue, timedelta(minutes=10))


# One entry per executor kind: how the suite makes one that really runs jobs.
EXECUTORS: dict[str, Callable[[pytest.FixtureRequest, Path], Executor]] = {
    ExecutorKind.LOCAL.value: _local,
    ExecutorKind.CELERY.value: _celery,
}


@pytest.fixture(params=[kind.value for kind in ExecutorKind], ids=str)
def executor(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Executor]:
    kind = str(request.param)
    make = EXECUTORS.get(kind)
    if make is None:
        pytest.fail(
            f"executor kind {kind!r} has no entry in EXECUTORS of {__name__}: "
            "add one that runs real jobs, and pass the executor contract",
            pytrace=False,
        )
    made = make(request, tmp_path)
    try:
        yield made
    finally:
        made.close()


def _job(make_spec: MakeSpec, target: str) -> RetrainSpec:
    return make_spec(
        data.frame(200, seed=1),
        trainer=TrainerKind.ENTRYPOINT,
        target=f"tests.retrain.entrypoints:{target}",
    )


def _until(
    executor: Executor, external_id: str, spec: RetrainSpec, done: Callable[[JobStatus], bool]
) -> JobStatus:
    limit = time.monotonic() + LIMIT_S
    while True:
        status = executor.poll(external_id, spec.deadline)
        if done(status):
            return status
        if time.monotonic() > limit:
            pytest.fail(f"{executor.name}: job {spec.job_id} stuck at {status.state}")
        time.sleep(0.2)


def test_the_executor_is_named_by_its_kind(executor: Executor) -> None:
    assert ExecutorKind(executor.name).value == executor.name


def test_a_job_is_submitted_polled_to_its_end_located_and_logged(
    executor: Executor, make_spec: MakeSpec
) -> None:
    spec = _job(make_spec, "raises")
    external_id = executor.submit(spec)
    assert isinstance(external_id, str) and external_id
    status = _until(executor, external_id, spec, lambda s: s.state.finished)
    # The job's own outcome comes back, with its error, not a lost job.
    assert status.state is JobState.FAILED, status
    assert status.outcome is not None and status.outcome.job_id == spec.job_id
    assert "user code failed on" in (status.error or ""), status
    # Found again by its job id (as after a daemon that stopped before recording it).
    assert executor.locate(spec.job_id) == external_id
    assert executor.locate(f"{spec.job_id}-never-submitted") is None
    logs = executor.logs(external_id)
    assert isinstance(logs, str) and "user code failed on" in logs


def test_a_running_job_is_cancelled(executor: Executor, make_spec: MakeSpec) -> None:
    spec = _job(make_spec, "slow")
    external_id = executor.submit(spec)
    _until(executor, external_id, spec, lambda s: s.state is JobState.RUNNING)
    executor.cancel(external_id)
    status = _until(executor, external_id, spec, lambda s: s.state.finished)
    assert status.state is JobState.CANCELLED, status
    assert isinstance(executor.logs(external_id), str)
