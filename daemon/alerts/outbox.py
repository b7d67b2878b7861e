"""Writing the outbox: one row per message, and one message per scope while unsent.

A scope's changes of one check cycle are applied together (one job runs all of
a model's checks), so they make one row per channel. Changes that come in from
another job before that row went out (a retrain poll, the delivery job's sweep
of repeats) join it rather than following it a second later: the row is the
scope's latest on the channel, still pending and never attempted, and tells
nothing yet about the same alerts (a later change of an alert already in it, say
its resolution, follows in a row of its own: people hear it fire first). The join is a
conditional UPDATE on exactly that (attempts = 0), the same condition the
deliverer claims a row with, so a row is either joined before its one send or
left alone and followed by a new row; nothing joined is ever lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from daemon.alerts.message import AlertGroup, AlertItem, PayloadError, from_json, to_json
from daemon.store.tables import Notification, NotificationAlert, NotificationState


def outbox_row(
    channel: str,
    kind: str,
    scope: str,
    payload: dict[str, object],
    now: datetime,
    not_before: datetime | None = None,
) -> Notification:
    return Notification(
        channel=channel,
        kind=kind,
        scope=scope,
        payload=payload,
        state=NotificationState.PENDING,
        created_at=now,
        not_before=not_before,
        next_attempt_at=not_before or now,
        attempts=0,
    )


def _joinable(session: Session, channel: str, scope: str) -> tuple[Notification, AlertGroup] | None:
    """The scope's latest row on the channel, when it is an alert group not yet attempted."""
    row = session.scalars(
        select(Notification)
        .where(Notification.channel == channel, Notification.scope == scope)
        .order_by(Notification.id.desc())
        .limit(1)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if row is None or row.state != NotificationState.PENDING or row.attempts != 0:
        return None
    try:
        queued = from_json(row.payload)
    except PayloadError:
        return None
    return (row, queued) if isinstance(queued, AlertGroup) else None


def _joined(queued: AlertGroup, items: Sequence[AlertItem]) -> AlertGroup | None:
    """The queued items and the new ones, or None when they share an alert."""
    if {i.alert_id for i in queued.items} & {i.alert_id for i in items}:
        return None
    return AlertGroup(scope=queued.scope, items=queued.items + tuple(items))


def enqueue_group(
    session: Session,
    channel: str,
    group: AlertGroup,
    now: datetime,
    held: datetime | None,
) -> int:
    """Queue `group` on `channel`, joined to the scope's unsent row when there is one.

    `held` is the end of the quiet hours for a group that waits for it (None: due
    now); a joined row is held only if both were. Returns the row's id.
    """
    found = _joinable(session, channel, group.scope)
    merged = _joined(found[1], group.items) if found is not None else None
    if found is not None and merged is not None:
        row = found[0]
        not_before = held if row.not_before is not None else None
        result: CursorResult[tuple[()]] = session.execute(  # type: ignore[assignment]
            update(Notification)
            .where(
                Notification.id == row.id,
                Notification.state == NotificationState.PENDING,
                Notification.attempts == 0,
            )
            .values(
                payload=to_json(merged),
                kind=merged.kind.value,
                not_before=not_before,
                next_attempt_at=not_before or min(row.next_attempt_at, now),
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:
            linked = set(
                session.scalars(
                    select(NotificationAlert.alert_id).where(
                        NotificationAlert.notification_id == row.id
                    )
                )
            )
            session.add_all(
                NotificationAlert(notification_id=row.id, alert_id=i.alert_id)
                for i in group.items
                if i.alert_id not in linked
            )
            session.flush()
            session.expire(row)
            return row.id
    new = outbox_row(channel, group.kind.value, group.scope, to_json(group), now, held)
    session.add(new)
    session.flush()
    session.add_all(
        NotificationAlert(notification_id=new.id, alert_id=i.alert_id) for i in group.items
    )
    return new.id
