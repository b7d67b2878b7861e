"""The alert policy: findings in, alert state and outbox rows out, in one transaction.

An alert is identified by its fingerprint (scope, kind, subject) and is firing or
resolved. What people were told is kept apart from the state (`notified_state`):

- a new firing alert is announced once; while it stays firing it is repeated every
  `repeat_interval` (unless acknowledged); a rise in severity is announced at once;
- a resolution is announced only once the alert has stayed resolved for the
  `cooldown`: an alert that flaps inside the cooldown never told anyone it
  resolved, so firing again is not news and nothing is sent;
- every change of one scope in one cycle goes into one message per channel, and
  joins that scope's message while it is unsent (daemon/alerts/outbox.py);
- a resolution says what it resolved with ("drift of income back below 0.1
  (0.04)"), from the finding that cleared it, not the firing text;
- an event (a finding with an `event_id`: a promotion, a rollback, a failed
  retrain) is told once and kept as an alert row in state `event`, which never
  fires, repeats or resolves; the same event handed in again sends nothing.

Routing: a channel takes an alert when its `min_severity` allows it and its
`models` list is empty or names the scope.

Only the present speaks: a finding of a window older than the latest window stored
for its model (a past window checked again) neither fires nor resolves; it is
counted as `stale` and left to /v1 and the report. Quiet hours hold non-critical messages
(`not_before`), which the delivery job sends after.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from daemon.alerts.acks import is_acked
from daemon.alerts.finding import Finding
from daemon.alerts.message import (
    SEVERITY_RANK,
    AlertGroup,
    AlertItem,
    Change,
    Message,
    max_severity,
    to_json,
)
from daemon.alerts.outbox import enqueue_group, outbox_row
from daemon.alerts.present import current_findings
from daemon.config import Channel, QuietHours, Settings, Severity
from daemon.store.tables import Alert, AlertState

log = logging.getLogger(__name__)

NOTIFIED_FIRING = "firing"
NOTIFIED_RESOLVED = "resolved"
NOTIFIED_EVENT = "event"


@dataclass(frozen=True, kw_only=True)
class PolicyOutcome:
    """What one call changed: counts per change and the outbox rows written."""

    fired: int = 0
    escalated: int = 0
    repeated: int = 0
    resolved: int = 0
    # Events told (each once: one already on record is not told again).
    events: int = 0
    # Alerts that changed state without a message: held resolutions, flaps, acks.
    quiet: int = 0
    # Findings of a past window (older than the model's latest checked one): set aside.
    stale: int = 0
    notification_ids: tuple[int, ...] = field(default_factory=tuple)


def _severity(value: str | None) -> Severity:
    try:
        return Severity(value) if value else Severity.INFO
    except ValueError:
        return Severity.WARNING


def quiet_until(quiet: QuietHours | None, now: datetime) -> datetime | None:
    """The end of the quiet period `now` falls in, or None outside quiet hours."""
    if quiet is None:
        return None
    zone = ZoneInfo(quiet.timezone)
    local = now.astimezone(zone)
    start = time.fromisoformat(quiet.start)
    end = time.fromisoformat(quiet.end)
    t = local.time()
    inside = start <= t < end if start <= end else (t >= start or t < end)
    if not inside or start == end:
        return None
    end_day = local.date()
    if t >= end:
        end_day += timedelta(days=1)
    return datetime.combine(end_day, end, tzinfo=zone).astimezone(UTC)


def routes(channel: Channel, scope: str, severity: Severity) -> bool:
    if not channel.enabled:
        return False
    if channel.models and scope not in channel.models:
        return False
    return SEVERITY_RANK[severity] >= SEVERITY_RANK[channel.min_severity]


RESOLUTION = "resolution"


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _window(source: dict[str, object]) -> tuple[str | None, int | None, int | None]:
    """(end, length in seconds, rows) of an item's window, from an alert's details
    (or its resolution's)."""
    end = source.get("window_end")
    return (
        end if isinstance(end, str) else None,
        _int(source.get("window_s")),
        _int(source.get("rows")),
    )


def _item(alert: Alert, change: Change, severity: Severity, settings: Settings) -> AlertItem:
    details = alert.details or {}
    window = _window(details)
    value = _number(details.get("value"))
    link = details.get("link")
    summary = alert.summary
    resolution = details.get(RESOLUTION)
    if change is Change.RESOLVED:
        # Told in the words of the finding that cleared it, with its value.
        if isinstance(resolution, dict) and isinstance(resolution.get("summary"), str):
            summary = resolution["summary"]
            value = _number(resolution.get("value"))
            window = _window(resolution)
        else:
            summary = f"{alert.kind} on {alert.subject} is no longer firing"
        link = None
    return AlertItem(
        alert_id=alert.id,
        kind=alert.kind,
        subject=alert.subject,
        change=change,
        severity=severity,
        summary=summary,
        value=value,
        threshold=_number(details.get("threshold")),
        link=link if isinstance(link, str) else None,
        since=alert.first_fired_at.isoformat(),
        fire_count=alert.fire_count,
        runbook=settings.alerts.runbooks.get(alert.kind),
        window_end=window[0],
        window_s=window[1],
        rows=window[2],
    )


def _window_of(finding: Finding) -> dict[str, object]:
    if finding.window_end is None:
        return {}
    return {
        "window_end": finding.window_end.isoformat(),
        "window_s": int(finding.window.total_seconds()) if finding.window else None,
        "rows": finding.rows,
    }


def _details(finding: Finding) -> dict[str, object]:
    data: dict[str, object] = {
        "value": finding.value,
        "threshold": finding.threshold,
        "link": finding.link,
        **_window_of(finding),
    }
    # Only JSON-safe scalars travel: the details are for people, not for replay.
    extra = {
        str(k): v
        for k, v in finding.details.items()
        if v is None or isinstance(v, str | int | float | bool)
    }
    if extra:
        data["extra"] = extra
    return data


class _Cycle:
    """The changes collected in one call, by scope, in the order they happened."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.items: dict[str, list[tuple[Alert, AlertItem]]] = defaultdict(list)
        self.touched: set[int] = set()
        self.counts: dict[Change, int] = defaultdict(int)
        self.quiet = 0

    def notify(self, alert: Alert, change: Change, now: datetime) -> None:
        severity = _severity(alert.severity)
        if change is Change.RESOLVED:
            # Sent where the firing message went, even if the severity dropped since.
            severity = max_severity(severity, _severity(alert.notified_severity))
            alert.notified_state = NOTIFIED_RESOLVED
        elif change is Change.NOTICE:
            alert.notified_state = NOTIFIED_EVENT
            alert.notified_severity = severity.value
        else:
            alert.notified_state = NOTIFIED_FIRING
            alert.notified_severity = severity.value
        alert.last_notified_at = now
        self.items[alert.scope].append((alert, _item(alert, change, severity, self.settings)))
        self.touched.add(alert.id)
        self.counts[change] += 1


def _fire(session: Session, alert: Alert | None, f: Finding, now: datetime, cycle: _Cycle) -> None:
    if alert is None:
        alert = _new_alert(session, f, now, AlertState.FIRING)
        cycle.notify(alert, Change.FIRING, now)
        return
    alert.severity = f.severity.value
    alert.summary = f.summary
    alert.details = _details(f)
    alert.last_seen_at = now
    if alert.state == AlertState.RESOLVED:
        alert.state = AlertState.FIRING
        alert.resolved_at = None
        alert.last_fired_at = now
        alert.fire_count += 1
        if alert.notified_state != NOTIFIED_FIRING:
            alert.first_fired_at = now
            cycle.notify(alert, Change.FIRING, now)
            return
        # A flap inside the cooldown: people were never told it resolved.
        cycle.quiet += 1
    notified = _severity(alert.notified_severity)
    if SEVERITY_RANK[f.severity] > SEVERITY_RANK[notified]:
        cycle.notify(alert, Change.ESCALATED, now)


def _event(session: Session, alert: Alert | None, f: Finding, now: datetime, cycle: _Cycle) -> None:
    """Tell an event once; one on record already (the same event id) was told then."""
    if alert is not None:
        return
    # An event is over as it happens: nothing for the report to count as firing.
    alert = _new_alert(session, f, now, AlertState.EVENT, resolved_at=now)
    cycle.notify(alert, Change.NOTICE, now)


def _new_alert(
    session: Session,
    f: Finding,
    now: datetime,
    state: AlertState,
    *,
    resolved_at: datetime | None = None,
) -> Alert:
    """The alert row a finding first seen now opens (added and flushed, so it has its id)."""
    alert = Alert(
        fingerprint=f.fingerprint,
        scope=f.scope,
        kind=f.kind.value,
        subject=f.subject,
        state=state,
        severity=f.severity.value,
        summary=f.summary,
        details=_details(f),
        first_fired_at=now,
        last_fired_at=now,
        last_seen_at=now,
        resolved_at=resolved_at,
        fire_count=1,
    )
    session.add(alert)
    session.flush()
    return alert


def _clear(alert: Alert, f: Finding, now: datetime, settings: Settings, cycle: _Cycle) -> None:
    alert.last_seen_at = now
    if alert.state == AlertState.RESOLVED:
        return
    # Kept for the resolution message, which may be sent only after the cooldown.
    resolution = {"summary": f.summary, "value": f.value, **_window_of(f)}
    alert.details = {**(alert.details or {}), RESOLUTION: resolution}
    alert.state = AlertState.RESOLVED
    alert.resolved_at = now
    alert.acked_at = None
    alert.acked_until = None
    if settings.alerts.cooldown <= timedelta(0) and alert.notified_state == NOTIFIED_FIRING:
        cycle.notify(alert, Change.RESOLVED, now)
    else:
        cycle.quiet += 1


def _sweep(
    session: Session, settings: Settings, now: datetime, scopes: Iterable[str] | None, cycle: _Cycle
) -> None:
    """Repeats that are due and resolutions that outlived the cooldown."""
    query = select(Alert).where(Alert.notified_state == NOTIFIED_FIRING).order_by(Alert.id)
    if scopes is not None:
        query = query.where(Alert.scope.in_(sorted(set(scopes))))
    # FOR UPDATE (PostgreSQL): two jobs sweeping one scope cannot both send a repeat.
    alerts = session.scalars(query.with_for_update().execution_options(populate_existing=True))
    cooldown = settings.alerts.cooldown
    for alert in alerts:
        if alert.id in cycle.touched:
            continue
        if alert.state == AlertState.RESOLVED:
            if alert.resolved_at is not None and alert.resolved_at + cooldown <= now:
                cycle.notify(alert, Change.RESOLVED, now)
        elif not is_acked(alert, now) and (
            alert.last_notified_at is None
            or alert.last_notified_at + settings.repeat_interval(alert.kind) <= now
        ):
            cycle.notify(alert, Change.REPEAT, now)


def _enqueue_cycle(
    session: Session, settings: Settings, cycle: _Cycle, now: datetime
) -> tuple[int, ...]:
    ids: list[int] = []
    for scope, entries in cycle.items.items():
        for channel in settings.alerts.channels:
            routed = [i for _, i in entries if routes(channel, scope, i.severity)]
            if not routed:
                continue
            group = AlertGroup(scope=scope, items=tuple(routed))
            held = None
            if group.severity is not Severity.CRITICAL:
                held = quiet_until(settings.alerts.quiet_hours, now)
            row_id = enqueue_group(session, channel.name, group, now, held)
            if row_id not in ids:
                ids.append(row_id)
    return tuple(ids)


def _outcome(cycle: _Cycle, ids: tuple[int, ...], stale: int = 0) -> PolicyOutcome:
    return PolicyOutcome(
        stale=stale,
        fired=cycle.counts[Change.FIRING],
        escalated=cycle.counts[Change.ESCALATED],
        repeated=cycle.counts[Change.REPEAT],
        resolved=cycle.counts[Change.RESOLVED],
        events=cycle.counts[Change.NOTICE],
        quiet=cycle.quiet,
        notification_ids=ids,
    )


def apply_findings(
    session: Session,
    settings: Settings,
    findings: Sequence[Finding],
    now: datetime,
    *,
    present: Mapping[str, datetime] | None = None,
) -> PolicyOutcome:
    """Update alert state from one cycle's findings and queue the messages it calls for.

    Runs in the caller's transaction: the alert change and its outbox rows commit
    or roll back together. The scopes named by the findings are also swept for
    repeats and held resolutions that are due. Findings of a past window (older
    than the latest window stored for their model) are set aside: a window checked
    again never fires or resolves an alert about the present. `present` (per model,
    the latest window whose findings were applied) replaces the latest stored window
    for a caller that applies windows in order (findings collected from workers).
    """
    findings, stale = current_findings(session, findings, present=present)
    if stale:
        log.info(
            "alert policy: %d finding(s) of a past window (%s) set aside: "
            "alerts speak of the latest checked window",
            len(stale),
            ", ".join(sorted({f"{f.scope} {f.window_end:%Y-%m-%d %H:%M}" for f in stale})),
        )
    latest = {f.fingerprint: f for f in findings}
    cycle = _Cycle(settings)
    if latest:
        existing = {
            a.fingerprint: a
            for a in session.scalars(
                select(Alert)
                .where(Alert.fingerprint.in_(sorted(latest)))
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        }
        for fingerprint, f in latest.items():
            alert = existing.get(fingerprint)
            if f.event_id is not None:
                _event(session, alert, f, now, cycle)
            elif f.firing:
                _fire(session, alert, f, now, cycle)
            elif alert is not None:
                _clear(alert, f, now, settings, cycle)
        session.flush()
    _sweep(session, settings, now, {f.scope for f in findings}, cycle)
    ids = _enqueue_cycle(session, settings, cycle, now)
    session.flush()
    outcome = _outcome(cycle, ids, len(stale))
    log.debug("alert policy: %s", outcome)
    return outcome


def sweep(
    session: Session, settings: Settings, now: datetime, scopes: Iterable[str] | None = None
) -> PolicyOutcome:
    """Queue the repeats and held resolutions that are due (every scope by default)."""
    cycle = _Cycle(settings)
    _sweep(session, settings, now, scopes, cycle)
    ids = _enqueue_cycle(session, settings, cycle, now)
    session.flush()
    return _outcome(cycle, ids)


def enqueue_message(
    session: Session,
    settings: Settings,
    channel_name: str,
    message: Message,
    now: datetime,
    *,
    kind: str = "report",
    scope: str | None = None,
) -> int:
    """Queue a message that is not an alert (a report, a test) on one channel.

    Returns the outbox row's id. Messages of one `scope` are delivered in order.
    """
    channel = settings.channel(channel_name)
    if not channel.enabled:
        raise ValueError(f"alert channel {channel_name!r} is disabled")
    row = outbox_row(channel.name, kind, scope or kind, to_json(message), now)
    session.add(row)
    session.flush()
    return row.id
