"""A full disk under the real daemon: 202 or 503 only, health follows the writes.

The SQLite store sits on a small tmpfs mounted for the test (the suite runs as
root); a filler file takes the free space while rows are pushed over HTTP. Needs
the ingest side that records write health and answers StoreUnavailable with 503.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.conftest import new_sqlite_url
from tests.service.harness import Daemon, NotifySocket, write_config

MODEL = """
[[models]]
name = "churn"
source = { kind = "http" }
[models.schema]
numeric = ["age", "income"]
categorical = ["city"]
"""
BATCH = 500


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "fs"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def _fill(directory: Path) -> Path:
    """Take every free byte of the file system holding `directory`."""
    filler = directory / "filler"
    with filler.open("wb") as out:
        block = b"\0" * (64 * 1024)
        while True:
            try:
                out.write(block)
                out.flush()
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
                break
        with contextlib.suppress(OSError):
            os.fsync(out.fileno())
    return filler


def _batch(start: int) -> bytes:
    now = datetime.now(UTC)
    rows = [
        {
            "prediction_id": f"p{start + j}",
            "timestamp": (now - timedelta(seconds=j)).isoformat(),
            "age": 30.0 + j % 40,
            "income": 1000.0 + j,
            "city": "paris",
            "prediction": 1,
        }
        for j in range(BATCH)
    ]
    return json.dumps(rows).encode()


def test_a_full_disk_answers_503_health_follows_and_no_acknowledged_row_is_lost(
    tmp_path: Path, small_fs: Path, sqlite_template: Path
) -> None:
    url = new_sqlite_url(sqlite_template, small_fs)
    config = write_config(tmp_path / "config.toml", url, extra=MODEL)
    notify = NotifySocket()
    daemon = Daemon(config, notify)
    filler: Path | None = None
    try:
        notify.wait_for(lambda m: m.get("READY") == "1", timeout=20)
        base = f"http://127.0.0.1:{daemon.port()}"
        headers = {"Content-Type": "application/json"}
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:

            def push(start: int) -> httpx.Response:
                r = client.post("/v1/models/churn/predictions", content=_batch(start))
                assert r.status_code in (202, 503), (r.status_code, r.text)
                if r.status_code == 202:
                    assert r.json()["accepted"] == BATCH, r.text
                return r

            acked: set[int] = set()
            assert push(0).status_code == 202
            acked.add(0)
            assert client.get("/healthz").status_code == 200

            filler = _fill(small_fs)
            refused: list[int] = []
            for n in range(1, 200):
                r = push(n * BATCH)
                if r.status_code == 202:
                    acked.add(n * BATCH)
                    continue
                assert r.headers.get("Retry-After"), r.headers
                refused.append(n * BATCH)
                break
            assert refused, "the store never ran out of space"
            # Unhealthy from the first write that failed on.
            health = client.get("/healthz")
            assert health.status_code == 503, health.text
            write = health.json()["store"]["writes"]["churn"]["predictions"]
            assert write["ok"] is False and write["error"], write
            metrics = client.get("/metrics").text
            assert 'mlmaint_store_write_ok{model="churn",stream="predictions"} 0.0' in metrics
            assert "mlmaint_store_up 0.0" in metrics

            # Space returns: the client retries the refused batch; health turns back.
            filler.unlink()
            filler = None
            for start in refused:
                assert push(start).status_code == 202
                acked.add(start)
            assert client.get("/healthz").status_code == 200
    finally:
        if filler is not None:
            filler.unlink()
        assert daemon.stop() == 0, daemon.log()
        notify.close()
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        ids = {row[0] for row in conn.execute("SELECT prediction_id FROM predictions")}
    expected = {f"p{start + j}" for start in acked for j in range(BATCH)}
    assert expected <= ids, f"{len(expected - ids)} acknowledged rows lost"
