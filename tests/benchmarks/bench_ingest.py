"""Ingest end to end: file source -> sample (rate 1.0) -> validate -> insert -> watermark.

Prints rows/s into SQLite and into the local PostgreSQL, and the ratio to a bare
`sqlite3.executemany` of the same rows (as stored: id, time, packed features, ...)
in the same run. Run: PYTHONPATH=. .venv/bin/python tests/benchmarks/bench_ingest.py [rows]
"""

from __future__ import annotations

import json
import sqlite3
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


def bare_sqlite(data: list[dict[str, object]], directory: Path) -> float:
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
    con = sqlite3.connect(directory / "bare.db")
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


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    _warm_imports()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        data = rows(n)
        write_jsonl(directory / "preds.jsonl", data)
        bare = bare_sqlite(data, directory)
        sqlite_rate = ours(f"sqlite:///{directory / 'store.db'}", directory)
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        name = f"mlmaint_bench_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            pg_rate = ours(PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", directory)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    print(f"rows: {n}, 25 features (20 numeric, 5 categorical)")
    print(f"bare sqlite3.executemany:          {bare:>10,.0f} rows/s")
    print(f"mlmaint ingest -> SQLite:          {sqlite_rate:>10,.0f} rows/s  (target 100,000)")
    print(f"mlmaint ingest -> PostgreSQL:      {pg_rate:>10,.0f} rows/s  (target 50,000)")
    print(f"ratio SQLite ingest / bare insert: {sqlite_rate / bare:>10.2f}  (aim >= 0.4)")


if __name__ == "__main__":
    main()
