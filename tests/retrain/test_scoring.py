"""Fair scoring: champion and challenger through one scorer, on one holdout, one metric.

The champions here were never trained by mlmaint: a user's scikit-learn
Pipeline logged with `mlflow.sklearn.log_model` on bool and int-coded columns,
and a pyfunc that gives labels only. The holdout is what mlmaint keeps (typed:
canonical text categoricals, float numerics).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, mean_absolute_error, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from checks.interface import TaskKind
from checks.performance import Metric
from checks.typed import FrameSchema, type_frame
from retrain import registry
from retrain.interface import JobState, RetrainSpec, TrainerKind
from retrain.job import execute
from retrain.model_scoring import Output, load_scorer
from retrain.snapshot import write_snapshot

# MLflow is imported inside the tests: its import warns about its own type hints.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

NUMERIC = ("tenure", "spend", "visits")
CATEGORICAL = ("is_student", "region")
FEATURES = [*NUMERIC, *CATEGORICAL]


def user_frame(n: int, *, seed: int, start: int = 0, concept: str = "a") -> pd.DataFrame:
    """As a user's own data comes: a bool column, an int-coded region, an int label."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    student = rng.random(n) < 0.3
    region = rng.integers(1, 4, size=n)
    sign = 1.0 if concept == "a" else -1.0
    logit = sign * (1.5 * x[:, 0] - 0.8 * student + 0.6 * (region == 3)) + 0.7 * x[:, 1]
    label = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame(
        {
            "prediction_id": [f"p{start + i:07d}" for i in range(n)],
            "tenure": x[:, 0],
            "spend": x[:, 1],
            "visits": x[:, 2],
            "is_student": student,
            "region": region,
            "label": label,
        }
    )


def typed(frame: pd.DataFrame, *, regression: bool = False) -> pd.DataFrame:
    """The frame as mlmaint keeps it: through the one typing."""
    schema = FrameSchema(
        numeric=NUMERIC, categorical=CATEGORICAL, label="label", label_numeric=regression
    )
    return type_frame(frame, schema)


def spec_for(
    tmp_path: Path,
    mlflow_uri: str,
    train: pd.DataFrame,
    holdout: pd.DataFrame | None,
    **changes: object,
) -> RetrainSpec:
    snapshots = tmp_path / "snapshots"
    columns = [*FEATURES, "label"]
    fields: dict[str, object] = {
        "job_id": uuid.uuid4().hex,
        "model": "churn",
        "task": TaskKind.BINARY,
        "trigger": "decay",
        "numeric": NUMERIC,
        "categorical": CATEGORICAL,
        "label": "label",
        "snapshot": write_snapshot(train, snapshots, columns),
        "holdout": None if holdout is None else write_snapshot(holdout, snapshots, columns),
        "trainer": TrainerKind.SKLEARN,
        "deadline": datetime.now(UTC) + timedelta(minutes=5),
        "tracking_uri": mlflow_uri,
        "artifact_location": (tmp_path / "artifacts").as_uri(),
        "experiment": "mlmaint-churn",
        "registered_model": "churn",
    }
    fields.update(changes)
    return RetrainSpec(**fields)  # type: ignore[arg-type]


def user_pipeline(frame: pd.DataFrame) -> Pipeline:
    prep = ColumnTransformer(
        [
            ("num", StandardScaler(), list(NUMERIC)),
            ("cat", OneHotEncoder(handle_unknown="ignore"), list(CATEGORICAL)),
        ]
    )
    return Pipeline([("prep", prep), ("model", LogisticRegression())]).fit(
        frame[FEATURES], frame["label"]
    )


def register_champion(mlflow_uri: str, tmp_path: Path, log: object) -> str:
    """Log a model the user's way (`log(name=...)` inside a run), alias it champion."""
    import mlflow

    mlflow.set_tracking_uri(mlflow_uri)
    mlflow.set_registry_uri(mlflow_uri)
    client = registry.client(mlflow_uri)
    experiment = registry.ensure_experiment(
        client, "user-training", (tmp_path / "user-artifacts").as_uri()
    )
    with mlflow.start_run(experiment_id=experiment):
        info = log(name="model")  # type: ignore[operator]
    version = mlflow.register_model(info.model_uri, "churn")
    client.set_registered_model_alias("churn", "champion", version.version)
    return str(version.version)


