"""After `mlmaint onboard`: the daemon samples the user's log and `mlmaint check` runs.

The user's log holds the label beside each prediction (integers for the churn
classifier, floats for the spend regressors), as a service that knows the truth
when it logs writes it. Onboarded from a sample of that log, the model's config
names the column `label`; the daemon's sampling job must store every row with
its label (none refused), and the checks must measure realized performance
with them. The regressors are the user's own LinearRegression (every parameter
at its default: no `params` to write) and gradient-boosted trees, onboarded by
the command line and checked by it: DLE's estimate and the realized MAE/RMSE.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from daemon.cli import main
from daemon.config import load_config
from daemon.jobs import JobContext
from daemon.runs import RunOutcome
from daemon.schedule import JobRunner
from daemon.stages import Stage, build_jobs
from daemon.store.engine import make_engine
from daemon.store.tables import Prediction
from tests.onboarding import world
from tests.onboarding.conftest import binary_frame, config_text, new_registry, regression_frame

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

TOKEN = "sampled-after-onboarding"
ROWS = 600


@dataclass(frozen=True)
class Registry:
    uri: str
    versions: dict[str, str]


@pytest.fixture(scope="module")
def registry(mlflow_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Registry:
    directory = tmp_path_factory.mktemp("users-registry")
    uri = new_registry(mlflow_template, directory)
    versions = world.log_users_models(
        uri,
        directory,
        [
            world.UsersModel(
                name="churn", task="binary_classification", train=binary_frame(3000, seed=1)
            ),
            *(
                world.UsersModel(
                    name=f"spend_{kind}",
                    task="regression",
                    train=regression_frame(3000, seed=2),
                    estimator=kind,
                )
                for kind in world.REGRESSORS
            ),
        ],
    )
    return Registry(uri=uri, versions=versions)


@dataclass
class Home:
    directory: Path
    config: Path
    store_url: str

    def run(self, *args: str) -> Result:
        return CliRunner().invoke(
            main, ["--config", str(self.config), *args], env={"MLMAINT_API_TOKEN": TOKEN}
        )

    def sample_as_the_daemon(self, name: str) -> None:
        """The daemon's own sampling job for the model, through its job runner."""
        settings = load_config(self.config, environ={"MLMAINT_API_TOKEN": TOKEN})
        ctx = JobContext.from_settings(settings)
        try:
            (job,) = [
                j for j in build_jobs(settings) if j.stage is Stage.SAMPLE and j.model == name
            ]
            assert JobRunner(ctx)(job, datetime.now(UTC), force=True) is RunOutcome.OK
        finally:
            ctx.close()

    def stored_labels(self) -> dict[str, str | None]:
        engine = make_engine(self.store_url)
        try:
            with engine.connect() as conn:
                return dict(
                    conn.execute(select(Prediction.prediction_id, Prediction.label)).tuples().all()
                )
        finally:
            engine.dispose()


@pytest.fixture
def home(tmp_path: Path, store_url: str, registry: Registry) -> Iterator[Home]:
    config = tmp_path / "config.toml"
    config.write_text(config_text(tmp_path, store_url, registry.uri))
    yield Home(directory=tmp_path, config=config, store_url=store_url)


def served_log(
    home: Home, registry: Registry, name: str, frame: pd.DataFrame, *, csv: bool = False
) -> tuple[Path, pd.DataFrame]:
    """The serving side's log of `frame` over the last 20 hours, labels included."""
    task = "binary_classification" if name == "churn" else "regression"
    model = world.load_users_model(registry.uri, name, registry.versions[name])
    path = home.directory / "logs" / f"predictions-000.{'csv' if csv else 'jsonl'}"
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=20)
    served = world.write_log(
        path,
        frame,
        model,
        task=task,
        start=start,
        seconds=18 * 3600,
        prefix="d000",
        with_labels=True,
        csv=csv,
    )
    return path, served


def run_of(report: dict[str, object], kind: str) -> dict[str, object]:
    runs = report["runs"]
    assert isinstance(runs, list)
    (run,) = [r for r in runs if r["check"] == kind]
    return run  # type: ignore[no-any-return]


def measure(run: dict[str, object], subject: str, name: str) -> float:
    measures = run["measures"]
    assert isinstance(measures, list)
    (found,) = [m for m in measures if m["subject"] == subject and m["name"] == name]
    return float(found["value"])


