"""A retrain job runs on the `now` it is given, never on the wall clock.

Driven with a `now` decades in the past or the future, the scheduled entry
points (`retrain_policy`, `poll_jobs`) record that time and give up on a job
by it. The one wall-clock time is the deadline of the job's process, which
runs in real time (`daemon.retraining.specs.process_deadline`): crossing it
times the job out, and the end is still recorded at the job's `now`.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from daemon.jobs import JobContext
from daemon.retraining.job import active_jobs, poll_jobs, retrain_policy
from daemon.store.engine import transaction
from daemon.store.features import stored_row
from daemon.store.tables import Model, Prediction, RetrainJob
from retrain.interface import JobState, RetrainSpec
from tests.retrain import data
from tests.retrain.test_job_records import settings_for, the_job

TIMEOUT = timedelta(minutes=10)  # the executor timeout `settings_for` configures
CLOCKS = {
    "far-past": datetime(1999, 1, 4, 12, tzinfo=UTC),
    "far-future": datetime(2199, 1, 4, 12, tzinfo=UTC),
}


@pytest.fixture(params=list(CLOCKS), ids=list(CLOCKS))
def clock(request: pytest.FixtureRequest) -> datetime:
    return CLOCKS[str(request.param)]


def context_at(
    tmp_path: Path, engine: Engine, sessions: sessionmaker[Session], now: datetime, python: str
) -> JobContext:
    """A model serving since a week before `now`, with labelled rows of the last day."""
    ctx = JobContext(
        settings=settings_for(tmp_path, python=python), engine=engine, sessions=sessions
    )
    with transaction(ctx.sessions) as session:
        model = Model(name="churn", created_at=now - timedelta(days=7))
        session.add(model)
        session.flush()
        for i, row in enumerate(data.frame(200, seed=5).itertuples(index=False)):
            ts = now - timedelta(days=1) + timedelta(minutes=7 * i)
            features = {"x1": row.x1, "x2": row.x2, "x3": row.x3, "plan": row.plan}
            session.add(
                Prediction(
                    model_id=model.id,
                    prediction_id=row.prediction_id,
                    ts=ts,
                    **stored_row(session, model.id, tuple(data.NUMERIC), features, ts),
                    prediction="1",
                    label=row.label,
                    labelled_at=ts,
                )
            )
    return ctx


def test_a_job_records_its_now_and_is_given_up_at_its_deadline_by_it(
    engine: Engine, session_factory: sessionmaker[Session], tmp_path: Path, clock: datetime
) -> None:
    ctx = context_at(tmp_path, engine, session_factory, clock, "/bin/true")
    assert retrain_policy(ctx, "churn", clock, manual=True) == []
    job = the_job(ctx)
    assert job.created_at == clock and job.deadline_at == clock + TIMEOUT
    assert job.external_id is not None
    shutil.rmtree(job.external_id)  # lost: its executor cannot answer for it

    # Up to its deadline on the job's clock the job is waited on, whatever the wall
    # clock says (decades past that deadline, or long before it).
    assert poll_jobs(ctx, None, clock + TIMEOUT) == []
    assert active_jobs(ctx) == [job.job_uid]
    # Past it, it is given up, at that time.
    later = clock + TIMEOUT + timedelta(seconds=1)
    [finding] = poll_jobs(ctx, None, later)
    assert finding.firing and "unreachable at its deadline" in finding.summary
    job = the_job(ctx)
    assert job.state == JobState.FAILED
    assert f"deadline {(clock + TIMEOUT).isoformat()}" in (job.error or "")
    # Ended at that time; when it began, no one can say (its executor lost it).
    assert (job.started_at, job.finished_at) == (None, later)


def test_a_process_past_its_wall_clock_deadline_is_timed_out_at_the_jobs_now(
    engine: Engine, session_factory: sessionmaker[Session], tmp_path: Path, clock: datetime
) -> None:
    slow = tmp_path / "slow-python"
    slow.write_text("#!/bin/sh\nexec sleep 60\n")
    slow.chmod(0o755)
    ctx = context_at(tmp_path, engine, session_factory, clock, str(slow))
    before = datetime.now(UTC)
    retrain_policy(ctx, "churn", clock, manual=True)
    after = datetime.now(UTC)
    job = the_job(ctx)
    # The process's deadline is the one wall-clock time, and it travels in the spec.
    spec = RetrainSpec.from_json(json.dumps(job.spec))
    assert before + TIMEOUT <= spec.deadline <= after + TIMEOUT
    assert job.deadline_at == clock + TIMEOUT

    # Well within the job's deadline, polls leave a running process alone...
    assert poll_jobs(ctx, None, clock + timedelta(minutes=1)) == []
    assert active_jobs(ctx) == [job.job_uid]
    # ...until the process is past its own deadline: it is killed, timed out, and the
    # end is recorded at the job's `now`.
    with transaction(ctx.sessions) as session:
        row = session.scalars(select(RetrainJob)).one()
        row.spec = {**row.spec, "deadline": (datetime.now(UTC) - timedelta(seconds=1)).isoformat()}
    at = clock + timedelta(minutes=2)
    [finding] = poll_jobs(ctx, None, at)
    assert finding.summary.startswith(f"churn: retrain job {job.job_uid} timed_out: killed at")
    job = the_job(ctx)
    assert job.state == JobState.TIMED_OUT and job.finished_at == at
    assert job.created_at == clock
