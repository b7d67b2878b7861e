"""Engines and sessions for the store: SQLite (WAL, foreign keys) or PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

from daemon.config import Secret


class StoreError(Exception):
    """Root of the store's errors."""


class SchemaBehind(StoreError):
    def __init__(self, url: str, current: str | None, head: str) -> None:
        self.current = current
        self.head = head
        super().__init__(
            f"the store at {url} is at schema revision {current or 'none (empty database)'}, "
            f"this mlmaint needs {head}: run `mlmaint db upgrade`"
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
    # WAL lets the API and the scheduler read while a job writes; NORMAL is durable in WAL.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_engine(url: str | URL, password: Secret | None = None, pool_size: int = 5) -> Engine:
    parsed = store_url(str(url) if isinstance(url, str) else url.render_as_string(False))
    if password is not None:
        parsed = parsed.set(password=password.reveal())
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        parsed, pool_size=pool_size, pool_pre_ping=True, connect_args={"connect_timeout": 10}
    )


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session


def safe_url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)
