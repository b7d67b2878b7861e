"""The real daemon process: token refusals exit 78, and 2,000 idle connections do not
take the server down or leave threads and descriptors behind."""

from __future__ import annotations

import json
import os
import re
import resource
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from daemon.config import EX_CONFIG
from tests.conftest import new_sqlite_url
from tests.sampling.conftest import row
from tests.service.harness import MLMAINT, Daemon, write_config

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "daemon" / "systemd" / "mlmaint.service"
IDLE = 2_000

MODEL = """
[[models]]
name = "churn"
task = "binary_classification"
source = { kind = "http" }
[models.schema]
numeric = ["age", "income"]
categorical = ["city"]
score = "score"
latency = "latency_ms"
error = "error"
categories = { city = ["paris", "lyon"] }
"""


@pytest.fixture
def sqlite_store(sqlite_template: Path, tmp_path: Path) -> str:
    return new_sqlite_url(sqlite_template, tmp_path)


def _run(config: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MLMAINT, "--config", str(config), "run"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
        cwd=config.parent,
        check=False,
    )


@pytest.mark.parametrize(
    ("source", "value", "expected"),
    [
        ("env", "", "too short (env MLMAINT_TEST_API_TOKEN holds 0 bytes"),
        ("env", "   \t ", "too short (env MLMAINT_TEST_API_TOKEN holds 0 bytes"),
        ("file", "", "holds 0 bytes"),
        ("file", "\n", "holds 0 bytes"),
        ("env", "fifteen-bytes!!", "holds 15 bytes, at least 16 needed"),
        ("file", "short-token\n", "holds 11 bytes, at least 16 needed"),
    ],
    ids=["env-empty", "env-blank", "file-empty", "file-newline", "env-short", "file-short"],
)
def test_an_empty_or_short_token_exits_78_naming_it(
    tmp_path: Path, sqlite_store: str, source: str, value: str, expected: str
) -> None:
    secret = tmp_path / "api-token"
    if source == "env":
        ref, env = '{ env = "MLMAINT_TEST_API_TOKEN" }', {"MLMAINT_TEST_API_TOKEN": value}
    else:
        secret.write_text(value)
        ref, env = f'{{ file = "{secret}" }}', {}
    config = write_config(
        tmp_path / "config.toml", sqlite_store, extra_service=f"api_token = {ref}"
    )
    proc = _run(config, env)
    assert proc.returncode == EX_CONFIG, proc.stdout + proc.stderr
    assert "service.api_token" in proc.stderr and expected in proc.stderr, proc.stderr
    assert value.strip() == "" or value.strip() not in proc.stdout + proc.stderr


def test_binding_beyond_loopback_without_a_token_exits_78(
    tmp_path: Path, sqlite_store: str
) -> None:
    config = write_config(
        tmp_path / "config.toml", sqlite_store, extra_service='http_host = "0.0.0.0"'
    )
    proc = _run(config, {})
    assert proc.returncode == EX_CONFIG, proc.stdout + proc.stderr
    assert "beyond loopback" in proc.stderr and "api_token" in proc.stderr


# --------------------------------------------------------------------------- idle connections


def _unit_nofile() -> int:
    found = re.search(r"^LimitNOFILE=(\d+)$", UNIT.read_text(), re.MULTILINE)
    assert found, "the unit sets no LimitNOFILE"
    return int(found.group(1))


