"""Benchmark: the weekly report of 50 models with a week of hourly checks each.

Seeds a fresh SQLite store (or the PostgreSQL URL given with --pg) with 50 models
x 168 hours x 4-5 check kinds (~34k check runs, ~150k metrics) plus alerts,
retrain jobs, framework findings and daemon health, then times `build_report`
(gather + render with charts + archive). The budget the issue sets is 15 s:
the ratio to it is printed.

    .venv/bin/python -m tests.benchmarks.bench_report [--models 50] [--pg]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from daemon.config import parse_config
from daemon.jobs import JobContext
from daemon.report.deliver import build_report
from daemon.report.gather import gather
from daemon.report.render import render_report
from daemon.report.weeks import parse_week
from daemon.store import migrate
from daemon.store.engine import make_engine, session_factory
from tests.report.seed import seed_week

BUDGET_S = 15.0
WEEK = "2026-W47"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--pg", action="store_true", help="use a fresh PostgreSQL database")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        pg_name = None
        if args.pg:
            from sqlalchemy import create_engine, text

            from tests.conftest import PG_ADMIN_URL, drop_pg_database, pg_url

            pg_name = f"mlmaint_bench_{int(time.time())}"
            admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{pg_name}"'))
            admin.dispose()
            url = pg_url(pg_name)
        else:
            url = f"sqlite:///{work / 'store.db'}"
        settings = parse_config(
            {"store": {"url": url}, "report": {"directory": str(work / "reports")}}
        )
        engine = make_engine(url)
        try:
            migrate.upgrade(engine)
            ctx = JobContext(settings=settings, engine=engine, sessions=session_factory(engine))
            week = parse_week(WEEK)
            started = time.perf_counter()
            seeded = seed_week(ctx.sessions, week, models=args.models, evidence_dir=work / "ev")
            seed_s = time.perf_counter() - started
            print(
                f"seeded {args.models} models: {seeded.runs} check runs, "
                f"{seeded.metrics} metrics in {seed_s:.1f}s ({engine.dialect.name})"
            )
            now = week.end + timedelta(hours=8)
            # Phases, then the whole job as the scheduler runs it.
            started = time.perf_counter()
            with ctx.sessions() as session:
                data = gather(session, settings, week, now)
            gather_s = time.perf_counter() - started
            started = time.perf_counter()
            render_report(data)
            render_s = time.perf_counter() - started
            started = time.perf_counter()
            built = build_report(ctx, WEEK, now)
            build_s = time.perf_counter() - started
            size = built.path.stat().st_size
            print(f"gather {gather_s:.2f}s, render {render_s:.2f}s")
            print(f"build_report {build_s:.2f}s, page {size / 1e6:.1f} MB")
            print(
                f"budget {BUDGET_S:.0f}s: ratio {build_s / BUDGET_S:.2f} "
                f"({'within' if build_s < BUDGET_S else 'OVER'} budget)"
            )
        finally:
            engine.dispose()
            if pg_name is not None:
                drop_pg_database(pg_name)


if __name__ == "__main__":
    main()
