"""The first-start backfill after onboarding's first steps: a check run over 0 rows
(`mlmaint check` before the daemon sampled the logs) does not switch it off, and
a model whose backfill is skipped is logged with why."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from checks.interface import CheckKind, Status
from daemon.checking.backfill import (
    BackgroundBackfill,
    first_start_backfill,
    first_start_ends,
    models_to_backfill,
)
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


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_the_first_start_backfill_skips_windows_with_no_stored_rows(
    tmp_path: Path,
    store_url: str,
    engine: Engine,
    session_factory: sessionmaker[Session],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Rows arrived only in the last three days of the week a first start backfills
    # (an HTTP-push model pushed to late): the four earlier windows hold nothing.
    _store_days(session_factory, days=3, start=START + timedelta(days=DAYS - 3))
    settings = parse_config(_config(tmp_path, "sqlite://", _reference(tmp_path)), environ={})
    ctx = JobContext(settings=settings, engine=engine, sessions=session_factory)
    now = START + timedelta(days=DAYS, hours=9, minutes=20)
    assert len(first_start_ends(settings.model("churn"), now, settings.checks.backfill)) == 7
    caplog.set_level(logging.INFO, logger="daemon.checking.backfill")
    (result,) = first_start_backfill(ctx, now, models=["churn"])
    assert result.complete and result.asked == 3 and result.runs(CheckKind.DRIFT) == 3
    assert "backfill churn: skipped 4 of 7 window(s) with no stored rows" in caplog.text
    with session_factory() as session:
        ends = session.scalars(
            select(CheckRun.window_end).where(CheckRun.kind == CheckKind.DRIFT.value)
        ).all()
        empty = session.scalar(select(func.count()).select_from(CheckRun).where(CheckRun.rows == 0))
    assert sorted(e.replace(tzinfo=None) for e in ends) == [
        (START + timedelta(days=DAYS - i)).replace(tzinfo=None) for i in (2, 1, 0)
    ]
    assert empty == 0  # no `insufficient_data ... on 0 rows` run stored

    # A model with nothing stored at all: no window checked, none stored.
    with session_factory.begin() as session:
        session.execute(CheckRun.__table__.delete())
    caplog.clear()
    nothing = first_start_backfill(ctx, START, models=["churn"])
    assert nothing == ()
    assert "skipped 7 of 7 window(s) with no stored rows" in caplog.text
