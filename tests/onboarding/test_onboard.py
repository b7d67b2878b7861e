"""`mlmaint onboard` as a user meets it: their own registered models, their files, the CLI.

One registry per module holds the user's models: `churn` (a binary Pipeline
with a signature and a logged validation dataset), `spend` (a regression
Pipeline), `nosig` (logged without a signature) and `noalias` (registered,
no alias set). Each test onboards into a fresh store and config.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from daemon.cli import main
from daemon.config import load_config
from daemon.store.engine import make_engine
from daemon.store.tables import Model
from tests.onboarding import world
from tests.onboarding.conftest import binary_frame, config_text, new_registry, regression_frame

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

TOKEN = "onboarding-test-token"


@dataclass(frozen=True)
class Registry:
    uri: str
    versions: dict[str, str]
    validation_rows: int


@pytest.fixture(scope="module")
def registry(mlflow_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Registry:
    directory = tmp_path_factory.mktemp("users-registry")
    uri = new_registry(mlflow_template, directory)
    validation = binary_frame(700, seed=11)
    versions = world.log_users_models(
        uri,
        directory,
        [
            world.UsersModel(
                name="churn",
                task="binary_classification",
                train=binary_frame(3000, seed=1),
                dataset=validation,
            ),
            world.UsersModel(name="spend", task="regression", train=regression_frame(3000, seed=2)),
            world.UsersModel(
                name="tier", task="multiclass_classification", train=tier_frame(2000, seed=5)
            ),
            world.UsersModel(
                name="nosig",
                task="binary_classification",
                train=binary_frame(1500, seed=3),
                signature=False,
            ),
            world.UsersModel(
                name="noalias",
                task="binary_classification",
                train=binary_frame(800, seed=4),
                alias=False,
            ),
        ],
    )
    return Registry(uri=uri, versions=versions, validation_rows=len(validation))


def tier_frame(n: int, seed: int) -> pd.DataFrame:
    """Three classes from spend: "low", "mid", "high"."""
    frame = regression_frame(n, seed)
    frame["label"] = pd.cut(frame["label"], [-np.inf, 110.0, 130.0, np.inf], labels=False)
    frame["label"] = frame["label"].map({0: "low", 1: "mid", 2: "high"})
    return frame


@dataclass
class Home:
    """The user's working directory: a config before onboarding, their files."""

    directory: Path
    config: Path
    store_url: str

    def run(self, *args: str) -> Result:
        runner = CliRunner()
        return runner.invoke(
            main, ["--config", str(self.config), *args], env={"MLMAINT_API_TOKEN": TOKEN}
        )

    def model_row(self) -> Model | None:
        engine = make_engine(self.store_url)
        try:
            with engine.connect() as conn:
                found = conn.execute(
                    select(Model).where(Model.name.in_(["churn", "spend", "nosig", "tier"]))
                )
                rows = found.all()
        finally:
            engine.dispose()
        assert len(rows) <= 1
        return rows[0] if rows else None  # type: ignore[return-value]


@pytest.fixture
def home(tmp_path: Path, store_url: str, registry: Registry) -> Iterator[Home]:
    config = tmp_path / "config.toml"
    config.write_text(config_text(tmp_path, store_url, registry.uri))
    yield Home(directory=tmp_path, config=config, store_url=store_url)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tags(registry: Registry, name: str) -> dict[str, str]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=registry.uri, registry_uri=registry.uri)
    return dict(client.get_model_version(name, registry.versions[name]).tags)


