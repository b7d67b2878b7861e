"""/healthz and /metrics as plain handlers: (method, path) -> (status, headers, body).

The daemon's HTTP server (daemon/api/) mounts them through `routes(probe)` (see
`daemon.service_http.start_http`); they know nothing about the server, so they are tested
without one. /healthz answers 200 when the store is reachable, the last write of
every model committed, and the scheduler (on the leader) makes progress, 503
otherwise, with the last run of each job and the last write of each model.

`SELECT 1` alone says the store answers, not that it takes writes (a full disk, a
read-only file system): a model whose last ingest write failed turns /healthz 503
from that write on, and the first write that commits turns it back.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from daemon.metrics import exposition, read_state
from daemon.store.write_health import WriteState

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
    # The last ingest write of each (model, stream) this process made.
    writes: tuple[WriteState, ...] = ()


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


def _writes(states: tuple[WriteState, ...], now: datetime) -> dict[str, object]:
    """Per model, per stream: the last write's outcome, its age, and the error if it failed."""
    out: dict[str, dict[str, object]] = {}
    for state in states:
        out.setdefault(state.model, {})[state.stream] = {
            "ok": state.ok,
            "at": _iso(state.at),
            "age_s": round(max(0.0, (now - state.at).total_seconds()), 3),
            "last_ok_at": _iso(state.last_ok_at),
            "failures": state.failures,
            "error": state.error,
        }
    return dict(out)


def healthz(probe: Probe, now: datetime | None = None) -> Response:
    now = now or datetime.now(UTC)
    snap = probe.snapshot()
    store_error = store_reachable(probe.engine)
    scheduler_ok = snap.role != "leader" or (
        snap.scheduler_alive
        and snap.heartbeat_age_s is not None
        and snap.heartbeat_age_s < snap.stall_limit_s
    )
    writes_ok = all(state.ok for state in snap.writes)
    healthy = store_error is None and writes_ok and scheduler_ok
    state = read_state(probe.engine) if store_error is None else None
    body = {
        "status": "ok" if healthy else "unhealthy",
        "version": snap.version,
        "role": snap.role,
        "detail": snap.status,
        "started_at": _iso(snap.started_at),
        "store": {
            "reachable": store_error is None,
            "error": store_error,
            "writes_ok": writes_ok,
            "writes": _writes(snap.writes, now),
        },
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
