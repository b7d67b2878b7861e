"""Retraining: the executor jobs run on, the MLflow registry, and a model's [retrain]."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from daemon.config.common import Duration, Frozen, Schedule, interval
from retrain.interface import TrainerKind


class MlflowSettings(Frozen):
    tracking_uri: str = "sqlite:///var/mlflow.db"
    artifact_root: Path = Path("var/mlflow-artifacts")
    experiment_prefix: str = "mlmaint"


class ExecutorKind(enum.StrEnum):
    LOCAL = "local"
    CELERY = "celery"


class CelerySettings(Frozen):
    broker_url: str = "redis://127.0.0.1:6379/0"
    result_backend: str = "redis://127.0.0.1:6379/1"
    queue: str = "gpu"
    # Above the task hard limit, or Redis re-delivers a task that is still running.
    visibility_timeout: Duration = timedelta(hours=7)


class ExecutorSettings(Frozen):
    kind: ExecutorKind = ExecutorKind.LOCAL
    timeout: Duration = timedelta(hours=6)
    max_concurrent: int = Field(default=1, ge=1)
    # The interpreter the local executor runs jobs with (default: the daemon's own).
    python: Path | None = None
    celery: CelerySettings = CelerySettings()


class RetrainSettings(Frozen):
    enabled: bool = True
    trainer: TrainerKind = TrainerKind.SKLEARN
    # sklearn: dotted estimator class; entrypoint: package.module:function.
    target: str | None = None
    params: Mapping[str, str | int | float | bool] = Field(default_factory=dict)
    failing_runs: int = Field(default=3, gt=0)
    # The check kinds whose failing streaks call for a retrain. Quality and
    # operations problems are not fixed by retraining: they alert only.
    on_failing: tuple[Literal["drift", "performance", "estimated_performance"], ...] = (
        "drift",
        "performance",
        "estimated_performance",
    )
    every: Duration | None = None
    min_interval: Duration = timedelta(days=1)
    recent_labelled: Duration = timedelta(days=14)
    # Train on the current reference plus the recent labelled rows; false: recent rows only
    # (after a concept change the old reference teaches the old concept).
    include_reference: bool = True
    holdout_share: float = Field(default=0.2, gt=0, lt=1)
    promote_margin: float = Field(default=0.0, ge=0)
    # The registry alias that marks the serving version.
    alias: str = Field(default="champion", pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
    seed: int = 0
    gpus: int = Field(default=0, ge=0)
    memory_gb: float = Field(default=4, gt=0)
    schedule: Schedule = interval("15m")
    # Directories put first on the job's import path, on the local and the Celery
    # executor alike: where an entrypoint's module is found. Absolute paths (or ~) on
    # the machine that runs the job.
    python_path: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _target(self) -> Self:
        if self.trainer is TrainerKind.ENTRYPOINT and (
            self.target is None or ":" not in self.target
        ):
            raise ValueError("an entrypoint trainer needs target = 'package.module:function'")
        return self

    @field_validator("python_path")
    @classmethod
    def _absolute(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        relative = [p for p in value if not Path(p).expanduser().is_absolute()]
        if relative:
            # A job runs in its own directory, maybe on another machine: relative to what?
            raise ValueError(
                f"python_path entries must be absolute directories, got {', '.join(relative)}"
            )
        return value
