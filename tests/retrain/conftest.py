"""Fixtures for retraining: a migrated MLflow store per test, specs, a Celery worker.

MLflow's database costs ~1.5 s of migrations, so one is migrated per session and
copied per test. MLflow emits UserWarnings from its own internals on import
(type hints of its agent classes): they are not ours to fix, so tests that load
MLflow in-process ignore UserWarning.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import redis

from checks.interface import TaskKind
from retrain.interface import DataRef, RetrainSpec, TrainerKind
from retrain.snapshot import write_snapshot
from tests.retrain import data

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
# Dedicated databases for retrain tests; queue names are unique per run.
BROKER_DB, BACKEND_DB = 13, 14
ROOT = Path(__file__).resolve().parents[2]
COLUMNS = [*data.NUMERIC, *data.CATEGORICAL, "label"]


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    # A subprocess: importing MLflow here would put its warnings into every test.
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from mlflow import MlflowClient; "
            "MlflowClient(tracking_uri=sys.argv[1]).search_experiments()",
            f"sqlite:///{path}",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return path


@pytest.fixture
def mlflow_uri(mlflow_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "mlflow.db"
    shutil.copyfile(mlflow_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def make_spec(tmp_path: Path, mlflow_uri: str) -> Callable[..., RetrainSpec]:
    def build(
        train: pd.DataFrame,
        holdout: pd.DataFrame | None = None,
        *,
        trainer: TrainerKind = TrainerKind.SKLEARN,
        **changes: object,
    ) -> RetrainSpec:
        snapshots = tmp_path / "snapshots"
        fields: dict[str, object] = {
            "job_id": uuid.uuid4().hex,
            "model": "churn",
            "task": TaskKind.BINARY,
            "trigger": "manual",
            "numeric": data.NUMERIC,
            "categorical": data.CATEGORICAL,
            "label": "label",
            "snapshot": write_snapshot(train, snapshots, COLUMNS),
            "holdout": None if holdout is None else write_snapshot(holdout, snapshots, COLUMNS),
            "trainer": trainer,
            "deadline": datetime.now(UTC) + timedelta(minutes=5),
            "tracking_uri": mlflow_uri,
            "artifact_location": (tmp_path / "artifacts").as_uri(),
            "experiment": "mlmaint-churn",
            "registered_model": "churn",
        }
        fields.update(changes)
        return RetrainSpec(**fields)  # type: ignore[arg-type]

    return build


def snapshot_ref(spec: RetrainSpec) -> DataRef:
    return spec.snapshot


def require_redis() -> None:
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, socket_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        pytest.fail(
            f"Redis is not reachable at {REDIS_HOST}:{REDIS_PORT} ({exc}); start it with: "
            "redis-server --daemonize yes",
            pytrace=False,
        )
    finally:
        client.close()


class Worker:
    def __init__(self, queue: str, process: subprocess.Popen[bytes], log: Path) -> None:
        self.queue = queue
        self.process = process
        self.log = log
        self.broker = f"redis://{REDIS_HOST}:{REDIS_PORT}/{BROKER_DB}"
        self.backend = f"redis://{REDIS_HOST}:{REDIS_PORT}/{BACKEND_DB}"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture(scope="module")
def celery_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    """A real `python -m retrain.worker` on the local Redis, its own queue."""
    require_redis()
    queue = f"mlmaint-test-{uuid.uuid4().hex[:10]}"
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with log.open("wb") as fh:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "retrain.worker",
                "--broker",
                f"redis://{REDIS_HOST}:{REDIS_PORT}/{BROKER_DB}",
                "--backend",
                f"redis://{REDIS_HOST}:{REDIS_PORT}/{BACKEND_DB}",
                "--queue",
                queue,
                "--hostname",
                f"{queue}@localhost",
                # Above any test job's hard limit.
                "--visibility-timeout",
                "600",
            ],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
            start_new_session=True,
        )
    worker = Worker(queue, process, log)
    try:
        limit = time.monotonic() + 60
        while "ready." not in worker.log_text():
            if process.poll() is not None or time.monotonic() > limit:
                pytest.fail(f"the Celery worker did not start:\n{worker.log_text()[-3000:]}")
            time.sleep(0.2)
        yield worker
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait(timeout=10)
        client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=BROKER_DB)
        client.delete(queue)
        client.close()


def decayed_data() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Old concept (the champion's), new concept (the retraining set), a new holdout."""
    return (
        data.frame(1500, seed=1, concept="a"),
        data.frame(1500, seed=2, concept="b", start=100_000),
        data.frame(600, seed=3, concept="b", start=200_000),
    )
