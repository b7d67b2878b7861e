"""Nothing unmonitored in silence: a model with no usable reference is an alert of its own.

The user's regression model is logged by hand with `mlflow.sklearn.log_model`
(mlmaint never trained it, so it has no training snapshot): `mlmaint check
--alert` fires "not monitored", the file channel gets it, `mlmaint status` shows
it, it repeats by the usual rules, and it resolves once a reference appears.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from daemon.alerts.delivery import deliver_pending
from daemon.checking.job import check_model
from daemon.cli import main
from daemon.config import load_config
from daemon.jobs import JobContext
from daemon.store.engine import transaction
from daemon.store.tables import Alert, AlertState, Model

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

UNMONITORED = (
    "prices is not monitored: no reference (none recorded for the serving version; "
    "see [models.reference] in config.toml)"
)


def log_by_hand(mlflow_uri: str) -> None:
    import mlflow
    import mlflow.sklearn
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"rooms": rng.integers(1, 6, 200), "area": rng.normal(80, 20, 200)})
    price = 50 * frame["rooms"] + 2.5 * frame["area"] + rng.normal(0, 5, 200)
    mlflow.set_tracking_uri(mlflow_uri)
    mlflow.set_registry_uri(mlflow_uri)
    with mlflow.start_run():
        mlflow.sklearn.log_model(
            LinearRegression().fit(frame, price),
            name="model",
            registered_model_name="prices",
            input_example=frame.head(3),
        )
    mlflow.MlflowClient(mlflow_uri).set_registered_model_alias("prices", "champion", "1")


def test_a_model_with_no_reference_alerts_shows_in_status_and_resolves(
    store_url: str, tmp_path: Path, mlflow_uri: str
) -> None:
    log_by_hand(mlflow_uri)
    outbox = tmp_path / "outbox.jsonl"
    config = tmp_path / "mlmaint.toml"
    config.write_text(
        f"""
[service]
state_dir = "{tmp_path / "state"}"

[store]
url = "{store_url}"

[mlflow]
tracking_uri = "{mlflow_uri}"

[[alerts.channels]]
name = "outbox"
kind = "file"
path = "{outbox}"

[[models]]
name = "prices"
task = "regression"

[models.source]
kind = "http"

[models.schema]
numeric = ["rooms", "area"]
categorical = []
label = "price"
"""
    )
    runner = CliRunner()
    checked = runner.invoke(main, ["--config", str(config), "check", "prices", "--alert"])
    # Nothing could be checked: the command says so and exits 1 (something is wrong).
    assert checked.exit_code == 1, checked.output
    assert "insufficient_data" in checked.output

    settings = load_config(config)
    ctx = JobContext.from_settings(settings)
    try:
        deliver_pending(ctx, datetime.now(UTC))
        [line] = [json.loads(x) for x in outbox.read_text().splitlines()]
        [item] = line["payload"]["items"]
        assert (item["kind"], item["subject"], item["change"]) == (
            "monitoring",
            "reference",
            "firing",
        )
        assert item["summary"] == (UNMONITORED)

        status = runner.invoke(main, ["--config", str(config), "status"])
        assert status.exit_code == 0, status.output
        # status wraps a long line under itself: read it as one.
        flat = " ".join(status.output.split())
        assert "prices: NOT MONITORED since" in flat and UNMONITORED in flat, status.output

        # Still without a reference a day later: the alert repeats, like any other.
        later = datetime.now(UTC) + timedelta(hours=25)
        check_model(ctx, "prices", later)
        deliver_pending(ctx, later)
        lines = [json.loads(x) for x in outbox.read_text().splitlines()]
        assert [x["payload"]["items"][0]["change"] for x in lines] == ["firing", "repeat"]

        # A reference appears (here: the serving version's, written to the store row):
        # the alert resolves.
        reference = tmp_path / "reference.parquet"
        rng = np.random.default_rng(3)
        pd.DataFrame(
            {
                "rooms": rng.integers(1, 6, 300).astype(float),
                "area": rng.normal(80, 20, 300),
                "prediction": rng.normal(300, 50, 300),
                "price": rng.normal(300, 50, 300),
            }
        ).to_parquet(reference)
        with transaction(ctx.sessions) as session:
            row = session.scalars(select(Model).where(Model.name == "prices")).one()
            row.reference_uri = str(reference)
        check_model(ctx, "prices", later + timedelta(minutes=5))
        with transaction(ctx.sessions) as session:
            alert = session.scalars(select(Alert).where(Alert.kind == "monitoring")).one()
            assert alert.state == AlertState.RESOLVED
        status = runner.invoke(main, ["--config", str(config), "status"])
        assert "NOT MONITORED" not in status.output
    finally:
        ctx.close()
