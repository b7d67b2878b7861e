"""The bodies of `mlmaint alerts list | ack | test`: each returns an exit status."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import click

from daemon.alerts.acks import is_acked

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from daemon.config import Settings
    from daemon.jobs import JobContext
    from daemon.store.tables import Alert
    from daemon.tables import Echo

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
    from daemon.jobs import JobContext
    from daemon.store import migrate

    ctx = JobContext.from_settings(settings)
    migrate.require_current(ctx.engine)
    return ctx


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def alert_document(alert: Alert, now: datetime) -> dict[str, object]:
    """One firing alert as `alerts list --format json` prints it: the /v1 API's names
    (`scope`, `kind`), its times (`Z`), and for scripts the value and threshold that
    fired, the end of the window judged and the evidence page (None where none)."""
    details = alert.details or {}
    extra = details.get("extra")
    window_end = extra.get("window_end") if isinstance(extra, dict) else None
    link = details.get("link")
    return {
        "id": alert.id,
        "scope": alert.scope,
        "kind": alert.kind,
        "subject": alert.subject,
        "severity": alert.severity,
        "summary": alert.summary,
        "value": _number(details.get("value")),
        "threshold": _number(details.get("threshold")),
        "window_end": window_end if isinstance(window_end, str) else None,
        "evidence_url": link if isinstance(link, str) else None,
        "first_fired_at": _utc(alert.first_fired_at),
        "last_fired_at": _utc(alert.last_fired_at),
        "fire_count": alert.fire_count,
        "acked": is_acked(alert, now),
        "acked_until": _utc(alert.acked_until),
        "ack_note": alert.ack_note,
    }


def _utc(value: datetime | None) -> str | None:
    from daemon.tables import utc_text

    return utc_text(value)


_SEVERITY_COLOUR = {"critical": "red", "warning": "yellow", "info": "cyan"}


def list_command(
    engine: Engine,
    now: datetime | None = None,
    *,
    fmt: str = "table",
    echo: Echo = click.echo,
) -> int:
    """`mlmaint alerts list [--format json]`: the firing alerts, a table or one JSON list.

    It reads the store alone (the caller's engine, from the [store] table): no policy,
    no channel, so it answers at the terminal in a fraction of a second.
    """
    from sqlalchemy.orm import Session

    from daemon.alerts.acks import firing_alerts
    from daemon.store import migrate
    from daemon.tables import Column, dumps, render

    now = now or datetime.now(UTC)
    migrate.require_current(engine)
    with Session(engine) as session:
        alerts = firing_alerts(session)
        documents = [alert_document(a, now) for a in alerts]
    if fmt == "json":
        echo(dumps(documents))
        return 0
    if not documents:
        echo("no firing alerts")
        return 0
    columns = (
        Column("id", right=True),
        Column("severity", colour=_SEVERITY_COLOUR.get),
        Column("scope"),
        Column("kind"),
        Column("subject"),
        Column("since (UTC)"),
        Column("ack"),
        Column("summary"),
    )
    rows = []
    for d in documents:
        acked = ""
        if d["acked"]:
            until = d["acked_until"]
            shown = str(until)[:16].replace("T", " ") if until else "it resolves"
            acked = f"acked until {shown}"
        rows.append(
            (
                str(d["id"]),
                str(d["severity"]),
                str(d["scope"]),
                str(d["kind"]),
                str(d["subject"]),
                str(d["first_fired_at"])[:16].replace("T", " "),
                acked,
                str(d["summary"]),
            )
        )
    echo(render(columns, rows))
    return 0


def ack_command(
    settings: Settings,
    alert_id: int | None,
    until: str | None,
    note: str | None,
    now: datetime | None = None,
    *,
    model: str | None = None,
) -> int:
    """`mlmaint alerts ack ID` or `mlmaint alerts ack --model NAME` (all its firing alerts)."""
    from daemon.alerts.acks import ack, ack_model

    if (alert_id is None) == (model is None):
        click.echo("alerts ack: give an alert id or --model NAME (one of them)", err=True)
        return EX_USAGE
    now = now or datetime.now(UTC)
    try:
        until_at = parse_until(until, now) if until else None
    except ValueError as exc:
        click.echo(str(exc), err=True)
        return EX_USAGE
    ctx = _context(settings)
    try:
        with ctx.sessions() as session, session.begin():
            done: list[tuple[int, str, str]] = []
            if model is not None:
                acked = ack_model(session, model, now, until=until_at, note=note)
                done = [(a.id, a.scope, a.subject) for a in acked]
            elif alert_id is not None:
                alert = ack(session, alert_id, now, until=until_at, note=note)
                done = [(alert.id, alert.scope, alert.subject)]
    except (LookupError, ValueError) as exc:
        click.echo(str(exc), err=True)
        return EX_DATAERR
    finally:
        ctx.close()
    until_text = until_at.isoformat() if until_at else "it resolves"
    for aid, scope, subject in done:
        click.echo(f"alert {aid} ({scope} / {subject}) acknowledged until {until_text}")
    return 0


def test_command(settings: Settings, channel: str, now: datetime | None = None) -> int:
    from daemon.alerts.jobs import send_test
    from daemon.config import UnknownName
    from daemon.store.tables import NotificationState

    now = now or datetime.now(UTC)
    ctx = _context(settings)
    try:
        result = send_test(ctx, channel, now)
    except (UnknownName, ValueError) as exc:
        # UnknownName says which channels there are; str() of a bare KeyError would quote it.
        click.echo(f"alerts test: {exc}", err=True)
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
