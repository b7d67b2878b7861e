"""Email over SMTP: STARTTLS or implicit TLS, login from a secret, text + HTML.

One email per outbox row. Headers that let mail clients thread and filter:
`Message-ID` is stable per row (a retried send is recognisably the same message),
`In-Reply-To`/`References` point at one thread root per scope, so a model's
alerts stack up in one conversation, and `List-Id` lets people filter them.

SMTP answers: 4xx is temporary and retried; 5xx is permanent, except an
authentication failure (535), retried until the delivery age limit so a fixed
password still gets the backlog through.

A message over the server's advertised SIZE would be refused for good (552), so
it is cut to fit instead: attachments left out first (the report stays at its
link), then the text alone, shortened.
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


def build_email(
    channel: EmailChannel, message: Outgoing, now: datetime, max_bytes: int | None = None
) -> EmailMessage:
    """The email for an outbox row, within `max_bytes` (the server's SIZE) when given."""
    email = _compose(channel, message, now, keep_attachments=True, text_chars=None)
    if max_bytes is None or _wire_size(email) <= max_bytes:
        return email
    email = _compose(channel, message, now, keep_attachments=False, text_chars=None)
    chars = len(render.text(from_json(message.payload)))
    # Halve the text until it fits: its encoded size is not a fixed multiple of its length.
    while _wire_size(email) > max_bytes and chars > 0:
        chars //= 2
        email = _compose(channel, message, now, keep_attachments=False, text_chars=chars)
    return email


def _compose(
    channel: EmailChannel,
    message: Outgoing,
    now: datetime,
    *,
    keep_attachments: bool,
    text_chars: int | None,
) -> EmailMessage:
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
    attachments = getattr(payload, "attachments", ())
    text = render.text(payload)
    if text_chars is not None:
        text = f"{text[:text_chars]}\n[… cut to the mail server's size limit]\n"
    if not keep_attachments and attachments:
        left_out = ", ".join(f"{a.filename} ({len(a.content)} bytes)" for a in attachments)
        text += f"\nLeft out, over the mail server's size limit: {left_out}\n"
    email.set_content(text)
    if text_chars is not None:
        # Text alone once cut: the HTML rendering is as long again and cannot be cut safely.
        return email
    email.add_alternative(render.html(payload), subtype="html")
    for attachment in attachments if keep_attachments else ():
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
        where = f"smtp {self.channel.host}:{self.channel.port}"
        try:
            client = self.factory(self.channel)
        except (OSError, smtplib.SMTPException) as exc:
            raise ChannelUnreachable(f"{where}: cannot connect ({type(exc).__name__})") from exc
        try:
            if self.channel.username is not None and self.password is not None:
                client.login(self.channel.username, self.password.reveal())
            client.ehlo_or_helo_if_needed()
            client.send_message(build_email(self.channel, message, now, _size_limit(client)))
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


def _size_limit(client: smtplib.SMTP) -> int | None:
    """The server's advertised SIZE (RFC 1870); 0 or absent means none."""
    value = client.esmtp_features.get("size", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def _wire_size(email: EmailMessage) -> int:
    """The size smtplib announces in MAIL FROM: the message with CRLF line ends."""
    return len(email.as_bytes(policy=email.policy.clone(linesep="\r\n")))
