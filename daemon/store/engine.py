"""Engines and sessions for the store: SQLite (WAL, foreign keys) or PostgreSQL."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from daemon.config import Secret
from daemon.private import private_file

if TYPE_CHECKING:
    from sqlalchemy.dialects.postgresql import Insert as PgInsert
    from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
    from sqlalchemy.orm import DeclarativeBase

log = logging.getLogger(__name__)


class StoreError(Exception):
    """Root of the store's errors."""


class StoreUnavailable(StoreError):
    """The store cannot take this write now (down, unreachable, disk full, read-only).

    Whatever layer raised it (SQLAlchemy, or the driver under a bulk COPY or
    executemany), callers see this one error: the same write may be retried later,
    and nothing of it was stored. The HTTP API answers it with 503 and Retry-After.
    """

    def __init__(self, what: str, cause: BaseException) -> None:
        self.what = what
        self.cause = cause
        first = str(cause).strip().splitlines()
        super().__init__(
            f"{what}: store unavailable: {first[0] if first else type(cause).__name__}"
        )


class SchemaBehind(StoreError):
    def __init__(self, url: str, current: str | None, head: str) -> None:
        self.current = current
        self.head = head
        super().__init__(
            f"the store at {url} is at schema revision {current or 'none (empty database)'}, "
            f"this mlmaint needs {head}: run `mlmaint db upgrade`"
        )


class StoreMissing(StoreError):
    """A SQLite store file that does not exist, opened by a command that only uses a
    store: connecting would create an empty one (beside the real one, when the path
    is relative and the command runs from another directory)."""

    def __init__(self, url: str, path: Path) -> None:
        where = str(path.resolve())
        if not path.is_absolute():
            where += f" (a relative path, from the working directory {Path.cwd()})"
        super().__init__(
            f"the store at {url} does not exist: {where}; run `mlmaint db upgrade` to "
            "create it, or this command from the directory the daemon runs in"
        )


class SchemaAhead(StoreError):
    def __init__(self, url: str, current: str) -> None:
        super().__init__(
            f"the store at {url} is at schema revision {current}, unknown to this mlmaint: "
            "it was migrated by a newer version; upgrade mlmaint or restore a backup"
        )


