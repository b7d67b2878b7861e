"""Delivery through a real loopback receiver standing in for Slack, on SQLite and
PostgreSQL: 429 with Retry-After, 500s, an outage across a daemon restart,
permanent errors, the age limit, and secrets kept out of everything."""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from checks.interface import CheckKind
from daemon.alerts.delivery import Backoff, deliver_pending
from daemon.alerts.finding import Finding
from daemon.alerts.jobs import send_test
from daemon.alerts.policy import apply_findings
from daemon.config import Settings, Severity
from daemon.jobs import JobContext
from daemon.logs import setup_logging
from daemon.store.tables import Notification, NotificationState
from tests.alerts.conftest import SECRETS, SLACK_TOKEN, MakeCtx, Receiver, make_settings

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
FAST = Backoff(
    initial=timedelta(seconds=2), maximum=timedelta(seconds=16), random=random.Random(5).random
)


def slack_settings(receiver: Receiver, **alerts: object) -> Settings:
    return make_settings(
        {
            "cooldown": "0s",
            "channels": [
                {"name": "slack", "kind": "slack", "webhook_url": {"env": "SLACK_URL"}},
            ],
            **alerts,
        },
        {"SLACK_URL": f"{receiver.base}/services/{SLACK_TOKEN}"},
    )


def finding(scope: str, firing: bool, severity: Severity = Severity.WARNING) -> Finding:
    return Finding(
        scope=scope,
        kind=CheckKind.DRIFT,
        subject="age",
        firing=firing,
        severity=severity,
        summary="age drifted" if firing else "age is stable",
        value=0.4,
        threshold=0.1,
    )


def queue_three_per_scope(ctx: JobContext, scopes: list[str]) -> None:
    """firing, escalated, resolved for each scope: nine rows, ordered per alert."""
    steps = [
        (T0, True, Severity.WARNING),
        (T0 + timedelta(minutes=1), True, Severity.CRITICAL),
        (T0 + timedelta(minutes=2), False, Severity.CRITICAL),
    ]
    for when, firing, severity in steps:
        with ctx.sessions() as s, s.begin():
            apply_findings(s, ctx.settings, [finding(sc, firing, severity) for sc in scopes], when)


def states(ctx: JobContext) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    with ctx.sessions() as s:
        for state in s.scalars(select(Notification.state)):
            counts[str(state)] += 1
    return dict(counts)


def test_429_500s_and_an_outage_across_a_restart_lose_nothing(
    make_ctx: MakeCtx, receiver: Receiver
) -> None:
    settings = slack_settings(receiver)
    ctx = make_ctx(settings)
    scopes = ["churn", "fraud", "ltv"]
    queue_three_per_scope(ctx, scopes)
    receiver.script = [(429, {"Retry-After": "7"}, "rate_limited")] + [
        (500, {}, "internal_error")
    ] * 3
    http = httpx.Client()
    now = T0 + timedelta(minutes=3)

    first = deliver_pending(ctx, now, http=http, backoff=FAST)
    # The 429 pauses the channel for the run and schedules the row after Retry-After.
    assert receiver.requests == 1 and first.retrying == 1 and first.sent == 0
    with ctx.sessions() as s:
        head = s.scalars(select(Notification).order_by(Notification.id)).first()
        assert head is not None and head.next_attempt_at == now + timedelta(seconds=7)
    deliver_pending(ctx, now + timedelta(seconds=6), http=http, backoff=FAST)
    assert receiver.requests == 1, "retried before Retry-After"

    # Three 500s, then the receiver accepts; walk the clock until a few rows went out.
    for _ in range(40):
        now += timedelta(seconds=7)
        # One row a run here, so the outage below finds most of them still queued.
        deliver_pending(ctx, now, http=http, backoff=FAST, limit=1)
        if receiver.received:
            break
    statuses = [r.body["status"] for r in receiver.log]
    assert statuses[:4] == [429, 500, 500, 500], statuses
    assert 1 <= len(receiver.received) < 9

    # Down: the receiver stops, deliveries fail, the daemon restarts meanwhile.
    receiver.stop()
    for _ in range(3):
        now += timedelta(seconds=20)
        outcome = deliver_pending(ctx, now, http=http, backoff=FAST)
        assert outcome.sent == 0
        assert all("ConnectError" in e for e in outcome.errors)
    http.close()
    ctx.engine.dispose()
    restarted = make_ctx(settings)
    receiver.start()
    http = httpx.Client()
    for _ in range(60):
        now += timedelta(seconds=20)
        deliver_pending(restarted, now, http=http, backoff=FAST)
        if states(restarted) == {"sent": 9}:
            break
    http.close()
    assert states(restarted) == {"sent": 9}

    titles = [str(r.body["text"]) for r in receiver.received]
    assert len(titles) == len(set(titles)) == 9, titles
    for scope in scopes:
        mine = [t for t in titles if f"] {scope}:" in t]
        assert [t.rsplit(" ", 1)[-1] for t in mine] == ["firing", "critical", "resolved"], mine
    with restarted.sessions() as s:
        errors = [n.last_error for n in s.scalars(select(Notification)) if n.last_error]
    assert any("ConnectError" in e for e in errors)


