"""A user's own model, end to end, on SQLite and PostgreSQL, through the daemon's own jobs.

The model is the user's scikit-learn Pipeline (6 numeric inputs, a bool and an
int-coded categorical), logged with `mlflow.sklearn.log_model` and registered
with alias champion: mlmaint never trained it. It is onboarded by the README's
section "Monitor a model you already have" (its config and its `db upgrade`
and `onboard` lines, taken from README.md), then production runs day by day:
the serving side writes a JSONL log of 5,000 predictions, labels come over the
real HTTP API, and the daemon's jobs run through its JobRunner at the day's
end (sampling, the four check jobs, alert delivery to the file channel, the
retrain policy and polling, with the local executor).

The one thing the user tunes after onboarding is retraining for a market that
changed: train on the last 3 days only (`recent_labelled`, `include_reference`).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from daemon.cli import main
from daemon.stages import Stage
from daemon.tables import fmt_value
from tests.onboarding.conftest import UsersRegistries, binary_frame
from tests.onboarding.production import (
    TOKEN,
    Production,
    as_users_frame,
    onboard_by_the_readme,
    tune_retraining,
    user_world,
)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

ROWS = 5_000
CLEAN_DAYS = 20


def test_a_users_binary_pipeline_end_to_end(
    in_home: Path, store_url: str, registries: UsersRegistries
) -> None:
    from sklearn.metrics import roc_auc_score

    began = time.monotonic()
    _uri, version, pipeline = user_world(
        in_home, registries, "churn", "binary_classification", binary_frame(4000, 1)
    )
    binary_frame(ROWS, 2).to_csv(in_home / "reference.csv", index=False)
    days = CLEAN_DAYS + 5
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    prod = Production(
        home=in_home,
        name="churn",
        task="binary_classification",
        start=now - timedelta(days=days),
        model=pipeline,
    )
    # The README's `--sample` is the first log file: the serving side has written one.
    first = binary_frame(ROWS, 100)
    prod.write_day(0, first)
    output = onboard_by_the_readme(in_home, store_url, "churn")
    assert 'categorical = ["is_student", "plan_code"]' in output
    tune_retraining(in_home)
    prod.start_daemon()
    try:
        onboarded = prod.model_row()
        assert onboarded.current_version == version and onboarded.reference_sha256

        # 20 clean windows of 5,000 rows: no drift alert.
        for day in range(CLEAN_DAYS):
            prod.live_day(day, first if day == 0 else binary_frame(ROWS, 100 + day))
        drift = prod.runs("drift")
        assert len(drift) == CLEAN_DAYS
        assert [r.rows for r in drift] == [ROWS] * CLEAN_DAYS
        false_alarms = {
            (r.window_end.isoformat(), s): m.value
            for r in drift
            for (s, n), m in prod.metrics(r).items()
            if m.alerting
        }
        assert false_alarms == {}, f"drift alerts on clean windows: {false_alarms}"
        # The figures: each column's largest score over the clean windows, and its threshold.
        largest: dict[str, tuple[float, float]] = {}
        for r in drift:
            for (subject, _name), m in prod.metrics(r).items():
                if m.value is not None and m.threshold is not None:
                    top = max(m.value, largest.get(subject, (0.0, 0.0))[0])
                    largest[subject] = (top, m.threshold)
        print(
            "largest drift score on 20 clean windows of 5,000 rows: "
            + ", ".join(f"{c} {v:.3f}/{t:.3f}" for c, (v, t) in largest.items())
        )
        assert [r.status for r in drift] == ["ok"] * CLEAN_DAYS
        assert not [m for m in prod.outbox() if "drift" in json.dumps(m)]
        assert prod.jobs_done() == []

        # A new market: incomes shifted and churning for other reasons.
        for day in range(CLEAN_DAYS, CLEAN_DAYS + 3):
            end = prod.live_day(day, binary_frame(ROWS, 100 + day, shifted=True, concept="b"))
            if day == CLEAN_DAYS:
                shifted = prod.runs("drift")[-1]
                assert shifted.status == "alert"
                assert prod.metrics(shifted)[("income", "wasserstein")].alerting
                assert any("income" in json.dumps(m) for m in prod.outbox())
        jobs = prod.jobs_done()
        # Inputs shifted and the performance fell: the job names both.
        assert [j.trigger for j in jobs] == ["drift_and_decay"], [
            (j.trigger, j.error) for j in jobs
        ]
        job = jobs[0]
        assert job.state == "succeeded", job.log_tail
        assert job.outcome is not None and job.promoted, job.outcome
        # The champion's recorded score is its own predict_proba's AUC on the holdout.
        holdout = pd.read_parquet(job.spec["holdout"]["uri"])  # type: ignore[index]
        proba = pipeline.predict_proba(as_users_frame(holdout))[:, 1]  # type: ignore[attr-defined]
        truth = (holdout["label"] == "1").astype(int)
        assert job.outcome["champion_version"] == version
        assert abs(job.outcome["champion_score"] - roc_auc_score(truth, proba)) < 1e-9
        assert job.outcome["challenger_score"] > job.outcome["champion_score"]
        promoted = prod.model_row()
        assert promoted.current_version == job.registered_version != version
        # The promotion reaches the file channel, with the score before and after.
        told = [m for m in prod.outbox() if "promot" in json.dumps(m).lower()]
        assert told, prod.outbox()
        assert fmt_value(job.outcome["champion_score"]) in json.dumps(told[-1])

        # The user rolls back: the next decision does not promote.
        back = CliRunner().invoke(
            main,
            ["--config", str(in_home / "config.toml"), "retrain", "rollback", "churn"],
            env={"MLMAINT_API_TOKEN": TOKEN},
        )
        assert back.exit_code == 0, back.output
        restored = prod.model_row()
        assert restored.current_version == version
        assert restored.reference_sha256 == onboarded.reference_sha256
        for day in range(CLEAN_DAYS + 3, days):
            end = prod.live_day(day, binary_frame(ROWS, 100 + day, shifted=True, concept="b"))
        assert prod.runs("drift")[-1].model_version == version
        from daemon.retraining.job import retrain_policy

        assert prod.ctx is not None
        retrain_policy(prod.ctx, "churn", end, manual=True)
        prod.finish_retrains(end)
        prod.run(Stage.DELIVER, end)
        later = prod.jobs_done()[1:]
        # Pinned: the policy submitted nothing on the failing days after the rollback; the
        # manual retrain registered its challenger and did not promote it.
        assert [j.trigger for j in later] == ["manual"], [(j.trigger, j.outcome) for j in later]
        assert later[0].state == "succeeded" and not later[0].promoted, later[0].outcome
        assert prod.model_row().current_version == version
    finally:
        prod.stop()
    elapsed = time.monotonic() - began
    parts = ", ".join(f"{k} {v:.0f}s" for k, v in sorted(prod.seconds.items()))
    print(f"binary end to end on {store_url.split(':')[0]}: {elapsed:.0f}s ({parts})")
