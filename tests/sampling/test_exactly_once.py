"""kill -9 in the middle of sampling, then a restart: every source row stored exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from daemon.store.engine import make_engine
from daemon.store.tables import IngestCount, Prediction
from tests.sampling.conftest import row, write_jsonl

ROOT = Path(__file__).resolve().parents[2]
CHILD = """
import json, sys
from datetime import UTC, datetime
from daemon.jobs import JobContext
from daemon.sampling import sample_predictions
from tests.sampling.conftest import settings_for
settings = settings_for(sys.argv[1], json.loads(sys.argv[2]))
ctx = JobContext.from_settings(settings)
while sample_predictions(ctx, "churn", datetime.now(UTC)).read:
    pass
print("done", flush=True)
"""
ROWS = 12_000


def _counts(url: str) -> tuple[int, int, int]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            stored = conn.scalar(select(func.count()).select_from(Prediction)) or 0
            sampled = conn.scalar(
                select(func.coalesce(func.sum(IngestCount.count), 0)).where(
                    IngestCount.outcome == "sampled"
                )
            )
            dupes = conn.scalar(
                select(func.coalesce(func.sum(IngestCount.count), 0)).where(
                    IngestCount.outcome == "duplicate"
                )
            )
    finally:
        engine.dispose()
    return int(stored), int(sampled or 0), int(dupes or 0)


def test_kill_9_then_restart_samples_every_row_once(store_url: str, tmp_path: Path) -> None:
    for part in range(3):
        write_jsonl(
            tmp_path / f"preds-{part}.jsonl",
            [row(i) for i in range(part * ROWS // 3, (part + 1) * ROWS // 3)],
        )
    source = {"kind": "files", "glob": str(tmp_path / "*.jsonl"), "batch_size": 400}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-c", CHILD, store_url, json.dumps(source)]
    # Its output is not read: DEVNULL, so no pipe is left open when it is killed.
    with subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL) as child:
        try:
            deadline = time.monotonic() + 60
            stored = 0
            while time.monotonic() < deadline and child.poll() is None:
                stored = _counts(store_url)[0]
                if stored >= 2000:
                    break
                time.sleep(0.02)
            assert child.poll() is None, (
                "the child finished before it could be killed: use more rows"
            )
        finally:
            # Killed whatever happened above, so the test never waits on a live child.
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    killed_at = _counts(store_url)
    assert 0 < killed_at[0] < ROWS

    out = subprocess.run(cmd, env=env, capture_output=True, timeout=120, check=True)
    assert out.stdout.strip() == b"done"
    assert _counts(store_url) == (ROWS, ROWS, 0)
