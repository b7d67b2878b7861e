"""The delivery job: send what the outbox holds, retry what failed, give up when too old.

Each run reads the pending rows in id order and sends those that are due.
Guarantees:

- order: rows of one (channel, scope) go out in id order. A row waiting for a
  retry blocks the later rows of its scope on that channel; a row only held by
  quiet hours does not, so a critical message is never queued behind a held one;
- no loss: a row stays pending until the channel accepts it, and is given up
  ("dead", with its last error) only after `delivery_max_age` or on a permanent
  error (Slack's `invalid_payload`, an SMTP 5xx);
- no double send between concurrent deliverers: a row is claimed by a
  conditional UPDATE (attempts = the count we read) that also pushes its next
  attempt past a lease; a deliverer that crashes mid-send leaves it to be
  retried when the lease ends (at least once, never lost);
- 429 honours Retry-After; failures back off exponentially with jitter; a
  channel that is unreachable or rate limited is left alone for the rest of the
  run.

Secrets never reach the outbox or the logs: every error text is redacted with the
configured secrets' values before it is stored or logged.
"""

from __future__ import annotations

import logging
import random
import time as _time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import assert_never
from urllib.parse import quote, urlsplit

import httpx
from sqlalchemy import CursorResult, select, update

from daemon.alerts.channels.email import EmailSender, SmtpFactory
from daemon.alerts.channels.email import connect as smtp_connect
from daemon.alerts.channels.file import FileSender
from daemon.alerts.channels.interface import (
    ChannelUnreachable,
    NotifyError,
    Outgoing,
    PermanentError,
    RetryableError,
    Sender,
)
from daemon.alerts.channels.slack import SlackSender
from daemon.alerts.channels.webhook import WebhookSender
from daemon.alerts.message import PayloadError
from daemon.config import (
    EmailChannel,
    FileChannel,
    Settings,
    SlackChannel,
    WebhookChannel,
)
from daemon.jobs import JobContext
from daemon.store.tables import Notification, NotificationState

log = logging.getLogger(__name__)

# How long a claimed row is left alone beyond the channel's timeout (crash recovery).
LEASE_MARGIN = timedelta(seconds=60)
MAX_ERROR_CHARS = 1000


@dataclass(frozen=True, kw_only=True)
class Backoff:
    """Exponential backoff with jitter: attempt n waits initial·2^(n-1), capped.

    "Equal jitter": between half and all of that delay, so retries of many rows
    that failed together spread out, yet never come back immediately.
    """

    initial: timedelta
    maximum: timedelta
    random: Callable[[], float] = random.random

    @classmethod
    def from_settings(cls, settings: Settings) -> Backoff:
        return cls(initial=settings.alerts.retry_initial, maximum=settings.alerts.retry_max)

    def delay(self, attempts: int) -> timedelta:
        exponent = min(max(attempts - 1, 0), 30)
        base = min(self.maximum, self.initial * (1 << exponent))
        return base * (0.5 + 0.5 * self.random())


@dataclass(frozen=True, kw_only=True)
class DeliveryOutcome:
    sent: int = 0
    retrying: int = 0
    dead: int = 0
    # Due rows left for later: held by quiet hours, behind an earlier row, channel paused.
    waiting: int = 0
    errors: tuple[str, ...] = field(default_factory=tuple)


class Redactor:
    """Replaces secret values (and their URL-encoded forms) in text."""

    def __init__(self, secrets: Iterable[str]) -> None:
        forms: set[str] = set()
        for value in secrets:
            if len(value) >= 4:
                forms.update({value, quote(value, safe=""), quote(value)})
            # A webhook URL is secret by its path: receivers echo the path, not the URL.
            url = urlsplit(value)
            if url.scheme and url.netloc:
                path = url.path + (f"?{url.query}" if url.query else "")
                if len(path) >= 8:
                    forms.update({path, path.lstrip("/")})
                forms.update(seg for seg in url.path.split("/") if len(seg) >= 8)
        # Longest first, so a secret that contains another is replaced whole.
        self._forms = sorted(forms, key=len, reverse=True)

    @classmethod
    def from_settings(cls, settings: Settings) -> Redactor:
        return cls(s.reveal() for s in settings.secrets.values())

    def __call__(self, text: str) -> str:
        for form in self._forms:
            text = text.replace(form, "***")
        return text


def _timeout(channel: SlackChannel | EmailChannel | WebhookChannel) -> timedelta:
    timeout: timedelta = channel.timeout
    return timeout


