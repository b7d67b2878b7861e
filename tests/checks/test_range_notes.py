"""A range check's n/a footer says why each kind was not judged (trial of issue 19:
it blamed "too few rows or labels" for an operations check that had nothing logged)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy.orm import Session, sessionmaker

from daemon.cli import main
from daemon.store.models import ensure_model
from tests.checks.frames import START, churn_config_file, window
from tests.checks.stored import stored_prediction


def _store_unlogged_days(sessions: sessionmaker[Session], days: int) -> None:
    """Predictions logged with no latency, error or memory, as many services log them."""
    with sessions.begin() as session:
        mid = ensure_model(session, "churn", START)
        for day in range(days):
            frame = window(200, 300 + day).assign(latency_ms=None, error=None, memory_mb=None)
            for i, row in enumerate(frame.to_dict("records")):
                session.add(
                    stored_prediction(
                        session,
                        mid,
                        row,
                        START + timedelta(days=day, seconds=i * 400),
                        START,
                        prediction_id=f"u{day}-{i}",
                    )
                )


def test_the_range_footer_gives_each_kinds_own_reason(
    tmp_path: Path, store_url: str, session_factory: sessionmaker[Session]
) -> None:
    _store_unlogged_days(session_factory, days=3)
    reference = tmp_path / "reference.parquet"
    window(1500, 1).rename(columns={"label": "churned"}).to_parquet(reference)
    config = churn_config_file(
        tmp_path,
        store_url,
        reference,
        checks="""
[models.checks]
min_rows = 50
[models.checks.drift]
evidence = false
[models.checks.performance]
bootstrap = 30
min_labelled = 100000
""",
    )
    printed = CliRunner().invoke(
        main,
        [
            *("--config", str(config), "check", "churn"),
            *("--from", "2026-01-06T00:00:00Z", "--to", "2026-01-08T00:00:00Z", "--every", "1d"),
        ],
    )
    assert printed.exit_code in (0, 1), printed.output
    footer = " ".join(printed.output.split())
    assert "n/a: not judged;" in footer, printed.output
    assert "operations: no latency, error or memory logged with predictions" in footer
    # Performance was short of labels, and says so in its own words.
    assert "performance: " in footer and "100000" in footer, printed.output
    assert "too few rows or labels" not in footer
