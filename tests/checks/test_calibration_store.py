"""Calibration through the daemon: stored once per reference version, read back after a
restart, and the persistence rule fed from the stored runs (SQLite and PostgreSQL)."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from checks.interface import CheckKind, Status
from daemon.checking.cache import CheckCache
from daemon.checking.job import check_model
from daemon.checking.references import WindowLoader
from daemon.config import ModelSettings, Settings
from daemon.jobs import JobContext
from daemon.store.tables import ReferenceCalibrationRow
from tests.checks.frames import START, churn_config_file, churn_settings, window
from tests.checks.stored import stored_prediction


def _settings(tmp_path: Path, ref_path: Path, url: str, **drift: object) -> Settings:
    return churn_settings(
        tmp_path,
        {"kind": "file", "path": str(ref_path)},
        url,
        checks={"drift": {"evidence": False, **drift}},
    )


def _loader(frames: list[pd.DataFrame]) -> WindowLoader:
    """Hands out the given windows in turn, as the store's window query would."""

    def load(
        session: Session, model: ModelSettings, start: datetime, end: datetime
    ) -> pd.DataFrame:
        return frames.pop(0)

    return load


def test_calibration_is_computed_once_per_reference_version(
    tmp_path: Path,
    engine: Engine,
    session_factory: sessionmaker[Session],
    caplog: pytest.LogCaptureFixture,
) -> None:
    ref_path = tmp_path / "reference.parquet"
    window(3_000, 1).rename(columns={"label": "churned"}).to_parquet(ref_path)
    ctx = JobContext(
        settings=_settings(tmp_path, ref_path, str(engine.url)),
        engine=engine,
        sessions=session_factory,
    )
    frames = [window(300, 10 + i) for i in range(4)]
    load = _loader(frames)
    with caplog.at_level(logging.INFO, logger="daemon.checking"):
        check_model(ctx, "churn", START, load_window=load, alert=False)
        check_model(ctx, "churn", START + timedelta(hours=1), load_window=load, alert=False)
    computed = [r for r in caplog.records if "calibrated thresholds" in r.getMessage()]
    assert len(computed) == 1
    with session_factory() as session:
        rows = session.scalars(select(ReferenceCalibrationRow)).all()
        assert len(rows) == 1 and rows[0].version >= 1 and rows[0].duration_s > 0

    # A restart: nothing in memory, the stored calibration is read back, not recomputed.
    ctx = replace(ctx, check_cache=CheckCache())
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="daemon.checking"):
        cycle = check_model(ctx, "churn", START + timedelta(hours=2), load_window=load, alert=False)
    assert not [r for r in caplog.records if "calibrated thresholds" in r.getMessage()]
    age = cycle.result(CheckKind.DRIFT).measure("age", "wasserstein")
    assert age.basis == "at n=300, calibrated for 1% false alarms"

    # A new reference version (a retrain's snapshot, an edited file) is calibrated anew.
    window(3_000, 2).rename(columns={"label": "churned"}).to_parquet(ref_path)
    check_model(ctx, "churn", START + timedelta(hours=3), load_window=load, alert=False)
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(ReferenceCalibrationRow)) == 2


def test_persistence_needs_two_failing_windows_of_three(
    tmp_path: Path, engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    ref_path = tmp_path / "reference.parquet"
    window(3_000, 1).rename(columns={"label": "churned"}).to_parquet(ref_path)
    settings = _settings(
        tmp_path, ref_path, str(engine.url), persistence={"failing": 2, "windows": 3}
    )
    ctx = JobContext(settings=settings, engine=engine, sessions=session_factory)
    shifted = [window(1_000, 20 + i, shift=0.5) for i in range(3)]
    load = _loader([window(1_000, 30), *shifted])
    kinds = [CheckKind.DRIFT]
    clean = check_model(ctx, "churn", START, kinds=kinds, load_window=load)
    assert clean.result(CheckKind.DRIFT).status is Status.OK
    first = check_model(ctx, "churn", START + timedelta(hours=1), kinds=kinds, load_window=load)
    age = first.result(CheckKind.DRIFT).measure("age", "wasserstein")
    assert not age.alerting and "beyond it in 1 of the last 2 windows" in (age.basis or "")
    assert not [f for f in first.findings if f.firing and f.subject == "age"]
    second = check_model(ctx, "churn", START + timedelta(hours=2), kinds=kinds, load_window=load)
    age = second.result(CheckKind.DRIFT).measure("age", "wasserstein")
    assert age.alerting and "beyond it in 2 of 3" in (age.basis or "")
    assert [f for f in second.findings if f.firing and f.subject == "age"]
    third = check_model(ctx, "churn", START + timedelta(hours=3), kinds=kinds, load_window=load)
    age = third.result(CheckKind.DRIFT).measure("age", "wasserstein")
    assert age.alerting and "beyond it in 3 of 3" in (age.basis or "")


def test_cli_check_names_each_thresholds_basis(tmp_path: Path) -> None:
    from daemon.cli import main
    from daemon.store import migrate
    from daemon.store.engine import make_engine
    from daemon.store.models import ensure_model

    ref_path = tmp_path / "reference.csv"
    window(5_000, 1).rename(columns={"label": "churned"}).to_csv(ref_path, index=False)
    db = tmp_path / "store.db"
    engine = make_engine(f"sqlite:///{db}")
    migrate.upgrade(engine)
    # 150 predictions of the last hour, as the sampler stores them.
    now = datetime.now(UTC)
    with sessionmaker(engine).begin() as session:
        model_id = ensure_model(session, "churn", now)
        for i, row in enumerate(window(150, 3).to_dict("records")):
            session.add(
                stored_prediction(
                    session, model_id, row, now - timedelta(minutes=30, seconds=i), now
                )
            )
    engine.dispose()
    config = churn_config_file(tmp_path, f"sqlite:///{db}", ref_path)
    result = CliRunner().invoke(
        main, ["--config", str(config), "check", "churn"], env={"COLUMNS": "250"}
    )
    assert result.exit_code == 0, result.output
    assert "150 rows" in result.output
    assert "at n=150, calibrated for 1% false alarms" in result.output, result.output
    # The label-free estimate is judged against the reference chunks' band at the same size.
    assert "band at n=150: reference chunks' mean" in result.output