@pytest.mark.parametrize("log_format", ["jsonl", "csv"])
def test_a_log_with_integer_labels_is_sampled_whole_and_measures_performance(
    home: Home, registry: Registry, log_format: str
) -> None:
    from sklearn.metrics import roc_auc_score

    binary_frame(1500, seed=21).to_csv(home.directory / "reference.csv", index=False)
    sample, served = served_log(
        home, registry, "churn", binary_frame(ROWS, seed=31), csv=log_format == "csv"
    )
    assert set(served["label"]) == {0, 1} and served["label"].dtype.kind == "i"
    done = home.run(
        "onboard",
        "churn",
        "--reference",
        str(home.directory / "reference.csv"),
        "--sample",
        str(sample),
        "--logs",
        f"{home.directory}/logs/predictions-*.{log_format}",
    )
    assert done.exit_code == 0, done.output
    assert 'label = "label"' in done.output

    home.sample_as_the_daemon("churn")
    status = home.run("status", "--format", "json")
    (churn,) = json.loads(status.output)["models"]
    # Every row of the log stored, none refused for its label; each with its label.
    assert (churn["sampled"], churn["rejected"], churn["labels_joined"]) == (ROWS, 0, ROWS)
    labels = home.stored_labels()
    assert labels == {
        pid: str(y) for pid, y in zip(served["prediction_id"], served["label"], strict=True)
    }
    # Onboarding said so.
    assert "note: the sample holds labels ('label'): sampling stores each" in done.output

    checked = home.run("check", "churn", "--format", "json")
    assert checked.exit_code in (0, 1), checked.output
    report = json.loads(checked.output)
    assert report["rows"] == ROWS
    performance = run_of(report, "performance")
    assert performance["status"] != "insufficient_data", performance
    # The realized AUC is the log's own: its scores against its labels.
    expected = roc_auc_score(served["label"], served["score"])
    assert abs(measure(performance, "roc_auc", "value") - expected) < 1e-9


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("kind", world.REGRESSORS)
def test_a_regression_model_onboards_to_a_config_its_checks_run_on(
    home: Home, registry: Registry, kind: str
) -> None:
    name = f"spend_{kind}"
    regression_frame(1500, seed=22).to_csv(home.directory / "reference.csv", index=False)
    sample, served = served_log(home, registry, name, regression_frame(ROWS, seed=32))
    done = home.run(
        "onboard",
        name,
        "--reference",
        str(home.directory / "reference.csv"),
        "--sample",
        str(sample),
        "--logs",
        f"{home.directory}/logs/predictions-*.jsonl",
    )
    assert done.exit_code == 0, done.output
    model = load_config(home.config, environ={"MLMAINT_API_TOKEN": TOKEN}).model(name)
    assert model.task.value == "regression" and model.schema_.score is None
    assert model.schema_.label == "label" and model.checks.performance.metric is None
    retrain = model.retrain
    if kind == "linear":
        # Every parameter at its default: the estimator class alone retrains it.
        assert retrain.target == "sklearn.linear_model.LinearRegression"
        assert dict(retrain.params) == {} and "params =" not in done.output
    else:
        assert retrain.target == "sklearn.ensemble.GradientBoostingRegressor"
        assert dict(retrain.params) == {"n_estimators": 60, "random_state": 0}
    assert home.run("config", "check").exit_code == 0

    home.sample_as_the_daemon(name)
    checked = home.run("check", name, "--format", "json")
    assert checked.exit_code in (0, 1), checked.output
    report = json.loads(checked.output)
    assert report["rows"] == ROWS
    realized = run_of(report, "performance")
    assert realized["status"] == "ok", realized
    errors = served["label"].to_numpy() - served["prediction"].to_numpy()
    assert abs(measure(realized, "mae", "value") - float(np.mean(np.abs(errors)))) < 1e-9
    rmse = float(np.sqrt(np.mean(errors**2)))
    assert abs(measure(realized, "rmse", "value") - rmse) < 1e-9
    # DLE: RMSE (the regression default) and MAE estimated without the labels.
    estimated = run_of(report, "estimated_performance")
    assert estimated["status"] == "ok", estimated
    assert measure(estimated, "rmse", "estimated") > 0
    assert measure(estimated, "mae", "estimated") > 0


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_metric_of_another_task_is_refused_when_onboarding(
    home: Home, registry: Registry
) -> None:
    regression_frame(400, seed=23).to_csv(home.directory / "reference.csv", index=False)
    before = home.config.read_text()
    done = home.run(
        "onboard",
        "spend_linear",
        "--reference",
        str(home.directory / "reference.csv"),
        "--metric",
        "accuracy",
    )
    assert done.exit_code == 1, done.output
    assert (
        "checks.performance.metric: metric 'accuracy' does not apply to regression; "
        "use mae, rmse, mape, r2" in done.output
    )
    assert home.config.read_text() == before
    # Written by hand, `config check` names it too, before any check run fails on it.
    home.config.write_text(
        before
        + """
[[models]]
name = "spend_linear"
task = "regression"
source = { kind = "http" }
[models.schema]
numeric = ["age"]
[models.checks.performance]
metric = "auc"
"""
    )
    checked = home.run("config", "check")
    assert checked.exit_code != 0
    assert "models[0]: checks.performance.metric: unknown metric 'auc'" in checked.output
