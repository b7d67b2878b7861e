"""A check run by hand is a look, not news: it leaves no trace in the model's history.

A new user ran `mlmaint check` some forty times on a drifted window and the
daemon's retrain policy read forty failing drift passes in a row: it retrained
and promoted a new version. A second user's twenty looks filled the causes'
look-back with near copies of one window (the fall "followed" nothing any more),
the week's report counted 34 drift runs where the daemon ran one, and each look
wrote an evidence page. `mlmaint check` without `--alert` now prints its runs and
stores none; with `--alert` they are stored and count, as a scheduled cycle's do.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from checks.interface import CheckKind
from daemon.checking.cli import print_check
from daemon.config import load_config
from daemon.jobs import JobContext
from daemon.retraining.decide import _streaks
from daemon.store.tables import CheckRun, Model
from tests.benchmarks.bench_cli import setup


def test_checks_by_hand_never_make_a_failing_streak(tmp_path: Path) -> None:
    setup(tmp_path, rows=2_000, reference_rows=2_000)
    settings = load_config(tmp_path / "config.toml")
    quiet = lambda *_a, **_k: None  # noqa: E731
    for _ in range(4):
        assert print_check(settings, "bench", echo=quiet) == 1  # the drift alerts
    ctx = JobContext.from_settings(settings)
    try:
        with ctx.sessions() as session:
            model_id = session.scalar(select(Model.id).where(Model.name == "bench"))
            assert model_id is not None
            now = datetime.now(UTC)
            assert _streaks(session, model_id, None, now).get(CheckKind.DRIFT, []) == []
            assert session.scalars(select(CheckRun.id)).all() == []
        # With --alert the run is news: it counts, as a scheduled cycle's does.
        assert print_check(settings, "bench", echo=quiet, alert=True) == 1
        with ctx.sessions() as session:
            streak = _streaks(session, model_id, None, datetime.now(UTC))
            assert streak[CheckKind.DRIFT] == [True]
    finally:
        ctx.close()
