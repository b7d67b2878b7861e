"""The SQLite write-ahead log stays bounded under sustained ingest.

Two threads push batches back to back while a third reads the store as /metrics
does. SQLite's own (PASSIVE) checkpoints never catch up there: unbounded, the log
reached 490 MiB in 10 s at 39,000 rows/s on the development box.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from daemon.jobs import JobContext
from daemon.metrics import read_state
from daemon.sampling import ingest_records
from daemon.store.engine import SQLITE_WAL_LIMIT, make_engine, session_factory
from tests.conftest import new_sqlite_url
from tests.sampling.conftest import settings_for

SECONDS = 6.0
BATCH = 2000


def test_the_wal_stays_bounded_under_sustained_ingest(
    sqlite_template: Path, tmp_path: Path
) -> None:
    url = new_sqlite_url(sqlite_template, tmp_path)
    settings = settings_for(url, {"kind": "http"})
    engine = make_engine(url)
    ctx = JobContext(settings=settings, engine=engine, sessions=session_factory(engine))
    model = settings.model("churn")
    wal = Path(url.removeprefix("sqlite:///") + "-wal")
    stop = time.monotonic() + SECONDS
    peak = 0
    acknowledged = [0, 0]
    errors: list[BaseException] = []

    def push(k: int) -> None:
        i = 0
        try:
            while time.monotonic() < stop:
                now = datetime.now(UTC)
                batch = [
                    {
                        "prediction_id": f"w{k}-{i + j}",
                        "timestamp": (now - timedelta(seconds=j % 600)).isoformat(),
                        "age": 20.0 + j % 50,
                        "income": 1000.0 + j,
                        "city": "paris",
                        "score": 0.5,
                        "latency_ms": 3.0,
                        "error": False,
                        "prediction": 1,
                    }
                    for j in range(BATCH)
                ]
                i += BATCH
                acknowledged[k] += ingest_records(ctx, model, batch, now).sampled
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)

    def scrape() -> None:
        while time.monotonic() < stop:
            read_state(engine)
            time.sleep(0.05)

    threads = [threading.Thread(target=push, args=(k,)) for k in range(2)]
    threads.append(threading.Thread(target=scrape))
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        if wal.exists():
            peak = max(peak, wal.stat().st_size)
        time.sleep(0.005)
    try:
        assert errors == []
        rows = sum(acknowledged)
        assert rows >= 20 * BATCH, "too little ingest to say anything about the log"
        # The bound: the limit plus the transactions running when a truncation began.
        assert peak < 3 * SQLITE_WAL_LIMIT, f"WAL peaked at {peak / 2**20:.1f} MiB"
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_size_limit")).scalar() == SQLITE_WAL_LIMIT
            stored = conn.execute(text("SELECT count(*) FROM predictions")).scalar()
        assert stored == rows
    finally:
        ctx.close()
