"""The first-start backfill after onboarding's first steps: a check run over 0 rows
(`mlmaint check` before the daemon sampled the logs) does not switch it off, and
a model whose backfill is skipped is logged with why."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from checks.interface import CheckKind, Status
from daemon.checking.backfill import BackgroundBackfill, models_to_backfill
from daemon.cli import main
from daemon.config import parse_config
from daemon.jobs import JobContext
from daemon.store.tables import CheckRun
from tests.checks.frames import START
from tests.checks.test_backfill import DAYS, _config, _reference, _store_days, _toml


def test_a_check_over_no_rows_leaves_the_first_start_backfill_on(
    tmp_path: Path,
    store_url: str,
    engine: Engine,
    session_factory: sessionmaker[Session],
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = parse_config(_config(tmp_path, "sqlite://", _reference(tmp_path)), environ={})
    ctx = JobContext(settings=settings, engine=engine, sessions=session_factory)
    now = START + timedelta(days=DAYS, hours=9, minutes=20)
    # onboard's old "next: mlmaint check churn", before anything was sampled: 0 rows,
    # and the command says why.
    config = _toml(tmp_path, store_url, _reference(tmp_path))
    args = ["--config", str(config), "check", "churn", "--at", now.isoformat()]
    early_cli = CliRunner().invoke(main, args)
    assert early_cli.exit_code == 0, early_cli.output
    assert "churn: 0 rows" in early_cli.output
    assert "no rows stored for this window: has the daemon sampled the logs yet?" in (
        early_cli.output
    )
    with session_factory() as session:
        early = session.execute(select(CheckRun.status, CheckRun.rows)).all()
    assert early and all(rows == 0 for _, rows in early)
    assert {status for status, _ in early} == {Status.INSUFFICIENT_DATA}

    _store_days(session_factory)  # the daemon samples the logs
    # The CLI set up the root logger's handlers: the capture's goes back on.
    logging.getLogger().addHandler(caplog.handler)
    caplog.set_level(logging.INFO, logger="daemon.checking.backfill")
    assert models_to_backfill(ctx) == ("churn",)
    assert "skipped" not in caplog.text
    worker = BackgroundBackfill(ctx, models_to_backfill(ctx), now).start()
    assert worker.join(120) and not worker.running
    (result,) = worker.results
    assert result.complete and result.runs(CheckKind.DRIFT) == 7

    # Now it has checked rows: a restart skips it, and says so.
    caplog.clear()
    assert models_to_backfill(ctx) == ()
    assert "backfill churn: skipped" in caplog.text and "over stored rows" in caplog.text
    off = parse_config(_config(tmp_path, "sqlite://", _reference(tmp_path), "0s"), environ={})
    caplog.clear()
    assert (
        models_to_backfill(JobContext(settings=off, engine=engine, sessions=session_factory)) == ()
    )
    assert "backfill churn: skipped, [checks] backfill is 0" in caplog.text
