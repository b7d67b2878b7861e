"""The bodies of `mlmaint alerts list | ack | test`: each returns an exit status."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import click

from daemon.config import Settings
from daemon.jobs import JobContext

EX_USAGE = 64
EX_DATAERR = 65
EX_UNAVAILABLE = 69
EX_TEMPFAIL = 75

_DURATION = re.compile(r"^(\d+)([mhdw])$")
_UNIT_S = {"m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_until(value: str, now: datetime) -> datetime:
    """'4h', '2d' from now, or an ISO time (UTC when it names no zone)."""
    match = _DURATION.match(value.strip())
    if match:
        return now + timedelta(seconds=int(match.group(1)) * _UNIT_S[match.group(2)])
    try:
        when = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"--until: expected '4h', '2d' or an ISO time, got {value!r}") from exc
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _context(settings: Settings) -> JobContext:
    from daemon.store import migrate

    ctx = JobContext.from_settings(settings)
    migrate.require_current(ctx.engine)
    return ctx


def list_command(settings: Settings, now: datetime | None = None) -> int:
    from daemon.alerts.policy import firing_alerts, is_acked

    now = now or datetime.now(UTC)
    ctx = _context(settings)
    try:
        with ctx.sessions() as session:
            alerts = firing_alerts(session)
    finally:
        ctx.close()
    if not alerts:
        click.echo("no firing alerts")
        return 0
    click.echo(
        f"{'ID':>5}  {'SEVERITY':8}  {'SCOPE':20}  {'CHECK':12}  {'SUBJECT':24}  SINCE / ACK"
    )
    for a in alerts:
        acked = ""
        if is_acked(a, now):
            acked = f"  acked until {a.acked_until:%Y-%m-%d %H:%M}" if a.acked_until else "  acked"
        click.echo(
            f"{a.id:>5}  {a.severity:8}  {a.scope[:20]:20}  {a.kind[:12]:12}  "
            f"{a.subject[:24]:24}  {a.first_fired_at:%Y-%m-%d %H:%M}{acked}"
        )
        click.echo(f"{'':>5}  {a.summary}")
    return 0


def ack_command(
    settings: Settings,
    alert_id: int,
    until: str | None,
    note: str | None,
    now: datetime | None = None,
) -> int:
    from daemon.alerts.policy import ack

    now = now or datetime.now(UTC)
    try:
        until_at = parse_until(until, now) if until else None
    except ValueError as exc:
        click.echo(str(exc), err=True)
        return EX_USAGE
    ctx = _context(settings)
    try:
        with ctx.sessions() as session, session.begin():
            alert = ack(session, alert_id, now, until=until_at, note=note)
            scope, subject = alert.scope, alert.subject
    except (LookupError, ValueError) as exc:
        click.echo(str(exc), err=True)
        return EX_DATAERR
    finally:
        ctx.close()
    until_text = until_at.isoformat() if until_at else "it resolves"
    click.echo(f"alert {alert_id} ({scope} / {subject}) acknowledged until {until_text}")
    return 0


def test_command(settings: Settings, channel: str, now: datetime | None = None) -> int:
    from daemon.alerts.jobs import send_test
    from daemon.store.tables import NotificationState

    now = now or datetime.now(UTC)
    ctx = _context(settings)
    try:
        result = send_test(ctx, channel, now)
    except (KeyError, ValueError) as exc:
        click.echo(str(exc).strip("'\""), err=True)
        return EX_USAGE
    finally:
        ctx.close()
    if result.state is NotificationState.SENT:
        click.echo(f"test message {result.notification_id} sent to {channel}")
        return 0
    click.echo(
        f"test message {result.notification_id} to {channel}: {result.state.value}, "
        f"{result.error or 'not sent'}",
        err=True,
    )
    return EX_UNAVAILABLE if result.state is NotificationState.DEAD else EX_TEMPFAIL
