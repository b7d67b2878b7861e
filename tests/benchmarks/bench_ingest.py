"""Ingest end to end: file source -> sample (rate 1.0) -> validate -> insert -> watermark.

Prints rows/s into SQLite and into the local PostgreSQL, and the ratio to a bare
`sqlite3.executemany` of the same rows (as stored: id, time, packed features, ...)
in the same run. Run: PYTHONPATH=. .venv/bin/python tests/benchmarks/bench_ingest.py [rows]
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import struct
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, text

from daemon.jobs import JobContext
from daemon.sampling import sample_predictions
from daemon.store import migrate
from tests.benchmarks._data import CATEGORICAL, NUMERIC, rows, settings, write_jsonl

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def ours(store_url: str, directory: Path) -> float:
    ctx = JobContext.from_settings(settings(store_url, str(directory / "*.jsonl")))
    try:
        migrate.upgrade(ctx.engine)
        started = time.perf_counter()
        out = sample_predictions(ctx, "bench", datetime.now(UTC))
        elapsed = time.perf_counter() - started
    finally:
        ctx.close()
    assert out.rejected_total == 0, out.rejected
    return out.sampled / elapsed


def bare_sqlite(data: list[dict[str, object]], path: Path) -> float:
    """The same rows as the store holds them (packed numeric features, categorical JSON),
    prepared in advance, then one executemany into a table with the same keys."""
    tuples = [
        (
            1,
            r["prediction_id"],
            str(r["timestamp"]).replace("T", " ").replace("+00:00", ""),
            1,
            struct.pack(f"<{len(NUMERIC)}d", *(r[c] for c in NUMERIC)),
            json.dumps({c: r[c] for c in CATEGORICAL}),
            str(r["prediction"]),
            r["score"],
            r["latency_ms"],
        )
        for r in data
    ]
    con = sqlite3.connect(path)
    con.execute("PRAGMA page_size=16384")  # as the store's own
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute(
        "CREATE TABLE p (id INTEGER PRIMARY KEY, model_id INT, prediction_id TEXT, ts TEXT,"
        " layout_id INT, numeric_features BLOB, categorical_features TEXT, prediction TEXT,"
        " score REAL, latency_ms REAL, UNIQUE (model_id, prediction_id))"
    )
    con.execute("CREATE INDEX ix ON p (model_id, ts)")
    started = time.perf_counter()
    con.executemany(
        "INSERT INTO p (model_id, prediction_id, ts, layout_id, numeric_features,"
        " categorical_features, prediction, score, latency_ms) VALUES (?,?,?,?,?,?,?,?,?)",
        tuples,
    )
    con.commit()
    elapsed = time.perf_counter() - started
    con.close()
    return len(tuples) / elapsed


def _warm_imports() -> None:
    # A running daemon has these loaded (its checks import pandas, and pyarrow's first
    # array pulls it in): a one-off start-up cost of ~0.3 s, not ingest throughput.
    import pandas  # noqa: F401
    import pyarrow as pa
    import pyarrow.json

    pa.array([0])


def _pg_rate(directory: Path) -> float:
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    name = f"mlmaint_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        return ours(PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", directory)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    _warm_imports()
    bare, mine, pg = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        data = rows(n)
        write_jsonl(directory / "preds.jsonl", data)
        # Interleaved, each run on fresh databases: the machine's speed drifts.
        for run in range(runs):
            bare.append(bare_sqlite(data, directory / f"bare{run}.db"))
            mine.append(ours(f"sqlite:///{directory / f'store{run}.db'}", directory))
            pg.append(_pg_rate(directory))
    ratios = [m / b for m, b in zip(mine, bare, strict=True)]
    med = statistics.median
    print(f"rows: {n}, 25 features (20 numeric, 5 categorical), {runs} runs: median (best)")
    print(f"bare sqlite3.executemany:          {med(bare):>10,.0f} ({max(bare):,.0f}) rows/s")
    print(
        f"mlmaint ingest -> SQLite:          {med(mine):>10,.0f} ({max(mine):,.0f}) rows/s"
        "  (target 100,000)"
    )
    print(
        f"mlmaint ingest -> PostgreSQL:      {med(pg):>10,.0f} ({max(pg):,.0f}) rows/s"
        "  (target 50,000)"
    )
    print(
        f"ratio SQLite ingest / bare insert: {med(ratios):>10.2f} ({max(ratios):.2f})"
        "  (aim >= 0.4; each run against its own bare run)"
    )


if __name__ == "__main__":
    main()
