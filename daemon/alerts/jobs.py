"""The alert jobs the scheduler, the demo and the CLI call: cycle, test, list, ack."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import httpx

from daemon.alerts.channels.email import SmtpFactory
from daemon.alerts.delivery import Backoff, DeliveryOutcome, deliver_pending
from daemon.alerts.finding import Finding
from daemon.alerts.message import Message
from daemon.alerts.policy import PolicyOutcome, apply_findings, enqueue_message, sweep
from daemon.jobs import JobContext
from daemon.store.tables import Notification, NotificationState


@dataclass(frozen=True, kw_only=True)
class CycleOutcome:
    policy: PolicyOutcome
    delivery: DeliveryOutcome


def alert_cycle(
    ctx: JobContext,
    now: datetime,
    findings: Sequence[Finding] = (),
    *,
    http: httpx.Client | None = None,
    smtp_factory: SmtpFactory | None = None,
    backoff: Backoff | None = None,
) -> CycleOutcome:
    """Apply findings (if any), queue every due repeat and resolution, deliver the outbox.

    The demo calls this once per simulated day after the checks; the scheduler can
    run it at `alerts.delivery_every` with no findings.
    """
    with ctx.sessions() as session, session.begin():
        policy = apply_findings(session, ctx.settings, findings, now)
        swept = sweep(session, ctx.settings, now)
    merged = PolicyOutcome(
        fired=policy.fired,
        escalated=policy.escalated,
        repeated=policy.repeated + swept.repeated,
        resolved=policy.resolved + swept.resolved,
        quiet=policy.quiet,
        notification_ids=policy.notification_ids + swept.notification_ids,
    )
    delivery = deliver_pending(ctx, now, http=http, smtp_factory=smtp_factory, backoff=backoff)
    return CycleOutcome(policy=merged, delivery=delivery)


@dataclass(frozen=True, kw_only=True)
class ChannelTestResult:
    notification_id: int
    state: NotificationState
    error: str | None


def send_test(
    ctx: JobContext,
    channel: str,
    now: datetime,
    *,
    http: httpx.Client | None = None,
    smtp_factory: SmtpFactory | None = None,
) -> ChannelTestResult:
    """Queue a test message on one channel and try to deliver it right away."""
    message = Message(
        title=f"mlmaint test message for channel {channel}",
        text=(
            f"This is a test of the {channel!r} channel, sent at {now.isoformat()}.\n"
            "If you read this, alerts will reach you here."
        ),
    )
    with ctx.sessions() as session, session.begin():
        row_id = enqueue_message(
            session, ctx.settings, channel, message, now, kind="test", scope=f"test:{channel}"
        )
    deliver_pending(ctx, now, http=http, smtp_factory=smtp_factory, only={row_id})
    with ctx.sessions() as session:
        row = session.get_one(Notification, row_id)
        return ChannelTestResult(
            notification_id=row_id, state=NotificationState(row.state), error=row.last_error
        )
