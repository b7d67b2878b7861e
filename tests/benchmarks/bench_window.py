"""Window load: 100k sampled rows into a DataFrame on SQLite, against the naive path.

Two naive paths, each one row at a time then `pandas.DataFrame` of the records:
- the same stored rows: `json.loads` of the categorical features and
  `struct.unpack` of the packed numeric ones;
- the same rows with all 25 features as one JSON object each (how the store kept
  them before migration 0002, and the path the issue names): one `json.loads`.
Each run prints median and best of 7 (ours) and best of 3 (naive); the machine's
timings vary by +-15% from run to run. A second part loads a 2,000,000-row window in a child
process and prints its peak RSS (target < 1.5 GB).
Run: PYTHONPATH=. .venv/bin/python tests/benchmarks/bench_window.py [rows] [big_rows]
"""

from __future__ import annotations

import json
import resource
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from daemon.config import RESERVED_COLUMNS
from daemon.jobs import JobContext
from daemon.sampling import bulk
from daemon.sampling.specs import spec_of
from daemon.sampling.validation import RowValidator
from daemon.store import migrate
from daemon.store.features import ensure_layout
from daemon.store.models import ensure_model
from daemon.store.windows import load_window
from tests.benchmarks._data import CATEGORICAL, NUMERIC, T0, settings

END = T0 + timedelta(days=400)


def fill(ctx: JobContext, n: int, chunk: int = 200_000) -> None:
    """Store n synthetic sampled rows straight through the bulk writer."""
    model = ctx.settings.model("bench")
    schema = RowValidator(spec_of(model)).schema
    rng = np.random.default_rng(0)
    colors = np.array(["red", "green", "blue", "amber"])
    with ctx.engine.begin() as conn:
        model_id = ensure_model(conn, "bench", T0)
        layout_id = ensure_layout(conn, model_id, NUMERIC, T0)
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        cols: dict[str, object] = {
            "prediction_id": pa.array([f"p{i}" for i in range(start, start + m)]),
            "timestamp": pa.array(
                (T0.timestamp() * 1e6 + np.arange(start, start + m) * 1e4).astype("int64"),
                pa.timestamp("us", tz="UTC"),
            ),
        }
        for c in NUMERIC:
            cols[c] = pa.array(np.round(rng.normal(50, 10, m), 6))
        for c in CATEGORICAL:
            cols[c] = pa.array(colors[rng.integers(0, 4, m)])
        cols["prediction"] = pa.array((rng.random(m) < 0.3).astype(float))
        cols["score"] = pa.array(rng.random(m))
        cols["latency_ms"] = pa.array(rng.uniform(1, 20, m))
        table = pa.table([cols.get(f.name, pa.nulls(m, f.type)) for f in schema], schema=schema)
        with ctx.engine.begin() as conn:
            bulk.write_predictions(conn, model_id, layout_id, table, NUMERIC, CATEGORICAL, now=T0)


def _naive(
    ctx: JobContext, table: str, feature_columns: str, features_of: Callable[..., dict[str, object]]
) -> pd.DataFrame:
    """One row at a time: its features decoded by `features_of`, then one DataFrame."""
    with ctx.engine.connect() as conn:
        raw = conn.connection.driver_connection
        cur = raw.cursor()  # type: ignore[union-attr]
        # The store's `ts` column is the window's `timestamp`.
        reserved = ", ".join("ts AS timestamp" if c == "timestamp" else c for c in RESERVED_COLUMNS)
        cur.execute(f"SELECT {feature_columns}, {reserved} FROM {table} ORDER BY ts, id")
        width = feature_columns.count(",") + 1
        records = []
        for row in cur:
            rec = features_of(*row[:width])
            rec.update(zip(RESERVED_COLUMNS, row[width:], strict=True))
            records.append(rec)
        cur.close()
    frame = pd.DataFrame(records)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    return frame