def store_url(url: str, password: Secret | None = None) -> URL:
    """The SQLAlchemy URL, psycopg 3 as the PostgreSQL driver, the password injected."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if password is not None:
        parsed = parsed.set(password=password.reveal())
    return parsed


def _sqlite_pragmas(dbapi_conn: object, _record: object) -> None:
    cursor = dbapi_conn.cursor()  # type: ignore[attr-defined]
    # 16 KiB pages for a new database (a no-op on an existing one): a sampled row is a
    # few hundred bytes, and bigger pages mean a quarter of the page writes and reads.
    cursor.execute("PRAGMA page_size=16384")
    # WAL lets the API and the scheduler read while a job writes; NORMAL is durable in WAL.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # A WAL reset truncates the log file back to this size (by default it keeps its peak).
    cursor.execute(f"PRAGMA journal_size_limit={SQLITE_WAL_LIMIT}")
    cursor.close()


# The write-ahead log is kept near this size. SQLite's automatic checkpoints are
# PASSIVE: under sustained ingest (writers back to back, readers scraping) they never
# catch up, and the log grew to hundreds of MiB (490 MiB in 10 s at 39,000 rows/s).
SQLITE_WAL_LIMIT = 16 * 1024 * 1024


class WalBound:
    """Past `limit`, a connection going back to the pool truncates the log.

    `wal_checkpoint(TRUNCATE)` waits (busy_timeout) for readers and holds new writers
    back while it copies the log into the database, then empties it. One thread
    truncates; the others that check a connection in meanwhile wait for it, so they
    start no write it would have to wait for (SQLite's busy loop lets back-to-back
    writers starve a checkpoint). The log stays under the limit plus the
    transactions already running when the truncation began.
    """

    def __init__(self, wal: Path, limit: int = SQLITE_WAL_LIMIT) -> None:
        self.wal = wal
        self.limit = limit
        self._lock = threading.Lock()

    def __call__(self, dbapi_conn: object, _record: object) -> None:
        if dbapi_conn is None:
            return
        if self._size() <= self.limit:
            return
        with self._lock:
            # Queued behind a truncation, this thread starts no new write meanwhile.
            size = self._size()
            if size <= self.limit:
                return
            self._truncate(dbapi_conn, size)

    def _size(self) -> int:
        try:
            return self.wal.stat().st_size
        except OSError:
            return 0

    def _truncate(self, dbapi_conn: object, size: int) -> None:
        try:
            cursor = dbapi_conn.cursor()  # type: ignore[attr-defined]
            busy = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            cursor.close()
            if busy:
                log.debug("WAL of %s: %d bytes, truncation postponed (busy)", self.wal, size)
        except sqlite3.Error as exc:
            log.warning("WAL of %s: %d bytes, cannot truncate it: %s", self.wal, size, exc)


def _private_store(database: Path) -> None:
    """The store file made 0600 before SQLite opens it: its -wal and -shm take its mode."""
    for path in (
        database,
        database.with_name(database.name + "-wal"),
        database.with_name(database.name + "-shm"),
    ):
        if path == database or path.exists():
            private_file(path)


def make_engine(
    url: str | URL, password: Secret | None = None, pool_size: int = 5, *, existing: bool = False
) -> Engine:
    """The store's engine. `existing`: a SQLite file must exist already (StoreMissing),
    for the commands that use a store but never create one."""
    parsed = store_url(str(url) if isinstance(url, str) else url.render_as_string(False))
    if password is not None:
        parsed = parsed.set(password=password.reveal())
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            if existing and not Path(database).exists():
                raise StoreMissing(parsed.render_as_string(hide_password=True), Path(database))
            _private_store(Path(database))
        engine = create_engine(parsed)
        event.listen(engine, "connect", _sqlite_pragmas)
        if database and database != ":memory:":
            event.listen(engine, "checkin", WalBound(Path(database + "-wal")))
        return engine
    return create_engine(
        parsed, pool_size=pool_size, pool_pre_ping=True, connect_args={"connect_timeout": 10}
    )


def begin_write(conn: Connection) -> None:
    """Open the connection's transaction as a writer's: on SQLite, BEGIN IMMEDIATE.

    pysqlite begins a transaction only at the first write, and an explicit BEGIN is
    DEFERRED: a transaction that reads and then writes asks for the write lock only
    at its first write. If another connection has written meanwhile, SQLite cannot
    hand it over (its snapshot is stale) and answers "database is locked" at once,
    without waiting busy_timeout: two models sampling side by side on a daemon's
    first start failed so. BEGIN IMMEDIATE takes the write lock first, waiting up
    to busy_timeout for the writer that holds it: writers queue, none fails, and
    every statement of the batch (its reads too) is in the one transaction.
    Called first in the caller's transaction; a no-op once one is open, and on
    PostgreSQL (row locks and MVCC serve there).
    """
    if conn.dialect.name != "sqlite":
        return
    raw = conn.connection.driver_connection
    if not raw.in_transaction:  # type: ignore[union-attr]
        raw.execute("BEGIN IMMEDIATE")  # type: ignore[union-attr]


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session


def safe_url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


# SQLite's own default: a commit that leaves this many WAL pages checkpoints them.
_SQLITE_AUTOCHECKPOINT = 1000


class BulkWriter:
    """Transactions on one connection for a job that writes a lot, chunk after chunk.

    On SQLite, a commit that leaves the write-ahead log over 1,000 pages copies it into
    the database file there and then (a checkpoint), on the writer's time. Here the
    writer's connection doesn't checkpoint; after each commit a worker thread runs a
    PASSIVE checkpoint on its own connection (one at a time, skipped while one runs),
    so copying chunk N overlaps writing chunk N+1. The last one runs before the job
    ends, so the log is left as short as the writer found it. PostgreSQL: plain
    transactions.
    """

    def __init__(self, engine: Engine, conn: Connection, pool: ThreadPoolExecutor | None) -> None:
        self._engine = engine
        self._conn = conn
        self._pool = pool
        self._running: Future[None] | None = None

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """One write transaction (on SQLite it holds the write lock from its start)."""
        with self._conn.begin():
            begin_write(self._conn)
            yield self._conn
        if self._pool is not None and (self._running is None or self._running.done()):
            self._running = self._pool.submit(self.checkpoint)

    def checkpoint(self) -> None:
        """A PASSIVE checkpoint on a connection of its own (never waits for readers)."""
        try:
            with self._engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        except DBAPIError as exc:
            # A later checkpoint (or the next commit elsewhere) copies what this one left.
            log.warning("WAL checkpoint of %s failed: %s", safe_url(self._engine), exc)

    def finish(self) -> None:
        if self._running is not None:
            self._running.result()
            self._running = None


@contextmanager
def bulk_writer(engine: Engine) -> Iterator[BulkWriter]:
    with engine.connect() as conn:
        if engine.dialect.name != "sqlite":
            yield BulkWriter(engine, conn, None)
            return
        conn.exec_driver_sql("PRAGMA wal_autocheckpoint=0")
        conn.commit()
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlmaint-checkpoint")
        writer = BulkWriter(engine, conn, pool)
        try:
            yield writer
            writer.finish()
            writer.checkpoint()
        finally:
            pool.shutdown(wait=True)
            if not conn.invalidated:
                conn.exec_driver_sql(f"PRAGMA wal_autocheckpoint={_SQLITE_AUTOCHECKPOINT}")
                conn.commit()


def dialect_insert(dialect: str, table: type[DeclarativeBase]) -> PgInsert | SqliteInsert:
    """INSERT with ON CONFLICT for the store's dialect.

    The dialect modules are imported here, when a row is written: importing
    PostgreSQL's costs a tenth of a second that `mlmaint status` and a SQLite
    store never need (create_engine imports the dialect it connects with anyway).
    """
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)
