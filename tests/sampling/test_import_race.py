"""The ingest route and the first sampling job import the sampling rooms at once.

An ingest request (daemon.sampling.push) and the scheduler's first job
(daemon.sampling's job names) may be the first to import these modules, from two
threads in the same instant. Neither may get a half-initialised module.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

RACE = """
import threading
barrier = threading.Barrier(2)
errors = []

def ingest():
    barrier.wait()
    try:
        from daemon.sampling.push import ingest_records  # noqa: F401
    except Exception as exc:
        errors.append(repr(exc))

def job():
    barrier.wait()
    try:
        from daemon.sampling import sample_predictions  # noqa: F401
    except Exception as exc:
        errors.append(repr(exc))

threads = [threading.Thread(target=ingest), threading.Thread(target=job)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("\\n".join(errors) or "ok")
"""


def test_two_threads_importing_the_sampling_rooms_at_once_both_succeed() -> None:
    for _ in range(6):
        done = subprocess.run(
            [sys.executable, "-c", RACE],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.strip() == "ok", done.stdout