def naive(ctx: JobContext) -> pd.DataFrame:
    unpack = struct.Struct(f"<{len(NUMERIC)}d").unpack

    def features_of(numeric: bytes, categorical: str) -> dict[str, object]:
        rec: dict[str, object] = json.loads(categorical)
        rec.update(zip(NUMERIC, unpack(numeric), strict=True))
        return rec

    return _naive(ctx, "predictions", "numeric_features, categorical_features", features_of)


def json_copy(ctx: JobContext) -> None:
    """A side table with the window's rows and their features as one JSON object."""
    unpack = struct.Struct(f"<{len(NUMERIC)}d").unpack
    with ctx.engine.begin() as conn:
        raw = conn.connection.driver_connection
        rows = raw.execute(  # type: ignore[union-attr]
            "SELECT id, prediction_id, ts, numeric_features, categorical_features, prediction,"
            " score, label, latency_ms, error, memory_mb FROM predictions"
        ).fetchall()
        raw.execute(  # type: ignore[union-attr]
            "CREATE TABLE predictions_json (id INTEGER PRIMARY KEY, prediction_id TEXT,"
            " ts TEXT, features TEXT, prediction TEXT, score REAL, label TEXT,"
            " latency_ms REAL, error TEXT, memory_mb REAL)"
        )
        raw.executemany(  # type: ignore[union-attr]
            "INSERT INTO predictions_json VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                (
                    i,
                    pid,
                    ts,
                    json.dumps({**dict(zip(NUMERIC, unpack(num), strict=True)), **json.loads(cat)}),
                    *rest,
                )
                for i, pid, ts, num, cat, *rest in rows
            ),
        )


def naive_json(ctx: JobContext) -> pd.DataFrame:
    return _naive(ctx, "predictions_json", "features", json.loads)


def big_child(url: str, glob: str) -> None:
    ctx = JobContext.from_settings(settings(url, glob))
    started = time.perf_counter()
    frame = load_window(ctx, ctx.settings.model("bench"), T0, END)
    elapsed = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    frame_mb = frame.memory_usage(deep=True).sum() / 2**20
    print(f"{len(frame)} {elapsed:.2f} {peak_mb:.0f} {frame_mb:.0f}")
    ctx.close()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    big = int(sys.argv[2]) if len(sys.argv) > 2 else 2_000_000
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'store.db'}"
        ctx = JobContext.from_settings(settings(url, str(Path(tmp) / "*.jsonl")))
        migrate.upgrade(ctx.engine)
        fill(ctx, n)
        model = ctx.settings.model("bench")
        load_window(ctx, model, T0, END)  # warm the page cache and imports
        json_copy(ctx)
        naive(ctx)
        naive_json(ctx)
        ours = [_timed(lambda: load_window(ctx, model, T0, END)) for _ in range(7)]
        plain = min(_timed(lambda: naive(ctx)) for _ in range(3))
        plain_json = min(_timed(lambda: naive_json(ctx)) for _ in range(3))
        mid, best = statistics.median(ours), min(ours)
        print(f"window of {n:,} rows, 25 features, SQLite")
        print(f"load_window:            median {mid:.3f} s, best {best:.3f} s  (target <= 0.35 s)")
        print(
            f"naive, same rows:       {plain:.3f} s  -> {plain / mid:.1f}x (median), "
            f"{plain / best:.1f}x (best)"
        )
        print(
            f"naive, features JSON:   {plain_json:.3f} s  -> {plain_json / mid:.1f}x (median), "
            f"{plain_json / best:.1f}x (best)  (aim >= 5x)"
        )
        ctx.close()
        if big:
            url = f"sqlite:///{Path(tmp) / 'big.db'}"
            ctx = JobContext.from_settings(settings(url, str(Path(tmp) / "*.jsonl")))
            migrate.upgrade(ctx.engine)
            fill(ctx, big)
            ctx.close()
            out = subprocess.run(
                [sys.executable, __file__, "--child", url],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            print(
                f"window of {int(out[0]):,} rows: {out[1]} s, peak RSS {out[2]} MB "
                f"(target < 1500 MB), frame {out[3]} MB"
            )


def _timed(fn: object) -> float:
    started = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - started


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        big_child(sys.argv[2], "/nonexistent/*.jsonl")
    else:
        main()
