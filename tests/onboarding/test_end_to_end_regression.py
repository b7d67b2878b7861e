"""A user's regression Pipeline end to end, on SQLite and PostgreSQL: its metric and version.

The same world as test_end_to_end.py (the user's own scikit-learn Pipeline,
onboarded by the README's section, production day by day through the daemon's
jobs), for a regression model onboarded with `--metric mae`: the performance
check and the retrain's promotion use that metric, and each check compares with
the reference of the version it ran on, before and after a rollback. A file of
its own so that the two long tests run side by side on two workers.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from daemon.cli import main
from tests.onboarding.conftest import UsersRegistries, regression_frame
from tests.onboarding.production import (
    TOKEN,
    Production,
    as_users_frame,
    onboard_by_the_readme,
    tune_retraining,
    user_world,
)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_a_users_regression_pipeline_uses_its_metric_and_follows_the_version(
    in_home: Path, store_url: str, registries: UsersRegistries
) -> None:
    rows = 2_000
    _uri, version, pipeline = user_world(
        in_home, registries, "spend", "regression", regression_frame(3000, 1)
    )
    regression_frame(rows, 2).to_csv(in_home / "reference.csv", index=False)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    prod = Production(
        home=in_home,
        name="spend",
        task="regression",
        start=now - timedelta(days=8),
        model=pipeline,
    )
    first = regression_frame(rows, 100)
    prod.write_day(0, first)
    onboard_by_the_readme(in_home, store_url, "spend", ("--metric", "mae"))
    tune_retraining(in_home)
    prod.start_daemon()
    try:
        onboarded = prod.model_row()
        reference = pd.read_parquet(str(onboarded.reference_uri))
        v1_baseline = float(np.mean(np.abs(reference["label"] - reference["prediction"])))
        for day in range(2):
            prod.live_day(day, first if day == 0 else regression_frame(rows, 100 + day))
        clean = prod.runs("performance")[-1]
        assert clean.status == "ok", json.dumps(clean.summary)
        assert abs(prod.metrics(clean)[("mae", "baseline")].value - v1_baseline) < 1e-9
        for day in range(2, 5):
            prod.live_day(day, regression_frame(rows, 100 + day, shifted=True, concept="b"))
        decayed = prod.runs("performance")[-1]
        assert decayed.status == "alert"
        assert prod.metrics(decayed)[("mae", "value")].alerting  # the configured metric
        jobs = prod.jobs_done()
        # Inputs shifted and the performance fell: the job names both.
        assert [j.trigger for j in jobs] == ["drift_and_decay"], [
            (j.trigger, j.error) for j in jobs
        ]
        job = jobs[0]
        assert job.state == "succeeded" and job.outcome is not None, job.log_tail
        # Promotion on mae, lower is better.
        assert job.outcome["metric"] == "mae"
        assert job.outcome["challenger_score"] < job.outcome["champion_score"]
        assert job.promoted
        holdout = pd.read_parquet(job.spec["holdout"]["uri"])  # type: ignore[index]
        predicted = pipeline.predict(as_users_frame(holdout))  # type: ignore[attr-defined]
        champion_mae = float(np.mean(np.abs(holdout["label"].astype(float) - predicted)))
        assert abs(job.outcome["champion_score"] - champion_mae) < 1e-9
        v2_reference = pd.read_parquet(str(prod.model_row().reference_uri))
        v2_baseline = float(np.mean(np.abs(v2_reference["label"] - v2_reference["prediction"])))
        prod.live_day(5, regression_frame(rows, 105, shifted=True, concept="b"))
        on_v2 = prod.runs("performance")[-1]
        assert on_v2.model_version == job.registered_version
        assert abs(prod.metrics(on_v2)[("mae", "baseline")].value - v2_baseline) < 1e-9

        back = CliRunner().invoke(
            main,
            ["--config", str(in_home / "config.toml"), "retrain", "rollback", "spend"],
            env={"MLMAINT_API_TOKEN": TOKEN},
        )
        assert back.exit_code == 0, back.output
        # The next check compares with the rolled-back-to version's reference.
        prod.live_day(6, regression_frame(rows, 106, shifted=True, concept="b"))
        after = prod.runs("performance")[-1]
        assert after.model_version == version
        assert abs(prod.metrics(after)[("mae", "baseline")].value - v1_baseline) < 1e-9
    finally:
        prod.stop()