@pytest.mark.parametrize("error", ["invalid_payload", "no_service"])
def test_permanent_slack_errors_are_recorded_not_retried(
    make_ctx: MakeCtx, receiver: Receiver, error: str
) -> None:
    ctx = make_ctx(slack_settings(receiver))
    with ctx.sessions() as s, s.begin():
        apply_findings(s, ctx.settings, [finding("churn", True)], T0)
    receiver.script = [(400 if error == "invalid_payload" else 404, {}, error)]
    outcome = deliver_pending(ctx, T0, backoff=FAST)
    assert outcome.dead == 1
    deliver_pending(ctx, T0 + timedelta(hours=1), backoff=FAST)
    assert receiver.requests == 1
    with ctx.sessions() as s:
        row = s.scalars(select(Notification)).one()
    assert row.state == NotificationState.DEAD and row.last_error is not None
    assert error in row.last_error


def test_dead_after_the_age_limit_with_the_last_error(
    make_ctx: MakeCtx, receiver: Receiver
) -> None:
    ctx = make_ctx(slack_settings(receiver, delivery_max_age="1h"))
    with ctx.sessions() as s, s.begin():
        apply_findings(s, ctx.settings, [finding("churn", True)], T0)
    receiver.script = [(503, {}, "unavailable")] * 100
    now = T0
    for _ in range(30):
        deliver_pending(ctx, now, backoff=FAST)
        now += timedelta(minutes=5)
    with ctx.sessions() as s:
        row = s.scalars(select(Notification)).one()
    assert row.state == NotificationState.DEAD
    assert row.last_error is not None and "503" in row.last_error
    assert 2 < row.attempts < 30


def test_secrets_stay_out_of_logs_outbox_and_errors(
    make_ctx: MakeCtx, receiver: Receiver, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A receiver that echoes the request path (the Slack secret) in its errors, an SMTP
    server that is down, a webhook with a token: nothing secret may come back out."""
    setup_logging("DEBUG")
    caplog.set_level(logging.DEBUG)
    settings = make_settings(
        {
            "cooldown": "0s",
            "channels": [
                {"name": "outbox", "kind": "file", "path": str(tmp_path / "o.jsonl")},
                {"name": "slack", "kind": "slack", "webhook_url": {"env": "SLACK_URL"}},
                {
                    "name": "email",
                    "kind": "email",
                    "host": "127.0.0.1",
                    "port": 9,
                    "username": "mlmaint",
                    "password": {"env": "SMTP_PASSWORD"},
                    "recipients": ["ops@example.com"],
                    "timeout": "2s",
                },
                {
                    "name": "hook",
                    "kind": "webhook",
                    "url": f"{receiver.base}/hook",
                    "token": {"env": "WEBHOOK_TOKEN"},
                },
            ],
        },
        {"SLACK_URL": f"{receiver.base}/services/{SLACK_TOKEN}"},
    )
    ctx = make_ctx(settings)
    with ctx.sessions() as s, s.begin():
        apply_findings(s, settings, [finding("churn", True)], T0)
    receiver.script = [
        (500, {}, "upstream failed for {path}"),
        (401, {}, "bad token for {path}"),
    ]
    deliver_pending(ctx, T0, backoff=FAST)
    # A second round: Slack accepts, the webhook is refused for good, SMTP still down.
    deliver_pending(ctx, T0 + timedelta(minutes=5), backoff=FAST)
    result = send_test(ctx, "slack", T0 + timedelta(minutes=6))
    assert result.state == NotificationState.SENT

    stored = []
    with ctx.sessions() as s:
        for n in s.scalars(select(Notification)):
            stored.append(f"{n.payload} {n.last_error} {n.channel} {n.scope}")
    texts = [
        caplog.text,
        *stored,
        (tmp_path / "o.jsonl").read_text(),
        str(settings.secrets),
        repr(settings),
    ]
    assert "upstream failed" in " ".join(stored), "the receiver's error text was kept"
    for secret in SECRETS:
        for text in texts:
            assert secret not in text
            assert secret.split("/")[-1] not in text
    # The Slack hook is reached through its secret URL, and did receive messages.
    assert {r.path for r in receiver.received} >= {f"/services/{SLACK_TOKEN}"}
    hook = [r for r in receiver.log if r.path == "/hook"]
    assert len(hook) == 1 and hook[0].headers["Authorization"] == f"Bearer {SECRETS[2]}"
