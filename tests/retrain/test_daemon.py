"""The daemon's retraining on the store (SQLite and PostgreSQL) with the local executor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from checks.interface import Status
from daemon.config import Settings, parse_config
from daemon.jobs import JobContext
from daemon.retraining.job import poll_jobs, retrain_policy, wait_for_jobs
from daemon.retraining.versions import register_initial_version, rollback
from daemon.store.engine import transaction
from daemon.store.features import stored_row
from daemon.store.tables import CheckRun, Model, Prediction, RetrainJob
from retrain.interface import JobState
from tests.retrain import data
from tests.retrain.conftest import decayed_data

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

START = datetime(2026, 3, 1, tzinfo=UTC)


def settings_for(tmp_path: Path, mlflow_uri: str, **retrain: object) -> Settings:
    return parse_config(
        {
            "service": {"state_dir": str(tmp_path / "state")},
            "mlflow": {"tracking_uri": mlflow_uri, "artifact_root": str(tmp_path / "artifacts")},
            "executor": {"kind": "local", "timeout": "10m"},
            "models": [
                {
                    "name": "churn",
                    "source": {"kind": "http"},
                    "schema": {"numeric": list(data.NUMERIC), "categorical": ["plan"]},
                    "retrain": {"failing_runs": 3, "holdout_share": 0.3, **retrain},
                }
            ],
        },
        environ={},
    )


def seed_production(
    ctx: JobContext, recent: pd.DataFrame, failing: int, model_name: str = "churn"
) -> None:
    """Labelled predictions of the new concept over the last days, and failing checks."""
    with transaction(ctx.sessions) as session:
        model = session.scalars(select(Model).where(Model.name == model_name)).one()
        for i, row in enumerate(recent.itertuples(index=False)):
            ts = START + timedelta(days=1, minutes=7 * i)
            session.add(
                Prediction(
                    model_id=model.id,
                    prediction_id=row.prediction_id,
                    ts=ts,
                    **stored_row(
                        session,
                        model.id,
                        tuple(data.NUMERIC),
                        {"x1": row.x1, "x2": row.x2, "x3": row.x3, "plan": row.plan},
                        ts,
                    ),
                    prediction="1",
                    label=row.label,
                    labelled_at=ts,
                )
            )
        for day in range(failing):
            end = START + timedelta(days=2 + day)
            session.add(
                CheckRun(
                    model_id=model.id,
                    kind="performance",
                    status=Status.ALERT,
                    window_start=end - timedelta(days=1),
                    window_end=end,
                    ran_at=end,
                    duration_s=0.1,
                    rows=100,
                    summary={},
                )
            )


def test_decay_retrains_promotes_and_moves_the_reference(
    engine: Engine, session_factory: sessionmaker[Session], tmp_path: Path, mlflow_uri: str
) -> None:
    settings = settings_for(tmp_path, mlflow_uri, include_reference=False)
    ctx = JobContext(settings=settings, engine=engine, sessions=session_factory)
    old, new, _ = decayed_data()
    first = register_initial_version(ctx, "churn", old, START)
    assert first.promoted and first.registered_version == "1", first.traceback
    with transaction(ctx.sessions) as session:
        model = session.scalars(select(Model).where(Model.name == "churn")).one()
        initial_reference = model.reference_uri
        assert model.current_version == "1" and initial_reference is not None

    seed_production(ctx, new.iloc[:800], failing=2)
    now = START + timedelta(days=4, hours=1)
    assert retrain_policy(ctx, "churn", now) == []
    with transaction(ctx.sessions) as session:
        assert (
            session.scalars(select(RetrainJob).where(RetrainJob.trigger != "initial")).all() == []
        )

    # Three more failing passes: the streak passes the threshold and the policy submits.
    seed_production(ctx, new.iloc[:0], failing=3)
    retrain_policy(ctx, "churn", now)
    # Queued or running: a second evaluation does not duplicate it.
    retrain_policy(ctx, "churn", now, manual=True)
    findings = wait_for_jobs(ctx, now, timeout_s=240)

    with transaction(ctx.sessions) as session:
        jobs = session.scalars(select(RetrainJob).where(RetrainJob.trigger == "decay")).all()
        assert len(jobs) == 1
        job = jobs[0]
        assert job.state == JobState.SUCCEEDED, job.log_tail
        assert job.promoted and job.registered_version == "2"
        assert job.outcome is not None and job.outcome["champion_version"] == "1"
        assert job.spec["snapshot"]["sha256"] == job.snapshot_sha256  # type: ignore[index]
        model = session.scalars(select(Model).where(Model.name == "churn")).one()
        assert model.current_version == "2"
        assert model.reference_uri != initial_reference
        # The new reference is the holdout scored by the new version, not the training set.
        assert model.reference_sha256 == job.outcome["reference_sha256"]
        assert model.reference_sha256 != job.snapshot_sha256
        reference = pd.read_parquet(model.reference_uri)
        assert {"score", "prediction"} <= set(reference.columns)
        assert reference["score"].between(0, 1).all()
    assert [f.firing for f in findings] == [False]
    assert "promoted" in findings[0].summary

    # The minimum interval holds after the job, even with failures continuing.
    seed_production(ctx, new.iloc[:0], failing=0)
    assert retrain_policy(ctx, "churn", now + timedelta(hours=2)) == []
    assert poll_jobs(ctx, None, now) == []

    back = rollback(ctx, "churn", now)
    assert back.to_version == "1"
    with transaction(ctx.sessions) as session:
        model = session.scalars(select(Model).where(Model.name == "churn")).one()
        assert model.current_version == "1" and model.reference_uri == initial_reference


def test_a_broken_entry_point_fails_the_job_and_raises_a_finding(
    engine: Engine, session_factory: sessionmaker[Session], tmp_path: Path, mlflow_uri: str
) -> None:
    settings = settings_for(
        tmp_path, mlflow_uri, trainer="entrypoint", target="tests.retrain.entrypoints:raises"
    )
    ctx = JobContext(settings=settings, engine=engine, sessions=session_factory)
    _, new, _ = decayed_data()
    with transaction(ctx.sessions) as session:
        session.add(Model(name="churn", created_at=START))
    seed_production(ctx, new.iloc[:300], failing=0)
    now = START + timedelta(days=2)
    retrain_policy(ctx, "churn", now, manual=True)
    findings = wait_for_jobs(ctx, now, timeout_s=240)
    assert len(findings) == 1 and findings[0].firing
    assert "failed" in findings[0].summary and findings[0].kind == "retrain"
    with transaction(ctx.sessions) as session:
        job = session.scalars(select(RetrainJob)).one()
        assert job.state == JobState.FAILED and not job.promoted
        assert job.log_tail is not None
        assert "Traceback" in job.log_tail and "user code failed on" in job.log_tail
        model = session.scalars(select(Model).where(Model.name == "churn")).one()
        assert model.current_version is None


@pytest.mark.parametrize(
    ("task", "performance", "expected"),
    [
        ("binary_classification", {}, "roc_auc"),
        ("multiclass_classification", {}, "f1"),
        ("regression", {}, "rmse"),
        ("regression", {"metric": "mae"}, "mae"),
        ("binary_classification", {"metric": "log_loss"}, "log_loss"),
    ],
)
def test_the_spec_carries_the_checks_metric_and_the_python_path(
    tmp_path: Path, task: str, performance: dict[str, str], expected: str
) -> None:
    from checks.performance import Metric
    from daemon.checking.specs import decay_spec
    from daemon.retraining.specs import build_spec
    from retrain.interface import DataRef, RetrainSpec

    schema: dict[str, object] = {"numeric": list(data.NUMERIC), "categorical": ["plan"]}
    if task == "binary_classification":
        schema["score"] = "score"
    settings = parse_config(
        {
            "service": {"state_dir": str(tmp_path / "state")},
            "models": [
                {
                    "name": "churn",
                    "task": task,
                    "source": {"kind": "http"},
                    "schema": schema,
                    "checks": {"performance": performance},
                    "retrain": {"python_path": [str(tmp_path / "code"), "~/training"]},
                }
            ],
        },
        environ={},
    )
    model = settings.models[0]
    snapshot = DataRef(uri=str(tmp_path / "s.parquet"), sha256="0" * 64, rows=1)
    spec = build_spec(settings, model, "job-1", "manual", snapshot, None)
    # The metric the performance check alerts on is the one promotion is decided on.
    assert spec.metric is Metric(expected) and decay_spec(model).metric is spec.metric
    assert spec.python_path == (str(tmp_path / "code"), "~/training")
    assert RetrainSpec.from_json(spec.to_json()) == spec


def test_a_relative_python_path_is_refused(tmp_path: Path) -> None:
    from daemon.config import ConfigError

    with pytest.raises(ConfigError, match="python_path entries must be absolute"):
        settings_for(tmp_path, "sqlite:///x.db", python_path=["training"])