def test_a_users_sklearn_pipeline_is_scored_on_its_own_predict_proba(
    tmp_path: Path, mlflow_uri: str
) -> None:
    old = user_frame(2000, seed=1)
    new = user_frame(1500, seed=2, start=100_000, concept="b")
    holdout = user_frame(600, seed=3, start=200_000, concept="b")
    import mlflow.sklearn
    from mlflow.models import infer_signature

    pipeline = user_pipeline(old)
    signature = infer_signature(old[FEATURES], pipeline.predict(old[FEATURES]))
    assert {c.name: c.type.name for c in signature.inputs.inputs}["is_student"] == "boolean"
    register_champion(
        mlflow_uri,
        tmp_path,
        lambda name: mlflow.sklearn.log_model(pipeline, name=name, signature=signature),
    )

    spec = spec_for(tmp_path, mlflow_uri, typed(new), typed(holdout))
    outcome = execute(spec)
    assert outcome.state is JobState.SUCCEEDED, outcome.traceback
    assert outcome.metric == "roc_auc" and outcome.champion_version == "1"

    # The user's own types, the user's own call: what the champion really scores.
    positive = list(pipeline.classes_).index(1)
    expected = roc_auc_score(
        holdout["label"] == 1, pipeline.predict_proba(holdout[FEATURES])[:, positive]
    )
    assert outcome.champion_score is not None
    assert abs(outcome.champion_score - expected) <= 1e-9
    on_labels = roc_auc_score(holdout["label"] == 1, pipeline.predict(holdout[FEATURES]))
    assert abs(on_labels - expected) > 1e-3, "AUC on labels would not tell the two apart"
    assert "labels only" not in outcome.reason

    # The scorer reads the registered pipeline natively, and converts the typed holdout.
    scorer = load_scorer("models:/churn/1", TaskKind.BINARY, "1")
    assert scorer.gives is Output.PROBABILITY and scorer.flavor == "sklearn"
    converted = scorer.model_input(typed(holdout)[FEATURES])
    assert converted["is_student"].dtype == bool and converted["region"].dtype == np.int64
    # mlmaint's own version (a pyfunc) declares what it gives.
    challenger = load_scorer(f"models:/churn/{outcome.registered_version}", TaskKind.BINARY, "1")
    assert challenger.gives is Output.PROBABILITY and challenger.flavor == "python_function"


def labels_only() -> object:
    """A user's pyfunc that answers with class labels, no probabilities."""
    import mlflow.pyfunc

    class LabelsOnly(mlflow.pyfunc.PythonModel):  # type: ignore[misc,name-defined]
        def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
            return (model_input["tenure"].astype(float) < 0).astype(int).to_numpy()

    return LabelsOnly()


def test_a_label_only_champion_is_compared_on_a_label_metric_and_the_reason_says_so(
    tmp_path: Path, mlflow_uri: str
) -> None:
    new = user_frame(1500, seed=2, start=100_000, concept="b")
    holdout = user_frame(600, seed=3, start=200_000, concept="b")
    import mlflow.pyfunc

    register_champion(
        mlflow_uri,
        tmp_path,
        lambda name: mlflow.pyfunc.log_model(name=name, python_model=labels_only()),
    )
    outcome = execute(spec_for(tmp_path, mlflow_uri, typed(new), typed(holdout)))
    assert outcome.state is JobState.SUCCEEDED, outcome.traceback
    assert outcome.metric == "f1"
    assert "labels only" in outcome.reason and "not roc_auc" in outcome.reason
    expected = f1_score(holdout["label"] == 1, holdout["tenure"] < 0)
    assert outcome.champion_score == pytest.approx(expected, abs=1e-12)
    # The challenger (probabilities) on the same label metric: its labels at 0.5.
    challenger = load_scorer(f"models:/churn/{outcome.registered_version}", TaskKind.BINARY, "1")
    p = challenger.predict(typed(holdout)[FEATURES])
    assert outcome.challenger_score == pytest.approx(
        f1_score(holdout["label"] == 1, p >= 0.5), abs=1e-12
    )


def regression_frame(n: int, *, seed: int, start: int = 0, concept: str = "a") -> pd.DataFrame:
    frame = user_frame(n, seed=seed, start=start)
    rng = np.random.default_rng(seed + 1000)
    sign = 1.0 if concept == "a" else -1.0
    frame["label"] = (
        sign * (3.0 * frame["tenure"] + 2.0 * frame["is_student"]) + rng.normal(size=n) * 0.3
    )
    return frame


