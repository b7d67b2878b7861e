"""The /v1 reads on a store with history: hourly drift and quality runs for 60 days.

Stores `days` x 24 drift runs (25 columns + dataset) and as many quality runs (3
measures per column) through the checking stage's writer, then times each read
over HTTP on a loopback server: median and best of 7, and the body size.
Run: PYTHONPATH=. .venv/bin/python tests/benchmarks/bench_api.py [days] [sqlite|postgresql-url]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from checks.interface import CheckKind, CheckResult, Measure, Status
from daemon.api import ApiServer
from daemon.checking.records import KindRun, store_runs
from daemon.config import parse_config
from daemon.jobs import JobContext
from daemon.store import migrate
from daemon.store.engine import make_engine, session_factory, transaction

COLUMNS = [f"f{i:02d}" for i in range(25)]
START = datetime(2026, 9, 1, tzinfo=UTC)


def _results(hour: int) -> dict[CheckKind, KindRun]:
    drift = (
        *(
            Measure(subject=c, name="wasserstein", value=0.01 * ((hour + i) % 17), threshold=0.1)
            for i, c in enumerate(COLUMNS)
        ),
        Measure(subject="dataset", name="drifted_share", value=0.0, threshold=0.5),
    )
    quality = tuple(
        Measure(subject=c, name=name, value=0.001 * (hour % 7), threshold=0.05)
        for c in COLUMNS
        for name in ("missing_share", "non_numeric_share", "out_of_range_share")
    )
    return {
        CheckKind.DRIFT: KindRun(
            result=CheckResult(kind=CheckKind.DRIFT, status=Status.OK, rows=500, measures=drift),
            duration_s=0.05,
        ),
        CheckKind.QUALITY: KindRun(
            result=CheckResult(
                kind=CheckKind.QUALITY, status=Status.OK, rows=500, measures=quality
            ),
            duration_s=0.01,
        ),
    }


def main(days: int = 60, url: str | None = None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        engine = make_engine(store)
        migrate.upgrade(engine)
        settings = parse_config(
            {
                "store": {"url": store},
                "models": [
                    {
                        "name": "churn",
                        "source": {"kind": "http"},
                        "schema": {"numeric": COLUMNS},
                    }
                ],
            },
            environ={},
        )
        ctx = JobContext(settings=settings, engine=engine, sessions=session_factory(engine))
        began = time.perf_counter()
        for hour in range(days * 24):
            end = START + timedelta(hours=hour + 1)
            with transaction(ctx.sessions) as session:
                store_runs(
                    session, "churn", _results(hour), start=end - timedelta(hours=1), end=end
                )
        seeded = time.perf_counter() - began
        metrics = days * 24 * (len(COLUMNS) + 1 + 3 * len(COLUMNS))
        print(
            f"{store.split(':')[0]}: {days * 48} runs, {metrics} measures stored in {seeded:.1f}s"
        )
        now = START + timedelta(days=days)
        reads = [
            "/v1/models",
            "/v1/models/churn",
            "/v1/models/churn/checks?kind=drift&subject=f03",
            "/v1/models/churn/checks?kind=drift&since="
            + (now - timedelta(days=7)).date().isoformat(),
            "/v1/models/churn/checks",
            "/v1/models/churn/checks?limit=10000",
            "/v1/alerts?state=all",
            "/v1/openapi.json",
        ]
        with (
            ApiServer(ctx, port=0, clock=lambda: now) as server,
            httpx.Client(base_url=server.url, timeout=60) as client,
        ):
            for path in reads:
                times = []
                size = 0
                for _ in range(7):
                    t0 = time.perf_counter()
                    answer = client.get(path)
                    times.append(time.perf_counter() - t0)
                    answer.raise_for_status()
                    size = len(answer.content)
                print(
                    f"  {path:<72} median {statistics.median(times) * 1000:7.1f} ms"
                    f"  best {min(times) * 1000:7.1f} ms  {size / 1024:8.1f} KiB"
                )
        ctx.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 60, sys.argv[2] if len(sys.argv) > 2 else None)
