"""The benchmarks still run against the code (tiny sizes, nothing timed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("script", "args", "expect"),
    [
        ("bench_window.py", ["3000", "4000"], "window of 4,000 rows"),
        ("bench_ingest.py", ["3000", "1"], "ratio SQLite ingest / bare insert"),
        ("bench_http.py", ["2", "300", "1"], "ratio waitress / ThreadingHTTPServer"),
        (
            "bench_false_alarms.py",
            ["--windows", "20", "--quick", "--population", "binary"],
            "binary: reference 20,000 rows",
        ),
    ],
)
def test_benchmark_runs(script: str, args: list[str], expect: str) -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "benchmarks" / script), *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert expect in out.stdout
