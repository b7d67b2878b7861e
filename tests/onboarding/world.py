"""A user's world before mlmaint: their data, their own scikit-learn model, their logs.

The model is what a team ships without mlmaint: a Pipeline (a ColumnTransformer
over 6 numeric and 2 categorical columns, one a bool, one int-coded) trained
on a pandas frame, logged with `mlflow.sklearn.log_model` and registered with
the alias `champion`. The serving side scores traffic with that model and
writes JSONL prediction logs (JSON booleans and integers as they come).
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

NUMERIC = ("age", "income", "tenure_months", "monthly_charges", "support_calls", "usage_gb")
CATEGORICAL = ("is_student", "plan_code")
FEATURES = (*NUMERIC, *CATEGORICAL)


def features(n: int, *, seed: int, shifted: bool = False) -> pd.DataFrame:
    """Inputs typed as a pandas user has them: floats, a bool and an int code."""
    rng = np.random.default_rng(seed)
    income = rng.normal(50.0, 12.0, n)
    if shifted:
        # A new market: incomes well above the range the model was trained on.
        income = income + 40.0
    return pd.DataFrame(
        {
            "age": rng.normal(40.0, 10.0, n).round(1),
            "income": income.round(2),
            "tenure_months": rng.gamma(2.0, 12.0, n).round(1),
            "monthly_charges": rng.normal(70.0, 20.0, n).round(2),
            "support_calls": rng.poisson(2.0, n).astype(float),
            "usage_gb": rng.gamma(3.0, 5.0, n).round(2),
            "is_student": rng.random(n) < 0.3,
            "plan_code": rng.choice([1, 2, 3], size=n, p=[0.5, 0.3, 0.2]),
        }
    )


def binary_labels(frame: pd.DataFrame, *, seed: int, concept: str = "a") -> np.ndarray:
    """Churn (0/1). Concept "b" (the new market) churns on usage, not on the old signals."""
    rng = np.random.default_rng(seed + 10_000)
    if concept == "a":
        logit = (
            0.08 * (frame["income"] - 50.0)
            - 0.6 * (frame["support_calls"] - 2.0)
            - 0.04 * (frame["tenure_months"] - 24.0)
            + 0.8 * frame["is_student"].astype(float)
            + 0.7 * (frame["plan_code"] == 3)
        )
    else:
        logit = 0.25 * (frame["usage_gb"] - 15.0) + 0.6 * (frame["support_calls"] - 2.0)
    return (rng.random(len(frame)) < 1.0 / (1.0 + np.exp(-logit.to_numpy()))).astype(int)


def regression_target(frame: pd.DataFrame, *, seed: int, concept: str = "a") -> np.ndarray:
    """Monthly spend. Concept "b" changes how usage and plan drive it."""
    rng = np.random.default_rng(seed + 20_000)
    if concept == "a":
        value = (
            20.0
            + 0.9 * frame["monthly_charges"]
            + 0.5 * frame["usage_gb"]
            + 6.0 * frame["plan_code"]
            - 4.0 * frame["is_student"].astype(float)
        )
    else:
        value = (
            10.0
            + 0.4 * frame["monthly_charges"]
            + 2.5 * frame["usage_gb"]
            - 5.0 * frame["plan_code"]
            + 0.5 * (frame["income"] - 90.0)
        )
    return (value + rng.normal(0.0, 4.0, len(frame))).to_numpy()


# Regressors a team might ship instead of the Ridge: a LinearRegression left at its
# defaults, and gradient-boosted trees (MLflow's skops format asks to trust their trees).
REGRESSORS = ("linear", "gbr")
TRUSTED = {"gbr": ["sklearn.tree._tree.Tree"]}


def pipeline(task: str, estimator: str | None = None) -> object:
    """The user's own Pipeline, nothing of mlmaint in it."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    prep = ColumnTransformer(
        [
            ("num", StandardScaler(), list(NUMERIC)),
            ("cat", OneHotEncoder(handle_unknown="ignore"), list(CATEGORICAL)),
        ]
    )
    if estimator == "linear":
        model: object = LinearRegression()
    elif estimator == "gbr":
        model = GradientBoostingRegressor(n_estimators=60, max_depth=3, random_state=0)
    elif task == "regression":
        model = Ridge(alpha=0.5)
    else:
        model = LogisticRegression(C=0.5, max_iter=500)
    return Pipeline([("prep", prep), ("model", model)])


