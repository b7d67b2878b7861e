"""A small fleet in a real store, and real `checks` workers on the local Redis.

Models `m0`..`mN` of `tests.checks.frames.window` rows (m0's windows drift, so
some findings fire), a reference file each, and a config that sends their check
runs to a queue of its own (`[checks] run_on = "celery"`). `CheckWorker` is a real
`mlmaint worker --queue checks` process, killed by `kill -9` when a test says so.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import redis
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from daemon.store.models import ensure_model
from daemon.store.tables import CheckMetric, CheckRun, Model
from tests.checks.frames import window
from tests.checks.stored import stored_prediction

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
# Redis databases of the checks-worker tests (retraining's use 13 and 14).
BROKER_DB, BACKEND_DB = 11, 12
ROOT = Path(__file__).resolve().parents[2]


def require_redis() -> None:
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, socket_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        pytest.fail(f"Redis is not reachable at {REDIS_HOST}:{REDIS_PORT} ({exc})", pytrace=False)
    finally:
        client.close()


def forget_queue(queue: str) -> None:
    """The test's queue and any message a killed worker left unacknowledged."""
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=BROKER_DB)
    try:
        client.delete(queue)
        for key in ("unacked", "unacked_index"):
            client.delete(key)
    finally:
        client.close()


def fleet_config(
    tmp_path: Path,
    url: str,
    *,
    models: int,
    queue: str,
    run_on: str = "celery",
    deadline: str = "60s",
) -> Path:
    """A config.toml for the fleet: the store at `url`, runs on `queue`."""
    refs = tmp_path / "refs"
    refs.mkdir(parents=True, exist_ok=True)
    parts = [
        f'[service]\nstate_dir = "{tmp_path / "state"}"\n',
        f'[store]\nurl = "{url}"\n',
        f'[checks]\nrun_on = "{run_on}"\nbackfill = "0s"\n',
        "[checks.celery]\n"
        f'broker_url = "redis://{REDIS_HOST}:{REDIS_PORT}/{BROKER_DB}"\n'
        f'result_backend = "redis://{REDIS_HOST}:{REDIS_PORT}/{BACKEND_DB}"\n'
        f'queue = "{queue}"\ndeadline = "{deadline}"\nvisibility_timeout = "600s"\n',
    ]
    for i in range(models):
        ref = refs / f"m{i}.parquet"
        if not ref.exists():
            window(600, 100 + i).rename(columns={"label": "churned"}).to_parquet(ref)
        parts.append(
            f"""
[[models]]
name = "m{i}"
source = {{ kind = "http" }}
[models.schema]
numeric = ["age", "income", "visits"]
categorical = ["plan", "region"]
score = "score"
label = "churned"
[models.reference]
kind = "file"
path = "{ref}"
[models.checks.drift]
evidence = false
"""
        )
    path = tmp_path / f"config-{uuid.uuid4().hex[:6]}.toml"
    path.write_text("\n".join(parts))
    return path


def seed_fleet(
    engine: Engine,
    models: int,
    ends: Sequence[datetime],
    rows: int = 200,
    drifted: Sequence[int] | None = None,
) -> None:
    """Each model's rows: `rows` in the day before each window end (m0's drifted: in
    every window, or in the windows numbered in `drifted`)."""
    with Session(engine) as session, session.begin():
        for i in range(models):
            mid = ensure_model(session, f"m{i}", ends[0])
            for w, end in enumerate(ends):
                drifts = i == 0 and (drifted is None or w in drifted)
                frame = window(rows, 1000 * i + w, shift=1.0 if drifts else 0.0)
                start = end - timedelta(hours=20)
                for j, row in enumerate(frame.to_dict("records")):
                    session.add(
                        stored_prediction(
                            session,
                            mid,
                            row,
                            start + timedelta(seconds=j),
                            start,
                            prediction_id=f"{w}-{j}",
                        )
                    )


def stored_metrics(engine: Engine) -> list[tuple[object, ...]]:
    """Every stored run and measure, in a stable order, without ids or timings."""
    with Session(engine) as session:
        return sorted(
            session.execute(
                select(
                    Model.name,
                    CheckRun.kind,
                    CheckRun.window_end,
                    CheckRun.segment,
                    CheckRun.status,
                    CheckRun.rows,
                    CheckMetric.subject,
                    CheckMetric.name,
                    CheckMetric.value,
                    CheckMetric.threshold,
                    CheckMetric.alerting,
                    CheckMetric.detail,
                    CheckMetric.basis,
                )
                .join(Model, Model.id == CheckRun.model_id)
                .outerjoin(CheckMetric, CheckMetric.run_id == CheckRun.id)
            ).tuples(),
            key=repr,
        )


class CheckWorker:
    """A real `mlmaint worker --queue checks` process in its own session."""

    def __init__(self, config: Path, queue: str, name: str, log: Path, concurrency: int = 1):
        self.name = f"{name}@localhost"
        self.log = log
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with log.open("wb") as fh:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "daemon.cli",
                    "--config",
                    str(config),
                    "--log-level",
                    "INFO",
                    "worker",
                    "--queue",
                    queue,
                    "--hostname",
                    self.name,
                    f"--concurrency={concurrency}",
                ],
                stdout=fh,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=ROOT,
                start_new_session=True,
            )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """kill -9 the worker and its pool: a machine lost mid-run."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
