"""One retraining job, start to end, the same on a worker and in a local subprocess.

Read the snapshot (hash checked), train, log to MLflow (params, metrics, the
dataset input, the model with signature and requirements), register a version,
score challenger and champion on the holdout and move the alias only for a
winner. Every failure becomes a FAILED outcome carrying the traceback: the
daemon never has to parse a crash.
"""

from __future__ import annotations

import logging
import time
import traceback
import warnings
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from retrain import registry
from retrain.devices import current_device
from retrain.evaluate import decide, labels, metric_for, positive_label, score
from retrain.interface import (
    DataRef,
    JobState,
    RetrainError,
    RetrainOutcome,
    RetrainSpec,
    TaskKind,
    TrainedModel,
)
from retrain.snapshot import read_snapshot, write_snapshot
from retrain.trainers import make_trainer
from retrain.versions import framework_versions

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


_MLFLOW_ADVICE = (
    ".*specified dataset source can be interpreted.*",
    ".*Add type hints to the `predict` method.*",
    ".*input example was not provided.*",
    ".*type hint is inferred as AnyType.*",
)


class DeadlinePassed(RetrainError):
    def __init__(self, deadline: datetime) -> None:
        super().__init__(f"the job's deadline {deadline.isoformat()} passed before it started")


def execute(spec: RetrainSpec) -> RetrainOutcome:
    """Run the job; never raises (a failure is an outcome with a traceback)."""
    started = time.monotonic()
    base = RetrainOutcome(
        job_id=spec.job_id,
        state=JobState.FAILED,
        snapshot_sha256=spec.snapshot.sha256,
        framework_versions=framework_versions(),
    )
    try:
        with warnings.catch_warnings():
            # MLflow's advice to add type hints and input examples, and its note on a
            # local dataset source, are not problems of the job.
            warnings.filterwarnings("ignore", category=UserWarning, module=r"mlflow(\.|$)")
            for message in _MLFLOW_ADVICE:
                warnings.filterwarnings("ignore", message=message, category=UserWarning)
            outcome = _run(spec, base)
    except Exception as exc:
        text = traceback.format_exc()
        log.error("retrain job %s failed: %s\n%s", spec.job_id, exc, text)
        outcome = replace(base, error=f"{type(exc).__name__}: {exc}", traceback=text)
    outcome = replace(outcome, duration_s=time.monotonic() - started)
    log.info(
        "retrain job %s for %s: %s in %.1fs (%s)",
        spec.job_id,
        spec.model,
        outcome.state.value,
        outcome.duration_s,
        outcome.reason or outcome.error,
    )
    return outcome


def _predictions(model_uri: str, frame: pd.DataFrame) -> object:
    import mlflow.pyfunc

    return mlflow.pyfunc.load_model(model_uri).predict(frame)


