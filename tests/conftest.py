"""Shared fixtures: a migrated store on SQLite and on the local PostgreSQL server.

Each test gets a fresh database copied from a template migrated once per session
(a file copy on SQLite, CREATE DATABASE ... TEMPLATE on PostgreSQL), so the suite
pays for the migrations once. PostgreSQL must be running: a missing server fails
the test with the command that starts it, it never skips.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from daemon.store import migrate
from daemon.store.engine import make_engine
from daemon.store.engine import session_factory as make_session_factory

# An MLflow call that falls back to the default tracking URI (./mlflow.db) lands in
# a temporary directory instead of the checkout. Tests set their own stores, and
# restore this one (MLflow 3's set_tracking_uri(None) would delete the variable).
_MLFLOW_DEFAULT = tempfile.mkdtemp(prefix="mlmaint-mlflow-")
atexit.register(shutil.rmtree, _MLFLOW_DEFAULT, ignore_errors=True)
os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{_MLFLOW_DEFAULT}/default.db")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A skipped test fails: a missing service or package is an error here, never a
    quiet pass (`make test` starts the services or names the command that does)."""
    report = yield
    if report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = (
            f"{item.nodeid} skipped, which this suite treats as a failure: {report.longrepr}"
        )
    return report


_MLFLOW_URI_VARS = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


@pytest.fixture(autouse=True)
def _restore_mlflow_uris() -> Iterator[None]:
    """MLflow's set_tracking_uri and set_registry_uri write the process environment
    (for subprocesses to inherit): a test's store would leak into every later
    test's subprocesses. Put the variables and MLflow's globals back after each."""
    saved = {name: os.environ.get(name) for name in _MLFLOW_URI_VARS}
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    import sys

    # None: MLflow reads the variables just restored.
    for module, attr in (
        ("mlflow.tracking._model_registry.utils", "_registry_uri"),
        ("mlflow.tracking._tracking_service.utils", "_tracking_uri"),
    ):
        loaded = sys.modules.get(module)
        if loaded is not None:
            setattr(loaded, attr, None)


PG_ADMIN_URL = os.environ.get(
    "MLMAINT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
START_PG = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"


def pg_url(database: str) -> str:
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{database}"


def _pg_admin() -> Engine:
    engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        engine.dispose()
        pytest.fail(
            f"PostgreSQL is not reachable at {PG_ADMIN_URL} ({type(exc).__name__}); "
            f"start it with: {START_PG}  (install: apt-get install postgresql)",
            pytrace=False,
        )
    return engine


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    admin = _pg_admin()
    name = f"mlmaint_tpl_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(pg_url(name))
    migrate.upgrade(engine)
    engine.dispose()
    yield name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def new_sqlite_url(template: Path, directory: Path) -> str:
    path = directory / f"store-{uuid.uuid4().hex[:8]}.db"
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


def new_pg_database(template: str) -> str:
    """A fresh migrated PostgreSQL database; the caller drops it with drop_pg_database."""
    admin = _pg_admin()
    name = f"mlmaint_t_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    admin.dispose()
    return name


def drop_pg_database(name: str) -> None:
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh, migrated store on each backend."""
    if request.param == "sqlite":
        yield new_sqlite_url(request.getfixturevalue("sqlite_template"), tmp_path)
        return
    name = new_pg_database(request.getfixturevalue("pg_template"))
    yield pg_url(name)
    drop_pg_database(name)


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    """A migrated store engine, SQLite and PostgreSQL; fails on leaked connections."""
    engine = make_engine(store_url)
    yield engine
    checked_out = engine.pool.checkedout()  # type: ignore[attr-defined]
    engine.dispose()
    assert checked_out == 0, f"{checked_out} connection(s) leaked by the test"


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)
