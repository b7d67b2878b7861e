"""Live alerts rank causes by the serving model's own feature importances.

A user's RandomForest, logged with `mlflow.sklearn.log_model` into a real
tracking store and registered as version 1, serves the `churn` model. Its
windows drift in income while its AUC falls: the check cycle's firing
performance alert names what follows the fall and, weighted by the forest's
importances (read once from the registry), income first. The importances are
kept per version: with the tracking store gone they are still there, and a
model with no recorded version gets none.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy.orm import Session, sessionmaker

from checks.causes import importances_of
from checks.interface import CheckKind
from daemon.alerts.finding import WHY
from daemon.checking.cache import CheckCache
from daemon.checking.importances import model_importances
from daemon.checking.run import run_checks
from daemon.jobs import JobContext
from daemon.tables import fmt_value
from tests.checks.frames import START, churn_settings, window

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

FEATURES = ("age", "income", "visits", "plan", "region")


def _coded(frame: pd.DataFrame) -> pd.DataFrame:
    """The features as the user's model takes them: categoricals as integer codes."""
    out = frame[list(FEATURES)].copy()
    out["plan"] = out["plan"].map({"basic": 0, "plus": 1, "pro": 2})
    out["region"] = out["region"].map({"eu": 0, "us": 1})
    return out


def _log_forest(mlflow_uri: str, train: pd.DataFrame) -> object:
    import mlflow
    import mlflow.sklearn
    import sklearn
    from sklearn.ensemble import RandomForestClassifier

    forest = RandomForestClassifier(n_estimators=20, max_depth=4, random_state=0)
    forest.fit(_coded(train), train["label"])
    mlflow.set_tracking_uri(mlflow_uri)
    mlflow.set_registry_uri(mlflow_uri)
    with mlflow.start_run():
        # skops (the default format) asks the user to trust the trees, as a user must.
        mlflow.sklearn.log_model(
            forest,
            name="model",
            registered_model_name="churn",
            skops_trusted_types=["sklearn.tree._tree.Tree"],
            # Named, not inferred: inferring them loads the model again in a subprocess.
            pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
        )
    return forest


def test_a_firing_decay_alert_ranks_by_the_registered_models_importances(
    tmp_path: Path,
    mlflow_uri: str,
    store_url: str,
    engine: object,
    session_factory: sessionmaker[Session],
) -> None:
    reference = window(2_000, 1)
    forest = _log_forest(mlflow_uri, reference)
    settings = churn_settings(
        tmp_path, {"kind": "snapshot"}, url=store_url, mlflow={"tracking_uri": mlflow_uri}
    )
    model = settings.model("churn")
    ctx = JobContext(settings=settings, engine=engine, sessions=session_factory)  # type: ignore[arg-type]
    kinds = [CheckKind.DRIFT, CheckKind.PERFORMANCE]
    # Income drifts further each day; from day 4 its effect on churn flips, so the AUC falls.
    cycles = []
    for day, covariate in enumerate((0.0, 0.0, 0.0, 0.6, 1.2, 1.8)):
        cycles.append(
            run_checks(
                ctx,
                model,
                START + timedelta(days=day + 1),
                window(600, 100 + day, covariate=covariate, concept=day >= 3),
                reference,
                kinds=kinds,
                model_version="1",
                window_start=START + timedelta(days=day),
            )
        )
    [decay] = [f for f in cycles[-1].firing if f.kind is CheckKind.PERFORMANCE]
    why = str(decay.details[WHY])
    assert "it follows income" in why
    # The drop is from the baseline the check compared against: the reference's roc_auc.
    baseline = cycles[-1].result(CheckKind.PERFORMANCE).measure("roc_auc", "baseline")
    latest = cycles[-1].result(CheckKind.PERFORMANCE).measure("roc_auc", "value").value
    assert baseline.detail == "reference" and baseline.value is not None and latest is not None
    was, now = fmt_value(baseline.value), fmt_value(latest)
    fell = Decimal(was) - Decimal(now)
    assert why.startswith(f"roc_auc fell {fell} from {was} (reference) to {now}; "), why
    # The second ranking, by the forest's own importances: income, the feature it leans on.
    assert "; by latest drift (× threshold) times importance share: income (" in why, why
    assert decay.summary.endswith(why)

    expected = importances_of(forest, FEATURES)
    assert expected is not None and max(expected, key=expected.__getitem__) == "income"
    # Read once per version and kept: the tracking store is no longer needed.
    Path(mlflow_uri.removeprefix("sqlite:///")).unlink()
    kept = model_importances(ctx.check_cache, mlflow_uri, "churn", "1", FEATURES)
    assert kept.values == pytest.approx(expected) and kept.why is None
    # Another version is read again (and, the store gone, has none); no version, none.
    gone = model_importances(ctx.check_cache, mlflow_uri, "churn", "2", FEATURES)
    assert gone.values is None and str(gone.why).startswith("cannot load models:/churn/2: ")
    unversioned = model_importances(CheckCache(), mlflow_uri, "churn", None, FEATURES)
    assert unversioned.values is None and unversioned.why is None