# Run in a subprocess: MLflow's import-time warnings and global state stay out of the
# test process, as they would in the user's own training job.
_LOG_MODELS = r"""
import json, sys, warnings
warnings.filterwarnings("ignore")
import mlflow, pandas as pd, sklearn
from mlflow.models import infer_signature
uri, root, artifacts, specs = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
sys.path.insert(0, root)
from tests.onboarding import world

mlflow.set_tracking_uri(uri)
mlflow.set_registry_uri(uri)
client = mlflow.MlflowClient(uri)
exp_id = client.create_experiment("users-own", artifact_location=artifacts)
versions = {}
for spec in specs:
    train = pd.read_parquet(spec["train"])
    x, y = train.loc[:, list(world.FEATURES)], train["label"]
    model = world.pipeline(spec["task"], spec.get("estimator")).fit(x, y)
    with mlflow.start_run(experiment_id=exp_id):
        if spec.get("dataset"):
            frame = pd.read_parquet(spec["dataset"])
            mlflow.log_input(mlflow.data.from_pandas(frame, source=spec["dataset"],
                             targets="label", name="validation"), context="validation")
        head = x.head(20)
        out = model.predict(head) if spec["task"] == "regression" else model.predict_proba(head)
        signature = infer_signature(head, out) if spec.get("signature", True) else None
        info = mlflow.sklearn.log_model(model, name="model", signature=signature,
                                        registered_model_name=spec["name"],
                                        skops_trusted_types=world.TRUSTED.get(
                                            spec.get("estimator")),
                                        # Pinned as a team's training image does: MLflow
                                        # would otherwise infer them in a subprocess.
                                        pip_requirements=[f"scikit-learn=={sklearn.__version__}"])
    version = str(info.registered_model_version)
    if spec.get("alias", True):
        client.set_registered_model_alias(spec["name"], "champion", version)
    versions[spec["name"]] = version
print(json.dumps(versions))
"""


@dataclass(frozen=True, kw_only=True)
class UsersModel:
    """One model the user trains and registers: name, task, data, what they log."""

    name: str
    task: str
    train: pd.DataFrame
    dataset: pd.DataFrame | None = None
    signature: bool = True
    alias: bool = True
    # One of REGRESSORS, else the task's own (LogisticRegression, Ridge).
    estimator: str | None = None


def log_users_models(tracking_uri: str, workdir: Path, models: list[UsersModel]) -> dict[str, str]:
    """Train each Pipeline, log and register it (alias champion); their versions by name."""
    root = Path(__file__).resolve().parents[2]
    specs = []
    for m in models:
        train_path = workdir / f"{m.name}-train.parquet"
        m.train.to_parquet(train_path)
        spec: dict[str, object] = {
            "name": m.name,
            "task": m.task,
            "train": str(train_path),
            "signature": m.signature,
            "alias": m.alias,
            "estimator": m.estimator,
        }
        if m.dataset is not None:
            dataset_path = workdir / f"{m.name}-validation.parquet"
            m.dataset.to_parquet(dataset_path)
            spec["dataset"] = str(dataset_path)
        specs.append(spec)
    args = [
        sys.executable,
        "-c",
        _LOG_MODELS,
        tracking_uri,
        str(root),
        (workdir / "users-mlflow-artifacts").as_uri(),
        json.dumps(specs),
    ]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"logging the user's models failed:\n{done.stderr[-4000:]}")
    versions: dict[str, str] = json.loads(done.stdout.strip().splitlines()[-1])
    return versions


def load_users_model(tracking_uri: str, name: str, version: str) -> object:
    """The user's own Pipeline back, as their serving code loads it."""
    import mlflow.sklearn

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    return mlflow.sklearn.load_model(f"models:/{name}/{version}")


def write_log(
    path: Path,
    frame: pd.DataFrame,
    model: object,
    *,
    task: str,
    start: datetime,
    seconds: float,
    prefix: str,
    with_labels: bool = False,
    csv: bool = False,
) -> pd.DataFrame:
    """Score `frame` as the serving side does and write its JSONL log; returns the rows.

    `with_labels`: the log holds the frame's `label` column too (a service that knows
    the truth when it logs, or a log joined with it later), as integers for a
    classifier. `csv`: a CSV log as pandas writes it, not JSONL.
    """
    x = frame.loc[:, list(FEATURES)]
    out = frame.copy()
    if task == "regression":
        out["prediction"] = model.predict(x)  # type: ignore[attr-defined]
    else:
        proba = model.predict_proba(x)[:, 1]  # type: ignore[attr-defined]
        out["score"] = proba.round(6)
        out["prediction"] = (proba >= 0.5).astype(int)
    step = seconds / max(len(frame), 1)
    out["prediction_id"] = [f"{prefix}-{i:06d}" for i in range(len(frame))]
    stamps = pd.Timestamp(start) + pd.to_timedelta(np.arange(len(frame)) * step, unit="s")
    out["timestamp"] = stamps.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    out["latency_ms"] = np.random.default_rng(len(prefix)).gamma(4.0, 10.0, len(frame)).round(2)
    columns = ["prediction_id", "timestamp", *FEATURES, "prediction", "latency_ms"]
    if task != "regression":
        columns.insert(-1, "score")
    if with_labels:
        columns.append("label")
    path.parent.mkdir(parents=True, exist_ok=True)
    if csv:
        out.loc[:, columns].to_csv(path, index=False)
        return out
    with path.open("w", encoding="utf-8") as fh:
        for record in out.loc[:, columns].to_dict(orient="records"):
            # JSON as a serving app writes it: true/false, integers as integers.
            fh.write(json.dumps({k: _plain(v) for k, v in record.items()}) + "\n")
    return out


def _plain(value: object) -> object:
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value
