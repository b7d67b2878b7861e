"""Third-party progress bars stay out of the daemon's log and out of retrain job logs."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from daemon.logs import setup_logging
from retrain.executors.local import job_env
from retrain.quiet import PROGRESS_BARS_OFF

BAR = "Downloading artifacts"


def _download(src: Path, dst: Path) -> None:
    import mlflow.artifacts

    mlflow.artifacts.download_artifacts(artifact_uri=src.as_uri(), dst_path=str(dst))


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    src = tmp_path / "artifacts"
    src.mkdir()
    for i in range(3):
        (src / f"part-{i}.txt").write_text(str(i))
    return src


def test_the_entry_point_turns_mlflow_s_download_bar_off(
    artifacts: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    for key in PROGRESS_BARS_OFF:
        # Set then removed, so the teardown restores the session's own value (or none).
        monkeypatch.setenv(key, "")
        monkeypatch.delenv(key)
    # Without it, MLflow draws its bar on stderr: what filled the daemon's log.
    _download(artifacts, tmp_path / "before")
    assert BAR in capfd.readouterr().err

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        setup_logging("INFO")
        assert {k: os.environ[k] for k in PROGRESS_BARS_OFF} == PROGRESS_BARS_OFF
        _download(artifacts, tmp_path / "after")
    finally:
        root.handlers[:], root.level = handlers, level
    assert BAR not in capfd.readouterr().err
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
