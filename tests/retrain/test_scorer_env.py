"""The one scorer of sklearn and entry-point models, and what a local job inherits."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from checks.interface import TaskKind
from retrain.executors.local import LocalExecutor
from retrain.interface import JobState, RetrainSpec, TrainerError, TrainerKind
from retrain.trainers.entrypoint import EntrypointTrainer
from retrain.trainers.scorer import EstimatorScorer
from retrain.trainers.sklearn import SklearnTrainer
from tests.retrain import data

MakeSpec = Callable[..., RetrainSpec]
FEATURES = ("x1", "x2")


def fitted(labels: list[object]) -> LogisticRegression:
    frame = data.frame(len(labels), seed=4)
    return LogisticRegression().fit(frame.loc[:, list(FEATURES)], labels)


def test_the_positive_column_comes_from_the_classes() -> None:
    model = fitted(["no", "yes"] * 50)
    frame = data.frame(20, seed=6)
    for positive, column in (("yes", 1), ("no", 0)):
        scores = EstimatorScorer(model, TaskKind.BINARY, FEATURES, positive).predict(frame)
        expected = model.predict_proba(frame.loc[:, list(FEATURES)])[:, column]
        np.testing.assert_allclose(scores, expected)


def test_an_unknown_positive_label_is_an_error_not_a_guess() -> None:
    model = fitted([0, 1] * 50)
    scorer = EstimatorScorer(model, TaskKind.BINARY, FEATURES, "yes")
    with pytest.raises(TrainerError, match=r"'yes'.*\['0', '1'\]"):
        scorer.check()
    with pytest.raises(TrainerError, match=r"'yes'.*\['0', '1'\]"):
        scorer.predict(data.frame(5, seed=6))


class NoClasses:
    """predict_proba without classes_: which column is positive is unknowable."""

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return np.zeros(len(frame))

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return np.tile([0.2, 0.8], (len(frame), 1))


def test_a_user_model_without_classes_is_refused() -> None:
    scorer = EstimatorScorer(NoClasses(), TaskKind.BINARY, FEATURES, "1")
    with pytest.raises(TrainerError, match=r"'1'.*no classes_ attribute"):
        scorer.predict(data.frame(5, seed=6))


def test_both_trainers_refuse_a_positive_label_their_model_never_saw(
    make_spec: MakeSpec,
) -> None:
    train = data.frame(300, seed=1)
    sklearn_spec = make_spec(train, params={"positive_label": "yes"})
    with pytest.raises(TrainerError, match=r"'yes'.*\['0', '1'\]"):
        SklearnTrainer().fit(train, sklearn_spec, "cpu")
    entry_spec = make_spec(
        train,
        trainer=TrainerKind.ENTRYPOINT,
        target="tests.retrain.entrypoints:good",
        params={"positive_label": "yes"},
    )
    with pytest.raises(TrainerError, match=r"'yes'.*\['0', '1'\]"):
        EntrypointTrainer().fit(train, entry_spec, "cpu")


def test_a_local_job_gets_no_daemon_secrets(
    make_spec: MakeSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An "interpreter" that writes the environment it was given into the job directory.
    dump = tmp_path / "dump-env"
    dump.write_text('#!/bin/sh\nenv > "$PWD/env.txt"\n')
    dump.chmod(0o755)
    monkeypatch.setenv("MLMAINT_STORE_PASSWORD", "pg-secret")
    monkeypatch.setenv("MLMAINT_SLACK_WEBHOOK", "https://hooks.example/secret")
    monkeypatch.setenv("SMTP_PASSWORD", "smtp-secret")
    monkeypatch.setenv("MLMAINT_API_TOKEN", "api-secret")
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    executor = LocalExecutor(tmp_path / "jobs", python=str(dump))
    spec = make_spec(data.frame(50, seed=1))
    job_dir = Path(executor.submit(spec))
    limit = time.monotonic() + 20
    deadline = datetime.now(UTC) + timedelta(minutes=1)
    while executor.poll(str(job_dir), deadline).state is not JobState.FAILED:
        assert time.monotonic() < limit, "the job never exited"
        time.sleep(0.05)
    env = dict(
        line.split("=", 1) for line in (job_dir / "env.txt").read_text().splitlines() if "=" in line
    )
    text = (job_dir / "env.txt").read_text()
    for secret in ("pg-secret", "hooks.example", "smtp-secret", "api-secret"):
        assert secret not in text
    assert env["LC_ALL"] == "C.UTF-8" and env["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "30"
    assert env["CUDA_VISIBLE_DEVICES"] == "0" and "PATH" in env
    assert env["PYTHONPATH"].split(":")[0] == str(Path(__file__).resolve().parents[2])
