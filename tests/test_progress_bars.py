"""Third-party progress bars stay out of the daemon's log and out of retrain job logs."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from daemon.logs import setup_logging
from retrain.executors.local import job_env
from retrain.quiet import PROGRESS_BARS_OFF

BAR = "Downloading artifacts"


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    src = tmp_path / "artifacts"
    src.mkdir()
    for i in range(3):
        (src / f"part-{i}.txt").write_text(str(i))
    return src


# Each download runs in a fresh interpreter: MLflow and tqdm settle what they draw
# at import, so an earlier test in this process must not decide it.
_DOWNLOAD = """
import sys
from pathlib import Path
if sys.argv[3] == "entry":
    from daemon.logs import setup_logging
    setup_logging("INFO")
import mlflow.artifacts
mlflow.artifacts.download_artifacts(artifact_uri=Path(sys.argv[1]).as_uri(), dst_path=sys.argv[2])
"""


def _download_stderr(src: Path, dst: Path, how: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in PROGRESS_BARS_OFF}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    done = subprocess.run(
        [sys.executable, "-c", _DOWNLOAD, str(src), str(dst), how],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stderr


def test_the_entry_point_turns_mlflow_s_download_bar_off(artifacts: Path, tmp_path: Path) -> None:
    # Without it, MLflow draws its bar on stderr: what filled the daemon's log.
    assert BAR in _download_stderr(artifacts, tmp_path / "before", "plain")
    assert BAR not in _download_stderr(artifacts, tmp_path / "after", "entry")
    assert sorted(p.name for p in (tmp_path / "after").rglob("*.txt")) == [
        "part-0.txt",
        "part-1.txt",
        "part-2.txt",
    ]


def test_a_person_who_wants_the_bars_keeps_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "true")
    monkeypatch.setenv("TQDM_DISABLE", "")
    monkeypatch.delenv("TQDM_DISABLE")
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        setup_logging("INFO")
    finally:
        root.handlers[:], root.level = handlers, level
    assert os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] == "true"
    assert os.environ["TQDM_DISABLE"] == "1"


def test_a_retrain_job_runs_without_progress_bars() -> None:
    env = job_env({"PATH": "/usr/bin", "SLACK_URL": "secret"})
    assert env["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] == "false"
    assert env["TQDM_DISABLE"] == "1"
    assert "SLACK_URL" not in env
    # The daemon's own explicit choice travels to the job.
    chosen = job_env({"TQDM_DISABLE": "0", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "true"})
    assert chosen["TQDM_DISABLE"] == "0"
    assert chosen["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] == "true"
