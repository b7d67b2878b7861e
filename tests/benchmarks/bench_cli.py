"""The CLI at the terminal: `mlmaint check` on a 100k-row window, `status`, `alerts list`.

Sets up a SQLite store with one model ("bench": 20 numeric and 5 categorical
features, a score, labels on 30% of the rows), a 50,000-row Parquet reference
and a window of N rows in the last day, of which half the numeric features
drifted (so the check alerts). Each command runs as a user runs it: a fresh
`mlmaint` process, wall clock from start to exit (Python start-up and imports
included), median of --runs; the CPU time (user + sys) is printed beside it,
as the wall clock on a busy machine is mostly waiting. The first `check` is
timed apart: it builds the reference's statistics and calibration, which later
runs read back (from the store and the state directory's cache).

Then where the time goes: `-X importtime` grouped by top-level package, and a
cProfile of one `check` by the stages that matter.

Each command is timed twice, the runs interleaved: alone (`--local`: the process
reads the store itself) and with the daemon running (`mlmaint run` on the same
config, started for the benchmark once its own first check is done: the command
asks it, daemon/cli_remote.py, and prints its answer).

Targets (issue 17): check <= 1.5 s, status and alerts list <= 0.5 s.
Drift evidence is off for the timed runs; `--evidence` adds one run with the
configured evidence on (its cost is the evidence stage's).

Run: PYTHONPATH=. .venv/bin/python tests/benchmarks/bench_cli.py [--rows 100000] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import pstats
import re
import resource
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from daemon.config import load_config  # noqa: E402
from daemon.jobs import JobContext  # noqa: E402
from daemon.sampling import bulk  # noqa: E402
from daemon.sampling.specs import spec_of  # noqa: E402
from daemon.sampling.validation import RowValidator  # noqa: E402
from daemon.store import migrate  # noqa: E402
from daemon.store.features import ensure_layout  # noqa: E402
from daemon.store.models import ensure_model  # noqa: E402

NUMERIC = [f"n{j}" for j in range(20)]
CATEGORICAL = [f"c{j}" for j in range(5)]
COLOURS = np.array(["red", "green", "blue", "amber"])
# The stages of a `check`, as cProfile names their functions.
STAGES = {
    "window read (store/windows.py)": ("windows.py", "load_window"),
    "reference read (checking/references.py)": ("references.py", "load_reference"),
    "reference statistics": ("references.py", "reference_stats"),
    "calibration": ("run.py", "reference_calibration"),
    "checks (all kinds)": ("run.py", "run_checks"),
    "  drift (waits on its threads)": ("drift/check.py", "evaluate"),
    "  quality": ("checks/quality.py", "run"),
    "  performance (bootstrap)": ("performance/decay.py", "run"),
    "  estimated performance": ("performance/estimation.py", "run"),
    "  operations": ("checks/operations.py", "run"),
    "store runs": ("records.py", "store_runs"),
    "table printed": ("tables.py", "render"),
}


def config_text(directory: Path, evidence: bool, port: int = 0) -> str:
    return f"""
