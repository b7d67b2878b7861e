"""Channels against real receivers: Slack blocks within limits with 300 drifted
features, email over STARTTLS and implicit TLS with AUTH LOGIN and threading
headers, the report message with an HTML attachment, the generic webhook."""

from __future__ import annotations

import email
import email.policy
import json
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from checks.interface import CheckKind
from daemon.alerts.delivery import deliver_pending
from daemon.alerts.finding import Finding
from daemon.alerts.jobs import alert_cycle
from daemon.alerts.message import Attachment, Message
from daemon.alerts.policy import apply_findings, enqueue_message
from daemon.store.tables import Notification, NotificationState
from tests.alerts.conftest import (
    SLACK_TOKEN,
    SMTP_PASSWORD,
    Cert,
    MakeCtx,
    Receiver,
    SmtpServer,
    make_settings,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def features(n: int, firing: bool = True) -> list[Finding]:
    return [
        Finding(
            scope="churn",
            kind=CheckKind.DRIFT,
            subject=f"feature_with_a_long_descriptive_name_{i:03d}",
            firing=firing,
            summary=f"drift of feature_with_a_long_descriptive_name_{i:03d} "
            f"(Wasserstein distance, normed) <{i}> & more",
            value=0.1 + i / 1000,
            threshold=0.1,
            link=f"http://127.0.0.1:8787/evidence/churn/{i}.html",
        )
        for i in range(n)
    ]


def test_slack_blocks_stay_within_limits_with_300_drifted_features(
    make_ctx: MakeCtx, receiver: Receiver
) -> None:
    settings = make_settings(
        {"channels": [{"name": "slack", "kind": "slack", "webhook_url": {"env": "SLACK_URL"}}]},
        {"SLACK_URL": f"{receiver.base}/services/{SLACK_TOKEN}"},
    )
    ctx = make_ctx(settings)
    outcome = alert_cycle(ctx, T0, features(300))
    assert outcome.delivery.sent == 1
    [message] = receiver.received
    body = message.body
    blocks = body["blocks"]
    assert isinstance(blocks, list)
    assert len(blocks) <= 50
    assert isinstance(body["text"], str) and 0 < len(body["text"]) <= 3000
    assert "300 alerts" in body["text"]
    header = blocks[0]
    assert header["type"] == "header" and len(header["text"]["text"]) <= 150
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert all(len(s) <= 3000 for s in sections)
    assert len(json.dumps(body)) < 13_000
    # Warnings (the default severity here) are orange; red is kept for critical.
    shown = sum(s.count(":large_orange_circle:") for s in sections)
    assert not any(":red_circle:" in s for s in sections)
    more = [s for s in sections if "more not shown" in s]
    assert len(more) == 1
    hidden = int(more[0].split("and ")[1].split(" more")[0])
    assert shown + hidden == 300 and shown > 10
    # mrkdwn control characters are escaped; the first feature is listed with its numbers.
    assert "&lt;0&gt; &amp; more" in sections[0]
    assert "feature_with_a_long_descriptive_name_000" in sections[0]
    # Each item says its alert id and ends with its next step, whole.
    assert "— alert 1\n" in sections[0]
    assert "Next: see the window's measures with `mlmaint check churn`" in sections[0]
    assert "<http://127.0.0.1:8787/evidence/churn/0.html|evidence>" in sections[0]
    # Many firing alerts of one model: one ack for all, said once, not on every item.
    assert "alerts ack 1`" not in sections[0]
    assert sum(s.count("`mlmaint alerts ack --model churn`") for s in sections) == 1


def email_settings(server: SmtpServer, cert: Cert, tls: str) -> dict[str, object]:
    return {
        "cooldown": "0s",
        "channels": [
            {
                "name": "email",
                "kind": "email",
                "host": "localhost",
                "port": server.port,
                "tls": tls,
                "username": "mlmaint",
                "password": {"env": "SMTP_PASSWORD"},
                "sender": "mlmaint@ml.example.com",
                "recipients": ["ops@example.com", "ml@example.com"],
                "timeout": "5s",
                "ca_file": str(cert.cert),
            }
        ],
    }


def parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def _check_alert_emails(server: SmtpServer) -> None:
    box = server.mailbox
    assert box.mechanisms and set(box.mechanisms) == {"LOGIN"}
    assert box.logins[0] == ("mlmaint", SMTP_PASSWORD)
    assert all(box.tls_seen)
    firing, resolved = (parse(m) for m in box.messages)
    assert firing["Subject"] == "[mlmaint] [warning] churn: 2 alerts (2 firing) on drift"
    # A resolution carries no firing severity.
    assert resolved["Subject"] == "[mlmaint] [resolved] churn: 2 alerts (2 resolved) on drift"
    assert firing["From"] == "mlmaint@ml.example.com"
    assert firing["To"] == "ops@example.com, ml@example.com"
    assert firing["Date"] and firing["Message-ID"] != resolved["Message-ID"]
    assert firing["Message-ID"].endswith("@ml.example.com>")
    # One thread per model: both point at the same root.
    assert firing["References"] == resolved["References"] == firing["In-Reply-To"]
    assert firing["List-Id"] == "mlmaint email <email.mlmaint.ml.example.com>"
    assert firing.get_content_type() == "multipart/alternative"
    text = firing.get_body(("plain",))
    html = firing.get_body(("html",))
    assert text is not None and html is not None
    plain = text.get_content()
    assert "[WARNING]" in plain
    assert any(line.endswith("— alert 2") for line in plain.splitlines())
    # Two firing alerts of one model: one ack for both, said once.
    assert plain.count("`mlmaint alerts ack --model churn`") == 1 and "alerts ack 2`" not in plain
    assert "evidence: http://127.0.0.1:8787/evidence/churn/1.html" in plain
    assert "&lt;1&gt; &amp; more" in html.get_content()


def test_email_over_starttls_with_auth_login(
    make_ctx: MakeCtx, smtp_starttls: SmtpServer, self_signed: Cert
) -> None:
    ctx = make_ctx(make_settings(email_settings(smtp_starttls, self_signed, "starttls")))
    alert_cycle(ctx, T0, features(2))
    alert_cycle(ctx, T0 + timedelta(hours=1), features(2, firing=False))
    _check_alert_emails(smtp_starttls)


def test_email_over_implicit_tls_with_a_report_attachment(
    make_ctx: MakeCtx, smtp_tls: SmtpServer, self_signed: Cert
) -> None:
    ctx = make_ctx(make_settings(email_settings(smtp_tls, self_signed, "tls")))
    alert_cycle(ctx, T0, features(2))
    alert_cycle(ctx, T0 + timedelta(hours=1), features(2, firing=False))
    _check_alert_emails(smtp_tls)
    report = Message(
        title="Weekly maintenance report 2026-W10",
        text="3 models checked, 1 retrained.",
        html="<html><body><h1>Week 10</h1></body></html>",
        link="http://127.0.0.1:8787/reports/2026-W10.html",
        attachments=(
            Attachment(
                filename="2026-W10.html", content_type="text/html", content=b"<html>full</html>"
            ),
        ),
    )
    with ctx.sessions() as s, s.begin():
        enqueue_message(s, ctx.settings, "email", report, T0 + timedelta(days=1))
    assert deliver_pending(ctx, T0 + timedelta(days=1)).sent == 1
    msg = parse(smtp_tls.mailbox.messages[-1])
    assert msg["Subject"] == "[mlmaint] Weekly maintenance report 2026-W10"
    [attachment] = list(msg.iter_attachments())
    assert attachment.get_filename() == "2026-W10.html"
    assert attachment.get_content() == "<html>full</html>"
    html = msg.get_body(("html",))
    assert html is not None and "<h1>Week 10</h1>" in html.get_content()


def test_wrong_smtp_password_is_retried_not_lost(
    make_ctx: MakeCtx, smtp_starttls: SmtpServer, self_signed: Cert
) -> None:
    config = email_settings(smtp_starttls, self_signed, "starttls")
    config["channels"][0]["timeout"] = "1s"  # type: ignore[index]
    ctx = make_ctx(make_settings(config, {"SMTP_PASSWORD": "wrong-S3cret"}))
    outcome = alert_cycle(ctx, T0, features(1))
    assert smtp_starttls.mailbox.logins == [("mlmaint", "wrong-S3cret")]
    assert outcome.delivery.retrying == 1 and not smtp_starttls.mailbox.messages
    # aiosmtpd answers 535 (or hangs up, by version): either way it stays queued.
    [error] = outcome.delivery.errors
    assert error.startswith("smtp localhost:") and "wrong-S3cret" not in error
    with ctx.sessions() as s:
        assert s.scalars(select(Notification.state)).one() == NotificationState.PENDING


def test_webhook_and_file_channels(make_ctx: MakeCtx, receiver: Receiver, tmp_path: Path) -> None:
    settings = make_settings(
        {
            "channels": [
                {"name": "hook", "kind": "webhook", "url": f"{receiver.base}/hook"},
                {"name": "outbox", "kind": "file", "path": str(tmp_path / "o.jsonl")},
            ]
        }
    )
    ctx = make_ctx(settings)
    with ctx.sessions() as s, s.begin():
        apply_findings(s, settings, features(1), T0)
    assert deliver_pending(ctx, T0).sent == 2
    [hook] = receiver.received
    assert hook.body["kind"] == "firing" and hook.body["scope"] == "churn"
    assert hook.headers["Idempotency-Key"] == f"mlmaint-{hook.body['id']}"
    [line] = [json.loads(x) for x in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert line["kind"] == "firing" and line["payload"]["items"][0]["value"] == 0.1
    with ctx.sessions() as s:
        assert {n.state for n in s.scalars(select(Notification))} == {NotificationState.SENT}


def test_a_file_channel_delivers_without_building_an_http_client(
    make_ctx: MakeCtx, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(
        {"channels": [{"name": "outbox", "kind": "file", "path": str(tmp_path / "o.jsonl")}]}
    )
    ctx = make_ctx(settings)
    with ctx.sessions() as s, s.begin():
        apply_findings(s, settings, features(1), T0)
    built: list[httpx.Client] = []

    class Counted(httpx.Client):
        def __init__(self, **kwargs: object) -> None:
            built.append(self)
            super().__init__(**kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(httpx, "Client", Counted)
    assert deliver_pending(ctx, T0).sent == 1
    # Each delivery run would pay for an SSL context it never uses.
    assert built == []
    assert len((tmp_path / "o.jsonl").read_text().splitlines()) == 1


def test_the_file_channel_on_a_full_disk_retries_and_tears_no_line() -> None:
    from datetime import UTC, datetime

    import pytest

    from daemon.alerts.channels.file import FileSender
    from daemon.alerts.channels.interface import Outgoing, RetryableError
    from daemon.alerts.message import Message, to_json

    now = datetime(2026, 3, 2, tzinfo=UTC)
    message = Outgoing(
        notification_id=7,
        channel="outbox",
        kind="test",
        scope="churn",
        payload=to_json(Message(title="t", text="x")),
        created_at=now,
        attempt=0,
    )
    # /dev/full answers every write with ENOSPC, as a full disk does.
    with pytest.raises(RetryableError, match=r"cannot append to /dev/full: No space left"):
        FileSender(Path("/dev/full")).send(message, now)
