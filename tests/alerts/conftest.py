"""Real receivers for the alert tests: a loopback HTTP server standing in for Slack,
aiosmtpd with STARTTLS or implicit TLS and AUTH LOGIN, a self-signed certificate
made here, and a JobContext on each store backend."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import socket
import ssl
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import Engine

from daemon.config import Settings, parse_config
from daemon.jobs import JobContext
from daemon.store.engine import session_factory

SLACK_TOKEN = "T0SECRET/B0SECRET/xoxSlackS3cretToken"
SMTP_PASSWORD = "smtp-Pa55-S3cret!"
WEBHOOK_TOKEN = "whk-Bearer-S3cret-token"
SECRETS = (SLACK_TOKEN, SMTP_PASSWORD, WEBHOOK_TOKEN)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# --------------------------------------------------------------------------- Slack


@dataclass
class Received:
    path: str
    body: dict[str, object]
    headers: Mapping[str, str]


@dataclass
class Receiver:
    """A loopback HTTP receiver: answers from a script, then 200 "ok"."""

    port: int = field(default_factory=free_port)
    script: list[tuple[int, dict[str, str], str]] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    # Every request, accepted or not.
    log: list[Received] = field(default_factory=list)
    requests: int = 0
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                receiver.requests += 1
                status, headers, text = (
                    receiver.script.pop(0) if receiver.script else (200, {}, "ok")
                )
                receiver.log.append(
                    Received(self.path, {"status": status}, dict(self.headers.items()))
                )
                if status == 200:
                    receiver.received.append(
                        Received(self.path, json.loads(raw), dict(self.headers.items()))
                    )
                data = text.replace("{path}", self.path).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join(5)
            self._server = None


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.start()
    yield r
    r.stop()


# --------------------------------------------------------------------------- SMTP


@dataclass(frozen=True)
class Cert:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        return ctx


@pytest.fixture(scope="session")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> Cert:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory = tmp_path_factory.mktemp("tls")
    cert_path = directory / "cert.pem"
    key_path = directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Cert(cert_path, key_path)


@dataclass
class Mailbox:
    messages: list[bytes] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    mechanisms: list[str] = field(default_factory=list)
    tls_seen: list[bool] = field(default_factory=list)

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802
        self.messages.append(envelope.original_content)  # type: ignore[attr-defined]
        transport = server.transport  # type: ignore[attr-defined]
        encrypted = transport.get_extra_info("ssl_object") is not None
        self.tls_seen.append(encrypted or session.ssl is not None)  # type: ignore[attr-defined]
        return "250 OK"

    def authenticator(
        self, server: object, session: object, envelope: object, mechanism: str, data: object
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        login, password = data.login.decode(), data.password.decode()
        self.mechanisms.append(mechanism)
        self.logins.append((login, password))
        return AuthResult(success=password == SMTP_PASSWORD)


class _Controller(Controller):  # type: ignore[misc]
    def factory(self) -> object:
        # Implicit TLS: aiosmtpd counts only STARTTLS as TLS and warns about AUTH
        # without it, although the whole connection is encrypted here.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
            return super().factory()


@dataclass
class SmtpServer:
    port: int
    mailbox: Mailbox
    controller: Controller


def _smtp(cert: Cert, implicit: bool) -> Iterator[SmtpServer]:
    mailbox = Mailbox()
    port = free_port()
    tls = cert.server_context()
    kwargs: dict[str, object] = {
        "authenticator": mailbox.authenticator,
        "auth_required": True,
        # Only LOGIN is offered, so smtplib takes the AUTH LOGIN path.
        "auth_exclude_mechanism": ["PLAIN"],
    }
    if implicit:
        # The whole connection is TLS; aiosmtpd only counts STARTTLS for auth_require_tls.
        kwargs.update(ssl_context=tls, auth_require_tls=False)
    else:
        kwargs.update(tls_context=tls, require_starttls=True, auth_require_tls=True)
    controller = _Controller(mailbox, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    yield SmtpServer(port, mailbox, controller)
    controller.stop()


@pytest.fixture
def smtp_starttls(self_signed: Cert) -> Iterator[SmtpServer]:
    yield from _smtp(self_signed, implicit=False)


@pytest.fixture
def smtp_tls(self_signed: Cert) -> Iterator[SmtpServer]:
    yield from _smtp(self_signed, implicit=True)


# --------------------------------------------------------------------------- store + settings


ENVIRON = {
    "SLACK_URL": "",  # filled per test with the receiver's address
    "SMTP_PASSWORD": SMTP_PASSWORD,
    "WEBHOOK_TOKEN": WEBHOOK_TOKEN,
}


def make_settings(
    alerts: Mapping[str, object], environ: Mapping[str, str] | None = None
) -> Settings:
    env = {**ENVIRON, **(environ or {})}
    return parse_config({"alerts": dict(alerts)}, "<test>", env)


MakeCtx = Callable[[Settings], JobContext]


@pytest.fixture
def make_ctx(engine: Engine) -> MakeCtx:
    """A JobContext on the test's store (SQLite or PostgreSQL) with the given settings."""

    def make(settings: Settings) -> JobContext:
        return JobContext(settings=settings, engine=engine, sessions=session_factory(engine))

    return make
