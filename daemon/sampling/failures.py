"""Why a write failed: the rows' data, or the store as a whole.

A write fails for one of two reasons. The rows' data (a value the database
refuses): `refuses_row` says so, and the caller splits the rows under savepoints
until the good ones land and each refused one is quarantined. Or the store as a
whole (down, disk full, read-only, connection lost), whichever layer raised it,
SQLAlchemy or the driver under executemany or COPY: `store_down` says so, and
the caller rolls the chunk back and raises `StoreUnavailable`. Each outcome is
recorded in the JobContext's `WriteHealth` (`write_outcome`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import psycopg
import pyarrow as pa
from sqlalchemy import Connection
from sqlalchemy import exc as sa_exc

from daemon.jobs import JobContext
from daemon.sampling.bulk import CATEGORICAL, NUMERIC
from daemon.sampling.rows import Reason, Reject, excerpt
from daemon.store.engine import StoreUnavailable, begin_write

# Every error a write may raise, whichever layer: `store_down` and `refuses_row` sort them.
STORE_ERRORS: tuple[type[BaseException], ...] = (
    sa_exc.SQLAlchemyError,
    sqlite3.Error,
    psycopg.Error,
    UnicodeError,
    ValueError,
    TypeError,
    OverflowError,
)

_DOWN = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.InternalError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,
    sqlite3.OperationalError,
    sqlite3.InterfaceError,
    sqlite3.InternalError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    psycopg.InternalError,
)

# What a row's data can make the database (or the driver binding it) refuse.
_ROW = (
    sqlite3.IntegrityError,
    sqlite3.DataError,
    psycopg.DataError,
    psycopg.IntegrityError,
    UnicodeError,
    ValueError,
    TypeError,
    OverflowError,
)


def _driver_error(exc: BaseException) -> BaseException:
    return exc.orig if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None else exc


def store_down(exc: BaseException) -> bool:
    """Whether the error says the store cannot write at all (not this data): down,
    unreachable, disk full, read-only, the connection lost."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    orig = _driver_error(exc)
    # sqlite3's bare DatabaseError is a file it cannot read ("disk image is malformed").
    return isinstance(exc, _DOWN) or isinstance(orig, _DOWN) or type(orig) is sqlite3.DatabaseError


def refuses_row(exc: BaseException) -> bool:
    """Whether the error is about the rows' data, so that splitting them can help."""
    if store_down(exc):
        return False
    if isinstance(exc, sa_exc.DataError | sa_exc.IntegrityError):
        return True
    if isinstance(exc, sa_exc.StatementError) and not isinstance(exc, sa_exc.DBAPIError):
        # A value SQLAlchemy could not bind.
        return True
    return isinstance(_driver_error(exc), _ROW)


def error_text(exc: BaseException) -> str:
    """The database's own message, first line (no statement, no parameters)."""
    lines = str(_driver_error(exc)).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


@contextmanager
def savepoint(conn: Connection) -> Iterator[None]:
    """A savepoint inside the caller's transaction: an error rolls back to it only."""
    # pysqlite opens its transaction at the first write: a SAVEPOINT before that would
    # open it instead, and its RELEASE would commit the caller's work.
    begin_write(conn)
    with conn.begin_nested():
        yield


def refused(table: pa.Table, exc: BaseException) -> Reject:
    """The one row of `table` the store refused, as a quarantined reject."""
    row = table.drop_columns([c for c in (NUMERIC, CATEGORICAL) if c in table.column_names])
    record = row.slice(0, 1).to_pylist()[0]
    detail = f"the store refused the row: {error_text(exc)}"
    return Reject(Reason.STORE_REFUSED, detail, excerpt(record))


@contextmanager
def write_outcome(ctx: JobContext, model: str, stream: str, now: datetime) -> Iterator[None]:
    """Record the write's outcome; a store that cannot write raises StoreUnavailable."""
    try:
        yield
    except STORE_ERRORS as exc:
        if not store_down(exc):
            raise
        unavailable = StoreUnavailable(f"storing {stream} of model {model}", exc)
        ctx.writes.failed(model, stream, now, str(unavailable))
        raise unavailable from exc
    ctx.writes.ok(model, stream, now)
