"""/healthz and /metrics as plain handlers: (method, path) -> (status, headers, body).

The daemon's HTTP server (daemon/api.py) mounts them through `routes(probe)`; they
know nothing about the server, so they are tested without one. /healthz answers 200
when the store is reachable and the scheduler (on the leader) makes progress, 503
otherwise, with the last run of each job in the body.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from daemon.metrics import exposition, read_state

Headers = Mapping[str, str]
Response = tuple[int, Headers, bytes]
Handler = Callable[[], Response]


@dataclass(frozen=True, kw_only=True)
class Snapshot:
    """The live state of the service, as /healthz reports it."""

    version: str
    role: str  # "leader", "standby" or "starting"
    started_at: datetime
    scheduler_alive: bool
    heartbeat_age_s: float | None
    stall_limit_s: float
    next_runs: Mapping[str, datetime | None]
    running: tuple[str, ...]
    status: str


class Probe(Protocol):
    """What the handlers need from the service."""

    @property
    def engine(self) -> Engine: ...

    @property
    def registry(self) -> CollectorRegistry: ...

    def snapshot(self) -> Snapshot: ...


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def store_reachable(engine: Engine) -> str | None:
    """None when the store answers, else the first line of the error."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        message = str(exc).strip()
        return message.splitlines()[0] if message else type(exc).__name__
    return None


def healthz(probe: Probe) -> Response:
    snap = probe.snapshot()
    store_error = store_reachable(probe.engine)
    scheduler_ok = snap.role != "leader" or (
        snap.scheduler_alive
        and snap.heartbeat_age_s is not None
        and snap.heartbeat_age_s < snap.stall_limit_s
    )
    healthy = store_error is None and scheduler_ok
    state = read_state(probe.engine) if store_error is None else None
    body = {
        "status": "ok" if healthy else "unhealthy",
        "version": snap.version,
        "role": snap.role,
        "detail": snap.status,
        "started_at": _iso(snap.started_at),
        "store": {"reachable": store_error is None, "error": store_error},
        "scheduler": {
            "alive": snap.scheduler_alive,
            "heartbeat_age_s": snap.heartbeat_age_s,
            "stall_limit_s": snap.stall_limit_s,
            "running": list(snap.running),
        },
        "jobs": [
            {
                "id": job.job_id,
                "last_status": job.status,
                "last_started_at": _iso(job.started_at),
                "last_success_at": _iso(job.success_at),
                "last_duration_s": job.duration_s,
                "runs": job.runs,
                "failures": job.failures,
                "next_run_at": _iso(snap.next_runs.get(job.job_id)),
            }
            for job in (state.jobs if state is not None else ())
        ],
    }
    payload = json.dumps(body, indent=2).encode() + b"\n"
    return (200 if healthy else 503), {"Content-Type": "application/json"}, payload


def metrics(probe: Probe) -> Response:
    return 200, {"Content-Type": CONTENT_TYPE_LATEST}, exposition(probe.registry)


def routes(probe: Probe) -> dict[tuple[str, str], Handler]:
    """The GET routes this module serves, for the API's router."""
    return {
        ("GET", "/healthz"): lambda: healthz(probe),
        ("GET", "/metrics"): lambda: metrics(probe),
    }


_NOT_FOUND: Response = (404, {"Content-Type": "text/plain"}, b"not found\n")


class RouteServer:
    """A loopback HTTP server for plain routes, in its own thread.

    The daemon mounts its routes on the API server when daemon/api.py provides one;
    this serves them on their own where it does not.
    """

    def __init__(self, host: str, port: int, table: Mapping[tuple[str, str], Handler]) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class _Handler(BaseHTTPRequestHandler):
            server_version = "mlmaint"

            def do_GET(self) -> None:
                handler = table.get(("GET", self.path.split("?", 1)[0]))
                status, headers, body = handler() if handler is not None else _NOT_FOUND
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return None  # one line per request would drown the journal

        self._server = ThreadingHTTPServer((host, port), _Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="mlmaint-http", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
