"""Two daemons on one PostgreSQL: one leader, takeover after kill -9, outage survival."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from daemon.leader import describe_leader
from daemon.store.engine import make_engine
from tests.conftest import PG_ADMIN_URL, drop_pg_database, new_pg_database, pg_url
from tests.service.harness import Daemon, NotifySocket, write_config


@pytest.fixture
def pg_store(pg_template: str) -> Iterator[str]:
    name = new_pg_database(pg_template)
    yield pg_url(name)
    drop_pg_database(name)


def _wait(predicate: object, timeout: float, what: str) -> float:
    """Seconds until `predicate()` held."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():  # type: ignore[operator]
            return time.monotonic() - start
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {timeout}s")


def test_one_leader_runs_jobs_and_a_standby_takes_over(tmp_path: Path, pg_store: str) -> None:
    notify_a, notify_b = NotifySocket(), NotifySocket()
    config = write_config(tmp_path / "config.toml", pg_store)
    first = Daemon(config, notify_a)
    second: Daemon | None = None
    try:
        notify_a.wait_for(lambda m: m.get("STATUS", "").startswith("leader:"), timeout=15)
        second = Daemon(config, notify_b)
        notify_b.wait_for(lambda m: m.get("READY") == "1", timeout=15)
        notify_b.wait_for(lambda m: m.get("STATUS", "").startswith("standby:"), timeout=5)
        time.sleep(2.5)
        assert len(first.job_lines()) >= 2
        assert second.job_lines() == [], "the standby must not run jobs"

        first.kill()  # kill -9: the lock goes with its session
        took = _wait(lambda: bool(second.job_lines()), 30, "takeover")
        assert took < 30
        notify_b.wait_for(lambda m: m.get("STATUS", "").startswith("leader:"), timeout=1)
        time.sleep(1.5)
        # No cycle of a job ran twice across the two daemons.
        cycles = Counter((job, cycle) for job, _, cycle in first.job_lines() + second.job_lines())
        assert cycles and max(cycles.values()) == 1, cycles.most_common(3)
    finally:
        first.kill()
        if second is not None:
            assert second.stop() == 0, second.log()
        notify_a.close()
        notify_b.close()


def test_store_outage_is_logged_and_jobs_resume(tmp_path: Path, pg_store: str) -> None:
    notify = NotifySocket()
    config = write_config(tmp_path / "config.toml", pg_store)
    daemon = Daemon(config, notify)
    database = pg_store.rpartition("/")[2]
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        notify.wait_for(lambda m: m.get("STATUS", "").startswith("leader:"), timeout=15)
        _wait(lambda: len(daemon.job_lines()) >= 2, 10, "first runs")
        store = make_engine(pg_store)
        try:
            assert describe_leader(store).startswith("leader holds the lock on backend pid")
        finally:
            store.dispose()
        # A server restart, as the daemon sees it: every one of its sessions is cut.
        with admin.connect() as conn:
            killed = conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = :db AND pid <> pg_backend_pid()"
                ),
                {"db": database},
            ).scalar()
        assert killed and killed >= 1
        daemon.wait_log(r"leader lock lost|store is unavailable|cannot record", timeout=15)
        before = len(daemon.job_lines())
        _wait(lambda: len(daemon.job_lines()) >= before + 2, 20, "jobs resuming")
        assert daemon.proc.poll() is None, "no crash"
        notify.wait_for(lambda m: m.get("STATUS", "").startswith("leader:"), timeout=15)
    finally:
        admin.dispose()
        code = daemon.stop()
        notify.close()
    assert code == 0, daemon.log()


def test_status_reads_only_its_own_databases_leader_lock(tmp_path: Path, pg_template: str) -> None:
    from click.testing import CliRunner

    from daemon.cli import main
    from daemon.leader import AdvisoryLock

    led, other = new_pg_database(pg_template), new_pg_database(pg_template)
    engine = make_engine(pg_url(led))
    lock = AdvisoryLock(engine.url)
    try:
        # A leader holds the lock in one database; the other, on the same server, has none.
        assert lock.try_acquire()

        def status(database: str) -> str:
            config = write_config(tmp_path / f"{database}.toml", pg_url(database))
            result = CliRunner().invoke(main, ["--config", str(config), "status"])
            assert result.exit_code == 0, result.output
            return next(line for line in result.output.splitlines() if line.startswith("leader:"))

        assert status(other) == "leader: no daemon holds the leader lock"
        assert status(led).startswith("leader: leader holds the lock on backend pid ")
        lock.release()
        assert status(led) == "leader: no daemon holds the leader lock"
    finally:
        lock.release()
        engine.dispose()
        drop_pg_database(led)
        drop_pg_database(other)