[service]
state_dir = "{directory / "state"}"
http_port = {port}
[checks]
backfill = "0s"
[store]
url = "sqlite:///{directory / "store.db"}"
[[alerts.channels]]
name = "outbox"
kind = "file"
path = "{directory / "outbox.jsonl"}"
[report]
enabled = false
[frameworks]
enabled = false
[[models]]
name = "bench"
[models.source]
kind = "http"
[models.schema]
numeric = [{", ".join(f'"{c}"' for c in NUMERIC)}]
categorical = [{", ".join(f'"{c}"' for c in CATEGORICAL)}]
score = "score"
latency = "latency_ms"
[models.reference]
kind = "file"
path = "{directory / "reference.parquet"}"
[models.checks]
window = "1d"
[models.checks.drift]
evidence = {"true" if evidence else "false"}
[models.retrain]
enabled = false
"""


def columns(rng: np.random.Generator, n: int, drifted: bool) -> dict[str, np.ndarray]:
    data = {
        c: np.round(rng.normal(50 + (2.0 if drifted and j % 2 == 0 else 0.0), 10, n), 6)
        for j, c in enumerate(NUMERIC)
    }
    for c in CATEGORICAL:
        data[c] = COLOURS[rng.integers(0, 4, n)]
    score = rng.random(n)
    data["prediction"] = (score >= 0.5).astype(float)
    data["score"] = score
    data["latency_ms"] = rng.gamma(4.0, 2.5, n)
    data["label"] = (rng.random(n) < score).astype(float)
    return data


def setup(directory: Path, rows: int, reference_rows: int, port: int = 0) -> None:
    rng = np.random.default_rng(17)
    pd.DataFrame(columns(rng, reference_rows, drifted=False)).to_parquet(
        directory / "reference.parquet"
    )
    for evidence in (False, True):
        name = "config-evidence.toml" if evidence else "config.toml"
        (directory / name).write_text(config_text(directory, evidence, port))
    settings = load_config(directory / "config.toml")
    ctx = JobContext.from_settings(settings)
    migrate.upgrade(ctx.engine)
    schema = RowValidator(spec_of(settings.model("bench"))).schema
    now = datetime.now(UTC)
    start = now - timedelta(hours=20)
    with ctx.engine.begin() as conn:
        model_id = ensure_model(conn, "bench", start)
        layout_id = ensure_layout(conn, model_id, NUMERIC, start)
    data = columns(rng, rows, drifted=True)
    del data["label"]
    step_us = 18 * 3600 * 1_000_000 // rows
    values: dict[str, pa.Array] = {
        "prediction_id": pa.array([f"p{i}" for i in range(rows)]),
        "timestamp": pa.array(
            int(start.timestamp() * 1_000_000) + np.arange(rows, dtype=np.int64) * step_us,
            pa.timestamp("us", tz="UTC"),
        ),
        **{k: pa.array(v) for k, v in data.items()},
    }
    table = pa.table(
        [values[f.name] if f.name in values else pa.nulls(rows, f.type) for f in schema],
        schema=schema,
    )
    with ctx.engine.begin() as conn:
        bulk.write_predictions(conn, model_id, layout_id, table, NUMERIC, CATEGORICAL, now=start)
        # Labels joined for 30% of the rows, drawn from the score as the labels stream
        # would bring them (one statement: there is no index on prediction_id alone).
        conn.exec_driver_sql(
            "UPDATE predictions SET label = CASE WHEN (abs(random()) % 1000000) / 1e6 < score "
            "THEN '1' ELSE '0' END WHERE id % 10 < 3"
        )
    ctx.close()


def env() -> dict[str, str]:
    """The environment of an installed mlmaint: bytecode cached, this checkout first."""
    out = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    out["PYTHONPATH"] = str(ROOT)
    out["COLUMNS"] = "120"
    return out


def mlmaint(directory: Path, *args: str, config: str = "config.toml") -> tuple[float, float, int]:
    """Run one command: (wall s, CPU s of the child, exit status)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "daemon.cli", "--config", str(directory / config), *args],
        env=env(),
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"mlmaint {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return wall, cpu, proc.returncode


def _summary(results: list[tuple[float, float, int]]) -> str:
    wall = statistics.median(r[0] for r in results)
    cpu = statistics.median(r[1] for r in results)
    best = min(r[0] for r in results)
    return f"median {wall:5.2f} s wall (best {best:5.2f}), {cpu:5.2f} s CPU"


def timed(directory: Path, runs: int, *args: str) -> tuple[str, str]:
    """(alone, asking the daemon): the runs interleaved, so both meet the same noise."""
    alone, asking = [], []
    for _ in range(runs):
        alone.append(mlmaint(directory, *args, "--local"))
        asking.append(mlmaint(directory, *args))
    return _summary(alone), _summary(asking)


def start_daemon(directory: Path) -> subprocess.Popen[bytes]:
    """`mlmaint run` on the benchmark's config, once its own first check is done."""
    log = directory / "daemon.log"
    daemon = subprocess.Popen(
        [sys.executable, "-m", "daemon.cli", "--config", str(directory / "config.toml"), "run"],
        env=env(),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120
    while "job checks:bench" not in log.read_text(errors="replace"):
        if daemon.poll() is not None or time.monotonic() > deadline:
            daemon.kill()
            raise SystemExit(f"the daemon did not check:\n{log.read_text(errors='replace')}")
        time.sleep(0.2)
    time.sleep(1.0)
    return daemon


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def import_breakdown(directory: Path, *args: str) -> list[tuple[str, float]]:
    proc = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "daemon.cli",
            "--config",
            str(directory / "config.toml"),
            *args,
        ],
        env=env(),
        capture_output=True,
        text=True,
        check=False,
    )
    groups: dict[str, float] = defaultdict(float)
    for line in proc.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+\d+ \|( *)(\S+)", line)
        if match:
            groups[match.group(3).split(".")[0]] += int(match.group(1)) / 1e6
    return sorted(groups.items(), key=lambda kv: -kv[1])


