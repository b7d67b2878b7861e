"""Fixtures for the report tests: a JobContext on each store backend with a seeded
week, an aiosmtpd server, a loopback receiver standing in for Slack."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine

from daemon.config import parse_config
from daemon.jobs import JobContext
from daemon.report.weeks import Week, parse_week
from daemon.store.engine import session_factory
from tests.report.seed import Seeded, seed_week

WEEK = "2026-W47"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Mailbox:
    messages: list[bytes] = field(default_factory=list)

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802
        self.messages.append(envelope.original_content)  # type: ignore[attr-defined]
        return "250 OK"


@dataclass
class Smtp:
    port: int
    mailbox: Mailbox


@pytest.fixture
def smtp() -> Iterator[Smtp]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield Smtp(port, mailbox)
    controller.stop()


@dataclass
class Slack:
    port: int
    posts: list[dict[str, object]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/services/T0/B0/x"


@pytest.fixture
def slack() -> Iterator[Slack]:
    hook = Slack(free_port())

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            hook.posts.append(json.loads(raw))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", hook.port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield hook
    server.shutdown()
    server.server_close()
    thread.join(5)


MakeCtx = Callable[..., JobContext]


@pytest.fixture
def make_ctx(engine: Engine, tmp_path: Path) -> MakeCtx:
    """A JobContext on the test's store with reports under tmp_path; options merge in."""

    def make(
        report: dict[str, object] | None = None,
        channels: list[dict[str, object]] | None = None,
        environ: dict[str, str] | None = None,
    ) -> JobContext:
        data: dict[str, object] = {
            "service": {"state_dir": str(tmp_path / "var")},
            "report": {"directory": str(tmp_path / "reports"), **(report or {})},
        }
        if channels:
            data["alerts"] = {"channels": channels}
        settings = parse_config(data, "<test>", environ or {})
        return JobContext(settings=settings, engine=engine, sessions=session_factory(engine))

    return make


@pytest.fixture
def week() -> Week:
    return parse_week(WEEK)


@pytest.fixture
def seeded(make_ctx: MakeCtx, week: Week, tmp_path: Path) -> tuple[JobContext, Seeded]:
    ctx = make_ctx()
    return ctx, seed_week(ctx.sessions, week, models=3, evidence_dir=tmp_path / "evidence")