def _pipeline(final: object) -> object:
    """The README's onboarding model: one-hot categoricals, numbers passed through."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    prep = ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore"), ["plan", "region"])],
        remainder="passthrough",
    )
    return Pipeline([("prep", prep), ("model", final)])


def _log_pipeline(mlflow_uri: str, train: pd.DataFrame, final: object) -> object:
    import mlflow
    import mlflow.sklearn
    import sklearn
    import skops.io

    pipeline = _pipeline(final)
    # The user's frame as their log holds it: plan and region as text, the label an int.
    pipeline.fit(train[list(FEATURES)], train["label"].astype(int))  # type: ignore[attr-defined]
    mlflow.set_tracking_uri(mlflow_uri)
    mlflow.set_registry_uri(mlflow_uri)
    with mlflow.start_run():
        mlflow.sklearn.log_model(
            pipeline,
            name="model",
            registered_model_name="churn",
            skops_trusted_types=skops.io.get_untrusted_types(data=skops.io.dumps(pipeline)),
            pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
        )
    return pipeline


def _decaying_alert(
    tmp_path: Path, mlflow_uri: str, store_url: str, engine: object, sessions: sessionmaker[Session]
) -> tuple[str, JobContext]:
    """Six days of the check cycle, income drifting and its effect flipping: the firing
    performance finding's cause words."""
    settings = churn_settings(
        tmp_path, {"kind": "snapshot"}, url=store_url, mlflow={"tracking_uri": mlflow_uri}
    )
    ctx = JobContext(settings=settings, engine=engine, sessions=sessions)  # type: ignore[arg-type]
    for day, covariate in enumerate((0.0, 0.0, 0.0, 0.6, 1.2, 1.8)):
        cycle = run_checks(
            ctx,
            settings.model("churn"),
            START + timedelta(days=day + 1),
            window(600, 100 + day, covariate=covariate, concept=day >= 3),
            window(2_000, 1),
            kinds=[CheckKind.DRIFT, CheckKind.PERFORMANCE],
            model_version="1",
            window_start=START + timedelta(days=day),
        )
    [decay] = [f for f in cycle.firing if f.kind is CheckKind.PERFORMANCE]
    assert decay.summary.endswith(str(decay.details[WHY]))
    return str(decay.details[WHY]), ctx


def test_a_pipelines_importances_are_summed_back_into_its_input_columns(
    tmp_path: Path,
    mlflow_uri: str,
    store_url: str,
    engine: object,
    session_factory: sessionmaker[Session],
) -> None:
    from sklearn.ensemble import GradientBoostingClassifier

    final = GradientBoostingClassifier(n_estimators=30, max_depth=2, random_state=0)
    pipeline = _log_pipeline(mlflow_uri, window(2_000, 1), final)
    why, ctx = _decaying_alert(tmp_path, mlflow_uri, store_url, engine, session_factory)
    assert "it follows income" in why, why
    assert "; by latest drift (× threshold) times importance share: income (" in why, why
    assert "no importance weighting" not in why
    # Each input column's share: the sum of its one-hot columns' (cat__plan_basic, ...).
    names = pipeline[:-1].get_feature_names_out()  # type: ignore[index]
    expected = dict.fromkeys(FEATURES, 0.0)
    for name, share in zip(names, final.feature_importances_, strict=True):
        column = str(name).split("__", 1)[1]
        expected[column if column in expected else column.rsplit("_", 1)[0]] += float(share)
    kept = model_importances(ctx.check_cache, mlflow_uri, "churn", "1", FEATURES)
    assert kept.why is None and kept.values == pytest.approx(expected)
    assert sum(expected.values()) == pytest.approx(1.0)


def test_a_model_without_importances_says_so_in_the_alert_and_the_log(
    tmp_path: Path,
    mlflow_uri: str,
    store_url: str,
    engine: object,
    session_factory: sessionmaker[Session],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from sklearn.neighbors import KNeighborsClassifier

    _log_pipeline(mlflow_uri, window(2_000, 1), KNeighborsClassifier())
    with caplog.at_level(logging.INFO, logger="daemon.checking.importances"):
        why, _ = _decaying_alert(tmp_path, mlflow_uri, store_url, engine, session_factory)
    reason = (
        "models:/churn/1: Pipeline ending in KNeighborsClassifier exposes no "
        "feature_importances_ or coef_ for its 8 features"
    )
    assert why.endswith(f"; no importance weighting: {reason}"), why
    assert "times importance share" not in why
    # Once, as a WARNING: the version's importances are read once and kept.
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warned] == [
        f"model churn: no importance weighting of the causes: {reason}"
    ]