def build_sender(
    settings: Settings,
    name: str,
    http: Callable[[], httpx.Client],
    smtp_factory: SmtpFactory | None = None,
) -> tuple[Sender, timedelta]:
    """The sender for a configured channel and how long one send may take.

    `http` gives the HTTP client, called only for a channel that speaks HTTP: a new
    client costs an SSL context (40 ms), which a file or email channel never uses.
    """
    try:
        channel = settings.channel(name)
    except KeyError as exc:
        raise PermanentError(f"channel {name!r} is no longer configured") from exc
    if not channel.enabled:
        raise PermanentError(f"channel {name!r} is disabled")
    if isinstance(channel, FileChannel):
        return FileSender(settings.state_path(channel.path)), timedelta(seconds=10)
    if isinstance(channel, SlackChannel):
        url = channel.webhook_url_secret()
        if url is None:
            raise PermanentError(f"channel {name!r}: the Slack webhook URL secret is not set")
        return SlackSender(http(), url, channel.timeout.total_seconds()), _timeout(channel)
    if isinstance(channel, EmailChannel):
        password = channel.password_secret()
        sender = EmailSender(channel, password, smtp_factory or smtp_connect)
        return sender, _timeout(channel) * 3
    if isinstance(channel, WebhookChannel):
        token = channel.token_secret()
        return (
            WebhookSender(http(), channel.url, token, channel.timeout.total_seconds()),
            _timeout(channel),
        )
    assert_never(channel)


@dataclass
class _Run:
    now: datetime
    settings: Settings
    redact: Redactor
    backoff: Backoff
    given_http: httpx.Client | None
    smtp_factory: SmtpFactory | None
    own_http: httpx.Client | None = None
    senders: dict[str, tuple[Sender, timedelta] | NotifyError] = field(default_factory=dict)
    paused: set[str] = field(default_factory=set)
    sent: int = 0
    retrying: int = 0
    dead: int = 0
    waiting: int = 0
    errors: list[str] = field(default_factory=list)

    def sender(self, name: str) -> tuple[Sender, timedelta]:
        if name not in self.senders:
            try:
                self.senders[name] = build_sender(self.settings, name, self.http, self.smtp_factory)
            except NotifyError as exc:
                self.senders[name] = exc
        built = self.senders[name]
        if isinstance(built, NotifyError):
            raise built
        return built

    def http(self) -> httpx.Client:
        # Made only when a Slack or webhook row is due: building one costs an SSL context.
        if self.given_http is not None:
            return self.given_http
        if self.own_http is None:
            self.own_http = httpx.Client()
        return self.own_http

    def close(self) -> None:
        if self.own_http is not None:
            self.own_http.close()


def deliver_pending(
    ctx: JobContext,
    now: datetime,
    *,
    http: httpx.Client | None = None,
    smtp_factory: SmtpFactory | None = None,
    backoff: Backoff | None = None,
    only: Collection[int] | None = None,
    limit: int = 1000,
) -> DeliveryOutcome:
    """Send the due pending notifications; `only` restricts the run to some row ids."""
    started = _time.monotonic()
    run = _Run(
        now=now,
        settings=ctx.settings,
        redact=Redactor.from_settings(ctx.settings),
        backoff=backoff or Backoff.from_settings(ctx.settings),
        given_http=http,
        smtp_factory=smtp_factory,
    )
    try:
        _deliver(ctx, run, only, limit)
    finally:
        run.close()
    outcome = DeliveryOutcome(
        sent=run.sent,
        retrying=run.retrying,
        dead=run.dead,
        waiting=run.waiting,
        errors=tuple(run.errors),
    )
    if run.sent or run.retrying or run.dead:
        log.info(
            "outbox delivery: %d sent, %d to retry, %d dead, %d waiting in %.2fs",
            run.sent,
            run.retrying,
            run.dead,
            run.waiting,
            _time.monotonic() - started,
        )
    else:
        log.debug("outbox delivery: nothing sent, %d waiting", run.waiting)
    return outcome


def _deliver(ctx: JobContext, run: _Run, only: Collection[int] | None, limit: int) -> None:
    query = (
        select(
            Notification.id,
            Notification.channel,
            Notification.scope,
            Notification.not_before,
            Notification.next_attempt_at,
            Notification.created_at,
            Notification.attempts,
        )
        .where(Notification.state == NotificationState.PENDING)
        .order_by(Notification.id)
        .limit(limit)
    )
    with ctx.sessions() as session:
        rows = session.execute(query).all()
    blocked: set[tuple[str, str]] = set()
    max_age = run.settings.alerts.delivery_max_age
    for row in rows:
        key = (row.channel, row.scope)
        if only is not None and row.id not in only:
            blocked.add(key)
            continue
        if key in blocked:
            run.waiting += 1
            continue
        if row.not_before is not None and row.not_before > run.now:
            run.waiting += 1
            continue
        blocked.add(key)
        if row.next_attempt_at > run.now:
            continue
        if row.channel in run.paused:
            run.waiting += 1
            continue
        if run.now - row.created_at >= max_age and row.attempts > 0:
            # Dead with the last error it met, which says why.
            _finish(ctx, row.id, NotificationState.DEAD, run.now, None, None)
            run.dead += 1
            blocked.discard(key)
            continue
        if _attempt(ctx, run, row.id, row.attempts):
            blocked.discard(key)


