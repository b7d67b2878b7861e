"""Migration 0008 both ways on SQLite and PostgreSQL: check runs gain their segment; going
back keeps the whole windows' runs and their measures, and drops the segments' runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, inspect, text
from sqlalchemy.orm import Session

from checks.interface import CheckKind, CheckResult, Measure, Status
from daemon.checking.records import KindRun, store_runs
from daemon.store import migrate

T0 = datetime(2026, 11, 16, tzinfo=UTC)
REVISION, BEFORE = "0008", "0007"


def _run(value: float) -> dict[CheckKind, KindRun]:
    result = CheckResult(
        kind=CheckKind.PERFORMANCE,
        status=Status.OK,
        rows=100,
        measures=(Measure(subject="roc_auc", name="value", value=value),),
    )
    return {CheckKind.PERFORMANCE: KindRun(result=result, duration_s=0.1)}


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_segment_migration_upgrades_and_downgrades_keeping_the_whole_windows(
    engine: Engine,
) -> None:
    migrate.upgrade(engine, REVISION)
    with Session(engine) as session, session.begin():
        span = {"start": T0 - timedelta(days=1), "end": T0}
        store_runs(session, "churn", _run(0.8), **span)
        # The same window of two segments: two more runs, not one replacing the other.
        store_runs(session, "churn", _run(0.6), **span, segment="region=eu")
        store_runs(session, "churn", _run(0.7), **span, segment="region=us")
        store_runs(session, "churn", _run(0.65), **span, segment="region=eu")
    assert _count(engine, "check_runs") == 3 and _count(engine, "check_metrics") == 3

    migrate.downgrade(engine, BEFORE)
    assert "segment" not in {c["name"] for c in inspect(engine).get_columns("check_runs")}
    assert _count(engine, "check_runs") == 1 and _count(engine, "check_metrics") == 1
    migrate.upgrade(engine)
    migrate.check(engine)
