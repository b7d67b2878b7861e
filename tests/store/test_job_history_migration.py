"""Migration 0005 both ways on SQLite and PostgreSQL: the job history, the registry's
versions and the index of a model's check runs by window end come and go; the rows
around them stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert, inspect, select, text
from sqlalchemy.orm import Session

from checks.interface import Status
from daemon.runs import RunOutcome
from daemon.store import migrate
from daemon.store.tables import CheckRun, JobHistory, Model

T0 = datetime(2026, 11, 16, 3, 15, tzinfo=UTC)
# The migration under test and the one before it.
REVISION, BEFORE = "0005", "0004"


def _indexes(engine: Engine, table: str) -> dict[str, list[str | None]]:
    return {ix["name"] or "": ix["column_names"] for ix in inspect(engine).get_indexes(table)}


def _check_run(model_id: int, end: datetime) -> dict[str, object]:
    # The columns of revision 0005 only: the model's later columns are not there yet.
    return {
        "model_id": model_id,
        "kind": "drift",
        "status": Status.OK,
        "window_start": end - timedelta(days=1),
        "window_end": end,
        "ran_at": end,
        "duration_s": 0.1,
        "rows": 100,
        "summary": {},
    }


def test_job_history_migration_upgrades_and_downgrades_keeping_the_check_runs(
    engine: Engine,
) -> None:
    migrate.downgrade(engine, REVISION)  # nothing to do while it is the head
    assert migrate.current_revision(engine) == REVISION
    assert _indexes(engine, "check_runs")["ix_check_runs_model_end"] == ["model_id", "window_end"]
    assert _indexes(engine, "job_history")["ix_job_history_started"] == ["started_at"]
    with Session(engine) as session, session.begin():
        model = Model(name="churn", created_at=T0)
        session.add(model)
        session.flush()
        session.execute(
            insert(CheckRun), [_check_run(model.id, T0 - timedelta(days=d)) for d in range(3)]
        )
        session.add(
            JobHistory(
                job_id="checks:churn",
                stage="checks",
                model="churn",
                started_at=T0,
                finished_at=T0 + timedelta(seconds=2),
                duration_s=2.0,
                outcome=RunOutcome.FAILED,
                error="RuntimeError: the source is gone",
            )
        )

    migrate.downgrade(engine, BEFORE)
    assert migrate.current_revision(engine) == BEFORE
    tables = inspect(engine).get_table_names()
    assert "job_history" not in tables and "registry_versions" not in tables
    assert "ix_check_runs_model_end" not in _indexes(engine, "check_runs")
    assert "ix_check_runs_model_kind_end" in _indexes(engine, "check_runs")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM check_runs")).scalar_one() == 3

    migrate.upgrade(engine, REVISION)
    assert migrate.current_revision(engine) == REVISION
    assert {"job_history", "registry_versions"} <= set(inspect(engine).get_table_names())
    assert _indexes(engine, "check_runs")["ix_check_runs_model_end"] == ["model_id", "window_end"]
    with Session(engine) as session, session.begin():
        ends = session.scalars(select(CheckRun.window_end).order_by(CheckRun.window_end)).all()
        assert ends == [T0 - timedelta(days=d) for d in (2, 1, 0)]
        # The history starts empty again, and takes runs.
        assert session.scalars(select(JobHistory)).all() == []
        session.add(
            JobHistory(
                job_id="deliver",
                stage="deliver",
                model=None,
                started_at=T0,
                finished_at=T0,
                duration_s=0.0,
                outcome=RunOutcome.OK,
            )
        )
    with Session(engine) as session:
        [row] = session.scalars(select(JobHistory)).all()
        assert (row.job_id, row.model, row.outcome, row.started_at) == ("deliver", None, "ok", T0)
    # And the whole chain down to nothing and back, on both backends.
    migrate.downgrade(engine, "base")
    assert migrate.current_revision(engine) is None
    migrate.upgrade(engine)
    migrate.check(engine)