def _run(spec: RetrainSpec, base: RetrainOutcome) -> RetrainOutcome:
    import mlflow
    import numpy as np
    from mlflow.data.pandas_dataset import from_pandas

    if datetime.now(UTC) > spec.deadline:
        raise DeadlinePassed(spec.deadline)
    train = read_snapshot(spec.snapshot)
    holdout = read_snapshot(spec.holdout) if spec.holdout is not None else None
    device = current_device(spec.resources.gpus)
    np.random.seed(spec.seed)

    mlflow.set_tracking_uri(spec.tracking_uri)
    mlflow.set_registry_uri(spec.tracking_uri)
    mlflow_client = registry.client(spec.tracking_uri)
    experiment_id = registry.ensure_experiment(
        mlflow_client, spec.experiment, spec.artifact_location
    )
    metric = metric_for(spec.task)
    positive = positive_label(spec, labels(train, spec)) if spec.task is TaskKind.BINARY else ""

    with mlflow.start_run(
        experiment_id=experiment_id,
        run_name=f"retrain-{spec.job_id}",
        tags={
            registry.TAG_JOB: spec.job_id,
            registry.TAG_TRIGGER: spec.trigger,
            registry.TAG_DIGEST: spec.snapshot.sha256,
        },
    ) as run:
        dataset = from_pandas(
            train,
            source=spec.snapshot.uri,
            targets=spec.label,
            name=f"{spec.model}-snapshot",
            # The dataset digest column holds 36 characters; the full hash is a tag.
            digest=spec.snapshot.sha256[:32],
        )
        mlflow.log_input(dataset, context="training", tags={"sha256": spec.snapshot.sha256})
        mlflow.log_params(
            {
                "trainer": spec.trainer.value,
                "target": spec.target or "",
                "seed": spec.seed,
                "device": device,
                "rows": spec.snapshot.rows,
                **{f"code.{k}": v for k, v in spec.code_version.items()},
            }
        )
        trained = make_trainer(spec.trainer).fit(train, spec, device)
        mlflow.log_params({f"model.{k}": v for k, v in trained.params.items()})
        mlflow.log_metrics(dict(trained.metrics))
        worker_versions = framework_versions()
        mlflow.log_dict(
            {"spec": spec.framework_versions, "worker": worker_versions}, "framework_versions.json"
        )

        challenger_score: float | None = None
        if holdout is not None:
            challenger_score = score(spec, holdout, trained.scorer.predict(holdout), positive or "")
            mlflow.log_metric(f"holdout_{metric.name}", challenger_score)

        version = _log_and_register(spec, trained, train, worker_versions)

        champion = registry.by_alias(mlflow_client, spec.registered_model, spec.alias)
        champion_version = None if champion is None else str(champion.version)
        champion_score: float | None = None
        if champion is not None and holdout is not None:
            predicted = _predictions(
                f"models:/{spec.registered_model}/{champion_version}",
                holdout.loc[:, list(spec.features)],
            )
            champion_score = score(spec, holdout, np.asarray(predicted), positive or "")
            mlflow.log_metric(f"champion_holdout_{metric.name}", champion_score)

        if champion is None:
            promote, reason = True, "no champion yet: the first version serves"
        elif challenger_score is None:
            promote, reason = False, "no holdout to compare challenger and champion on"
        else:
            promote, reason = decide(challenger_score, champion_score, spec.promote_margin, metric)
        if promote and not spec.allow_promotion:
            # The model is pinned (a rollback): registered and scored, never promoted.
            promote, reason = False, f"not promoted, the model is pinned (would have: {reason})"
        if promote:
            registry.promote(
                mlflow_client, spec.registered_model, spec.alias, version, champion_version
            )
        registry.record_decision(mlflow_client, spec.registered_model, version, reason)
        mlflow.set_tag(registry.TAG_DECISION, reason)
        reference = _scored_reference(spec, holdout, trained, positive)
        if reference is not None:
            mlflow_client.set_model_version_tag(
                spec.registered_model, version, registry.TAG_REFERENCE, reference.uri
            )
            mlflow_client.set_model_version_tag(
                spec.registered_model, version, registry.TAG_REFERENCE_DIGEST, reference.sha256
            )
        return replace(
            base,
            state=JobState.SUCCEEDED,
            run_id=run.info.run_id,
            registered_version=version,
            promoted=promote,
            champion_version=champion_version,
            metric=metric.name,
            challenger_score=challenger_score,
            champion_score=champion_score,
            reason=reason,
            device=device,
            reference_uri=reference.uri if reference else spec.snapshot.uri,
            reference_sha256=reference.sha256 if reference else spec.snapshot.sha256,
            training_metrics=dict(trained.metrics),
            framework_versions=worker_versions,
        )


def _scored_reference(
    spec: RetrainSpec, holdout: pd.DataFrame | None, trained: TrainedModel, positive: str | None
) -> DataRef | None:
    """The holdout with this version's predictions: the reference its checks compare with.

    Scored out of sample, so the performance baseline and the calibration that
    estimates performance without labels are honest (in-sample scores are too
    confident). Without a holdout there is nothing honest to score: None.
    """
    import numpy as np

    if holdout is None or holdout.empty:
        return None
    scored = holdout.copy()
    predicted = np.asarray(trained.scorer.predict(holdout.loc[:, list(spec.features)]))
    if spec.task is TaskKind.BINARY:
        # Binary windows carry 0/1 labels and predictions and the positive-class score.
        scored["score"] = predicted.astype(np.float64)
        scored["prediction"] = (predicted >= 0.5).astype(np.float64)
        scored[spec.label] = (holdout[spec.label].astype(str) == (positive or "")).astype(
            np.float64
        )
        extra = ["prediction", "score"]
    else:
        scored["prediction"] = predicted
        extra = ["prediction"]
    columns = [*spec.features, spec.label, *extra]
    return write_snapshot(scored, Path(spec.snapshot.uri).parent, columns)


def _log_and_register(
    spec: RetrainSpec, trained: TrainedModel, train: pd.DataFrame, versions: dict[str, str]
) -> str:
    import mlflow
    from mlflow.models import infer_signature

    from retrain.serving import ServingModel

    sample = train.loc[:, list(spec.features)].head(50)
    signature = infer_signature(sample, trained.scorer.predict(sample))
    requirements = [
        f"mlflow=={versions.get('mlflow', '')}".rstrip("="),
        *trained.pip_requirements,
    ]
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=ServingModel(trained.scorer),
        signature=signature,
        pip_requirements=requirements,
    )
    registered = mlflow.register_model(
        info.model_uri,
        spec.registered_model,
        tags=registry.version_tags(
            spec.job_id,
            spec.snapshot.sha256,
            spec.trigger,
            spec.snapshot.uri,
            dict(spec.code_version),
            versions,
        ),
    )
    return str(registered.version)
