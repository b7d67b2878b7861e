"""A store seeded through the real writers, for the page's tests.

Checks run for real (`check_model`) on synthetic daily windows of the `churn`
model, the last ones shifted so `age` drifts and its alert fires through the
policy; retrain jobs are recorded by the retraining stage's own records
(an initial version, a promoted challenger, a rejected one); a framework scan's
findings are stored by the frameworks stage, alert included.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from checks.frameworks.policy import EnvironmentReport, FindingKind, PackageFinding
from checks.interface import TaskKind
from daemon.checking.job import check_model
from daemon.config import ModelSettings
from daemon.frameworks.records import store_findings
from daemon.jobs import JobContext
from daemon.retraining.records import add_inline_job, add_queued_job, model_row, record_status
from daemon.store.engine import transaction
from daemon.store.tables import RetrainJob
from retrain.interface import JobState, JobStatus, RetrainOutcome, RetrainSpec, TrainerKind
from retrain.snapshot import write_snapshot
from tests.checks.frames import CATEGORICAL, NUMERIC, churn_settings, window

START = datetime(2026, 3, 2, 12, tzinfo=UTC)
DAYS = 8
# From this day on, age is shifted by a standard deviation: its drift is beyond threshold.
DRIFT_FROM = 5
ENVIRONMENT = "serving"
ADVISORY = "GHSA-page-0001"


@dataclass(frozen=True)
class Seeded:
    model: str
    now: datetime
    # Versions in the order they were registered; the last promoted one serves.
    champion: str
    rejected: str


def context(tmp_path: Path, engine: Engine, sessions: sessionmaker[Session]) -> JobContext:
    reference = tmp_path / "reference.parquet"
    window(4_000, 1).rename(columns={"label": "churned"}).to_parquet(reference)
    settings = churn_settings(
        tmp_path,
        {"kind": "file", "path": str(reference)},
        str(engine.url),
        {"drift": {"evidence": False}},
        report={"directory": str(tmp_path / "reports")},
    )
    return JobContext(settings=settings, engine=engine, sessions=sessions)


def _spec(ctx: JobContext, tmp_path: Path, trigger: str, now: datetime) -> RetrainSpec:
    frame = window(200, 99).rename(columns={"label": "churned"})
    columns = [*NUMERIC, *CATEGORICAL, "churned"]
    return RetrainSpec(
        job_id=uuid.uuid4().hex,
        model="churn",
        task=TaskKind.BINARY,
        trigger=trigger,
        numeric=NUMERIC,
        categorical=CATEGORICAL,
        label="churned",
        snapshot=write_snapshot(frame, tmp_path / "snapshots", columns),
        holdout=None,
        trainer=TrainerKind.SKLEARN,
        deadline=now + timedelta(hours=1),
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        artifact_location=(tmp_path / "artifacts").as_uri(),
        experiment="mlmaint-churn",
        registered_model="churn",
    )


def _finished(
    ctx: JobContext, tmp_path: Path, trigger: str, at: datetime, outcome: dict[str, object]
) -> None:
    """A job queued at `at` and reported finished by its executor an hour later."""
    spec = _spec(ctx, tmp_path, trigger, at)
    with transaction(ctx.sessions) as session:
        row = model_row(session, "churn", at)
        add_queued_job(
            session, row, spec, executor="local", now=at, deadline=at + timedelta(hours=2)
        )
    done = RetrainOutcome(job_id=spec.job_id, state=JobState.SUCCEEDED, **outcome)  # type: ignore[arg-type]
    with transaction(ctx.sessions) as session:
        job = session.query(RetrainJob).filter_by(job_uid=spec.job_id).one()
        record_status(
            session,
            job,
            "churn",
            JobStatus(state=JobState.SUCCEEDED, outcome=done),
            at + timedelta(hours=1),
        )


def seed(ctx: JobContext, tmp_path: Path) -> Seeded:
    # The first version, trained in-process before any check.
    first = START - timedelta(days=1)
    spec = _spec(ctx, tmp_path, "initial", first)
    initial = RetrainOutcome(
        job_id=spec.job_id, state=JobState.SUCCEEDED, registered_version="1", promoted=True
    )
    with transaction(ctx.sessions) as session:
        add_inline_job(
            session,
            model_row(session, "churn", first),
            spec,
            initial,
            now=first,
            deadline=first + timedelta(hours=1),
        )

    frames = [window(800, 40 + day, shift=1.0 if day >= DRIFT_FROM else 0.0) for day in range(DAYS)]

    def load(
        session: Session, model: ModelSettings, start: datetime, end: datetime
    ) -> pd.DataFrame:
        return frames[round((end - START) / timedelta(days=1))]

    for day in range(DAYS):
        check_model(ctx, "churn", START + timedelta(days=day), load_window=load)
        if day == 3:
            _finished(
                ctx,
                tmp_path,
                "cadence",
                START + timedelta(days=day, hours=1),
                {
                    "registered_version": "2",
                    "promoted": True,
                    "champion_version": "1",
                    "metric": "roc_auc",
                    "challenger_score": 0.81,
                    "champion_score": 0.78,
                },
            )
    now = START + timedelta(days=DAYS - 1, hours=2)
    _finished(
        ctx,
        tmp_path,
        "drift",
        now - timedelta(hours=1),
        {
            "registered_version": "3",
            "promoted": False,
            "champion_version": "2",
            "metric": "roc_auc",
            "challenger_score": 0.74,
            "champion_score": 0.79,
            "reason": "challenger 0.7400 is not better than champion 0.7900",
        },
    )
    report = EnvironmentReport(
        environment=ENVIRONMENT,
        source="requirements",
        target="requirements.txt",
        python_version="3.11.9",
        scanned_at=now,
        packages=(),
        findings=(
            PackageFinding(
                environment=ENVIRONMENT,
                package="torch",
                installed="2.1.0",
                kind=FindingKind.VULNERABLE,
                severity="critical",
                detail="torch.load runs code from a crafted file",
                advisory_ids=(ADVISORY,),
                fixed="2.6.0",
                recommended="2.6.0",
            ),
            PackageFinding(
                environment=ENVIRONMENT,
                package="numpy",
                installed="1.26.4",
                kind=FindingKind.MAJOR_BEHIND,
                severity="warning",
                detail="2 major versions behind",
                recommended="2.2.0",
            ),
        ),
        libyears=1.5,
        support="supported",
        advisories="offline mirror",
    )
    store_findings(ctx.sessions, report, now, ctx.settings)
    return Seeded(model="churn", now=now, champion="2", rejected="3")
