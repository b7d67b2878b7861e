"""`frameworks verify` verdicts in the weekly report: the upgrade to take, and the table."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from daemon.report.actions import recommend
from daemon.report.model import DaemonHealth, WeekReport
from daemon.report.queries import frameworks
from daemon.report.render import render_report
from daemon.report.verified import verifications, verified_frameworks
from daemon.report.weeks import week_containing
from daemon.store.engine import transaction
from daemon.store.tables import FrameworkVerification
from tests.report.test_framework_history import MONDAY, finding


def verification(
    target: str, verdict: str, summary: str, model: str = "churn"
) -> FrameworkVerification:
    return FrameworkVerification(
        model=model,
        model_version="3",
        package="torch",
        installed="1.0",
        target=target,
        verdict=verdict,
        max_abs_diff=0.0 if verdict == "safe" else 0.2,
        changed_share=0.0 if verdict == "safe" else 0.05,
        p95_change=-0.08,
        summary=summary,
        outcome={"json": "{}"},
        created_at=MONDAY + timedelta(days=1),
        duration_s=12.0,
    )


def test_the_smallest_verified_safe_release_is_recommended(
    session_factory: sessionmaker[Session],
) -> None:
    with transaction(session_factory) as session:
        session.add(finding("torch", MONDAY - timedelta(days=3), MONDAY + timedelta(days=3)))
        session.add_all(
            [
                # The scan's smallest clearing release (1.1) changes this model's predictions.
                verification("1.1", "changes predictions", "changes predictions: max 0.2"),
                verification("1.2", "safe", "torch 1.0 → 1.2 clears PYSEC-torch; identical"),
                verification("1.3", "safe", "torch 1.0 → 1.3 clears PYSEC-torch; identical"),
            ]
        )
    week = week_containing(MONDAY + timedelta(hours=1), "UTC")
    with session_factory() as session:
        found = verifications(session, week)
        envs = verified_frameworks(frameworks(session, week), found)
    assert [(v.target, v.verdict) for v in found] == [
        ("1.1", "changes predictions"),
        ("1.2", "safe"),
        ("1.3", "safe"),
    ]
    (row,) = envs[0].vulnerable
    assert row.recommended == "1.2"
    assert row.verified_safe
    assert row.verified == "churn: torch 1.0 → 1.2 clears PYSEC-torch; identical"
    health = DaemonHealth(
        jobs=(),
        sampled=0,
        rejected=0,
        rejected_by_reason={},
        rejected_examples=(),
        notifications={},
        failed_notifications=(),
    )
    actions = recommend([], envs, health)
    assert any("to 1.2 (verified safe)" in a.text for a in actions), [a.text for a in actions]
    html = render_report(
        WeekReport(
            week=week,
            generated_at=MONDAY + timedelta(days=7),
            models=(),
            frameworks=envs,
            daemon=health,
            actions=actions,
            verifications=found,
        )
    )
    assert "Upgrades verified on the models" in html
    assert "Verified: churn: torch 1.0 → 1.2 clears PYSEC-torch; identical" in html
    assert html.count('class="sev-critical">changes predictions</td>') == 1


def test_a_release_safe_on_one_model_and_not_another_is_not_safe(
    session_factory: sessionmaker[Session],
) -> None:
    with transaction(session_factory) as session:
        session.add(finding("torch", MONDAY - timedelta(days=3), MONDAY + timedelta(days=3)))
        session.add_all(
            [
                verification("1.1", "safe", "identical on churn"),
                verification("1.1", "changes predictions", "changes on fraud", model="fraud"),
            ]
        )
    week = week_containing(MONDAY + timedelta(hours=1), "UTC")
    with session_factory() as session:
        envs = verified_frameworks(frameworks(session, week), verifications(session, week))
    (row,) = envs[0].vulnerable
    assert row.recommended == "1.1"
    assert not row.verified_safe
    assert row.verified == "churn: identical on churn; fraud: changes on fraud"
