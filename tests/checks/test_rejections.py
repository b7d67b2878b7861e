"""Rejected rows are a quality finding: it fires above max_rejected_share and resolves."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from checks.interface import CheckKind
from daemon.checking.job import check_model
from daemon.jobs import JobContext
from daemon.sampling.records import bump_counts
from daemon.store.models import ensure_model
from daemon.store.tables import Alert, AlertState
from tests.checks.frames import START, churn_settings, window

NOW = START + timedelta(days=1)


def _count(sessions: sessionmaker[Session], day: str, counts: dict[str, int]) -> None:
    with sessions.begin() as session:
        model_id = ensure_model(session, "churn", START)
        bump_counts(session.connection(), model_id, day, "predictions", counts)


def _alert(sessions: sessionmaker[Session]) -> Alert | None:
    with sessions() as session:
        return session.scalars(
            select(Alert).where(Alert.kind == "quality", Alert.subject == "rows.rejected_share")
        ).one_or_none()


def test_a_rejection_rate_above_the_share_fires_and_resolves(
    tmp_path: Path, engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    settings = churn_settings(
        tmp_path, {"kind": "snapshot"}, checks={"quality": {"max_rejected_share": 0.05}}
    )
    ctx = JobContext(settings=settings, engine=engine, sessions=session_factory)
    rows = window(300, 1)
    day = START.date().isoformat()
    # 12% of the day's rows refused by the schema; new categories are not row outcomes.
    _count(
        session_factory,
        day,
        {
            "sampled": 800,
            "skipped": 80,
            "rejected:wrong_type": 100,
            "rejected:missing_column": 20,
            "new_category": 500,
        },
    )
    check_model(ctx, "churn", NOW, load_window=lambda *_: rows)
    alert = _alert(session_factory)
    assert alert is not None and alert.state == AlertState.FIRING
    assert alert.summary == (
        "rejected_share of rows 0.12 above threshold 0.05 (120 of 1000 rows received on the "
        "window's days: missing_column=20, wrong_type=100)"
    )
    # 2.4 times the share: past the default critical ratio (2.0).
    assert alert.severity == "critical"

    # A check of drift alone does not judge it.
    check_model(ctx, "churn", NOW, kinds=(CheckKind.DRIFT,), load_window=lambda *_: rows)
    assert _alert(session_factory).state == AlertState.FIRING  # type: ignore[union-attr]

    # The next day the producer is fixed: 1 in 1,000.
    later = NOW + timedelta(days=1)
    _count(session_factory, NOW.date().isoformat(), {"sampled": 999, "rejected:wrong_type": 1})
    check_model(ctx, "churn", later, load_window=lambda *_: rows)
    alert = _alert(session_factory)
    assert alert is not None and alert.state == AlertState.RESOLVED
    resolution = (alert.details or {})["resolution"]
    assert isinstance(resolution, dict)
    assert resolution["summary"] == "rejected_share of rows back below 0.05 (0.001)"


def test_too_few_rows_or_quality_off_say_nothing(
    tmp_path: Path, engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    rows = window(300, 1)
    _count(session_factory, START.date().isoformat(), {"sampled": 10, "rejected:wrong_type": 40})
    few = churn_settings(tmp_path, {"kind": "snapshot"})
    check_model(
        JobContext(settings=few, engine=engine, sessions=session_factory),
        "churn",
        NOW,
        load_window=lambda *_: rows,
    )
    assert _alert(session_factory) is None  # 50 rows, min_rows is 100
    _count(session_factory, START.date().isoformat(), {"sampled": 100})
    off = churn_settings(tmp_path, {"kind": "snapshot"}, checks={"quality": {"enabled": False}})
    check_model(
        JobContext(settings=off, engine=engine, sessions=session_factory),
        "churn",
        NOW,
        load_window=lambda *_: rows,
    )
    assert _alert(session_factory) is None
