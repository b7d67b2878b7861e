"""What `mlmaint status`, `alerts list` and `check` import (issue 17, fast at the terminal).

The seconds themselves are tests/benchmarks/bench_cli.py's; these tests guard what they
came from, without timing anything: each command runs in a fresh interpreter on a real
SQLite store (a model, its Parquet reference, a drifted window, a firing alert) and
reports the modules it loaded. `status` and `alerts list` read the store and the
[store] table alone: no data stack, not every area of the config, not the alert
policy. `check` needs pandas, but never MLflow, Evidently, scikit-learn or torch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.benchmarks.bench_cli import setup

ROOT = Path(__file__).resolve().parents[1]

# Runs one command in this interpreter, then writes its exit status and sys.modules.
PROBE = """
import json, os, sys
from daemon.cli import main
try:
    main(sys.argv[1:])
    code = 0
except SystemExit as exc:
    code = exc.code
with open(os.environ["PROBE_OUT"], "w") as out:
    json.dump({"code": code, "modules": sorted(sys.modules)}, out)
"""

DATA_STACK = ("numpy", "pandas", "pyarrow", "scipy")
FRAMEWORKS = ("mlflow", "evidently", "sklearn", "torch")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store of 2,000 rows, half the numeric features drifted, checked once with
    --alert so that a drift alert fires."""
    directory = tmp_path_factory.mktemp("cli-imports")
    setup(directory, rows=2_000, reference_rows=2_000)
    first = _probe(directory, "check", "bench", "--alert")
    assert first.code == 1, first.output
    return directory


class Probe:
    def __init__(self, code: object, modules: list[str], output: str) -> None:
        self.code = code
        self.modules = set(modules)
        self.output = output

    def loaded(self, *packages: str) -> list[str]:
        """The modules of these top-level packages that the command loaded."""
        return sorted(m for m in self.modules if m.split(".")[0] in packages)


def _probe(directory: Path, *args: str) -> Probe:
    out = directory / "probe.json"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env |= {"PYTHONPATH": str(ROOT), "PROBE_OUT": str(out), "COLUMNS": "120"}
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, "--config", str(directory / "config.toml"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    found = json.loads(out.read_text())
    return Probe(found["code"], found["modules"], proc.stdout + proc.stderr)


def test_status_reads_the_store_without_the_data_stack_or_the_whole_config(store: Path) -> None:
    got = _probe(store, "status")
    assert got.code == 0, got.output
    # It printed the store's real state: the model and its drift check, alerting.
    assert "bench" in got.output and "drift" in got.output and "alert" in got.output
    assert got.loaded(*DATA_STACK, *FRAMEWORKS) == []
    # Only the [store] table is validated: no model, alert or retraining settings.
    assert "daemon.config.service" in got.modules
    assert not {"daemon.config.settings", "daemon.config.models"} & got.modules


def test_alerts_list_reads_the_store_without_the_data_stack_or_the_policy(store: Path) -> None:
    got = _probe(store, "alerts", "list")
    assert got.code == 0, got.output
    assert "bench" in got.output and "drift" in got.output
    assert got.loaded(*DATA_STACK, *FRAMEWORKS) == []
    assert not {"daemon.config.settings", "daemon.alerts.policy"} & got.modules


def test_check_never_imports_mlflow_evidently_sklearn_or_torch(store: Path) -> None:
    got = _probe(store, "check", "bench")
    # 1: the drifted window alerts; the checks ran on the data stack.
    assert got.code == 1, got.output
    assert "drift: alert" in got.output
    assert {"pandas", "numpy", "daemon.checking.run"} <= got.modules
    assert got.loaded(*FRAMEWORKS) == []
