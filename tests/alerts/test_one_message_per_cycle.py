"""A model's check cycle tells people once: one notification per channel, every kind in it.

Drift, performance and operations used to be four scheduled jobs of one cadence,
each applying its own findings: three Slack posts in the same second for one
model. The scheduled job now runs them all and applies their findings together;
the outbox joins later changes of the scope to its unsent row.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from checks.interface import CheckKind
from daemon.alerts.finding import Finding, StageKind
from daemon.alerts.message import AlertGroup, from_json
from daemon.alerts.policy import apply_findings, sweep
from daemon.config import Settings, Severity
from daemon.jobs import JobContext
from daemon.runs import RunOutcome
from daemon.schedule import JobRunner
from daemon.stages import Stage, build_jobs
from daemon.store.models import ensure_model
from daemon.store.tables import Notification, NotificationAlert
from tests.checks.frames import START, churn_settings, window
from tests.checks.stored import stored_prediction


def _settings(tmp_path: Path, reference: Path) -> Settings:
    return churn_settings(
        tmp_path,
        {"kind": "file", "path": str(reference)},
        checks={
            "min_rows": 50,
            "performance": {"bootstrap": 50, "min_labelled": 100},
            # The synthetic latencies are ~20 ms: 5 ms makes operations fire too.
            "operations": {"max_latency_p95_ms": 5},
        },
        alerts={
            "channels": [
                {"name": "outbox", "kind": "file", "path": str(tmp_path / "a.jsonl")},
                {"name": "team", "kind": "file", "path": str(tmp_path / "b.jsonl")},
            ]
        },
    )


def _store_window(sessions: sessionmaker[Session]) -> None:
    """A drifted window with a concept change (performance) and slow answers, stored."""
    frame = window(800, 2, shift=1.0, concept=True)
    with sessions.begin() as session:
        model_id = ensure_model(session, "churn", START)
        for i, row in enumerate(frame.to_dict("records")):
            session.add(
                stored_prediction(
                    session, model_id, row, START + timedelta(hours=1, seconds=i), START
                )
            )


def test_a_scheduled_check_cycle_enqueues_one_notification_per_channel(
    tmp_path: Path, engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    reference = tmp_path / "reference.parquet"
    window(1500, 1).rename(columns={"label": "churned"}).to_parquet(reference)
    settings = _settings(tmp_path, reference)
    ctx = JobContext(settings=settings, engine=engine, sessions=session_factory)
    _store_window(session_factory)
    [spec] = [j for j in build_jobs(settings) if j.stage is Stage.CHECKS]
    assert not [j for j in build_jobs(settings) if j.stage is not Stage.CHECKS and "drift" in j.id]

    outcome = JobRunner(ctx)(spec, START + timedelta(days=1))

    assert outcome is RunOutcome.OK
    with session_factory() as session:
        rows = session.scalars(select(Notification).order_by(Notification.id)).all()
        assert Counter(r.channel for r in rows) == {"outbox": 1, "team": 1}
        for row in rows:
            group = from_json(row.payload)
            assert isinstance(group, AlertGroup) and group.scope == "churn"
            kinds = {i.kind for i in group.items}
            assert {CheckKind.DRIFT, CheckKind.PERFORMANCE, CheckKind.OPERATIONS} <= kinds, kinds
            linked = session.scalars(
                select(NotificationAlert.alert_id).where(
                    NotificationAlert.notification_id == row.id
                )
            ).all()
            assert sorted(linked) == sorted(i.alert_id for i in group.items)


def _finding(kind: CheckKind | StageKind, subject: str, event: str | None = None) -> Finding:
    return Finding(
        scope="churn",
        kind=kind,
        subject=subject,
        firing=True,
        severity=Severity.WARNING,
        summary=f"{subject} is off",
        event_id=event,
    )


def test_a_change_of_the_scope_joins_its_unsent_message_not_one_it_already_holds(
    engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    settings = churn_settings(Path("/nonexistent"), {"kind": "snapshot"})
    t0 = START
    with session_factory.begin() as s:
        apply_findings(s, settings, [_finding(CheckKind.DRIFT, "age")], t0)
    # A retrain failure of the same model before the drift message went out: joined.
    with session_factory.begin() as s:
        apply_findings(s, settings, [_finding(StageKind.RETRAIN, "failure", "job-1")], t0)
    with session_factory() as s:
        [row] = s.scalars(select(Notification)).all()
        group = from_json(row.payload)
        assert isinstance(group, AlertGroup)
        assert [i.kind for i in group.items] == ["drift", "retrain"]
        assert row.kind == "firing"
        assert len(s.scalars(select(NotificationAlert)).all()) == 2
    # The drift alert resolving is news about an alert the unsent row holds: a row of its own.
    with session_factory.begin() as s:
        resolved = Finding(
            scope="churn", kind=CheckKind.DRIFT, subject="age", firing=False, summary="back"
        )
        apply_findings(s, settings, [resolved], t0 + timedelta(hours=2))
    with session_factory.begin() as s:
        sweep(s, settings, t0 + timedelta(hours=4))
    with session_factory() as s:
        rows = s.scalars(select(Notification).order_by(Notification.id)).all()
        assert [r.kind for r in rows] == ["firing", "resolved"]
    # A row a deliverer has claimed (attempted) is never joined: the next change follows it.
    with session_factory.begin() as s:
        for r in s.scalars(select(Notification)):
            r.attempts = 1
        apply_findings(s, settings, [_finding(CheckKind.OPERATIONS, "latency.p95_ms")], t0)
    with session_factory() as s:
        assert len(s.scalars(select(Notification)).all()) == 3