def profile(directory: Path) -> list[tuple[str, float]]:
    out = directory / "check.prof"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "cProfile",
            "-o",
            str(out),
            "-m",
            "daemon.cli",
            "--config",
            str(directory / "config.toml"),
            "check",
            "bench",
            "--local",
            # Stored (a look is not): the kinds' own times below are this run's.
            "--alert",
        ],
        env=env(),
        capture_output=True,
        check=False,
    )
    stats = pstats.Stats(str(out))
    found: list[tuple[str, float]] = []
    table = stats.stats  # type: ignore[attr-defined]
    total = max(v[3] for v in table.values())
    found.append(("whole command (under cProfile)", total))
    for label, (path, name) in STAGES.items():
        cum = sum(v[3] for k, v in table.items() if k[2] == name and k[0].endswith(path))
        found.append((label, cum))
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--reference", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--evidence", action="store_true", help="one run with evidence on")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        began = time.perf_counter()
        setup(directory, args.rows, args.reference, port=free_port())
        print(f"store of {args.rows:,} rows set up in {time.perf_counter() - began:.1f} s")
        mlmaint(directory, "--help")  # compiles this checkout's bytecode once
        load = os.getloadavg()
        print(f"load average {load[0]:.2f} {load[1]:.2f} on {os.cpu_count()} CPUs")
        cold = mlmaint(directory, "check", "bench", "--alert")
        print(
            f"check on a {args.rows:,}-row window, first run (builds the reference): "
            f"{cold[0]:.2f} s wall, {cold[1]:.2f} s CPU, exit {cold[2]}"
        )
        daemon = start_daemon(directory)
        try:
            print("\nalone (--local) | with the daemon running (it answers):")
            for label, command, target in (
                (f"check on a {args.rows:,}-row window", ("check", "bench"), 1.5),
                ("status", ("status",), 0.5),
                ("alerts list", ("alerts", "list"), 0.5),
            ):
                alone, asking = timed(directory, args.runs, *command)
                print(f"{label} (target <= {target} s)")
                print(f"  alone:        {alone}")
                print(f"  with daemon:  {asking}")
            answered = (directory / "daemon.log").read_text(errors="replace").count("for the CLI")
            print(f"the daemon answered {answered} of {3 * args.runs} runs that asked it")
        finally:
            daemon.terminate()
            daemon.wait(60)
        if args.evidence:
            wall, cpu, _ = mlmaint(directory, "check", "bench", config="config-evidence.toml")
            print(f"check with drift evidence on:   {wall:5.2f} s wall, {cpu:5.2f} s CPU (one run)")
        print("\nimports of `check` by top-level package (-X importtime, self times summed):")
        breakdown = import_breakdown(directory, "check", "bench", "--local")
        print(f"  {'all':<22} {sum(t for _, t in breakdown):6.3f} s")
        for name, seconds in breakdown[:12]:
            print(f"  {name:<22} {seconds:6.3f} s")
        print("\nimports of `status` (alone; asking the daemon imports the same but SQLAlchemy):")
        breakdown = import_breakdown(directory, "status", "--local")
        print(f"  {'all':<22} {sum(t for _, t in breakdown):6.3f} s")
        for name, seconds in breakdown[:8]:
            print(f"  {name:<22} {seconds:6.3f} s")
        print("\n`check --alert` under cProfile (cumulative, profiler overhead included):")
        for label, seconds in profile(directory):
            print(f"  {label:<40} {seconds:6.3f} s")
        # From 20,000 rows the kinds run side by side on threads (and a reference file is
        # read on one), which cProfile does not follow: each kind's own wall clock, as the
        # last check stored it, under its profiler.
        print("\nthe kinds of that `check`, wall clock each (run side by side):")
        with sqlite3.connect(directory / "store.db") as db:
            for kind, seconds in db.execute(
                "SELECT kind, duration_s FROM check_runs WHERE id IN "
                "(SELECT MAX(id) FROM check_runs GROUP BY kind) ORDER BY kind"
            ):
                print(f"  {kind:<40} {seconds:6.3f} s")


if __name__ == "__main__":
    main()
