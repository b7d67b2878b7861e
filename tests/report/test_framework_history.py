"""Framework findings in the report of a past week, after later scans updated them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from daemon.report.queries import frameworks
from daemon.report.weeks import week_containing
from daemon.store.engine import transaction
from daemon.store.tables import FrameworkFinding

MONDAY = datetime(2026, 11, 2, tzinfo=UTC)


def finding(package: str, first_seen: datetime, last_seen: datetime) -> FrameworkFinding:
    return FrameworkFinding(
        environment="serving",
        package=package,
        installed="1.0",
        kind="vulnerable",
        severity="high",
        advisory_ids={"ids": [f"PYSEC-{package}"]},
        recommended="1.1",
        detail="",
        scanned_at=last_seen,
        first_seen_at=first_seen,
    )


def test_a_past_week_shows_the_findings_on_record_then(
    session_factory: sessionmaker[Session],
) -> None:
    with transaction(session_factory) as session:
        session.add_all(
            [
                # Found two weeks ago and still seen by today's scan.
                finding("torch", MONDAY - timedelta(days=14), MONDAY + timedelta(days=14)),
                # Fixed (last seen) before the week began.
                finding("numpy", MONDAY - timedelta(days=20), MONDAY - timedelta(days=6)),
                # First seen after the week ended.
                finding("pillow", MONDAY + timedelta(days=8), MONDAY + timedelta(days=14)),
                # Seen during the week, fixed mid-week.
                finding("mlflow", MONDAY - timedelta(days=3), MONDAY + timedelta(days=3)),
            ]
        )
    week = week_containing(MONDAY + timedelta(hours=1), "UTC")
    with session_factory() as session:
        envs = frameworks(session, week)
    assert [e.environment for e in envs] == ["serving"]
    assert sorted(r.package for r in envs[0].vulnerable) == ["mlflow", "torch"]
