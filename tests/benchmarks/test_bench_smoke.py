"""Every benchmark script still runs against the code: tiny sizes, nothing timed.

The cases are found by discovery: each `bench_*.py` in this folder must have a
case below, so a new benchmark cannot land without being run by `make test`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent

# script -> (tiny arguments, a line its output must hold)
SMOKE: dict[str, tuple[list[str], str]] = {
    "bench_api.py": (["1"], "/v1/models/churn/checks?limit=10000"),
    "bench_window.py": (["3000", "4000"], "window of 4,000 rows"),
    "bench_cli.py": (
        ["--rows", "3000", "--reference", "2000", "--runs", "1"],
        "the daemon answered 3 of 3 runs that asked it",
    ),
    "bench_ingest.py": (["3000", "1"], "ratio SQLite ingest / bare insert"),
    "bench_http.py": (["2", "300", "1"], "ratio waitress / ThreadingHTTPServer"),
    "bench_false_alarms.py": (
        ["--windows", "20", "--quick", "--population", "binary"],
        "binary: reference 20,000 rows",
    ),
    "bench_drift.py": (["5000", "20000"], "calibrated / Evidently's"),
    "bench_dle.py": (
        ["--reference", "3000", "--chunk", "500", "--nannyml", "/nonexistent"],
        "NannyML skipped: no interpreter at /nonexistent",
    ),
    "bench_evidence.py": (["2000"], "evidence / check ="),
    "bench_fleet.py": (["3"], "steady check cycle"),
    "bench_multivariate.py": (
        [
            "--chunk",
            "200",
            "--chunks",
            "4",
            "--windows",
            "2",
            "--sizes",
            "200",
            "--reference-rows",
            "2000",
            "--no-classifier",
            "--nannyml-python",
            "/nonexistent",
        ],
        "NannyML comparison skipped",
    ),
    "bench_frameworks.py": ([], "scan of 400 packages from cache"),
    "bench_report.py": (["--models", "2"], "build_report"),
    "bench_soak.py": (["--days", "2", "--drift-day", "1", "--skip-idle"], "Python objects"),
    "bench_torch_train.py": (["--rows", "2000", "--epochs", "1"], "ratio torch epoch-loop"),
}


def test_every_benchmark_has_a_smoke_case() -> None:
    scripts = {path.name for path in HERE.glob("bench_*.py")}
    assert scripts == set(SMOKE), (
        f"without a smoke case: {sorted(scripts - set(SMOKE))}; "
        f"cases for no script: {sorted(set(SMOKE) - scripts)}"
    )


@pytest.mark.parametrize("script", sorted(SMOKE))
def test_benchmark_runs(script: str) -> None:
    args, expect = SMOKE[script]
    out = subprocess.run(
        [sys.executable, str(HERE / script), *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert expect in out.stdout, out.stdout[-3000:]
