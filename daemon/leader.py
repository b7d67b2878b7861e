"""The leader lock: only one daemon per store runs the scheduler.

On PostgreSQL several daemons may share one database for high availability: a
session-level advisory lock, held on a dedicated connection (never one from the
pool, where a returned connection would carry the lock to another job), marks
the leader. The others retry every few seconds and take over when the leader's
connection dies, because PostgreSQL releases a session lock with its session.

On SQLite there is no server to arbitrate: an exclusive `flock` on a file
beside the database makes a second daemon on the same file refuse to start.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import socket
from pathlib import Path
from typing import Protocol

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)

LOCK_NAME = "mlmaint-leader"


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory lock key for `name`."""
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def holder_id() -> str:
    """Who holds a lock, for messages: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


class LeaderError(Exception):
    """Root of the leader lock's errors."""


class StoreLocked(LeaderError):
    """Another daemon already runs on this SQLite store."""

    def __init__(self, database: Path, lock_path: Path, holder: str) -> None:
        self.database = database
        self.lock_path = lock_path
        self.holder = holder
        super().__init__(
            f"another mlmaint daemon ({holder or 'unknown process'}) already runs on the "
            f"SQLite store {database} (lock file {lock_path}); SQLite allows one daemon per "
            "database: stop the other one, or use PostgreSQL for several daemons"
        )


class LeaderLock(Protocol):
    """Acquired by the daemon that runs the scheduler; checked while it runs."""

    @property
    def describe(self) -> str: ...

    def try_acquire(self) -> bool:
        """Take the lock if it is free; True when this process holds it afterwards."""
        ...

    def still_held(self) -> bool:
        """False once the lock is lost (its connection died): stop the scheduler."""
        ...

    def release(self) -> None: ...


class NoLock:
    """An in-memory SQLite store: nothing to share, always the leader."""

    describe = "in-memory store (no lock)"

    def try_acquire(self) -> bool:
        return True

    def still_held(self) -> bool:
        return True

    def release(self) -> None:
        return None


class FileLock:
    """An exclusive flock on `<database>.lock`; a second holder fails with StoreLocked."""

    def __init__(self, database: Path) -> None:
        self.database = database
        self.path = database.with_name(database.name + ".lock")
        self._fd: int | None = None

    @property
    def describe(self) -> str:
        return f"lock file {self.path}"

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode(errors="replace").strip()
            os.close(fd)
            raise StoreLocked(self.database, self.path, holder) from None
        os.ftruncate(fd, 0)
        os.write(fd, holder_id().encode())
        self._fd = fd
        return True

    def still_held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        # Closing the descriptor drops the flock; the file stays for the next start.
        os.close(self._fd)
        self._fd = None


class AdvisoryLock:
    """A PostgreSQL session advisory lock on a dedicated, keepalive-probed connection."""

    def __init__(self, url: URL, name: str = LOCK_NAME) -> None:
        self.key = lock_key(name)
        # Keepalives notice a vanished server or a cut network within about 30 s,
        # so a half-open connection cannot keep a leader that no longer holds the lock.
        self._engine: Engine = create_engine(
            url,
            poolclass=NullPool,
            connect_args={
                "connect_timeout": 5,
                "keepalives": 1,
                "keepalives_idle": 10,
                "keepalives_interval": 5,
                "keepalives_count": 3,
                "application_name": "mlmaint-leader",
            },
        )
        self._conn: Connection | None = None

    @property
    def describe(self) -> str:
        return f"PostgreSQL advisory lock {self.key}"

    def try_acquire(self) -> bool:
        if self._conn is not None and self.still_held():
            return True
        try:
            conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except DBAPIError as exc:
            log.warning("leader lock: cannot connect to the store: %s", _first_line(exc))
            return False
        try:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar()
        except DBAPIError as exc:
            log.warning("leader lock: cannot take the lock: %s", _first_line(exc))
            conn.close()
            return False
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def still_held(self) -> bool:
        if self._conn is None:
            return False
        try:
            # The lock lives exactly as long as the session: a live session still holds it.
            self._conn.execute(text("SELECT 1"))
        except DBAPIError as exc:
            log.error("leader lock lost: its connection failed: %s", _first_line(exc))
            self._drop()
            return False
        return True

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(DBAPIError):
                conn.invalidate()
            with contextlib.suppress(DBAPIError):
                conn.close()

    def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(DBAPIError):
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            self._drop()
        self._engine.dispose()


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def leader_lock(engine: Engine) -> LeaderLock:
    """The lock that fits the store behind `engine`."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        database = url.database
        if not database or database == ":memory:":
            return NoLock()
        return FileLock(Path(database).resolve())
    return AdvisoryLock(url)


def describe_leader(engine: Engine) -> str:
    """Who runs the scheduler on this store, for `mlmaint status`."""
    lock = leader_lock(engine)
    if isinstance(lock, NoLock):
        return "in-memory store: no leader lock"
    if isinstance(lock, FileLock):
        try:
            lock.try_acquire()
        except StoreLocked as exc:
            return f"a daemon runs on this store ({exc.holder or 'unknown process'})"
        lock.release()
        return "no daemon runs on this store"
    assert isinstance(lock, AdvisoryLock)
    key = lock.key
    lock.release()
    # pg_locks shows the advisory locks of every database on the server, and each
    # database has its own leader under the same key: read only this one's.
    query = text(
        "SELECT a.pid, coalesce(host(a.client_addr), 'local'), a.backend_start "
        "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
        "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND l.classid::int8 = :hi AND l.objid::int8 = :lo"
    )
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    with engine.connect() as conn:
        row = conn.execute(query, {"hi": unsigned >> 32, "lo": unsigned & 0xFFFFFFFF}).first()
    if row is None:
        return "no daemon holds the leader lock"
    since = f"{row[2]:%Y-%m-%d %H:%M:%S}"
    return f"leader holds the lock on backend pid {row[0]} from {row[1]} since {since}"
