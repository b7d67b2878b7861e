"""The outcome of the last write per model and stream, as health and metrics show it.

A `SELECT 1` says the store answers; it does not say it takes writes (a full disk,
a read-only replica). Every ingest path records here whether its write committed,
so /healthz and /metrics can tell "the store is up but nothing lands".
The tracker lives on the JobContext (one per process), guarded by a lock: the
HTTP threads and the scheduler's workers record into it concurrently.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, kw_only=True)
class WriteState:
    """The last write of one (model, stream): `ok` is the last outcome."""

    model: str
    stream: str  # "predictions" or "labels"
    ok: bool
    at: datetime
    last_ok_at: datetime | None
    error: str | None
    failures: int = 0  # failed writes since the process started


class WriteHealth:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._states: dict[tuple[str, str], WriteState] = {}

    def _record(self, model: str, stream: str, at: datetime, error: str | None) -> None:
        with self._lock:
            before = self._states.get((model, stream))
            last_ok = at if error is None else (before.last_ok_at if before else None)
            failures = (before.failures if before else 0) + (error is not None)
            self._states[(model, stream)] = WriteState(
                model=model,
                stream=stream,
                ok=error is None,
                at=at,
                last_ok_at=last_ok,
                error=error,
                failures=failures,
            )

    def ok(self, model: str, stream: str, at: datetime) -> None:
        self._record(model, stream, at, None)

    def failed(self, model: str, stream: str, at: datetime, error: str) -> None:
        self._record(model, stream, at, error)

    def snapshot(self) -> tuple[WriteState, ...]:
        with self._lock:
            return tuple(self._states[k] for k in sorted(self._states))