def _attempt(ctx: JobContext, run: _Run, row_id: int, attempts: int) -> bool:
    """Try one row; True when it left the pending state (sent or dead)."""
    now = run.now
    try:
        sender, send_timeout = run.sender(_channel_of(ctx, row_id))
    except NotifyError as exc:
        error = run.redact(str(exc))
        _finish(ctx, row_id, NotificationState.DEAD, now, None, error)
        run.dead += 1
        run.errors.append(error)
        log.error("notification %d dead: %s", row_id, error)
        return True
    lease_until = now + send_timeout + LEASE_MARGIN
    with ctx.sessions() as session, session.begin():
        result: CursorResult[tuple[()]] = session.execute(  # type: ignore[assignment]
            update(Notification)
            .where(
                Notification.id == row_id,
                Notification.state == NotificationState.PENDING,
                Notification.attempts == attempts,
            )
            .values(attempts=attempts + 1, next_attempt_at=lease_until)
        )
        if result.rowcount != 1:
            return False
        n = session.get_one(Notification, row_id)
        message = Outgoing(
            notification_id=n.id,
            channel=n.channel,
            kind=n.kind,
            scope=n.scope,
            payload=n.payload,
            created_at=n.created_at,
            attempt=attempts + 1,
        )
    try:
        sender.send(message, now)
    except PermanentError as exc:
        return _give_up(ctx, run, message, str(exc))
    except PayloadError as exc:
        return _give_up(ctx, run, message, f"unreadable payload: {exc}")
    except RetryableError as exc:
        if isinstance(exc, ChannelUnreachable) or exc.retry_after is not None:
            run.paused.add(message.channel)
        delay = (
            timedelta(seconds=exc.retry_after)
            if exc.retry_after is not None
            else run.backoff.delay(attempts + 1)
        )
        if exc.retry_after is not None:
            _hold_channel(ctx, message.channel, run.now + delay)
        return _retry_or_die(ctx, run, message, str(exc), delay)
    except Exception as exc:  # a bug in a renderer must not stop the other rows
        # Redacted: a transport's exception text can carry the webhook URL or a login.
        error = run.redact(f"internal error: {type(exc).__name__}: {exc}")
        log.error(
            "notification %d: unexpected error in channel %s: %s", row_id, message.channel, error
        )
        return _retry_or_die(ctx, run, message, error, run.backoff.delay(attempts + 1))
    _finish(ctx, row_id, NotificationState.SENT, now, None, None)
    run.sent += 1
    log.debug("notification %d sent to %s (attempt %d)", row_id, message.channel, attempts + 1)
    return True


def _hold_channel(ctx: JobContext, channel: str, until: datetime) -> None:
    """Retry-After speaks for the whole webhook: no row of the channel goes before it."""
    with ctx.sessions() as session, session.begin():
        session.execute(
            update(Notification)
            .where(
                Notification.channel == channel,
                Notification.state == NotificationState.PENDING,
                Notification.next_attempt_at < until,
            )
            .values(next_attempt_at=until)
        )


def _channel_of(ctx: JobContext, row_id: int) -> str:
    with ctx.sessions() as session:
        return session.scalars(select(Notification.channel).where(Notification.id == row_id)).one()


def _give_up(ctx: JobContext, run: _Run, message: Outgoing, error: str) -> bool:
    error = run.redact(error)[:MAX_ERROR_CHARS]
    _finish(ctx, message.notification_id, NotificationState.DEAD, run.now, None, error)
    run.dead += 1
    run.errors.append(error)
    log.error(
        "notification %d to %s refused for good: %s",
        message.notification_id,
        message.channel,
        error,
    )
    return True


def _retry_or_die(
    ctx: JobContext, run: _Run, message: Outgoing, error: str, delay: timedelta
) -> bool:
    error = run.redact(error)[:MAX_ERROR_CHARS]
    run.errors.append(error)
    if run.now - message.created_at >= run.settings.alerts.delivery_max_age:
        _finish(ctx, message.notification_id, NotificationState.DEAD, run.now, None, error)
        run.dead += 1
        log.error(
            "notification %d to %s dead after %d attempts: %s",
            message.notification_id,
            message.channel,
            message.attempt,
            error,
        )
        return True
    _finish(
        ctx, message.notification_id, NotificationState.PENDING, run.now, run.now + delay, error
    )
    run.retrying += 1
    log.warning(
        "notification %d to %s failed (attempt %d), retry in %.0fs: %s",
        message.notification_id,
        message.channel,
        message.attempt,
        delay.total_seconds(),
        error,
    )
    return False


def _finish(
    ctx: JobContext,
    row_id: int,
    state: NotificationState,
    now: datetime,
    next_attempt_at: datetime | None,
    error: str | None,
) -> None:
    values: dict[str, object] = {"state": state}
    if state is NotificationState.SENT:
        values["sent_at"] = now
    if next_attempt_at is not None:
        values["next_attempt_at"] = next_attempt_at
    if error is not None:
        values["last_error"] = error
    with ctx.sessions() as session, session.begin():
        session.execute(update(Notification).where(Notification.id == row_id).values(**values))
