"""An alert's own "Next" command re-checks the very window it names.

Scheduled windows end at wall-clock times with microseconds: the printed
`mlmaint check NAME --at ...` must name that end exactly, so following it replaces
the live run in place (same id, still live) rather than storing a backfill twin;
and two windows within one second never share an evidence page.
"""

from __future__ import annotations

import shlex
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from checks.interface import CheckKind
from daemon.alerts.message import AlertItem, Change
from daemon.alerts.steps import next_step
from daemon.checking.job import check_model
from daemon.cli import main
from daemon.config import Severity, parse_config
from daemon.evidence.retention import evidence_files
from daemon.evidence.write import evidently_path, page_path, rebuild_command
from daemon.jobs import JobContext
from daemon.store.tables import CheckRun
from tests.checks.frames import START
from tests.checks.test_backfill import _config, _reference, _store_days, _toml

# A scheduled check's window end: the moment it ran, microseconds and all.
LIVE_END = START + timedelta(days=1, hours=20, minutes=16, seconds=58, microseconds=514252)


def _item(window_end: datetime) -> AlertItem:
    return AlertItem(
        alert_id=8,
        kind=CheckKind.DRIFT.value,
        subject="age",
        change=Change.FIRING,
        severity=Severity.WARNING,
        summary="drift of age",
        since=window_end.isoformat(),
        window_end=window_end.isoformat(),
    )


def test_the_alerts_command_rechecks_the_stored_live_window_in_place(
    tmp_path: Path, store_url: str, engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    _store_days(session_factory, days=2)
    reference = _reference(tmp_path)
    settings = parse_config(_config(tmp_path, store_url, reference), environ={})
    ctx = JobContext(settings=settings, engine=engine, sessions=session_factory)
    check_model(ctx, "churn", LIVE_END)  # the scheduled, live check
    with session_factory() as session:
        (live,) = session.execute(
            select(CheckRun.id, CheckRun.window_end, CheckRun.backfill).where(
                CheckRun.kind == CheckKind.DRIFT.value
            )
        ).all()
    assert not live.backfill
    stored_end = live.window_end.replace(tzinfo=UTC)
    assert stored_end == LIVE_END

    command = next_step(_item(stored_end), "churn").command
    assert command is not None
    words = shlex.split(command)
    assert words[:3] == ["mlmaint", "check", "churn"] and words[3] == "--at", command
    assert words[4] == "2026-01-06T20:16:58.514252Z", command
    config = _toml(tmp_path, store_url, reference)
    rerun = CliRunner().invoke(main, ["--config", str(config), *words[1:]])
    assert rerun.exit_code in (0, 1), rerun.output
    with session_factory() as session:
        after = session.execute(
            select(CheckRun.id, CheckRun.window_end, CheckRun.backfill).where(
                CheckRun.kind == CheckKind.DRIFT.value
            )
        ).all()
    # One run of the window, the live one, rewritten in place and still live.
    assert [(r.id, r.window_end.replace(tzinfo=UTC), r.backfill) for r in after] == [
        (live.id, LIVE_END, False)
    ]


def test_windows_in_one_second_never_share_an_evidence_page(tmp_path: Path) -> None:
    first = LIVE_END
    second = LIVE_END + timedelta(microseconds=400_000)
    assert first.replace(microsecond=0) == second.replace(microsecond=0)
    pages = [page_path(tmp_path, "fraud", end) for end in (first, second)]
    assert pages[0] != pages[1]
    assert pages[0].name == "drift-20260106T201658.514252Z.html"
    assert evidently_path(pages[0]).name == "drift-20260106T201658.514252Z.evidently.html"
    # A whole-second end keeps its short name.
    whole = page_path(tmp_path, "fraud", START)
    assert whole.name == "drift-20260105T000000Z.html"
    # Retention ages each page by the window end its name carries.
    for page in (*pages, whole):
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text("<html></html>")
    written = {f.path.name: f.written for f in evidence_files(tmp_path)}
    assert written == {
        pages[0].name: first,
        pages[1].name: second,
        whole.name: START,
    }
    # The rebuild command names the same window, to the microsecond.
    assert "--at 2026-01-06T20:16:58.514252Z" in rebuild_command("fraud", first)