def test_a_pipeline_is_onboarded_from_its_signature_with_a_csv_reference(
    home: Home, registry: Registry
) -> None:
    reference = binary_frame(1200, seed=21)
    # A CSV as pandas writes it: True/False and integer codes, read back as bool and int.
    reference.to_csv(home.directory / "reference.csv", index=False)
    before = home.config.read_text()
    logs = f"{home.directory}/logs/predictions-*.jsonl"
    done = home.run(
        "onboard",
        "churn",
        "--model-uri",
        "models:/churn@champion",
        "--reference",
        str(home.directory / "reference.csv"),
        "--logs",
        logs,
    )
    assert done.exit_code == 0, done.output
    assert "[[models]]" in done.output and "serving version 1 (champion)" in done.output
    # The hint says what happens: `mlmaint check` now would read 0 sampled rows.
    assert "next: mlmaint check churn\n" not in done.output
    assert "next: mlmaint run: it samples the logs, then checks the last 7d" in done.output
    assert "once rows are sampled (mlmaint status): mlmaint check churn --from" in done.output
    assert "POST http://127.0.0.1:8787/v1/models/churn/labels" in done.output
    assert "/churn/predictions" not in done.output  # the rows come from the logs

    text = home.config.read_text()
    assert text.startswith(before.rstrip("\n"))
    model = load_config(home.config, environ={"MLMAINT_API_TOKEN": TOKEN}).model("churn")
    assert model.task.value == "binary_classification"
    # The reference's True/False column is declared boolean, and stays categorical.
    assert 'boolean = ["is_student"]' in done.output
    assert model.schema_.boolean == ("is_student",) and "is_student" in model.schema_.categorical
    assert model.schema_.numeric == world.NUMERIC
    # is_student is `boolean` in the signature; plan_code a `long` that the Pipeline
    # one-hot encodes: both categorical.
    assert model.schema_.categorical == world.CATEGORICAL
    assert model.schema_.score == "score" and model.schema_.label == "label"
    assert model.source.kind == "files" and model.source.glob == logs  # type: ignore[union-attr]
    assert model.labels is not None and model.labels.kind == "http"
    assert model.reference.kind.value == "snapshot"
    assert model.retrain.target == "sklearn.linear_model.LogisticRegression"
    assert dict(model.retrain.params) == {"C": 0.5, "max_iter": 500, "positive_label": "1"}

    row = home.model_row()
    assert row is not None and row.current_version == registry.versions["churn"]
    assert row.reference_uri is not None
    path = Path(row.reference_uri)
    assert path.parent == (home.directory / "state" / "references" / "churn").resolve()
    assert row.reference_sha256 == sha256(path) == path.stem
    version_tags = tags(registry, "churn")
    assert version_tags["mlmaint.reference_uri"] == row.reference_uri
    assert version_tags["mlmaint.reference_sha256"] == row.reference_sha256

    stored = pd.read_parquet(path)
    assert len(stored) == len(reference)
    assert set(stored["is_student"]) == {"true", "false"}
    assert set(stored["plan_code"]) == {"1", "2", "3"}
    assert set(stored["label"]) == {0.0, 1.0}
    # Scored by the champion's own predict_proba, on the rows as the user has them.
    pipeline = world.load_users_model(registry.uri, "churn", registry.versions["churn"])
    csv = pd.read_csv(home.directory / "reference.csv")
    expected = pipeline.predict_proba(csv.loc[:, list(world.FEATURES)])[:, 1]  # type: ignore[attr-defined]
    order = np.argsort(stored["age"].to_numpy() * 1e6 + stored["income"].to_numpy())
    order_csv = np.argsort(csv["age"].to_numpy() * 1e6 + csv["income"].to_numpy())
    np.testing.assert_allclose(
        stored["score"].to_numpy()[order], expected[order_csv], rtol=0, atol=1e-12
    )
    np.testing.assert_array_equal(
        stored["prediction"].to_numpy()[order], (expected[order_csv] >= 0.5).astype(float)
    )


def test_a_reference_with_its_own_scores_keeps_them(home: Home, registry: Registry) -> None:
    reference = binary_frame(600, seed=22)
    reference["score"] = 0.25
    reference["prediction"] = 0
    reference.to_parquet(home.directory / "reference.parquet")
    done = home.run("onboard", "churn", "--reference", str(home.directory / "reference.parquet"))
    assert done.exit_code == 0, done.output
    row = home.model_row()
    assert row is not None and row.reference_uri is not None
    stored = pd.read_parquet(row.reference_uri)
    assert (stored["score"] == 0.25).all() and (stored["prediction"] == 0.0).all()
    # No --logs: the predictions come over HTTP.
    model = load_config(home.config, environ={"MLMAINT_API_TOKEN": TOKEN}).model("churn")
    assert model.source.kind == "http"


