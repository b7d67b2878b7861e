"""Decisions people see: promotion, skipped promotion, rollback and pin, each told once.

A real local-executor job with MLflow on both store backends, its decisions read
back from the file channel's outbox lines as a person's tools would read them.
"""

from __future__ import annotations

import json
import math
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from checks.interface import CheckKind
from daemon.alerts.delivery import deliver_pending
from daemon.alerts.policy import apply_findings
from daemon.checking.job import check_model
from daemon.checking.references import normalize_reference
from daemon.checking.run import run_checks
from daemon.config import Settings, load_config, parse_config
from daemon.jobs import JobContext
from daemon.retraining.decide import policy_decision
from daemon.retraining.job import retrain_policy, wait_for_jobs
from daemon.retraining.pins import active_pin
from daemon.retraining.submit import submit_if_due
from daemon.retraining.versions import register_initial_version, rollback, unpin
from daemon.service_status import format_status
from daemon.store.engine import transaction
from daemon.store.tables import Alert, AlertState, CheckMetric, CheckRun, Model, RetrainJob
from daemon.store.versions import stored_versions
from daemon.tables import fmt_value
from retrain import registry
from tests.retrain import data
from tests.retrain.conftest import decayed_data
from tests.retrain.test_daemon import START, seed_production

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def settings_for(tmp_path: Path, mlflow_uri: str) -> Settings:
    return parse_config(
        {
            "service": {"state_dir": str(tmp_path / "state")},
            "mlflow": {"tracking_uri": mlflow_uri, "artifact_root": str(tmp_path / "artifacts")},
            "executor": {"kind": "local", "timeout": "10m"},
            "alerts": {
                "channels": [
                    {"name": "outbox", "kind": "file", "path": str(tmp_path / "outbox.jsonl")}
                ]
            },
            "models": [
                {
                    "name": "churn",
                    "source": {"kind": "http"},
                    "schema": {"numeric": list(data.NUMERIC), "categorical": ["plan"]},
                    "checks": {"window": "4d"},
                    "retrain": {
                        "failing_runs": 3,
                        "holdout_share": 0.3,
                        "include_reference": False,
                    },
                }
            ],
        },
        environ={},
    )


def delivered(
    ctx: JobContext, now: object, seen: list[dict[str, object]]
) -> list[dict[str, object]]:
    """Deliver the outbox and return the lines that are new since the last call."""
    deliver_pending(ctx, now)  # type: ignore[arg-type]
    path = Path(ctx.settings.channel("outbox").path)  # type: ignore[union-attr]
    lines = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    new = lines[len(seen) :]
    seen.extend(new)
    return new


def items(line: dict[str, object]) -> list[dict[str, object]]:
    payload = line["payload"]
    assert isinstance(payload, dict)
    return list(payload["items"])


def registered(ctx: JobContext) -> dict[str, list[str]]:
    """The registry's versions of churn and their aliases, as the store last synced them."""
    with ctx.sessions() as session:
        return {
            v.version: list(v.aliases)
            for versions in stored_versions(
                session, [session.scalars(select(Model.id)).one()]
            ).values()
            for v in versions
        }


