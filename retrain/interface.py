"""The seam between the daemon and a training machine: spec in, outcome out.

A job travels as a JSON `RetrainSpec` and comes back as a JSON `RetrainOutcome`,
both versioned: a reader refuses a newer version with a message naming the likely
cause (a worker or daemon upgraded before the other). `Executor` is where a job
runs (a local subprocess, a Celery GPU queue), `Trainer` what fits the model.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from checks.interface import TaskKind

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from checks.performance import Metric

SPEC_VERSION = 1
OUTCOME_VERSION = 1

Param = str | int | float | bool


class RetrainError(Exception):
    """Root of the retraining errors."""


class VersionError(RetrainError):
    def __init__(self, what: str, found: object, supported: int) -> None:
        self.found = found
        super().__init__(
            f"{what} version {found!r} is not supported (this mlmaint reads up to {supported}): "
            "the daemon and the workers run different mlmaint versions; upgrade the older one"
        )


class SnapshotError(RetrainError):
    """A snapshot is missing or its content does not match its sha256."""


class TrainerError(RetrainError):
    """The trainer (or user training code) failed or returned something unusable."""


class RegistryError(RetrainError):
    """MLflow refused to log, register or move an alias."""


class TrainerKind(enum.StrEnum):
    SKLEARN = "sklearn"
    TORCH = "torch"
    ENTRYPOINT = "entrypoint"


class JobState(enum.StrEnum):
    """Where a retrain job stands; the store keeps these values."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self not in (JobState.QUEUED, JobState.RUNNING)


@dataclass(frozen=True, kw_only=True)
class DataRef:
    """A content-addressed Parquet file: the same sha256 is always the same rows."""

    uri: str
    sha256: str
    rows: int


@dataclass(frozen=True, kw_only=True)
class Resources:
    gpus: int = 0
    memory_gb: float = 4.0


@dataclass(frozen=True, kw_only=True)
class RetrainSpec:
    job_id: str
    model: str
    task: TaskKind
    trigger: str
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    label: str
    snapshot: DataRef
    # Recent labelled rows the trainer never sees: champion and challenger are scored on it.
    holdout: DataRef | None
    trainer: TrainerKind
    target: str | None = None
    params: Mapping[str, Param] = field(default_factory=dict)
    seed: int = 0
    resources: Resources = Resources()
    deadline: datetime
    code_version: Mapping[str, str] = field(default_factory=dict)
    framework_versions: Mapping[str, str] = field(default_factory=dict)
    tracking_uri: str
    artifact_location: str
    experiment: str
    registered_model: str
    alias: str = "champion"
    promote_margin: float = 0.0
    # False while the model is pinned (after a rollback): the challenger is registered
    # and scored, the alias never moves.
    allow_promotion: bool = True
    # The configured `checks.performance.metric` (the checks' vocabulary): it decides the
    # promotion as it decides the alert. None (a spec from before it travelled): the
    # task's default, see `retrain.evaluate.spec_metric`.
    metric: Metric | None = None
    # Directories put first on the job's import path: where entrypoint modules are found.
    python_path: tuple[str, ...] = ()
    version: int = SPEC_VERSION

    @property
    def features(self) -> tuple[str, ...]:
        return (*self.numeric, *self.categorical)

    def to_json(self) -> str:
        data = asdict(self)
        data["deadline"] = self.deadline.isoformat()
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RetrainSpec:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise RetrainError(f"a retrain spec is a JSON object, got {type(data).__name__}")
        version = data.get("version")
        if not isinstance(version, int) or version > SPEC_VERSION:
            raise VersionError("retrain spec", version, SPEC_VERSION)
        holdout = data.pop("holdout")
        metric = data.pop("metric", None)
        if metric is not None:
            from checks.performance import Metric

            metric = Metric(metric)
        return cls(
            **{
                **data,
                "metric": metric,
                "python_path": tuple(data.get("python_path", ())),
                "task": TaskKind(data["task"]),
                "trainer": TrainerKind(data["trainer"]),
                "numeric": tuple(data["numeric"]),
                "categorical": tuple(data["categorical"]),
                "snapshot": DataRef(**data["snapshot"]),
                "holdout": None if holdout is None else DataRef(**holdout),
                "resources": Resources(**data["resources"]),
                "deadline": datetime.fromisoformat(data["deadline"]),
            }
        )


@dataclass(frozen=True, kw_only=True)
class RetrainOutcome:
    job_id: str
    # SUCCEEDED or FAILED: timed out and cancelled are decided by the executor.
    state: JobState
    run_id: str | None = None
    registered_version: str | None = None
    promoted: bool = False
    champion_version: str | None = None
    metric: str | None = None
    challenger_score: float | None = None
    champion_score: float | None = None
    reason: str = ""
    error: str | None = None
    traceback: str | None = None
    device: str | None = None
    snapshot_sha256: str | None = None
    reference_uri: str | None = None
    # The scored reference (holdout with the new version's predictions): its own hash.
    reference_sha256: str | None = None
    # Set when the job found its snapshot already registered: the version that holds that
    # data. Nothing was trained or registered; `reason` says so.
    existing_version: str | None = None
    training_metrics: Mapping[str, float] = field(default_factory=dict)
    framework_versions: Mapping[str, str] = field(default_factory=dict)
    duration_s: float = 0.0
    version: int = OUTCOME_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RetrainOutcome:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise RetrainError(f"a retrain outcome is a JSON object, got {type(data).__name__}")
        version = data.get("version")
        if not isinstance(version, int) or version > OUTCOME_VERSION:
            raise VersionError("retrain outcome", version, OUTCOME_VERSION)
        return cls(**{**data, "state": JobState(data["state"])})


@dataclass(frozen=True, kw_only=True)
class JobStatus:
    """What an executor knows about a job right now."""

    state: JobState
    outcome: RetrainOutcome | None = None
    log_tail: str = ""
    error: str | None = None
    # How long ago the job began running, by the executor's clock; None when it
    # cannot say. An elapsed time, not a time: the daemon places it on the job's clock.
    since_start: timedelta | None = None


class Executor(Protocol):
    """Where jobs run. The external id is the executor's own handle on a job."""

    name: str

    def submit(self, spec: RetrainSpec) -> str: ...

    def locate(self, job_id: str) -> str | None:
        """The external id of job `job_id` if this executor was given it, else None.

        For a job whose submit returned but whose external id was never recorded
        (the daemon stopped in between): the daemon finds it again by its job id.
        """
        ...

    def poll(self, external_id: str, deadline: datetime) -> JobStatus: ...

    def cancel(self, external_id: str) -> None: ...

    def logs(self, external_id: str) -> str: ...

    def close(self) -> None:
        """Give back the connections this executor opened; it is not used after."""
        ...


class Scorer(Protocol):
    """A fitted model as the registry serves it.

    `predict` returns the positive class probability (binary), the class label
    (multiclass) or the value (regression), one per row.
    """

    def predict(self, frame: pd.DataFrame) -> np.ndarray: ...


@dataclass(frozen=True, kw_only=True)
class TrainedModel:
    scorer: Scorer
    flavor: str
    params: Mapping[str, Param] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    pip_requirements: tuple[str, ...] = ()


class Trainer(Protocol):
    def fit(self, train: pd.DataFrame, spec: RetrainSpec, device: str) -> TrainedModel: ...
