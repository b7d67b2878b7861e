"""Every alert channel kind through one contract, each against a real loopback receiver.

The kinds are discovered from the config's channel union (the `kind` tag of each
member of `daemon.config.Channel`), in the manner of river's estimator checks: a
new kind fails here, by name, until it has an entry in CASES and passes.

The contract, through the outbox and `deliver_pending` as the daemon runs it:

- a permanent refusal is given up at once (dead after one attempt, never sent again);
- a retryable failure (the receiver's 5xx, connection refused, a timeout) stays
  pending and goes out on a later attempt;
- secrets appear in no error, log line or repr, even when the receiver echoes them;
- a message over the channel's size limit is cut to fit and delivered, not refused.

Everything is loopback and bounded: timeouts of a second, one SQLite store per test.
"""

from __future__ import annotations

import enum
import json
import logging
import socket
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import Engine, select

from daemon.alerts.delivery import Backoff, build_sender, deliver_pending
from daemon.alerts.message import Attachment, Message
from daemon.alerts.policy import enqueue_message
from daemon.config import Channel, parse_config
from daemon.jobs import JobContext
from daemon.logs import setup_logging
from daemon.store.engine import make_engine, session_factory
from daemon.store.tables import Notification, NotificationState
from tests.alerts.conftest import SLACK_TOKEN, SMTP_PASSWORD, WEBHOOK_TOKEN, Receiver, free_port
from tests.conftest import new_sqlite_url

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
# No jitter: the retry is due exactly `initial` after a failure.
BACKOFF = Backoff(initial=timedelta(seconds=2), maximum=timedelta(seconds=2), random=lambda: 1.0)
CHANNEL = "contract"
# The mail server's SIZE limit in the size case: an attached weekly report is over it.
SMTP_SIZE_LIMIT = 96 * 1024


def channel_kinds() -> list[str]:
    """The `kind` tags of the config's channel union, whatever their number."""
    kinds: list[str] = []

    def walk(node: object) -> None:
        fields = getattr(node, "model_fields", None)
        if fields is not None and "kind" in fields:
            tag = fields["kind"].annotation
            for value in typing.get_args(tag) or list(typing.cast(type[enum.Enum], tag)):
                kinds.append(str(getattr(value, "value", value)))
            return
        for arg in typing.get_args(node):
            walk(arg)

    walk(Channel)
    assert kinds, "no channel kind found in daemon.config.Channel"
    return kinds


KINDS = channel_kinds()


# --------------------------------------------------------------------------- receivers


