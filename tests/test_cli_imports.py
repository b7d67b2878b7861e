"""What `mlmaint status`, `alerts list` and `check` import (issue 17, fast at the terminal).

The seconds themselves are tests/benchmarks/bench_cli.py's; these tests guard what they
came from, without timing anything: each command runs in a fresh interpreter on a real
SQLite store (a model, its Parquet reference, a drifted window, a firing alert) and
reports the modules it loaded. `status` and `alerts list` read the store and the
[store] table alone: no data stack, not every area of the config, not the alert
policy. `check` needs pandas, but never MLflow, Evidently, scikit-learn or torch.
Run as the console script, the three leave without the interpreter's teardown
(daemon.cli_context.Leave), their output whole and their exit status kept.
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
    # The model's drift evidence is off: the evidence room stays unloaded.
    assert not [m for m in got.modules if m.startswith("daemon.evidence")]


# ----------------------------------------------------------------------------- quick exit

# The console script (daemon.cli.console), with an atexit handler that leaves a mark.
EXIT_PROBE = """
import atexit, os, sys
atexit.register(lambda: open(os.environ["AT_EXIT"], "w").write("ran"))
sys.argv = ["mlmaint", *sys.argv[1:]]
from daemon.cli import console
console()
"""


def _console(directory: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], bool]:
    """Run `mlmaint ARGS` as the console script does: the process, and whether the
    interpreter's exit ran (atexit handlers, module teardown)."""
    mark = directory / "at-exit"
    mark.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env |= {"PYTHONPATH": str(ROOT), "AT_EXIT": str(mark), "COLUMNS": "120"}
    proc = subprocess.run(
        [sys.executable, "-c", EXIT_PROBE, "--config", str(directory / "config.toml"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return proc, mark.exists()


def test_status_and_check_leave_without_the_teardown_their_output_whole(store: Path) -> None:
    status, torn_down = _console(store, "status")
    assert status.returncode == 0, status.stderr
    # The last section is there: the output was flushed before the quick exit.
    assert status.stdout.rstrip().splitlines()[-1].startswith("alert outbox: outbox")
    assert not torn_down
    alerts, torn_down = _console(store, "alerts", "list", "--format", "json")
    assert alerts.returncode == 0 and not torn_down
    assert [a["scope"] for a in json.loads(alerts.stdout)][:1] == ["bench"]
    check, torn_down = _console(store, "check", "bench")
    # The exit status survives: 1, the window alerts.
    assert check.returncode == 1 and "drift: alert" in check.stdout and not torn_down


def test_other_commands_exit_as_usual(store: Path) -> None:
    proc, torn_down = _console(store, "config", "check")
    assert proc.returncode == 0, proc.stderr
    assert torn_down


def test_under_a_profiler_the_exit_writes_the_profile(store: Path) -> None:
    script = store / "probe.py"
    script.write_text(EXIT_PROBE)
    out = store / "status.prof"
    mark = store / "at-exit"
    mark.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env |= {"PYTHONPATH": str(ROOT), "AT_EXIT": str(mark)}
    command = ["--config", str(store / "config.toml"), "status"]
    proc = subprocess.run(
        [sys.executable, "-m", "cProfile", "-o", str(out), str(script), *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size > 0 and mark.exists()


# ----------------------------------------------------------------------------- garbage collector

# The console script, reporting at its quick exit what the collector did (daemon/startup.py).
GC_PROBE = """
import gc, json, os, sys
runs = {0: 0, 1: 0, 2: 0}
gc.callbacks.append(lambda phase, info: phase == "stop" and runs.__setitem__(
    info["generation"], runs[info["generation"]] + 1))
sys.argv = ["mlmaint", *sys.argv[1:]]
import daemon.cli as cli
leave = cli.Leave.now
def now(self, code):
    with open(os.environ["GC_OUT"], "w") as out:
        json.dump({"enabled": gc.isenabled(), "frozen": gc.get_freeze_count(),
                   "runs": runs, "pandas": "pandas" in sys.modules}, out)
    leave(self, code)
cli.Leave.now = now
cli.console()
"""


def _gc_probe(directory: Path, *args: str) -> dict[str, object]:
    out = directory / "gc.json"
    out.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env |= {"PYTHONPATH": str(ROOT), "GC_OUT": str(out), "COLUMNS": "120"}
    proc = subprocess.run(
        [sys.executable, "-c", GC_PROBE, "--config", str(directory / "config.toml"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.exists(), proc.stdout + proc.stderr
    found: dict[str, object] = json.loads(out.read_text())
    return found


def test_check_imports_with_the_collector_paused_then_collects_again(store: Path) -> None:
    got = _gc_probe(store, "check", "bench")
    assert got["pandas"] is True
    # Collecting again by the time the command leaves, with what the imports made
    # (pandas, SQLAlchemy, pyarrow: well over 100,000 objects) frozen out of its walks.
    assert got["enabled"] is True
    assert isinstance(got["frozen"], int) and got["frozen"] > 100_000, got
    # Without the pause, importing and reading the window ran 3 or more full
    # collections over everything (0.15 s on the 100k-row benchmark); now at most one.
    runs = got["runs"]
    assert isinstance(runs, dict) and runs["2"] <= 1, got


def test_status_collects_as_soon_as_it_is_chosen(store: Path) -> None:
    got = _gc_probe(store, "status")
    # Resumed before its own imports: only the console's few modules were frozen.
    assert got["enabled"] is True and got["pandas"] is False
    assert isinstance(got["frozen"], int) and 0 < got["frozen"] < 100_000, got
