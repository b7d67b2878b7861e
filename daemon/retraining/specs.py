"""Settings -> what a retrain needs: the model's `RetrainPlan` and the job's `RetrainSpec`.

The only reader of the model settings in this stage: the other rooms take a
plan (or the spec built here) and never look into `model.retrain` themselves.

Two deadlines, on two clocks, both set here:

- the job's deadline on record (`job_deadline`) is on the job clock: the daemon
  gives up on a job it cannot reach once the `now` it is given passes it;
- the deadline of the job's process (`process_deadline`, carried by the spec)
  is wall-clock time, the one wall-clock read of the stage: a real process
  runs in real time however fast the job clock moves (the demo replays days in
  seconds), so the executor kills it (local) or Celery's limits end it by it.

In production the two agree; they part only when the job clock is simulated.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from daemon.config import ModelSettings, Settings
from daemon.private import private_dir, private_file
from retrain.interface import DataRef, Resources, RetrainSpec


@dataclass(frozen=True, kw_only=True)
class RetrainPlan:
    """What the stage consults of one model's retrain settings, read once."""

    # The schema and task the training data is typed by (the one typing takes them).
    model: ModelSettings
    name: str
    enabled: bool
    include_reference: bool
    recent_labelled: timedelta
    holdout_share: float
    on_failing: tuple[str, ...]
    failing_runs: int
    every: timedelta | None
    min_interval: timedelta
    alias: str


def retrain_plan(model: ModelSettings) -> RetrainPlan:
    retrain = model.retrain
    return RetrainPlan(
        model=model,
        name=model.name,
        enabled=retrain.enabled,
        include_reference=retrain.include_reference,
        recent_labelled=retrain.recent_labelled,
        holdout_share=retrain.holdout_share,
        on_failing=tuple(retrain.on_failing),
        failing_runs=retrain.failing_runs,
        every=retrain.every,
        min_interval=retrain.min_interval,
        alias=retrain.alias,
    )


def plan_of(settings: Settings, model: str) -> RetrainPlan:
    """The plan of the configured model `model` (KeyError naming the known ones)."""
    return retrain_plan(settings.model(model))


def tracking_uri(settings: Settings) -> str:
    """The MLflow URI with a relative SQLite path made absolute: jobs run elsewhere."""
    uri = settings.mlflow.tracking_uri
    prefix = "sqlite:///"
    if uri.startswith(prefix) and uri != prefix + ":memory:":
        path = Path(uri.removeprefix(prefix)).resolve()
        # Made 0600 before MLflow opens it (an empty file is an empty database).
        private_file(path)
        return f"{prefix}{path}"
    return uri


def artifact_location(settings: Settings, model: str) -> str:
    root = settings.mlflow.artifact_root.resolve()
    private_dir(root)
    return (root / model).as_uri()


def job_deadline(settings: Settings, now: datetime) -> datetime:
    """The job's deadline on record, on the job clock: `now` plus the executor timeout."""
    return now + settings.executor.timeout


def process_deadline(settings: Settings) -> datetime:
    """When the job's process must have ended, in wall-clock time (see the module doc).

    Read from the wall clock on purpose, and only here: Celery turns it into
    the task's expiry and time limits, the local executor kills the process
    by it. Nothing recorded in the store comes from it.
    """
    return datetime.now(UTC) + settings.executor.timeout


def build_spec(
    settings: Settings,
    model: ModelSettings,
    job_id: str,
    trigger: str,
    snapshot: DataRef,
    holdout: DataRef | None,
    *,
    allow_promotion: bool = True,
) -> RetrainSpec:
    from daemon.checking.specs import decay_spec
    from retrain.versions import code_version, framework_versions

    retrain = model.retrain
    return RetrainSpec(
        job_id=job_id,
        model=model.name,
        task=model.task,
        trigger=trigger,
        numeric=model.schema_.numeric,
        categorical=model.schema_.categorical,
        label=model.schema_.label,
        snapshot=snapshot,
        holdout=holdout,
        trainer=retrain.trainer,
        target=retrain.target,
        params=dict(retrain.params),
        seed=retrain.seed,
        resources=Resources(gpus=retrain.gpus, memory_gb=retrain.memory_gb),
        deadline=process_deadline(settings),
        code_version=code_version(),
        framework_versions=framework_versions(),
        tracking_uri=tracking_uri(settings),
        artifact_location=artifact_location(settings, model.name),
        experiment=f"{settings.mlflow.experiment_prefix}-{model.name}",
        registered_model=model.name,
        alias=retrain.alias,
        promote_margin=retrain.promote_margin,
        # The metric the performance check alerts on decides the promotion too.
        metric=decay_spec(model).metric,
        python_path=retrain.python_path,
        allow_promotion=allow_promotion,
    )
