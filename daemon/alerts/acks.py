"""Acknowledgements: a firing alert's repeats silenced, one alert or all of a model's;
which alerts fire and whether each is acknowledged (`alerts list`, the policy)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from daemon.store.tables import Alert, AlertState


def is_acked(alert: Alert, now: datetime) -> bool:
    if alert.acked_at is None:
        return False
    return alert.acked_until is None or alert.acked_until > now


def firing_alerts(session: Session) -> list[Alert]:
    """The firing alerts, as `alerts list` shows them (by scope, kind and subject)."""
    return list(
        session.scalars(
            select(Alert)
            .where(Alert.state == AlertState.FIRING)
            .order_by(Alert.scope, Alert.kind, Alert.subject)
        )
    )


def ack(
    session: Session,
    alert_id: int,
    now: datetime,
    *,
    until: datetime | None = None,
    note: str | None = None,
) -> Alert:
    """Silence a firing alert's repeats until `until`, or until it resolves."""
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise LookupError(f"no alert with id {alert_id}")
    if alert.state != AlertState.FIRING:
        raise ValueError(f"alert {alert_id} is {alert.state}, not firing")
    if until is not None and until <= now:
        raise ValueError(f"ack until {until.isoformat()} is not in the future")
    alert.acked_at = now
    alert.acked_until = until
    alert.ack_note = note
    session.flush()
    return alert


def ack_model(
    session: Session,
    scope: str,
    now: datetime,
    *,
    until: datetime | None = None,
    note: str | None = None,
) -> list[Alert]:
    """Silence the repeats of every firing alert of one model (or environment) at once."""
    if until is not None and until <= now:
        raise ValueError(f"ack until {until.isoformat()} is not in the future")
    alerts = list(
        session.scalars(
            select(Alert)
            .where(Alert.scope == scope, Alert.state == AlertState.FIRING)
            .order_by(Alert.id)
            .with_for_update()
        )
    )
    if not alerts:
        scopes = sorted(
            set(session.scalars(select(Alert.scope).where(Alert.state == AlertState.FIRING)))
        )
        firing = ", ".join(repr(s) for s in scopes) if scopes else "none"
        raise LookupError(f"no firing alert of {scope!r}; models with firing alerts: {firing}")
    for alert in alerts:
        alert.acked_at = now
        alert.acked_until = until
        alert.ack_note = note
    session.flush()
    return alerts
