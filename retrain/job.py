"""One retraining job, start to end, the same on a worker and in a local subprocess.

Read the snapshot (hash checked), train, log to MLflow (params, metrics, the
dataset input, the model with signature and requirements), register a version,
score challenger and champion on the holdout and move the alias only for a
winner. Every failure becomes a FAILED outcome carrying the traceback: the
daemon never has to parse a crash.
"""

from __future__ import annotations

import importlib
import logging
import sys
import time
import traceback
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from checks.interface import TaskKind
from checks.typed import FrameSchema, type_frame
from retrain import registry
from retrain.devices import job_device
from retrain.evaluate import (
    comparison_metric,
    decide,
    labels,
    positive_label,
    score,
    spec_metric,
)
from retrain.interface import (
    DataRef,
    JobState,
    RetrainError,
    RetrainOutcome,
    RetrainSpec,
    TrainedModel,
)
from retrain.model_scoring import OUTPUT_KEY, load_scorer, serving_output
from retrain.snapshot import read_snapshot, write_snapshot
from retrain.trainers import make_trainer
from retrain.versions import framework_versions

if TYPE_CHECKING:
    import pandas as pd

    from checks.performance import Metric

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
            with on_import_path(spec.python_path):
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


@contextmanager
def on_import_path(directories: Sequence[str]) -> Iterator[None]:
    """`retrain.python_path` first on `sys.path` for the job, as it was after.

    For the whole job, not only the entrypoint import: a model pickled by
    reference to a class in the user's module needs that module to load again
    (the champion, scored later in the same job).
    """
    added = [str(Path(d).expanduser()) for d in directories]
    before = list(sys.path)
    sys.path[:0] = [d for d in added if d not in sys.path]
    importlib.invalidate_caches()
    try:
        yield
    finally:
        sys.path[:] = before


def _run(spec: RetrainSpec, base: RetrainOutcome) -> RetrainOutcome:
    import mlflow
    import numpy as np
    from mlflow.data.pandas_dataset import from_pandas

    if datetime.now(UTC) > spec.deadline:
        raise DeadlinePassed(spec.deadline)
    mlflow.set_tracking_uri(spec.tracking_uri)
    mlflow.set_registry_uri(spec.tracking_uri)
    mlflow_client = registry.client(spec.tracking_uri)
    metric = spec_metric(spec)
    existing = registry.version_with_digest(
        mlflow_client, spec.registered_model, spec.snapshot.sha256
    )
    if existing is not None:
        champion = registry.by_alias(mlflow_client, spec.registered_model, spec.alias)
        return replace(
            base,
            state=JobState.SUCCEEDED,
            promoted=False,
            existing_version=existing,
            champion_version=None if champion is None else str(champion.version),
            metric=metric.value,
            reason=(
                f"snapshot {spec.snapshot.sha256[:12]} is already registered as version "
                f"{existing} of {spec.registered_model}: nothing trained or registered, "
                "not promoted"
            ),
        )
    train = trainer_frame(read_snapshot(spec.snapshot), spec)
    holdout = _typed(read_snapshot(spec.holdout), spec) if spec.holdout is not None else None
    device = job_device(spec.trainer, spec.resources.gpus)
    np.random.seed(spec.seed)
    experiment_id = registry.ensure_experiment(
        mlflow_client, spec.experiment, spec.artifact_location
    )
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
                "metric": metric.value,
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

        model_uri = _log_model(spec, trained, train, worker_versions)
        champion = registry.by_alias(mlflow_client, spec.registered_model, spec.alias)
        champion_version = None if champion is None else str(champion.version)
        # Scored before registering: a champion that cannot be scored fails the job
        # without leaving a version behind that no decision was made on.
        scores = _compare(spec, metric, holdout, model_uri, champion_version, positive)
        version = _register(spec, model_uri, worker_versions)
        challenger_score, champion_score = scores.challenger, scores.champion
        if challenger_score is not None:
            mlflow.log_metric(f"holdout_{scores.metric.value}", challenger_score)
        if champion_score is not None:
            mlflow.log_metric(f"champion_holdout_{scores.metric.value}", champion_score)

        if champion is None:
            promote, reason = True, "no champion yet: the first version serves"
        elif challenger_score is None:
            promote, reason = False, "no holdout to compare challenger and champion on"
        else:
            promote, reason = decide(
                challenger_score, champion_score, spec.promote_margin, scores.metric
            )
        if scores.note:
            reason = f"{reason}; {scores.note}"
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
            metric=scores.metric.value,
            challenger_score=challenger_score,
            champion_score=champion_score,
            reason=reason,
            device=device,
            reference_uri=reference.uri if reference else spec.snapshot.uri,
            reference_sha256=reference.sha256 if reference else spec.snapshot.sha256,
            training_metrics=dict(trained.metrics),
            framework_versions=worker_versions,
        )


