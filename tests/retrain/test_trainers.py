"""Trainer contracts: the frame a trainer gets, where entry points are found, torch's stop.

The entry point module lives in a temporary directory outside the project, as
a user's training code does, and is found through `retrain.python_path` on the
local executor (a subprocess) and on the Celery executor (a real worker).
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from checks.interface import TaskKind
from retrain.executors.celery import CeleryExecutor
from retrain.executors.local import LocalExecutor
from retrain.interface import JobState, JobStatus, RetrainSpec, TrainerKind
from retrain.job import execute, trainer_frame
from retrain.snapshot import write_snapshot
from retrain.trainers.torch import TorchScorer, TorchTrainer
from tests.retrain import data
from tests.retrain.conftest import COLUMNS, Worker, decayed_data

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

MakeSpec = Callable[..., RetrainSpec]

# A user's training module: it refuses any frame but features and label, typed.
USER_MODULE = '''
"""A user's training code, outside the mlmaint project."""

from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline


def train(frame, context):
    expected = [*context.numeric, *context.categorical, context.label]
    if list(frame.columns) != expected:
        raise RuntimeError(f"the trainer frame holds {list(frame.columns)}, not {expected}")
    for column in context.categorical:
        kinds = {type(v).__name__ for v in frame[column]}
        if kinds != {"str"}:
            raise RuntimeError(f"categorical {column} holds {kinds}")
    numeric = list(context.numeric)
    model = make_pipeline(
        ColumnTransformer([("num", "passthrough", numeric)]), LogisticRegression()
    )
    return model.fit(frame[numeric + list(context.categorical)], frame[context.label])
