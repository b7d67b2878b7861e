"""The HTTP server's errors, and which errors mean the store cannot write now.

A handler whose write fails because the store is down, full or unreachable
answers 503 with Retry-After: the client sends the same batch again.
"""

from __future__ import annotations

import errno
import sqlite3

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from daemon.store.engine import StoreUnavailable

# Disk full, quota, read-only file system, I/O error: the store's disk, not a bug.
_STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO})


class ApiError(Exception):
    """Root of the HTTP server's errors."""


class InsecureBind(ApiError):
    """Binding beyond loopback with no API token would open ingest to the network."""

    def __init__(self, host: str) -> None:
        self.host = host
        super().__init__(f"refusing to serve on {host}, beyond loopback, without service.api_token")


def store_unavailable(exc: BaseException) -> bool:
    """True when `exc`, or anything it was raised from, says the store cannot write now.

    SQLAlchemy wraps most driver errors, but a bulk insert can let the raw
    sqlite3 or psycopg error through, and other layers chain them: every link
    of the chain is looked at, so the layer that raised does not matter.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, StoreUnavailable | OperationalError | InterfaceError | PoolTimeout):
            return True
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, sqlite3.OperationalError | sqlite3.InterfaceError):
            return True
        if _psycopg_operational(current):
            return True
        if isinstance(current, OSError) and current.errno in _STORAGE_ERRNOS:
            return True
        current = current.__cause__ or current.__context__
    return False


def _psycopg_operational(exc: BaseException) -> bool:
    try:
        import psycopg
    except ImportError:  # the postgres extra is not installed: no such errors either
        return False
    return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)


def first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
