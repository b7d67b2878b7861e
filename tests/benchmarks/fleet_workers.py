"""The fleet on `checks` workers: `bench_fleet.py [models] --workers N [--rows R]`.

Seeds a fresh PostgreSQL database with the fleet (bench_fleet's models, one window
of R rows each, reference files), then runs one check cycle in the daemon (the
baseline: `check_model` per model, in this process) and one per worker count
1..N on real `mlmaint worker --queue checks` processes (one process each,
concurrency 1) on the local Redis: the leader sends every model's run
(`send_checks`) and the cycle ends when every run is stored and done; the
leader's apply of the findings (`collect_checks`) is timed apart. Each worker
count runs a warm-up cycle first (reference statistics and calibrations are
built once per reference and kept on disk and in the store; a worker's own
cache fills on its first runs), then the timed cycle.

Needs PostgreSQL ($MLMAINT_TEST_PG_URL, default postgres@127.0.0.1:5432/test)
and Redis at 127.0.0.1:6379 (database 11, a queue of its own).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
from sqlalchemy import create_engine, func, select, text

from daemon.checking.job import check_model
from daemon.checking.remote import collect_checks, send_checks
from daemon.config import load_config
from daemon.jobs import JobContext
from daemon.sampling.bulk import write_predictions
from daemon.sampling.rows import MODEL_VERSION
from daemon.store import migrate
from daemon.store.engine import make_engine
from daemon.store.features import ensure_layout
from daemon.store.models import ensure_model
from daemon.store.tables import CheckTask, CheckTaskState
from tests.benchmarks.bench_fleet import N_CAT, N_NUM, window

ROOT = Path(__file__).resolve().parents[2]
ADMIN = os.environ.get("MLMAINT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BROKER = "redis://127.0.0.1:6379/11"
BACKEND = "redis://127.0.0.1:6379/12"
NUMERIC = [f"n{j}" for j in range(N_NUM)]
CATEGORICAL = [f"c{j}" for j in range(N_CAT)]
T0 = datetime(2026, 1, 2, tzinfo=UTC)


def _config(work: Path, url: str, count: int, queue: str) -> Path:
    parts = [
        f'[service]\nstate_dir = "{work / "state"}"\n[store]\nurl = "{url}"\n',
        '[checks]\nrun_on = "celery"\nbackfill = "0s"\n[checks.celery]\n'
        f'broker_url = "{BROKER}"\nresult_backend = "{BACKEND}"\nqueue = "{queue}"\n'
        'deadline = "10m"\nvisibility_timeout = "30m"\n',
    ]
    for i in range(count):
        ref = work / f"ref-{i}.parquet"
        window(10_000 + i, False).rename(columns={"label": "y"}).to_parquet(ref)
        parts.append(
            f"""[[models]]
name = "model-{i}"
source = {{ kind = "http" }}
[models.schema]
numeric = {NUMERIC}
categorical = {CATEGORICAL}
score = "score"
latency = "latency_ms"
error = "error"
memory = "memory_mb"
[models.reference]
kind = "file"
path = "{ref}"
[models.checks.drift]
evidence = false
"""
        )
    path = work / "config.toml"
    path.write_text("\n".join(parts))
    return path


def _seed(url: str, count: int, rows: int) -> None:
    engine = make_engine(url)
    migrate.upgrade(engine)
    with engine.begin() as conn:
        for i in range(count):
            mid = ensure_model(conn, f"model-{i}", T0)
            layout = ensure_layout(conn, mid, NUMERIC, T0)
            frame = window(i, i % 3 == 0).drop(columns=["label"]).head(rows)
            frame["prediction"] = frame["prediction"].astype(str)
            frame["prediction_id"] = [f"p{k}" for k in range(len(frame))]
            frame["timestamp"] = [T0 - timedelta(hours=20, seconds=-k) for k in range(len(frame))]
            frame[MODEL_VERSION] = None
            table = pa.Table.from_pandas(frame, preserve_index=False)
            write_predictions(conn, mid, layout, table, NUMERIC, CATEGORICAL, now=T0)
    engine.dispose()


def _start(config: Path, queue: str, name: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as fh:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "daemon.cli",
                "--config",
                str(config),
                "worker",
                "--queue",
                queue,
                "--hostname",
                f"{name}@bench",
                "--concurrency=1",
            ],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            cwd=ROOT,
            start_new_session=True,
        )


def _cycle(ctx: JobContext, count: int, end: datetime) -> float:
    """Send every model's run of the window ending `end`; seconds until all are done."""
    began = time.perf_counter()
    for i in range(count):
        send_checks(ctx, f"model-{i}", end)
    while True:
        with ctx.sessions() as session:
            done = session.scalar(
                select(func.count())
                .select_from(CheckTask)
                .where(CheckTask.window_end == end, CheckTask.state == CheckTaskState.DONE.value)
            )
        if done == count:
            return time.perf_counter() - began
        time.sleep(0.05)


def run(count: int, max_workers: int, rows: int) -> None:
    name = f"mlmaint_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = ADMIN.rpartition("/")[0] + f"/{name}"
    queue = f"mlmaint-bench-{uuid.uuid4().hex[:8]}"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            config = _config(work, url, count, queue)
            t = time.perf_counter()
            _seed(url, count, rows)
            print(f"{count} models x {N_NUM + N_CAT} features x {rows:,} rows on PostgreSQL")
            print(f"  seeded in {time.perf_counter() - t:.1f} s")
            ctx = JobContext.from_settings(load_config(config))
            end = T0
            try:
                t = time.perf_counter()
                for i in range(count):
                    check_model(ctx, f"model-{i}", end, alert=False)
                print(f"  in the daemon, first cycle:  {time.perf_counter() - t:7.2f} s")
                end += timedelta(minutes=1)
                t = time.perf_counter()
                for i in range(count):
                    check_model(ctx, f"model-{i}", end, alert=False)
                base = time.perf_counter() - t
                print(f"  in the daemon:               {base:7.2f} s")
                cycles: dict[int, float] = {}
                for n in range(1, max_workers + 1):
                    procs = [
                        _start(config, queue, f"w{n}-{k}", work / f"w{n}-{k}.log") for k in range(n)
                    ]
                    try:
                        end += timedelta(minutes=1)
                        warm = _cycle(ctx, count, end)
                        end += timedelta(minutes=1)
                        cycles[n] = _cycle(ctx, count, end)
                    finally:
                        for p in procs:
                            os.killpg(p.pid, signal.SIGTERM)
                        for p in procs:
                            p.wait(timeout=60)
                    t = time.perf_counter()
                    collect_checks(ctx, end + timedelta(seconds=1))
                    applied = time.perf_counter() - t
                    print(
                        f"  {n} worker process(es):       {cycles[n]:7.2f} s "
                        f"(warm-up cycle {warm:.2f} s; the leader applied 2 cycles in "
                        f"{applied:.2f} s; {count / cycles[n] * 3600:,.0f} runs/hour)"
                    )
                print(f"  speed-up of {max_workers} over 1: {cycles[1] / cycles[max_workers]:.2f}x")
                print(f"  cores here: {os.cpu_count()}")
            finally:
                ctx.close()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main(argv: list[str]) -> None:
    numbers = [a for a in argv if not a.startswith("--")]
    workers = int(argv[argv.index("--workers") + 1]) if "--workers" in argv else 2
    rows = int(argv[argv.index("--rows") + 1]) if "--rows" in argv else 10_000
    flags = {argv[argv.index(f) + 1] for f in ("--workers", "--rows") if f in argv}
    count = int(next((n for n in numbers if n not in flags), "100"))
    run(count, workers, rows)