def test_promotion_rollback_pin_and_skipped_promotion_are_each_told_once(
    engine: Engine, session_factory: sessionmaker[Session], tmp_path: Path, mlflow_uri: str
) -> None:
    ctx = JobContext(
        settings=settings_for(tmp_path, mlflow_uri), engine=engine, sessions=session_factory
    )
    outbox: list[dict[str, object]] = []
    old, new, _ = decayed_data()
    first = register_initial_version(ctx, "churn", old, START)
    assert first.promoted, first.traceback
    assert registered(ctx) == {"1": ["champion"]}
    with transaction(ctx.sessions) as session:
        v1_reference = session.scalars(select(Model.reference_uri)).one()

    # Decay: the policy retrains and promotes version 2.
    seed_production(ctx, new.iloc[:800], failing=5)
    now = START + timedelta(days=4, hours=1)
    retrain_policy(ctx, "churn", now)
    [finding] = wait_for_jobs(ctx, now, timeout_s=240)
    with transaction(ctx.sessions) as session:
        job = session.scalars(select(RetrainJob).where(RetrainJob.trigger == "decay")).one()
        outcome = dict(job.outcome or {})
    assert job.promoted, job.log_tail
    # The registry sync at the job's end: both versions, the alias on the new one.
    assert registered(ctx) == {"1": [], "2": ["champion"]}
    [line] = delivered(ctx, now, outbox)
    [item] = items(line)
    assert (item["kind"], item["subject"], item["change"]) == ("retrain", "promotion", "notice")
    champion, challenger = outcome["champion_score"], outcome["challenger_score"]
    assert isinstance(champion, float) and isinstance(challenger, float)
    # Performance failed, drift did not: the job says decay, not drift.
    assert item["summary"] == (
        f"churn: promoted version 2 over version 1: {outcome['metric']} {fmt_value(champion)} -> "
        f"{fmt_value(challenger)}; retrained for performance decay"
    )
    assert line["title"] == f"[mlmaint] [info] {item['summary']}"
    # The same decision handed in again (a poll retried after a crash) is not told again.
    with transaction(ctx.sessions) as session:
        assert apply_findings(session, ctx.settings, [finding], now).notification_ids == ()
    assert delivered(ctx, now, outbox) == []

    # A person rolls back, pinned for three days.
    rolled_at = now + timedelta(hours=1)
    until = rolled_at + timedelta(days=3)
    back = rollback(ctx, "churn", rolled_at, until=until, by="alice")
    assert (back.from_version, back.to_version) == ("2", "1")
    assert registered(ctx) == {"1": ["champion"], "2": []}
    [line] = delivered(ctx, rolled_at, outbox)
    [item] = items(line)
    assert (item["subject"], item["severity"]) == ("rollback", "warning")
    assert item["summary"] == (
        f"churn: rolled back from version 2 to version 1 by alice at {rolled_at.isoformat()}; "
        f"pinned to version 1 until {until.isoformat()}"
    )
    with transaction(ctx.sessions) as session:
        row = session.scalars(select(Model)).one()
        assert (row.current_version, row.reference_uri) == ("1", v1_reference)
        pin = active_pin(row, rolled_at)
        assert pin is not None and (pin.version, pin.since, pin.until, pin.by) == (
            "1",
            rolled_at,
            until,
            "alice",
        )
    status = " ".join(format_status(engine, "-", now=rolled_at).split())
    assert f"churn: pinned to version 1 since {rolled_at:%Y-%m-%d %H:%M:%S} UTC by alice" in status

    # Decisions are history on both versions, none overwritten.
    client = registry.client(mlflow_uri)
    v2_tags = dict(client.get_model_version("churn", "2").tags)
    v1_tags = dict(client.get_model_version("churn", "1").tags)
    assert registry.decisions(v2_tags) == [
        outcome["reason"],
        f"rolled back to version 1 (by alice at {rolled_at.isoformat()}, "
        f"pinned until {until.isoformat()})",
    ]
    assert v2_tags[registry.TAG_DECISION] == registry.decisions(v2_tags)[-1]
    assert len(registry.decisions(v1_tags)) == 2
    assert registry.decisions(v1_tags)[-1].startswith("serving again: rolled back from version 2")

    # The next check compares with version 1's reference: the same drift and performance
    # figures as checks run on version 1's reference directly.
    checked_at = rolled_at + timedelta(minutes=5)
    # (Not alerted: its drift alerts would repeat in the outbox this test reads.)
    cycle = check_model(
        ctx, "churn", checked_at, kinds=(CheckKind.DRIFT, CheckKind.PERFORMANCE), alert=False
    )
    model = ctx.settings.model("churn")
    window_rows = cycle.rows
    assert window_rows > 0
    with transaction(ctx.sessions) as session:
        runs = session.scalars(select(CheckRun).where(CheckRun.ran_at == checked_at)).all()
        assert {r.model_version for r in runs} == {"1"}
        stored = {
            (m.subject, m.name): m.value
            for m in session.scalars(
                select(CheckMetric).where(CheckMetric.run_id.in_([r.id for r in runs]))
            )
        }
    from daemon.store.windows import load_window

    window = load_window(engine, model, checked_at - timedelta(days=4), checked_at)
    direct = run_checks(
        None,
        model,
        checked_at,
        window,
        normalize_reference(model, pd.read_parquet(v1_reference)),
        kinds=(CheckKind.DRIFT, CheckKind.PERFORMANCE),
    )
    expected = {
        (m.subject, m.name): None if m.value is None or math.isnan(m.value) else m.value
        for kind in (CheckKind.DRIFT, CheckKind.PERFORMANCE)
        for m in direct.result(kind).measures
    }
    assert stored.keys() == expected.keys()
    assert stored == pytest.approx(expected, nan_ok=True)

    # The failing streak is still there and the interval passed: pinned, no automatic job.
    later = rolled_at + timedelta(days=2)
    with transaction(ctx.sessions) as session:
        add_failing(session, later, 3)
    decision = policy_decision(ctx, "churn", later)
    assert not decision.submit
    assert decision.reason == f"pinned to version 1 until {until.isoformat()}"
    assert retrain_policy(ctx, "churn", later) == []

    # A manual retrain while pinned registers and scores a challenger, never promotes it.
    _, job_uid = submit_if_due(ctx, ctx.settings.model("churn"), later, manual=True)
    assert job_uid is not None
    [finding] = wait_for_jobs(ctx, later, timeout_s=240)
    with transaction(ctx.sessions) as session:
        job = session.scalars(select(RetrainJob).where(RetrainJob.job_uid == job_uid)).one()
        assert job.spec["allow_promotion"] is False
        assert not job.promoted and job.registered_version == "3", job.log_tail
        outcome = dict(job.outcome or {})
        assert session.scalars(select(Model.current_version)).one() == "1"
    champion_now = registry.by_alias(client, "churn", "champion")
    assert champion_now is not None and str(champion_now.version) == "1"
    [line] = delivered(ctx, later, outbox)
    [item] = items(line)
    assert item["subject"] == "promotion skipped"
    # Each value once: the decision, the metric, champion vs challenger, the margin.
    assert item["summary"] == (
        "churn: kept version 1, retrained version 3 not promoted: the model is pinned; "
        f"{outcome['metric']} champion {fmt_value(outcome['champion_score'])} vs challenger "
        f"{fmt_value(outcome['challenger_score'])} (margin 0, higher is better); "
        "retrained by hand"
    )
    assert "the model is pinned" in str(outcome["reason"])

    # Unpinned, the same facts let the policy go ahead (past the interval of job 3).
    lifted = unpin(ctx, "churn", later)
    assert lifted is not None and lifted.version == "1"
    with transaction(ctx.sessions) as session:
        add_failing(session, later + timedelta(days=1, hours=1), 3)
    decision = policy_decision(ctx, "churn", later + timedelta(days=1, hours=2))
    assert decision.submit and decision.trigger is not None
    assert decision.trigger.value == "decay"
    # Each decision was one notification, nothing else reached the channel.
    assert [items(line)[0]["subject"] for line in outbox] == [
        "promotion",
        "rollback",
        "promotion skipped",
    ]
    assert "pinned" not in format_status(engine, "-", now=later)