def _schema(spec: RetrainSpec) -> FrameSchema:
    return FrameSchema(
        numeric=spec.numeric,
        categorical=spec.categorical,
        label=spec.label,
        label_numeric=spec.task is TaskKind.REGRESSION,
    )


def _typed(frame: pd.DataFrame, spec: RetrainSpec) -> pd.DataFrame:
    """A snapshot typed like every window (idempotent on a snapshot the daemon typed)."""
    return type_frame(frame, _schema(spec))


def trainer_frame(snapshot: pd.DataFrame, spec: RetrainSpec) -> pd.DataFrame:
    """What a trainer gets: the features and the label, typed; never ids or timestamps.

    A snapshot keeps its prediction ids (they give it a stable row order and
    hash); a trainer that drops only the label must not learn from them.
    """
    columns = [*spec.features, spec.label]
    missing = [c for c in columns if c not in snapshot.columns]
    if missing:
        raise RetrainError(
            f"snapshot {spec.snapshot.uri} lacks the columns {', '.join(missing)} of the spec"
        )
    return _typed(snapshot.loc[:, columns], spec).reset_index(drop=True)


@dataclass(frozen=True, kw_only=True)
class _Scores:
    metric: Metric
    challenger: float | None = None
    champion: float | None = None
    note: str = ""


def _compare(
    spec: RetrainSpec,
    metric: Metric,
    holdout: pd.DataFrame | None,
    challenger_uri: str,
    champion_version: str | None,
    positive: str,
) -> _Scores:
    """Challenger and champion, each loaded from the registry by the one scorer.

    Both are scored on the same holdout with the same meaning: P(positive) for
    a binary task where both can give it; where a side gives labels only, both
    are scored on a label metric and the note says so.
    """
    if holdout is None or holdout.empty:
        return _Scores(metric=metric)
    sides = {"challenger": challenger_uri}
    if champion_version is not None:
        sides["champion"] = f"models:/{spec.registered_model}/{champion_version}"
    scorers = {name: load_scorer(uri, spec.task, positive or None) for name, uri in sides.items()}
    comparison = comparison_metric(metric, [(n, s.gives) for n, s in scorers.items()])
    x = holdout.loc[:, list(spec.features)]
    values = {
        name: score(spec, comparison.metric, holdout, s.predict(x), s.gives, positive)
        for name, s in scorers.items()
    }
    for name, s in scorers.items():
        log.info(
            "retrain job %s: %s (%s) scored by %s: %s %.4f",
            spec.job_id,
            name,
            s.model_uri,
            s.how,
            comparison.metric.value,
            values[name],
        )
    note = comparison.note
    if note:
        hows = "; ".join(f"{n} scored by {s.how}" for n, s in scorers.items())
        note = f"{note} ({hows})"
    return _Scores(
        metric=comparison.metric,
        challenger=values["challenger"],
        champion=values.get("champion"),
        note=note,
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
        # The label as the one typing gives it (canonical text: "1", "true"), as the
        # window's is stored: the checks read both as 0/1, and the next retrain's
        # snapshot keeps the model's classes instead of 0.0/1.0 ("True" != "true").
        scored[spec.label] = _typed(holdout, spec)[spec.label]
        extra = ["prediction", "score"]
    else:
        scored["prediction"] = predicted
        extra = ["prediction"]
    columns = [*spec.features, spec.label, *extra]
    return write_snapshot(scored, Path(spec.snapshot.uri).parent, columns)


def _log_model(
    spec: RetrainSpec, trained: TrainedModel, train: pd.DataFrame, versions: dict[str, str]
) -> str:
    """Log the trained model in the active run as mlmaint's serving pyfunc; its URI."""
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
        # What its predict returns, so the one scorer reads it as meant (see model_scoring).
        metadata={OUTPUT_KEY: serving_output(spec.task).value},
    )
    return str(info.model_uri)


def _register(spec: RetrainSpec, model_uri: str, versions: dict[str, str]) -> str:
    import mlflow

    registered = mlflow.register_model(
        model_uri,
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