def test_regression_promotes_on_the_configured_metric_and_its_direction(
    tmp_path: Path, mlflow_uri: str
) -> None:
    old = typed(regression_frame(1500, seed=1), regression=True)
    new = typed(regression_frame(1500, seed=2, start=100_000, concept="b"), regression=True)
    holdout = typed(regression_frame(500, seed=3, start=200_000, concept="b"), regression=True)
    common = {"task": TaskKind.REGRESSION, "metric": Metric.MAE}
    first = execute(spec_for(tmp_path, mlflow_uri, old, None, **common))
    assert first.state is JobState.SUCCEEDED and first.promoted, first.traceback

    better = execute(spec_for(tmp_path, mlflow_uri, new, holdout, **common))
    assert better.state is JobState.SUCCEEDED, better.traceback
    assert better.metric == "mae" and better.promoted
    assert better.challenger_score is not None and better.champion_score is not None
    # Lower is better: the challenger's smaller error won.
    assert better.challenger_score < better.champion_score
    assert "lower is better" in better.reason
    champion = load_scorer("models:/churn/1", TaskKind.REGRESSION, None)
    assert champion.gives is Output.VALUE
    x = holdout[FEATURES]
    assert better.champion_score == pytest.approx(
        mean_absolute_error(holdout["label"], champion.predict(x)), abs=1e-12
    )

    # A challenger of the old concept has the larger error: kept out.
    worse_train = typed(regression_frame(1500, seed=9, start=300_000), regression=True)
    worse = execute(spec_for(tmp_path, mlflow_uri, worse_train, holdout, **common))
    assert worse.state is JobState.SUCCEEDED and not worse.promoted, worse.traceback
    assert worse.metric == "mae" and worse.challenger_score > worse.champion_score  # type: ignore[operator]
    assert worse.reason.startswith("kept the champion")


def test_a_retrain_on_a_snapshot_already_registered_registers_nothing(
    tmp_path: Path, mlflow_uri: str
) -> None:
    train = typed(user_frame(800, seed=1))
    holdout = typed(user_frame(300, seed=3, start=200_000))
    first = execute(spec_for(tmp_path, mlflow_uri, train, holdout))
    assert first.state is JobState.SUCCEEDED and first.registered_version == "1", first.traceback

    again = execute(spec_for(tmp_path, mlflow_uri, train, holdout, trigger="manual"))
    assert again.state is JobState.SUCCEEDED, again.traceback
    assert again.registered_version is None and not again.promoted
    assert again.existing_version == "1" and again.champion_version == "1"
    assert "already registered as version 1" in again.reason
    client = registry.client(mlflow_uri)
    assert [str(v.version) for v in client.search_model_versions("name = 'churn'")] == ["1"]


def broken_model() -> object:
    import mlflow.pyfunc

    class Broken(mlflow.pyfunc.PythonModel):  # type: ignore[misc,name-defined]
        def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
            raise KeyError("feature_store_id")

    return Broken()


def test_a_champion_that_cannot_be_scored_fails_the_job_and_registers_nothing(
    tmp_path: Path, mlflow_uri: str
) -> None:
    import mlflow.pyfunc

    register_champion(
        mlflow_uri,
        tmp_path,
        lambda name: mlflow.pyfunc.log_model(name=name, python_model=broken_model()),
    )
    train = typed(user_frame(800, seed=1))
    holdout = typed(user_frame(300, seed=3, start=200_000))
    outcome = execute(spec_for(tmp_path, mlflow_uri, train, holdout))
    assert outcome.state is JobState.FAILED and outcome.registered_version is None
    assert outcome.error is not None
    assert "models:/churn/1" in outcome.error and "feature_store_id" in outcome.error
    client = registry.client(mlflow_uri)
    assert [str(v.version) for v in client.search_model_versions("name = 'churn'")] == ["1"]


def test_typed_columns_take_the_signatures_types_and_missing_stays_missing() -> None:
    from retrain.model_scoring import InputColumn, ModelScorer, ScoringError

    scorer = ModelScorer(
        model_uri="models:/churn/1",
        task=TaskKind.BINARY,
        gives=Output.LABEL,
        flavor="sklearn",
        how="test",
        inputs=(
            InputColumn(name="is_student", kind="boolean"),
            InputColumn(name="region", kind="long"),
            InputColumn(name="tenure", kind="double"),
            InputColumn(name="plan", kind="string"),
        ),
    )
    frame = pd.DataFrame(
        {
            "is_student": ["true", "false", "true"],
            "region": ["1", "3", "2"],
            "tenure": [0.5, np.nan, 2.0],
            "plan": ["basic", None, "pro"],
            "ignored": [1, 2, 3],
        }
    )
    x = scorer.model_input(frame)
    assert list(x.columns) == ["is_student", "region", "tenure", "plan"]
    assert x["is_student"].tolist() == [True, False, True] and x["is_student"].dtype == bool
    assert x["region"].tolist() == [1, 3, 2] and x["region"].dtype == np.int64
    assert x["plan"].tolist() == ["basic", None, "pro"]
    gaps = scorer.model_input(
        frame.assign(is_student=["true", None, "false"], region=["1", None, "2"])
    )
    assert gaps["is_student"].tolist() == [True, None, False]
    assert gaps["region"].isna().tolist() == [False, True, False]
    with pytest.raises(ScoringError, match="takes 'is_student' as boolean; got 'maybe'"):
        scorer.model_input(frame.assign(is_student=["maybe", "true", "true"]))
    with pytest.raises(ScoringError, match="needs columns the holdout lacks: region"):
        scorer.model_input(frame.drop(columns="region"))