def add_failing(session: Session, end: object, n: int) -> None:
    from checks.interface import Status

    model_id = session.scalars(select(Model.id)).one()
    for i in range(n):
        ran = end - timedelta(minutes=n - i)  # type: ignore[operator]
        session.add(
            CheckRun(
                model_id=model_id,
                kind="performance",
                status=Status.ALERT,
                window_start=ran - timedelta(days=1),
                window_end=ran,
                ran_at=ran,
                duration_s=0.1,
                rows=100,
                summary={},
            )
        )


def test_an_expired_pin_no_longer_holds(
    engine: Engine, session_factory: sessionmaker[Session], tmp_path: Path, mlflow_uri: str
) -> None:
    ctx = JobContext(
        settings=settings_for(tmp_path, mlflow_uri), engine=engine, sessions=session_factory
    )
    with transaction(ctx.sessions) as session:
        session.add(Model(name="churn", created_at=START))
    seed_production(ctx, data.frame(100, seed=5), failing=4)
    now = START + timedelta(days=6)
    # A pin as a rollback records it, expiring in a day.
    with transaction(ctx.sessions) as session:
        row = session.scalars(select(Model)).one()
        row.current_version = row.pinned_version = "1"
        row.pinned_at = now
        row.pinned_until = now + timedelta(days=1)
        row.pinned_by = "alice"
    held = policy_decision(ctx, "churn", now + timedelta(hours=23))
    assert not held.submit and held.reason.startswith("pinned to version 1 until")
    assert "churn: pinned to version 1" in format_status(engine, "-", now=now)
    after = policy_decision(ctx, "churn", now + timedelta(days=1))
    assert after.submit and after.trigger is not None and after.trigger.value == "decay"
    status = format_status(engine, "-", now=now + timedelta(days=1))
    assert "churn: pin to version 1 expired at" in status
    # No event rows were left firing by any of it.
    with transaction(ctx.sessions) as session:
        assert session.scalars(select(Alert).where(Alert.state == AlertState.FIRING)).all() == []