@pytest.fixture
def unit_nofile() -> Iterator[int]:
    """This process (and the daemon it starts) at the unit's open-file limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = _unit_nofile()
    limit = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    # The 2,000 idle sockets, both ends in one test, need room under the limit.
    assert limit > 2 * IDLE + 200, f"open-file hard limit {hard} is too low for this test"
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    yield limit
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _counts(pid: int) -> tuple[int, int]:
    """(threads, open file descriptors) of a process."""
    return len(os.listdir(f"/proc/{pid}/task")), len(os.listdir(f"/proc/{pid}/fd"))


def _ingest(port: int, start: int, n: int) -> httpx.Response:
    body = "\n".join(json.dumps(row(i)) for i in range(start, start + n))
    return httpx.post(
        f"http://127.0.0.1:{port}/v1/models/churn/predictions",
        content=body,
        headers={"Content-Type": "application/x-ndjson"},
        timeout=10,
    )


def test_2000_idle_connections_leave_health_and_ingest_up(
    tmp_path: Path, sqlite_store: str, unit_nofile: int
) -> None:
    config = write_config(tmp_path / "config.toml", sqlite_store, extra=MODEL)
    daemon = Daemon(config, None)
    held: list[socket.socket] = []
    try:
        port = daemon.port(timeout=30)
        with open(f"/proc/{daemon.pid}/limits") as limits:
            assert re.search(rf"Max open files\s+{unit_nofile}\s", limits.read())
        first = _ingest(port, 0, 10)
        assert first.status_code == 202, first.text
        time.sleep(1.0)
        threads0, fds0 = _counts(daemon.pid)

        # Slowloris: connections that start their headers and never finish them.
        for _ in range(IDLE):
            conn = socket.create_connection(("127.0.0.1", port), timeout=10)
            conn.sendall(b"POST /v1/models/churn/predictions HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            held.append(conn)
        deadline = time.monotonic() + 20
        # Every idle connection is held (a descriptor each), give or take the few the
        # store opens and closes on its own (a WAL or journal file counted in fds0).
        held_all = fds0 + IDLE - 8
        while _counts(daemon.pid)[1] < held_all and time.monotonic() < deadline:
            time.sleep(0.1)
        threads, fds = _counts(daemon.pid)
        assert fds >= held_all, (fds0, fds)
        # A bounded pool: the idle connections cost descriptors, not threads.
        assert threads <= threads0 + 2, (threads0, threads)

        started = time.monotonic()
        health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        took = time.monotonic() - started
        assert health.status_code == 200, health.text
        assert took < 1.0, took
        pushed = _ingest(port, 10, 1000)
        assert pushed.status_code == 202, pushed.text
        assert pushed.json()["accepted"] == 1000

        for conn in held:
            conn.close()
        held.clear()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            threads, fds = _counts(daemon.pid)
            if fds <= fds0 + 10 and threads <= threads0 + 2:
                break
            time.sleep(0.2)
        assert fds <= fds0 + 10, (fds0, fds)
        assert threads <= threads0 + 2, (threads0, threads)
    finally:
        for conn in held:
            conn.close()
        code = daemon.stop()
    assert code == 0, daemon.log()[-3000:]


def test_healthz_beyond_loopback_tells_its_detail_only_to_a_token(
    tmp_path: Path, sqlite_store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "health-detail-token-0123456789"
    monkeypatch.setenv("MLMAINT_TEST_API_TOKEN", token)
    config = write_config(
        tmp_path / "config.toml",
        sqlite_store,
        extra_service='http_host = "0.0.0.0"\napi_token = { env = "MLMAINT_TEST_API_TOKEN" }',
        extra=MODEL,
    )
    daemon = Daemon(config, None)
    try:
        port = int(daemon.wait_log(r"on http://0\.0\.0\.0:(\d+)/healthz", 30).group(1))
        url = f"http://127.0.0.1:{port}/healthz"
        deadline = time.monotonic() + 20
        while True:
            anonymous = httpx.get(url, timeout=5)
            if anonymous.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        # The status code and the status, nothing about models, jobs or the store.
        assert anonymous.status_code == 200, anonymous.text
        assert anonymous.json() == {"status": "ok"}
        assert "churn" not in anonymous.text
        detailed = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=5)
        assert detailed.status_code == 200
        body = detailed.json()
        assert body["status"] == "ok" and body["store"]["reachable"] is True
        assert any("churn" in job["id"] for job in body["jobs"]), body["jobs"]
    finally:
        code = daemon.stop()
    assert code == 0, daemon.log()[-3000:]