'''


def user_code(tmp_path: Path) -> tuple[Path, str]:
    """A directory outside the project holding a uniquely named training module."""
    directory = tmp_path / "user-code"
    directory.mkdir()
    module = f"mytrain_{uuid.uuid4().hex[:8]}"
    (directory / f"{module}.py").write_text(USER_MODULE)
    return directory, module


def entry_spec(make_spec: MakeSpec, tmp_path: Path, **changes: object) -> RetrainSpec:
    """An entry point job whose snapshot, like the daemon's, holds ids and timestamps."""
    _, new, holdout = decayed_data()
    new = new.assign(timestamp=[datetime(2026, 3, 1, tzinfo=UTC)] * len(new))
    snapshot = write_snapshot(new, tmp_path / "snapshots", [*COLUMNS, "timestamp"])
    return make_spec(new, holdout, trainer=TrainerKind.ENTRYPOINT, snapshot=snapshot, **changes)


def test_the_trainer_frame_holds_features_and_label_only(
    make_spec: MakeSpec, tmp_path: Path
) -> None:
    directory, module = user_code(tmp_path)
    spec = entry_spec(make_spec, tmp_path, target=f"{module}:train", python_path=(str(directory),))
    frame = trainer_frame(data.frame(20, seed=1).assign(timestamp=1.0), spec)
    assert list(frame.columns) == [*data.NUMERIC, *data.CATEGORICAL, "label"]
    # The user's module checks the frame it is handed, in a real job.
    outcome = execute(spec)
    assert outcome.state is JobState.SUCCEEDED and outcome.promoted, outcome.traceback


def test_a_wrong_python_path_fails_with_an_error_naming_it(
    make_spec: MakeSpec, tmp_path: Path
) -> None:
    _, module = user_code(tmp_path)
    elsewhere = tmp_path / "not-here"
    elsewhere.mkdir()
    spec = entry_spec(make_spec, tmp_path, target=f"{module}:train", python_path=(str(elsewhere),))
    outcome = execute(spec)
    assert outcome.state is JobState.FAILED and outcome.registered_version is None
    assert outcome.error is not None
    assert f"entry point module {module!r} was not found" in outcome.error
    assert str(elsewhere) in outcome.error and "retrain.python_path" in outcome.error
    assert f"put {module}.py" in outcome.error


def wait(poll: Callable[[], JobStatus], limit_s: float, log: Callable[[], str]) -> JobStatus:
    limit = time.monotonic() + limit_s
    while True:
        status = poll()
        if status.state.finished:
            return status
        if time.monotonic() > limit:
            pytest.fail(f"the job did not end:\n{log()[-3000:]}")
        time.sleep(0.3)


def test_an_entry_point_outside_the_project_is_found_on_the_local_executor(
    make_spec: MakeSpec, tmp_path: Path
) -> None:
    directory, module = user_code(tmp_path)
    spec = entry_spec(make_spec, tmp_path, target=f"{module}:train", python_path=(str(directory),))
    executor = LocalExecutor(tmp_path / "jobs")
    job = executor.submit(spec)
    status = wait(lambda: executor.poll(job, spec.deadline), 240, lambda: executor.logs(job))
    assert status.state is JobState.SUCCEEDED, status.log_tail
    assert status.outcome is not None and status.outcome.promoted


def test_an_entry_point_outside_the_project_is_found_on_the_celery_executor(
    celery_worker: Worker, make_spec: MakeSpec, tmp_path: Path
) -> None:
    directory, module = user_code(tmp_path)
    spec = entry_spec(make_spec, tmp_path, target=f"{module}:train", python_path=(str(directory),))
    executor = CeleryExecutor(
        celery_worker.broker, celery_worker.backend, celery_worker.queue, timedelta(minutes=10)
    )
    try:
        executor.submit(spec)
        status = wait(
            lambda: executor.poll(spec.job_id, spec.deadline), 240, celery_worker.log_text
        )
        assert status.state is JobState.SUCCEEDED, status.log_tail
        assert status.outcome is not None and status.outcome.promoted

        # The same job without the path: the worker names the module and where to put it.
        lost = replace(spec, job_id=f"{spec.job_id}-nopath", python_path=(), registered_model="x")
        executor.submit(lost)
        failed = wait(
            lambda: executor.poll(lost.job_id, lost.deadline), 240, celery_worker.log_text
        )
        assert failed.state is JobState.FAILED
        assert failed.error is not None and f"{module!r} was not found" in failed.error
        assert "retrain.python_path [(empty)]" in failed.error
    finally:
        executor.close()


def test_torch_stops_early_and_keeps_the_best_weights(make_spec: MakeSpec) -> None:
    import torch

    raw = data.frame(1500, seed=1)
    params = {"max_epochs": 200, "patience": 3, "lr": 0.01, "batch_size": 128}
    spec = make_spec(raw, trainer=TrainerKind.TORCH, params=params)
    train = trainer_frame(raw, spec)
    trained = TorchTrainer().fit(train, spec, "cpu")
    metrics = trained.metrics
    assert metrics["stopped_early"] == 1.0
    assert metrics["epochs_run"] < 200
    # The last `patience` epochs did not improve: the returned weights are the best epoch's.
    assert metrics["best_epoch"] == metrics["epochs_run"] - 3

    # The validation rows the trainer held out (the same seeded split), scored by the model.
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(spec.seed))
    val = train.iloc[order[: int(len(train) * 0.1)].numpy()]
    assert isinstance(trained.scorer, TorchScorer)
    p = np.clip(trained.scorer.predict(val), 1e-7, 1 - 1e-7)
    y = (val["label"] == "1").to_numpy(dtype=float)
    loss = float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))
    assert math.isclose(loss, metrics["best_val_loss"], abs_tol=1e-4)
    assert spec.task is TaskKind.BINARY


def test_torch_params_are_checked_and_epochs_still_reads_as_max_epochs() -> None:
    from retrain.interface import TrainerError
    from retrain.trainers.torch import DEFAULTS, torch_params

    assert torch_params({}) == DEFAULTS
    assert torch_params({"epochs": 7})["max_epochs"] == 7
    for given, message in (
        ({"epochs": 7, "max_epochs": 8}, "not both"),
        ({"validation_share": 0.9}, r"validation_share must be in \(0, 0.5\]"),
        ({"patience": 0}, "patience must be at least 1"),
        ({"early_stop": True}, "unknown torch trainer params: early_stop; known: max_epochs"),
    ):
        with pytest.raises(TrainerError, match=message):
            torch_params(given)