def test_a_failed_and_a_timed_out_retrain_are_each_one_notification(
    engine: Engine, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    from datetime import UTC, datetime

    from daemon.alerts.policy import sweep

    now = START + timedelta(days=2)

    def bookkeeping(python: str) -> JobContext:
        # The jobs run for real on the local executor, with an interpreter that exits
        # at once or sleeps: the daemon's bookkeeping is under test, not training.
        settings = parse_config(
            {
                "service": {"state_dir": str(tmp_path / "state")},
                "mlflow": {"tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}"},
                "executor": {"kind": "local", "timeout": "10m", "python": python},
                "alerts": {
                    "channels": [
                        {"name": "outbox", "kind": "file", "path": str(tmp_path / "outbox.jsonl")}
                    ]
                },
                "models": [
                    {
                        "name": "churn",
                        "source": {"kind": "http"},
                        "schema": {"numeric": list(data.NUMERIC), "categorical": ["plan"]},
                    }
                ],
            },
            environ={},
        )
        return JobContext(settings=settings, engine=engine, sessions=session_factory)

    slow = tmp_path / "slow-python"
    slow.write_text("#!/bin/sh\nexec sleep 60\n")
    slow.chmod(0o755)
    ctx = bookkeeping("/bin/true")
    with transaction(ctx.sessions) as session:
        session.add(Model(name="churn", created_at=START))
    seed_production(ctx, data.frame(200, seed=5), failing=0)
    outbox: list[dict[str, object]] = []

    # /bin/true as the interpreter: the job ends at once, without an outcome.
    _, failed_uid = submit_if_due(ctx, ctx.settings.model("churn"), now, manual=True)
    wait_for_jobs(ctx, now, timeout_s=30, poll_s=0.1)
    [line] = delivered(ctx, now, outbox)
    [item] = items(line)
    assert (item["subject"], item["change"], item["severity"]) == ("failure", "notice", "warning")
    assert item["summary"].startswith(f"churn: retrain job {failed_uid} failed: ")  # type: ignore[union-attr]

    # A job whose process runs past its deadline (wall-clock time) is killed: timed out,
    # told once.
    slow_ctx = bookkeeping(str(slow))
    _, slow_uid = submit_if_due(slow_ctx, slow_ctx.settings.model("churn"), now, manual=True)
    with transaction(ctx.sessions) as session:
        job = session.scalars(select(RetrainJob).where(RetrainJob.job_uid == slow_uid)).one()
        past = datetime.now(UTC) - timedelta(seconds=1)
        job.spec = {**job.spec, "deadline": past.isoformat()}
    wait_for_jobs(slow_ctx, now, timeout_s=30, poll_s=0.1)
    [line] = delivered(ctx, now, outbox)
    [item] = items(line)
    assert item["subject"] == "failure"
    assert item["summary"].startswith(f"churn: retrain job {slow_uid} timed_out: killed at")  # type: ignore[union-attr]

    # Events never repeat: days later, a sweep sends nothing.
    with transaction(ctx.sessions) as session:
        assert sweep(session, ctx.settings, now + timedelta(days=3)).notification_ids == ()
        states = session.scalars(select(Alert.state).where(Alert.kind == "retrain")).all()
    assert sorted(states) == [AlertState.EVENT, AlertState.EVENT]
    assert delivered(ctx, now + timedelta(days=3), outbox) == []


class _Finished:
    """An executor whose one job has ended with a given outcome (the daemon's side is
    under test here: what it does with a promotion that lands on a pinned model)."""

    name = "local"

    def __init__(self, status: object) -> None:
        self.status = status

    def submit(self, spec: object) -> str:
        raise AssertionError("nothing is submitted here")

    def locate(self, job_id: str) -> str | None:
        return None

    def poll(self, external_id: str, deadline: object) -> object:
        return self.status

    def cancel(self, external_id: str) -> None:
        return None

    def logs(self, external_id: str) -> str:
        return ""

    def close(self) -> None:
        return None


def test_a_job_begun_before_the_pin_cannot_promote_over_it(
    engine: Engine, session_factory: sessionmaker[Session], tmp_path: Path, mlflow_uri: str
) -> None:
    from datetime import UTC, datetime

    from daemon.retraining.job import poll_jobs
    from retrain.interface import JobState, JobStatus, RetrainOutcome

    ctx = JobContext(
        settings=settings_for(tmp_path, mlflow_uri), engine=engine, sessions=session_factory
    )
    client = registry.client(mlflow_uri)
    client.create_registered_model("churn")
    for _ in range(3):
        client.create_model_version("churn", source=str(tmp_path), run_id=None)
    # The job promoted version 3 after a person had rolled back to version 1 and pinned it.
    client.set_registered_model_alias("churn", "champion", "3")
    now = START + timedelta(days=3)
    with transaction(ctx.sessions) as session:
        row = Model(
            name="churn",
            created_at=START,
            current_version="1",
            reference_uri="/data/v1.parquet",
            pinned_version="1",
            pinned_at=now - timedelta(hours=1),
            pinned_by="alice",
        )
        session.add(row)
        session.flush()
        session.add(
            RetrainJob(
                job_uid="job-3",
                model_id=row.id,
                trigger="decay",
                state=JobState.RUNNING,
                executor="local",
                external_id="somewhere",
                spec={},
                created_at=now - timedelta(hours=2),
                deadline_at=datetime.now(UTC) + timedelta(hours=1),
            )
        )
    status = JobStatus(
        state=JobState.SUCCEEDED,
        outcome=RetrainOutcome(
            job_id="job-3",
            state=JobState.SUCCEEDED,
            registered_version="3",
            promoted=True,
            champion_version="2",
            metric="roc_auc",
            champion_score=0.70,
            challenger_score=0.75,
            reason="roc_auc 0.7500 beats 0.7000",
            reference_uri="/data/v3.parquet",
        ),
    )
    [finding] = poll_jobs(ctx, "churn", now, executor=_Finished(status))  # type: ignore[arg-type]

    champion = registry.by_alias(client, "churn", "champion")
    assert champion is not None and str(champion.version) == "1"
    with transaction(ctx.sessions) as session:
        row = session.scalars(select(Model)).one()
        assert (row.current_version, row.reference_uri) == ("1", "/data/v1.parquet")
        job = session.scalars(select(RetrainJob)).one()
        assert job.state == JobState.SUCCEEDED and not job.promoted
    history = registry.decisions(dict(client.get_model_version("churn", "3").tags))
    assert history == [
        "promotion undone: pinned to version 1 until unpinned (`mlmaint retrain unpin churn`) "
        "(it had been promoted: roc_auc 0.7500 beats 0.7000)"
    ]
    [line] = delivered(ctx, now, [])
    [item] = items(line)
    assert item["subject"] == "promotion skipped"
    assert (
        item["summary"]
        == finding.summary
        == (
            "churn: retrained version 3 not promoted: pinned to version 1 until unpinned "
            "(`mlmaint retrain unpin churn`) (the job began before the pin; the alias is back on "
            "version 1)"
        )
    )


def test_rollback_pin_and_unpin_through_the_cli(
    store_url: str, tmp_path: Path, mlflow_uri: str
) -> None:
    from click.testing import CliRunner

    from daemon.cli import main

    client = registry.client(mlflow_uri)
    client.create_registered_model("churn")
    for _ in range(2):
        client.create_model_version("churn", source=str(tmp_path), run_id=None)
    client.set_model_version_tag("churn", "1", registry.TAG_REFERENCE, "/data/v1.parquet")
    client.set_model_version_tag("churn", "1", registry.TAG_REFERENCE_DIGEST, "a" * 64)
    registry.promote(client, "churn", "champion", "2", "1")
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
path = "{tmp_path / "outbox.jsonl"}"

[[models]]
name = "churn"

[models.source]
kind = "http"

[models.schema]
numeric = ["x1"]
categorical = []
"""
    )
    runner = CliRunner()

    def mlmaint(*args: str) -> tuple[int, str]:
        result = runner.invoke(main, ["--config", str(config), *args])
        return result.exit_code, result.output

    code, out = mlmaint("retrain", "rollback", "churn", "--pin-for", "7d", "--until", "2030-01-01")
    assert code == 2 and "not both" in out
    code, out = mlmaint("retrain", "rollback", "churn", "--until", "2020-01-01")
    assert code == 2 and "is not in the future" in out
    code, out = mlmaint("retrain", "rollback", "churn", "--until", "2099-12-31")
    assert code == 0, out
    # (The command's INFO log line shares the runner's output.)
    assert (
        "churn: serving version 1 again (was 2); pinned, no automatic promotion until "
        "2099-12-31T00:00:00+00:00\n"
    ) in out
    champion = registry.by_alias(client, "churn", "champion")
    assert champion is not None and str(champion.version) == "1"
    code, out = mlmaint("status")
    # status wraps a long line under itself: read it as one.
    flat = " ".join(out.split())
    assert "churn: pinned to version 1 since" in flat and "until 2099-12-31 00:00:00 UTC" in flat
    settings = load_config(config)
    ctx = JobContext.from_settings(settings)
    try:
        with transaction(ctx.sessions) as session:
            row = session.scalars(select(Model)).one()
            assert (row.current_version, row.reference_uri, row.reference_sha256) == (
                "1",
                "/data/v1.parquet",
                "a" * 64,
            )
            assert row.pinned_by  # the user who ran the command
        [line] = delivered(ctx, row.pinned_at, [])
        assert items(line)[0]["subject"] == "rollback"
    finally:
        ctx.close()
    code, out = mlmaint("retrain", "unpin", "churn")
    assert code == 0 and "churn: unpinned (was pinned to version 1): promotion may resume" in out
    code, out = mlmaint("retrain", "unpin", "churn")
    assert code == 0 and out.strip().endswith("churn: not pinned")
    assert "pinned" not in mlmaint("status")[1]
