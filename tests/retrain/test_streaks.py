"""Which failing check runs count toward a retrain (store-backed, both backends)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from checks.interface import CheckKind, Status
from daemon.retraining.decide import _streaks
from daemon.store.engine import transaction
from daemon.store.tables import CheckRun, Model
from retrain.policy import failing_streak

T0 = datetime(2026, 5, 4, tzinfo=UTC)


def test_only_drift_and_performance_streaks_call_for_a_retrain(
    session_factory: sessionmaker[Session],
) -> None:
    with transaction(session_factory) as session:
        model = Model(name="churn", created_at=T0)
        session.add(model)
        session.flush()
        for day in range(5):
            end = T0 + timedelta(days=day + 1)
            for kind, status in (
                ("operations", Status.ALERT),
                ("quality", Status.ALERT),
                ("drift", Status.OK if day < 3 else Status.ALERT),
                ("performance", Status.INSUFFICIENT_DATA),
            ):
                session.add(
                    CheckRun(
                        model_id=model.id,
                        kind=kind,
                        status=status,
                        window_start=end,
                        window_end=end,
                        ran_at=end,
                        duration_s=0.1,
                        rows=100,
                        summary={},
                    )
                )
        model_id = model.id
    now = T0 + timedelta(days=6)
    with session_factory() as session:
        default = _streaks(session, model_id, None, now)
        everything = _streaks(
            session, model_id, None, now, ("drift", "operations", "quality", "performance")
        )
    # Drift failed on the last two days only; operations and quality do not count;
    # each kind keeps its own streak.
    assert {k: failing_streak(p) for k, p in default.items()} == {CheckKind.DRIFT: 2}
    assert {k: failing_streak(p) for k, p in everything.items()} == {
        CheckKind.DRIFT: 2,
        CheckKind.OPERATIONS: 5,
        CheckKind.QUALITY: 5,
    }
