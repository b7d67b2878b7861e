"""The real daemon under a fake systemd: notify, watchdog, signals, health, SQLite lock."""

from __future__ import annotations

import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import new_sqlite_url
from tests.service.harness import Daemon, NotifySocket, write_config


@pytest.fixture
def notify() -> Iterator[NotifySocket]:
    sock = NotifySocket()
    yield sock
    sock.close()


@pytest.fixture
def sqlite_store(sqlite_template: Path, tmp_path: Path) -> str:
    return new_sqlite_url(sqlite_template, tmp_path)


def _db_path(url: str) -> str:
    return url.removeprefix("sqlite:///")


def test_lifecycle_ready_status_watchdog_health_stop(
    tmp_path: Path, sqlite_store: str, notify: NotifySocket
) -> None:
    config = write_config(tmp_path / "config.toml", sqlite_store)
    daemon = Daemon(config, notify, watchdog_usec=400_000)
    try:
        _, ready = notify.wait_for(lambda m: m.get("READY") == "1", timeout=15)
        start_to_ready = time.monotonic() - daemon.started
        assert ready["MAINPID"] == str(daemon.pid)
        notify.wait_for(lambda m: m.get("STATUS", "").startswith("leader:"), timeout=5)
        # Pings at half of WATCHDOG_USEC: several within a second and a half.
        first, _ = notify.wait_for(lambda m: m.get("WATCHDOG") == "1", timeout=5)
        time.sleep(1.5)
        pings = [m for m in notify.all()[first:] if m.get("WATCHDOG") == "1"]
        assert len(pings) >= 4, pings

        port = daemon.port()
        daemon.wait_log(r"job deliver (ok|failed) in", timeout=10)
        health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert health.status_code == 200, health.text
        body = health.json()
        assert body["role"] == "leader"
        assert body["store"]["reachable"] is True
        assert body["scheduler"]["alive"] is True
        jobs = {job["id"]: job for job in body["jobs"]}
        assert jobs["deliver"]["runs"] >= 1
        assert jobs["deliver"]["next_run_at"] is not None

        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
        assert metrics.status_code == 200
        text = metrics.text
        assert "mlmaint_store_up 1.0" in text
        assert "mlmaint_leader 1.0" in text
        assert 'mlmaint_job_runs_total{job="deliver"}' in text
        assert 'mlmaint_job_last_run_timestamp_seconds{job="deliver"}' in text
        assert "_created" not in text
    finally:
        code = daemon.stop()
    assert code == 0, daemon.log()
    notify.wait_for(lambda m: m.get("STOPPING") == "1", timeout=1)
    assert "stopped" in daemon.log()
    # Start to READY on this shared 2-core box, with an interpreter cold start.
    assert start_to_ready < 10, start_to_ready


def test_second_daemon_on_the_same_sqlite_file_refuses(
    tmp_path: Path, sqlite_store: str, notify: NotifySocket
) -> None:
    config = write_config(tmp_path / "config.toml", sqlite_store)
    first = Daemon(config, notify)
    try:
        notify.wait_for(lambda m: m.get("READY") == "1", timeout=15)
        second = Daemon(config, None)
        code = second.proc.wait(20)
        second.kill()
        assert code == 75
        log = second.log()
        assert "another mlmaint daemon" in log
        assert f":{first.pid}" in log  # it names the holder
        assert "use PostgreSQL for several daemons" in log
    finally:
        assert first.stop() == 0


