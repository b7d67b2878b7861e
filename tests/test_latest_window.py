"""The latest run of a kind is the one of the latest window, everywhere it is read.

A backfill stores past windows after the present one: they have the greater ids
and were run last, yet they are not the model's present. `mlmaint status`
(daemon/metrics.py's read), /v1 and the page must keep showing the latest window.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from checks.interface import CheckKind, CheckResult, Status
from daemon.checking.records import KindRun, store_runs

NOW = datetime(2026, 11, 30, 21, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def _store(sessions: sessionmaker[Session]) -> None:
    """The present window alerts; then three past windows (all ok) are checked again."""
    with sessions.begin() as s:
        for end, status in ((NOW, Status.ALERT), *((NOW - d * DAY, Status.OK) for d in (7, 6, 5))):
            result = CheckResult(kind=CheckKind.DRIFT, status=status, rows=100)
            store_runs(
                s,
                "buyer",
                {CheckKind.DRIFT: KindRun(result=result, duration_s=0.1)},
                start=end - DAY,
                end=end,
            )


def test_status_shows_the_latest_window_not_the_last_run(
    engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    from daemon.metrics import read_state
    from daemon.service_status import format_status

    _store(session_factory)
    state = read_state(engine, NOW)
    drift = [c for c in state.checks if c.model == "buyer" and c.kind == "drift"]
    assert len(drift) == 1 and drift[0].status == "alert", drift
    assert drift[0].ran_at == NOW
    text = format_status(engine, "test", now=NOW, state=state, width=200)
    assert "window end (UTC)" in text and "ran (UTC)" not in text
    row = next(line for line in text.splitlines() if "buyer" in line and "drift" in line)
    assert "alert" in row and "2026-11-30 21:00" in row, row


def test_v1_latest_runs_are_the_latest_windows(session_factory: sessionmaker[Session]) -> None:
    from daemon.api.v1_queries import latest_runs

    _store(session_factory)
    with session_factory() as s:
        runs = latest_runs(s, ["buyer"])["buyer"]
    assert [(r.kind.value, r.status.value, r.window_end) for r in runs] == [
        ("drift", "alert", NOW)
    ], runs