def test_the_reference_can_be_the_dataset_the_run_logged(
    home: Home, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(home.directory)
    done = home.run(
        "onboard", "churn", "--reference", "mlflow-dataset", "--logs", "logs/predictions-*.csv"
    )
    assert done.exit_code == 0, done.output
    model = load_config(home.config, environ={"MLMAINT_API_TOKEN": TOKEN}).model("churn")
    # A relative glob is made absolute: the daemon does not run where onboarding did.
    assert model.source.glob == f"{home.directory}/logs/predictions-*.csv"  # type: ignore[union-attr]
    assert model.source.format.value == "csv"  # type: ignore[union-attr]
    assert "dataset 'validation' (validation)" in done.output
    row = home.model_row()
    assert row is not None and row.reference_uri is not None
    stored = pd.read_parquet(row.reference_uri)
    assert len(stored) == registry.validation_rows
    assert {"score", "prediction", "label"} <= set(stored.columns)


def test_the_reference_can_be_the_first_window(home: Home, registry: Registry) -> None:
    done = home.run(
        "onboard",
        "churn",
        "--reference",
        "first-window",
        "--reference-start",
        "2026-11-02T00:00Z",
        "--reference-end",
        "2026-11-03T00:00Z",
    )
    assert done.exit_code == 0, done.output
    # The hints name the routes the daemon serves, at the configured address.
    predictions = "POST http://127.0.0.1:8787/v1/models/churn/predictions"
    assert f"next: mlmaint run: it takes the predictions pushed to {predictions}" in done.output
    assert "labels, as they arrive: POST http://127.0.0.1:8787/v1/models/churn/labels" in (
        done.output
    )
    model = load_config(home.config, environ={"MLMAINT_API_TOKEN": TOKEN}).model("churn")
    assert model.reference.kind.value == "window"
    assert (model.reference.start, model.reference.end) == (
        "2026-11-02T00:00:00Z",
        "2026-11-03T00:00:00Z",
    )
    row = home.model_row()
    assert row is not None and row.current_version == registry.versions["churn"]
    assert row.reference_uri is None


def test_a_log_sample_names_the_log_columns(home: Home, registry: Registry) -> None:
    sample = binary_frame(50, seed=23).drop(columns=["label"])
    sample["request_region"] = "eu"
    model = world.load_users_model(registry.uri, "churn", registry.versions["churn"])
    path = home.directory / "sample.jsonl"
    world.write_log(
        path,
        sample,
        model,
        task="binary_classification",
        start=pd.Timestamp("2026-11-01", tz="UTC").to_pydatetime(),
        seconds=60,
        prefix="s",
    )
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    with path.open("w") as fh:
        for i, line in enumerate(lines):
            fh.write(json.dumps({**line, "request_region": "eu" if i % 2 else "us"}) + "\n")
    done = home.run("onboard", "churn", "--sample", str(path), "--dry-run")
    assert done.exit_code == 0, done.output
    assert 'latency = "latency_ms"' in done.output
    assert 'ignore = ["request_region"]' in done.output
    assert "dry run" in done.output
    assert "[[models]]" not in home.config.read_text()
    assert home.model_row() is None


def test_without_a_signature_the_sample_gives_the_features(home: Home, registry: Registry) -> None:
    sample = binary_frame(40, seed=24).drop(columns=["label"])
    sample["prediction_id"] = [f"n{i}" for i in range(len(sample))]
    sample["timestamp"] = "2026-11-01T00:00:00Z"
    sample["score"] = 0.5
    sample["prediction"] = 1
    sample.to_csv(home.directory / "sample.csv", index=False)
    done = home.run("onboard", "nosig", "--sample", str(home.directory / "sample.csv"))
    assert done.exit_code == 0, done.output
    model = load_config(home.config, environ={"MLMAINT_API_TOKEN": TOKEN}).model("nosig")
    assert model.schema_.numeric == world.NUMERIC
    # pd.read_csv gives a bool column and an int column: the first is categorical by
    # its type, the second because the Pipeline encodes it.
    assert set(model.schema_.categorical) == set(world.CATEGORICAL)


def test_a_regression_model_gets_its_metric_and_no_score(home: Home, registry: Registry) -> None:
    reference = regression_frame(800, seed=25)
    reference.to_parquet(home.directory / "reference.parquet")
    done = home.run(
        "onboard",
        "spend",
        "--reference",
        str(home.directory / "reference.parquet"),
        "--metric",
        "mae",
    )
    assert done.exit_code == 0, done.output
    model = load_config(home.config, environ={"MLMAINT_API_TOKEN": TOKEN}).model("spend")
    assert model.task.value == "regression" and model.schema_.score is None
    assert model.checks.performance.metric == "mae"
    assert model.retrain.target == "sklearn.linear_model.Ridge"
    row = home.model_row()
    assert row is not None and row.reference_uri is not None
    stored = pd.read_parquet(row.reference_uri)
    pipeline = world.load_users_model(registry.uri, "spend", registry.versions["spend"])
    expected = pipeline.predict(reference.loc[:, list(world.FEATURES)])  # type: ignore[attr-defined]
    assert np.allclose(np.sort(stored["prediction"].to_numpy()), np.sort(expected), atol=1e-9)
    assert stored["label"].dtype == np.float64


def test_a_multiclass_model_is_scored_with_its_labels(home: Home, registry: Registry) -> None:
    reference = tier_frame(500, seed=27)
    reference.to_csv(home.directory / "reference.csv", index=False)
    done = home.run("onboard", "tier", "--reference", str(home.directory / "reference.csv"))
    assert done.exit_code == 0, done.output
    model = load_config(home.config, environ={"MLMAINT_API_TOKEN": TOKEN}).model("tier")
    assert model.task.value == "multiclass_classification" and model.schema_.score is None
    row = home.model_row()
    assert row is not None and row.reference_uri is not None
    stored = pd.read_parquet(row.reference_uri)
    pipeline = world.load_users_model(registry.uri, "tier", registry.versions["tier"])
    expected = pipeline.predict(reference.loc[:, list(world.FEATURES)])  # type: ignore[attr-defined]
    assert sorted(stored["prediction"]) == sorted(str(v) for v in expected)
    assert set(stored["label"]) == {"low", "mid", "high"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["churn", "--model-uri", "models:/chrun@champion"],
            "differ",
            id="model-uri-of-another-name",
        ),
        pytest.param(["ghost"], "no registered model 'ghost'", id="unknown-model"),
        pytest.param(
            ["noalias"], "has no alias 'champion' (aliases: none; versions: 1)", id="no-alias"
        ),
        pytest.param(
            ["churn", "--model-uri", "models:/churn/1"],
            "expected models:/NAME@ALIAS",
            id="a-version-number-not-an-alias",
        ),
        pytest.param(["nosig"], "logged without a signature", id="no-signature-no-sample"),
        pytest.param(
            ["churn", "--reference", "{dir}/extra.csv"],
            "columns customer_id are not in the model's schema",
            id="reference-column-not-in-the-schema",
        ),
        pytest.param(
            ["churn", "--reference", "{dir}/short.csv"],
            "features usage_gb are missing from it",
            id="reference-missing-a-feature",
        ),
    ],
)
def test_onboarding_refuses_and_names_what_is_wrong(
    home: Home, registry: Registry, args: list[str], message: str
) -> None:
    reference = binary_frame(300, seed=26)
    reference.assign(customer_id=range(len(reference))).to_csv(
        home.directory / "extra.csv", index=False
    )
    reference.drop(columns=["usage_gb"]).to_csv(home.directory / "short.csv", index=False)
    before = home.config.read_text()
    done = home.run("onboard", *(a.replace("{dir}", str(home.directory)) for a in args))
    assert done.exit_code == 1, done.output
    assert message in done.output
    assert home.config.read_text() == before
    assert home.model_row() is None


def test_a_store_without_its_schema_is_named(tmp_path: Path, registry: Registry) -> None:
    config = tmp_path / "config.toml"
    config.write_text(config_text(tmp_path, f"sqlite:///{tmp_path / 'empty.db'}", registry.uri))
    done = CliRunner().invoke(
        main, ["--config", str(config), "onboard", "churn"], env={"MLMAINT_API_TOKEN": TOKEN}
    )
    assert done.exit_code == 1
    assert "run `mlmaint db upgrade` first" in done.output
