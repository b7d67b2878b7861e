"""Email over SMTP: STARTTLS or implicit TLS, login from a secret, text + HTML.

One email per outbox row. Headers that let mail clients thread and filter:
`Message-ID` is stable per row (a retried send is recognisably the same message),
`In-Reply-To`/`References` point at one thread root per scope, so a model's
alerts stack up in one conversation, and `List-Id` lets people filter them.

SMTP answers: 4xx is temporary and retried; 5xx is permanent, except an
authentication failure (535), retried until the delivery age limit so a fixed
password still gets the backlog through.
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from collections.abc import Callable
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime

from daemon.alerts import render
from daemon.alerts.channels.interface import (
    ChannelUnreachable,
    Outgoing,
    PermanentError,
    RetryableError,
)
from daemon.alerts.message import from_json
from daemon.config import EmailChannel, EmailTls, Secret

SmtpFactory = Callable[[EmailChannel], smtplib.SMTP]


def connect(channel: EmailChannel) -> smtplib.SMTP:
    """A connected client, TLS established as configured, not yet logged in."""
    timeout = channel.timeout.total_seconds()
    context = ssl.create_default_context(
        cafile=str(channel.ca_file) if channel.ca_file is not None else None
    )
    if channel.tls is EmailTls.TLS:
        return smtplib.SMTP_SSL(channel.host, channel.port, timeout=timeout, context=context)
    client = smtplib.SMTP(channel.host, channel.port, timeout=timeout)
    try:
        if channel.tls is EmailTls.STARTTLS:
            client.starttls(context=context)
    except BaseException:
        client.close()
        raise
    return client


def _domain(address: str) -> str:
    return address.rpartition("@")[2] or "localhost"


def build_email(channel: EmailChannel, message: Outgoing, now: datetime) -> EmailMessage:
    payload = from_json(message.payload)
    domain = _domain(channel.sender)
    email = EmailMessage()
    email["Subject"] = render.subject_line(payload)
    email["From"] = channel.sender
    email["To"] = ", ".join(channel.recipients)
    email["Date"] = format_datetime(now)
    stamp = int(message.created_at.timestamp())
    email["Message-ID"] = f"<mlmaint.{message.notification_id}.{stamp}@{domain}>"
    thread = hashlib.sha256(message.scope.encode()).hexdigest()
    root = f"<mlmaint.thread.{thread[:24]}@{domain}>"
    email["In-Reply-To"] = root
    email["References"] = root
    email["List-Id"] = f"mlmaint {message.channel} <{message.channel}.mlmaint.{domain}>"
    email["X-Mlmaint-Kind"] = message.kind
    email["X-Mlmaint-Scope"] = message.scope
    email.set_content(render.text(payload))
    email.add_alternative(render.html(payload), subtype="html")
    for attachment in getattr(payload, "attachments", ()):
        maintype, _, subtype = attachment.content_type.partition("/")
        email.add_attachment(
            attachment.content,
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=attachment.filename,
        )
    return email


class EmailSender:
    def __init__(
        self, channel: EmailChannel, password: Secret | None, factory: SmtpFactory = connect
    ) -> None:
        if not channel.recipients:
            raise PermanentError(f"email channel {channel.name!r} has no recipients")
        self.channel = channel
        self.password = password
        self.factory = factory

    def send(self, message: Outgoing, now: datetime) -> None:
        email = build_email(self.channel, message, now)
        where = f"smtp {self.channel.host}:{self.channel.port}"
        try:
            client = self.factory(self.channel)
        except (OSError, smtplib.SMTPException) as exc:
            raise ChannelUnreachable(f"{where}: cannot connect ({type(exc).__name__})") from exc
        try:
            if self.channel.username is not None and self.password is not None:
                client.login(self.channel.username, self.password.reveal())
            client.send_message(email)
        except smtplib.SMTPAuthenticationError as exc:
            raise RetryableError(f"{where}: login refused ({exc.smtp_code})") from exc
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({code for code, _ in exc.recipients.values()})
            raise PermanentError(f"{where}: recipients refused {codes}") from exc
        except smtplib.SMTPResponseException as exc:
            raw = exc.smtp_error
            text = (raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw))[:200]
            error = f"{where}: {exc.smtp_code} {text}"
            if 400 <= exc.smtp_code < 500:
                raise RetryableError(error) from exc
            raise PermanentError(error) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise ChannelUnreachable(f"{where}: {type(exc).__name__}") from exc
        finally:
            try:
                client.quit()
            except (OSError, smtplib.SMTPException):
                client.close()