@dataclass
class SmtpMailbox:
    """aiosmtpd handler: accepts, or answers RCPT/DATA with a scripted reply.

    Replies may hold `{password}`: a hostile server echoing the login it was given.
    """

    messages: list[bytes] = field(default_factory=list)
    rcpts: int = 0
    rcpt_reply: str | None = None
    data_replies: list[str] = field(default_factory=list)
    password: str = ""

    def authenticator(
        self, server: object, session: object, envelope: object, mechanism: str, data: object
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.password = data.password.decode()
        return AuthResult(success=self.password == SMTP_PASSWORD)

    async def handle_RCPT(  # noqa: N802
        self, server: object, session: object, envelope: object, address: str, options: object
    ) -> str:
        self.rcpts += 1
        if self.rcpt_reply is not None:
            return self.rcpt_reply.replace("{password}", self.password)
        envelope.rcpt_tos.append(address)  # type: ignore[attr-defined]
        return "250 OK"

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802
        if self.data_replies:
            return self.data_replies.pop(0).replace("{password}", self.password)
        self.messages.append(envelope.original_content)  # type: ignore[attr-defined]
        return "250 OK"


class _PlainAuthController(Controller):  # type: ignore[misc]
    def factory(self) -> object:
        # Loopback only: AUTH without TLS, which aiosmtpd warns about.
        import warnings

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
            return super().factory()


@dataclass
class World:
    """What a case points its channel at: live receivers and two that fail to answer."""

    http: Receiver
    smtp: SmtpMailbox
    smtp_port: int
    # Nothing listens: connection refused.
    closed_port: int
    # Listens, never answers: a timeout.
    silent_port: int
    tmp: Path


@pytest.fixture
def world(receiver: Receiver, tmp_path: Path) -> Iterator[World]:
    mailbox = SmtpMailbox()
    port = free_port()
    controller = _PlainAuthController(
        mailbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=mailbox.authenticator,
        auth_required=True,
        auth_require_tls=False,
        auth_exclude_mechanism=["PLAIN"],
        data_size_limit=SMTP_SIZE_LIMIT,
    )
    controller.start()
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        yield World(
            http=receiver,
            smtp=mailbox,
            smtp_port=port,
            closed_port=free_port(),
            silent_port=silent.getsockname()[1],
            tmp=tmp_path,
        )
    controller.stop()


# --------------------------------------------------------------------------- the cases


class Target(enum.Enum):
    LIVE = "live"
    REFUSED = "refused"
    SILENT = "silent"


class Failure(enum.Enum):
    SERVER_ERROR = "server_error"
    CONNECTION_REFUSED = "connection_refused"
    TIMEOUT = "timeout"


@dataclass(frozen=True, kw_only=True)
class Case:
    """How the contract drives one channel kind."""

    # (channel table, environment) pointing the channel at a target.
    channel: Callable[[World, Target], tuple[dict[str, object], dict[str, str]]]
    # The secret values the channel holds: none may come back out.
    secrets: tuple[str, ...]
    # Script the live receiver to refuse for good; a str says why the kind has no such refusal.
    refuse_for_good: Callable[[World], None] | str
    # Script the live receiver to fail for now (a 5xx), then accept.
    fail_for_now: Callable[[World], None] | str
    # How many sends reached the live receiver (accepted or not).
    attempts_seen: Callable[[World], int]
    # Assert what arrived for the oversize message is within the kind's limit.
    check_size: Callable[[World], None]


def _slack(world: World, target: Target) -> tuple[dict[str, object], dict[str, str]]:
    base = {
        Target.LIVE: world.http.base,
        Target.REFUSED: f"http://127.0.0.1:{world.closed_port}",
        Target.SILENT: f"http://127.0.0.1:{world.silent_port}",
    }[target]
    table = {"kind": "slack", "webhook_url": {"env": "SLACK_URL"}, "timeout": "1s"}
    return table, {"SLACK_URL": f"{base}/services/{SLACK_TOKEN}"}


def _webhook(world: World, target: Target) -> tuple[dict[str, object], dict[str, str]]:
    base = {
        Target.LIVE: world.http.base,
        Target.REFUSED: f"http://127.0.0.1:{world.closed_port}",
        Target.SILENT: f"http://127.0.0.1:{world.silent_port}",
    }[target]
    table = {
        "kind": "webhook",
        "url": f"{base}/hook",
        "token": {"env": "WEBHOOK_TOKEN"},
        "timeout": "1s",
    }
    return table, {"WEBHOOK_TOKEN": WEBHOOK_TOKEN}


def _email(world: World, target: Target) -> tuple[dict[str, object], dict[str, str]]:
    port = {
        Target.LIVE: world.smtp_port,
        Target.REFUSED: world.closed_port,
        Target.SILENT: world.silent_port,
    }[target]
    table = {
        "kind": "email",
        "host": "127.0.0.1",
        "port": port,
        "tls": "none",
        "username": "mlmaint",
        "password": {"env": "SMTP_PASSWORD"},
        "recipients": ["ops@example.com"],
        "timeout": "1s",
    }
    return table, {"SMTP_PASSWORD": SMTP_PASSWORD}


def _file(world: World, target: Target) -> tuple[dict[str, object], dict[str, str]]:
    if target is Target.LIVE:
        return {"kind": "file", "path": str(world.tmp / "outbox.jsonl")}, {}
    # The file channel's "unreachable": a directory that is a regular file (ENOTDIR).
    blocker = world.tmp / "not-a-directory"
    blocker.write_text("")
    return {"kind": "file", "path": str(blocker / "outbox.jsonl")}, {}


def _http_answers(status: int, text: str) -> Callable[[World], None]:
    def script(world: World) -> None:
        # The path echoed: a receiver that quotes a Slack webhook URL's secret part.
        world.http.script = [(status, {}, f"{text} for {{path}}")]

    return script


def _smtp_refuses(world: World) -> None:
    world.smtp.rcpt_reply = "550 5.1.1 no such user (you logged in as {password})"


def _smtp_defers(world: World) -> None:
    world.smtp.data_replies = ["451 4.3.0 try later ({password})"]


def _file_lines(world: World) -> list[dict[str, object]]:
    path = world.tmp / "outbox.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def _slack_within_limits(world: World) -> None:
    from daemon.alerts.channels import slack

    [got] = world.http.received
    blocks = typing.cast(list[dict[str, typing.Any]], got.body["blocks"])
    assert 0 < len(blocks) <= slack.MAX_BLOCKS
    texts = [b["text"]["text"] for b in blocks if "text" in b]
    header = [b["text"]["text"] for b in blocks if b["type"] == "header"]
    assert all(len(t) <= slack.MAX_HEADER_CHARS for t in header)
    assert all(len(t) <= slack.MAX_SECTION_CHARS for t in texts)
    assert sum(map(len, texts)) <= 13_000  # where Slack is reported to fail whole messages
    assert len(str(got.body["text"])) <= slack.MAX_FALLBACK_CHARS
    assert "more lines not shown" in json.dumps(blocks)


def _webhook_whole(world: World) -> None:
    # No limit of its own: the receiver takes the whole notification.
    [got] = world.http.received
    assert str(got.body["text"]).startswith(OVERSIZE.text[:100])
    assert len(str(got.body["text"])) >= len(OVERSIZE.text)


def _email_within_size(world: World) -> None:
    [raw] = world.smtp.messages
    assert len(raw) <= SMTP_SIZE_LIMIT
    email = message_from_bytes(raw, policy=policy.default)
    assert isinstance(email, EmailMessage)
    body = email.get_body(("plain",))
    assert body is not None
    text = body.get_content().replace("\r\n", "\n")
    assert OVERSIZE.text[:100] in text and "cut to the mail server's size limit" in text
    assert "Left out, over the mail server's size limit: 2026-W10.html" in text


def _file_whole(world: World) -> None:
    # A local append has no size limit: the line carries the whole payload.
    [line] = _file_lines(world)
    payload = typing.cast(dict[str, object], line["payload"])
    assert payload["text"] == OVERSIZE.text


def _http_seen(world: World) -> int:
    return len(world.http.log)


CASES: Mapping[str, Case] = {
    "slack": Case(
        channel=_slack,
        secrets=(SLACK_TOKEN,),
        refuse_for_good=_http_answers(400, "invalid_payload"),
        fail_for_now=_http_answers(503, "upstream unavailable"),
        attempts_seen=_http_seen,
        check_size=_slack_within_limits,
    ),
    "webhook": Case(
        channel=_webhook,
        secrets=(WEBHOOK_TOKEN,),
        refuse_for_good=_http_answers(401, "bad token"),
        fail_for_now=_http_answers(502, "bad gateway"),
        attempts_seen=_http_seen,
        check_size=_webhook_whole,
    ),
    "email": Case(
        channel=_email,
        secrets=(SMTP_PASSWORD,),
        refuse_for_good=_smtp_refuses,
        fail_for_now=_smtp_defers,
        attempts_seen=lambda w: w.smtp.rcpts,
        check_size=_email_within_size,
    ),
    "file": Case(
        channel=_file,
        secrets=(),
        refuse_for_good=(
            "an append to a local file has no permanent refusal: every OSError (disk full, "
            "a missing directory) is retried until delivery_max_age, so a fix gets it through"
        ),
        fail_for_now="a local append has no server to fail for now; see connection_refused",
        attempts_seen=lambda w: len(_file_lines(w)),
        check_size=_file_whole,
    ),
}

# Per kind, which failure each target stands for; a str says why it does not apply.
TIMEOUT_NA = {"file": "a local append does not wait on a peer"}


def case_for(kind: str) -> Case:
    if kind not in CASES:
        pytest.fail(
            f"channel kind {kind!r} has no entry in CASES of the channel contract: add one "
            "that points it at a loopback receiver and scripts its refusals"
        )
    return CASES[kind]


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def engine(sqlite_template: Path, tmp_path: Path) -> Iterator[Engine]:
    """One SQLite store per test: delivery is the same code on both backends."""
    engine = make_engine(new_sqlite_url(sqlite_template, tmp_path))
    yield engine
    checked_out = engine.pool.checkedout()  # type: ignore[attr-defined]
    engine.dispose()
    assert checked_out == 0, f"{checked_out} connection(s) leaked by the test"


def context(engine: Engine, kind: str, world: World, target: Target) -> JobContext:
    table, environ = case_for(kind).channel(world, target)
    settings = parse_config(
        {"alerts": {"channels": [{"name": CHANNEL, **table}]}}, "<contract>", environ
    )
    return JobContext(settings=settings, engine=engine, sessions=session_factory(engine))


SMALL = Message(title="contract", text="a message within every limit\nsecond line")
# 6,000 lines (~400 KB) of text and a 200 KB attached report: over Slack's budget and
# over the test mail server's SIZE limit.
OVERSIZE = Message(
    title="Weekly maintenance report " + "x" * 400,
    text="\n".join(f"line {i:05d}: " + "feature drifted; " * 3 for i in range(6000)),
    link="http://127.0.0.1:8787/reports/2026-W10.html",
    attachments=(
        Attachment(filename="2026-W10.html", content_type="text/html", content=b"x" * 200_000),
    ),
)


def enqueue(ctx: JobContext, message: Message = SMALL, scope: str = "contract") -> int:
    with ctx.sessions() as s, s.begin():
        return enqueue_message(s, ctx.settings, CHANNEL, message, T0, scope=scope)


def row(ctx: JobContext) -> Notification:
    with ctx.sessions() as s:
        return s.scalars(select(Notification)).one()


def _applicable(kind: str, failure: Failure | None = None) -> bool:
    """False where the case names why it does not apply (a file append has no peer to
    refuse or to time out): such pairs are not generated, rather than skipped. A kind
    without a case is generated, and fails in case_for."""
    case = CASES.get(kind)
    if case is None:
        return True
    if failure is None:
        return not isinstance(case.refuse_for_good, str)
    if failure is Failure.SERVER_ERROR:
        return not isinstance(case.fail_for_now, str)
    if failure is Failure.TIMEOUT:
        return kind not in TIMEOUT_NA
    return True


REFUSING = [k for k in KINDS if _applicable(k)]
RETRYABLE = [(k, f) for k in KINDS for f in Failure if _applicable(k, f)]


# --------------------------------------------------------------------------- the contract


def test_every_case_names_a_configured_kind() -> None:
    stale = sorted(set(CASES) - set(KINDS))
    assert not stale, f"channel contract cases for kinds no longer configured: {stale}"


@pytest.mark.parametrize("kind", REFUSING, ids=REFUSING)
def test_a_permanent_refusal_is_given_up_not_retried(
    kind: str, world: World, engine: Engine
) -> None:
    case = case_for(kind)
    assert not isinstance(case.refuse_for_good, str)
    ctx = context(engine, kind, world, Target.LIVE)
    enqueue(ctx)
    case.refuse_for_good(world)
    outcome = deliver_pending(ctx, T0, backoff=BACKOFF)
    assert (outcome.dead, outcome.retrying, outcome.sent) == (1, 0, 0), outcome
    deliver_pending(ctx, T0 + timedelta(hours=1), backoff=BACKOFF)
    dead = row(ctx)
    assert dead.state == NotificationState.DEAD and dead.attempts == 1
    assert dead.last_error
    assert case.attempts_seen(world) == 1


FAILURES = {
    Failure.SERVER_ERROR: Target.LIVE,
    Failure.CONNECTION_REFUSED: Target.REFUSED,
    Failure.TIMEOUT: Target.SILENT,
}


@pytest.mark.parametrize(
    ("kind", "failure"),
    RETRYABLE,
    ids=[f"{k}-{f.value}" for k, f in RETRYABLE],
)
def test_a_retryable_failure_stays_pending_and_goes_out_later(
    kind: str, failure: Failure, world: World, engine: Engine
) -> None:
    case = case_for(kind)
    ctx = context(engine, kind, world, FAILURES[failure])
    enqueue(ctx)
    if failure is Failure.SERVER_ERROR:
        assert not isinstance(case.fail_for_now, str)
        case.fail_for_now(world)
    outcome = deliver_pending(ctx, T0, backoff=BACKOFF)
    assert (outcome.retrying, outcome.dead, outcome.sent) == (1, 0, 0), outcome
    pending = row(ctx)
    assert pending.state == NotificationState.PENDING and pending.attempts == 1
    assert pending.last_error and pending.next_attempt_at.replace(tzinfo=UTC) > T0
    if failure is Failure.SERVER_ERROR:
        # The receiver accepts now: the retry, once due, delivers.
        later = T0 + BACKOFF.maximum + timedelta(seconds=1)
        assert deliver_pending(ctx, later, backoff=BACKOFF).sent == 1
        assert row(ctx).state == NotificationState.SENT


@pytest.mark.parametrize("kind", KINDS, ids=KINDS)
def test_secrets_stay_out_of_errors_logs_and_reprs(
    kind: str, world: World, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """Refusals whose text echoes the secret, a refused connection, a timeout."""
    setup_logging("DEBUG")
    caplog.set_level(logging.DEBUG)
    case = case_for(kind)
    texts: list[str] = []
    for n, (scripted, target) in enumerate(
        (
            (case.refuse_for_good, Target.LIVE),
            (case.fail_for_now, Target.LIVE),
            (None, Target.REFUSED),
            (None, Target.SILENT),
        )
    ):
        if isinstance(scripted, str) or (target is Target.SILENT and kind in TIMEOUT_NA):
            continue
        ctx = context(engine, kind, world, target)
        row_id = enqueue(ctx, scope=f"contract-{n}")
        if scripted is not None:
            scripted(world)
        outcome = deliver_pending(ctx, T0, backoff=BACKOFF, only=[row_id])
        texts.extend(outcome.errors)
        with ctx.sessions() as s:
            n = s.get_one(Notification, row_id)
            texts.append(f"{n.payload} {n.last_error}")
        with httpx.Client() as http:
            sender, _ = build_sender(ctx.settings, CHANNEL, lambda: http)
            texts.append(repr(sender))
        texts.extend([repr(ctx.settings), str(ctx.settings), repr(ctx.settings.alerts.channels)])
        world.smtp.rcpt_reply = None
        world.smtp.data_replies = []
        world.http.script = []
    texts.append(caplog.text)
    assert any(texts), "nothing was said at all"
    for secret in case.secrets:
        for text in texts:
            assert secret not in text
            assert secret.split("/")[-1] not in text


@pytest.mark.parametrize("kind", KINDS, ids=KINDS)
def test_an_oversize_message_is_cut_to_fit_not_refused(
    kind: str, world: World, engine: Engine
) -> None:
    case = case_for(kind)
    ctx = context(engine, kind, world, Target.LIVE)
    enqueue(ctx, OVERSIZE)
    outcome = deliver_pending(ctx, T0, backoff=BACKOFF)
    assert outcome.sent == 1, outcome
    case.check_size(world)
