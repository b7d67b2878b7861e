"""Migration 0007 both ways on SQLite and PostgreSQL: check runs stored before it are
live (they counted toward retrain streaks, and still do); down again, the runs stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert, inspect, select, text
from sqlalchemy.orm import Session

from checks.interface import Status
from daemon.store import migrate
from daemon.store.tables import CheckRun, Model

T0 = datetime(2026, 12, 1, tzinfo=UTC)
REVISION, BEFORE = "0007", "0006"


def test_runs_stored_before_the_backfill_column_are_live_and_survive_it_both_ways(
    engine: Engine,
) -> None:
    migrate.downgrade(engine, BEFORE)
    assert "backfill" not in {c["name"] for c in inspect(engine).get_columns("check_runs")}
    with Session(engine) as session, session.begin():
        model = Model(name="churn", created_at=T0)
        session.add(model)
        session.flush()
        for d in range(2):
            session.execute(
                insert(CheckRun.__table__).values(
                    model_id=model.id,
                    kind="drift",
                    status=Status.ALERT,
                    window_start=T0 - timedelta(days=d + 1),
                    window_end=T0 - timedelta(days=d),
                    ran_at=T0 - timedelta(days=d),
                    duration_s=0.1,
                    rows=100,
                    summary={},
                )
            )

    migrate.upgrade(engine, REVISION)
    with Session(engine) as session:
        assert session.scalars(select(CheckRun.backfill)).all() == [False, False]

    migrate.downgrade(engine, BEFORE)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM check_runs")).scalar_one() == 2
    migrate.upgrade(engine)
    migrate.check(engine)