def test_sighup_with_a_broken_config_keeps_the_old_one(
    tmp_path: Path, sqlite_store: str, notify: NotifySocket
) -> None:
    config = write_config(tmp_path / "config.toml", sqlite_store)
    daemon = Daemon(config, notify)
    try:
        notify.wait_for(lambda m: m.get("READY") == "1", timeout=15)
        good = config.read_text()
        config.write_text(good.replace('delivery_every = "1s"', 'delivery_every = "-5s"'))
        mark = len(notify.all())
        daemon.signal(signal.SIGHUP)
        i, reloading = notify.wait_for(lambda m: m.get("RELOADING") == "1", 5, after=mark)
        assert int(reloading["MONOTONIC_USEC"]) > 0
        notify.wait_for(lambda m: m.get("READY") == "1", 5, after=i)
        notify.wait_for(lambda m: "reload rejected" in m.get("STATUS", ""), 5, after=i)
        daemon.wait_log(r"reload rejected, the running configuration stays", 5)
        assert "alerts.delivery_every" in daemon.log()
        # Still running the old schedule: deliver keeps its 1 s cadence.
        before = len(daemon.job_lines())
        time.sleep(2.5)
        assert len(daemon.job_lines()) >= before + 2
        assert daemon.proc.poll() is None

        # A valid change is applied.
        config.write_text(good.replace("[report]\nenabled = false", "[report]\nenabled = true"))
        mark = len(notify.all())
        daemon.signal(signal.SIGHUP)
        notify.wait_for(lambda m: m.get("RELOADING") == "1", 5, after=mark)
        # deliver and the retention sweep, and now the report.
        notify.wait_for(lambda m: "reloaded, 3 job(s)" in m.get("STATUS", ""), 5, after=mark)
    finally:
        assert daemon.stop() == 0, daemon.log()


def test_sigterm_waits_for_the_running_job_then_exits_0(
    tmp_path: Path, sqlite_store: str, notify: NotifySocket
) -> None:
    config = write_config(tmp_path / "config.toml", sqlite_store)
    daemon = Daemon(config, notify)
    notify.wait_for(lambda m: m.get("READY") == "1", timeout=15)
    port = daemon.port()
    daemon.wait_log(r"job deliver (ok|failed) in", timeout=10)
    # Hold the write lock: the next run of the job blocks inside its transaction.
    blocker = sqlite3.connect(_db_path(sqlite_store), timeout=30, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).json()
            if health["scheduler"]["running"]:
                break
            time.sleep(0.1)
        assert health["scheduler"]["running"] == ["deliver"]
        daemon.signal(signal.SIGTERM)
        notify.wait_for(lambda m: m.get("STOPPING") == "1", timeout=5)
        time.sleep(1.0)
        assert daemon.proc.poll() is None, "it must wait for the running job"
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert daemon.stop(timeout=20) == 0, daemon.log()
    with sqlite3.connect(_db_path(sqlite_store)) as conn:
        rows = conn.execute("SELECT job_id, last_status FROM job_runs").fetchall()
    # The job the stop waited for finished and recorded its run: nothing left "running".
    assert rows and all(status in ("ok", "failed") for _, status in rows), rows


def test_sigterm_abandons_a_stuck_job_after_the_grace_without_half_writes(
    tmp_path: Path, sqlite_store: str, notify: NotifySocket
) -> None:
    config = write_config(tmp_path / "config.toml", sqlite_store)
    config.write_text(config.read_text().replace('shutdown_grace = "20s"', 'shutdown_grace = "1s"'))
    daemon = Daemon(config, notify)
    notify.wait_for(lambda m: m.get("READY") == "1", timeout=15)
    daemon.wait_log(r"job deliver (ok|failed) in", timeout=10)
    blocker = sqlite3.connect(_db_path(sqlite_store), timeout=30, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        time.sleep(1.5)  # the next run is now blocked in its transaction
        daemon.signal(signal.SIGTERM)
        assert daemon.proc.wait(15) == 0
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
        daemon.stop()
    assert "abandoned" in daemon.log()
    with sqlite3.connect(_db_path(sqlite_store)) as conn:
        rows = conn.execute("SELECT last_status FROM job_runs").fetchall()
    assert rows and all(status in ("ok", "failed") for (status,) in rows), rows


def test_run_logs_at_the_configured_level_without_log_level(
    tmp_path: Path, sqlite_store: str
) -> None:
    """Commands default to WARNING; `mlmaint run` keeps the config's level (INFO)."""
    config = write_config(tmp_path / "config.toml", sqlite_store)
    daemon = Daemon(config, None, log_level=None)
    try:
        daemon.port(timeout=20)  # an INFO line
        assert " INFO " in daemon.log() and " DEBUG " not in daemon.log()
    finally:
        assert daemon.stop() == 0
