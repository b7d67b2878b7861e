"""The daemon side: settings to specs, stored runs and metrics, findings, alerts, CLI."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from checks.drift import Method
from checks.interface import CheckKind, Status
from daemon.checking.cache import CheckCache
from daemon.checking.job import check_model
from daemon.checking.references import (
    ReferenceUnavailable,
    default_window_loader,
    load_reference,
    reference_stats,
)
from daemon.checking.run import run_checks
from daemon.checking.specs import drift_spec, enabled_kinds
from daemon.config import Settings
from daemon.jobs import JobContext
from daemon.store.tables import Alert, CheckMetric, CheckRun, Model
from tests.checks.frames import START, churn_config_file, churn_settings, window
from tests.checks.stored import stored_prediction


def settings(tmp_path: Path, reference: dict[str, object], url: str = "sqlite://") -> Settings:
    return churn_settings(
        tmp_path,
        reference,
        url,
        checks={
            "min_rows": 50,
            "drift": {"columns": {"income": {"method": "psi", "threshold": 0.2}}},
            "performance": {"bootstrap": 50, "min_labelled": 100},
            "operations": {"max_latency_p95_ms": 1000},
            "multivariate": {"enabled": True, "classifier_rows": 300},
        },
    )


def test_spec_from_settings(tmp_path: Path) -> None:
    model = settings(tmp_path, {"kind": "snapshot"}).model("churn")
    spec = drift_spec(model)
    by_name = {c.name: c for c in spec.columns}
    assert by_name["income"].method is Method.PSI and by_name["income"].threshold == 0.2
    assert by_name["age"].method is None
    assert not by_name["label"].in_dataset and by_name["age"].in_dataset


def test_reference_cache_keeps_one_reference_per_model(tmp_path: Path) -> None:
    """A retrain's new reference replaces the old one; a long-lived daemon keeps no others."""
    model = settings(tmp_path, {"kind": "snapshot"}).model("churn")
    other = model.model_copy(update={"name": "other"})
    cache = CheckCache()
    v1, v2 = window(300, 1), window(300, 2)
    first = reference_stats(model, v1, cache=cache)
    assert reference_stats(model, v1, cache=cache) is first and cache.hits == 1
    reference_stats(other, v1, cache=cache)  # another model holds the same reference
    for i in range(3):  # retrains: each new reference supersedes the previous one
        reference_stats(model, window(300, 3 + i), cache=cache)
    assert len(cache) == 2  # the other model's v1 and the newest
    assert reference_stats(other, v1, cache=cache) is first
    reference_stats(other, v2, cache=cache)
    assert len(cache) == 2 and cache.misses == 5


def _ctx(
    tmp_path: Path, engine: Engine, sessions: sessionmaker[Session], ref_path: Path
) -> JobContext:
    s = settings(tmp_path, {"kind": "file", "path": str(ref_path)})
    return JobContext(settings=s, engine=engine, sessions=sessions)


def test_run_store_and_alert(
    tmp_path: Path, engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    ref = window(1500, 1).rename(columns={"label": "churned"})
    ref_path = tmp_path / "reference.parquet"
    ref.to_parquet(ref_path)
    ctx = _ctx(tmp_path, engine, session_factory, ref_path)
    model = ctx.settings.model("churn")
    now = START + timedelta(days=1)
    frame = window(800, 2, shift=1.0, concept=True)
    with session_factory() as session:
        ref_frame, _digest = load_reference(session, model)
    cycle = run_checks(ctx, model, now, frame, ref_frame)
    assert set(cycle.runs) == set(CheckKind)
    assert cycle.result(CheckKind.DRIFT).status is Status.ALERT
    evidence = cycle.runs[CheckKind.DRIFT].evidence_path
    # mlmaint's own page: small, and it names the drifted column.
    assert evidence is not None and evidence.exists() and 2_000 < evidence.stat().st_size < 300_000
    assert ">age</h3>" in evidence.read_text(encoding="utf-8")
    subjects = {(f.kind, f.subject): f for f in cycle.findings}
    # The alert links the page as served, under report.base_url, by the stored run's id.
    run_id = cycle.runs[CheckKind.DRIFT].run_id
    base = ctx.settings.report.base_url.rstrip("/")
    assert subjects[("drift", "age")].firing
    assert subjects[("drift", "age")].link == f"{base}/reports/evidence/{run_id}"
    assert not subjects[("drift", "region")].firing
    # The model's outputs drift as one subject that names each drifted output, not one
    # alert per output beside the features.
    outputs = subjects[("drift", "outputs")]
    drifted = cycle.result(CheckKind.DRIFT).summary["drifted_columns"]
    assert isinstance(drifted, list)
    named = [c for c in ("prediction", "score", "label") if c in drifted]
    assert outputs.firing is bool(named)
    assert outputs.details["drifted"] == (", ".join(named) or None)
    assert outputs.summary.startswith("drift of the model's outputs")
    assert not {("drift", c) for c in ("prediction", "score", "label")} & set(subjects)
    assert subjects[("performance", "roc_auc")].firing
    with session_factory() as session:
        runs = session.scalars(select(CheckRun)).all()
        assert {r.kind for r in runs} == {k.value for k in CheckKind}
        drift_run = next(r for r in runs if r.kind == "drift")
        assert drift_run.evidence_path == str(evidence)
        metrics = session.scalars(
            select(CheckMetric).where(CheckMetric.run_id == drift_run.id)
        ).all()
        age = next(m for m in metrics if m.subject == "age")
        assert age.alerting and age.value is not None and age.threshold is not None
        # The default thresholds are calibrated to the window's size, and say so.
        assert age.basis == "at n=800, calibrated for 1% false alarms"
        income = next(m for m in metrics if m.subject == "income")
        assert income.threshold == 0.2 and income.basis == "configured for this column"

    # From the store: sampled predictions as the window, alerts through the policy.
    with session_factory.begin() as session:
        model_id = session.scalar(select(Model.id).where(Model.name == "churn"))
        for i, row in enumerate(frame.to_dict("records")):
            session.add(
                stored_prediction(session, model_id, row, now + timedelta(hours=1, seconds=i), now)
            )
    later = now + timedelta(days=1)
    cycle = check_model(ctx, "churn", later, load_window=default_window_loader())
    assert cycle.rows == 800
    assert cycle.result(CheckKind.DRIFT).measure("age", "wasserstein").alerting
    with session_factory() as session:
        firing = session.scalars(select(Alert.subject).where(Alert.kind == "drift")).all()
        assert "age" in firing
        assert session.scalar(select(func.count()).select_from(CheckRun)) == 2 * len(CheckKind)


def test_missing_reference_is_insufficient(
    tmp_path: Path, engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    s = settings(tmp_path, {"kind": "snapshot"})
    ctx = JobContext(settings=s, engine=engine, sessions=session_factory)
    with (
        session_factory() as session,
        pytest.raises(ReferenceUnavailable, match="none recorded for the serving version"),
    ):
        load_reference(session, s.model("churn"))
    cycle = check_model(ctx, "churn", START, load_window=default_window_loader())
    assert {r.result.status for r in cycle.runs.values()} == {Status.INSUFFICIENT_DATA}
    with session_factory() as session:
        statuses = session.scalars(select(CheckRun.status)).all()
        assert statuses and all(s == "insufficient_data" for s in statuses)


def test_cli_check(tmp_path: Path) -> None:
    from daemon.cli import main
    from daemon.store import migrate
    from daemon.store.engine import make_engine

    ref_path = tmp_path / "reference.csv"
    window(600, 1).rename(columns={"label": "churned"}).to_csv(ref_path, index=False)
    db = tmp_path / "store.db"
    engine = make_engine(f"sqlite:///{db}")
    migrate.upgrade(engine)
    engine.dispose()
    config = churn_config_file(tmp_path, f"sqlite:///{db}", ref_path)
    result = CliRunner().invoke(main, ["--config", str(config), "check", "churn", "--window", "2d"])
    assert result.exit_code == 0, result.output
    assert "insufficient_data" in result.output and "drift" in result.output
    unknown = CliRunner().invoke(main, ["--config", str(config), "check", "nope"])
    assert unknown.exit_code == 2
    bad = CliRunner().invoke(main, ["--config", str(config), "check", "churn", "--window", "abc"])
    assert bad.exit_code == 2 and "bad --window" in bad.output, bad.output


def test_a_corrupt_reference_file_is_insufficient_data_naming_it(
    tmp_path: Path, engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    broken = tmp_path / "reference.parquet"
    broken.write_bytes(b"PAR1 this is not parquet")
    s = settings(tmp_path, {"kind": "file", "path": str(broken)})
    ctx = JobContext(settings=s, engine=engine, sessions=session_factory)
    with (
        session_factory() as session,
        pytest.raises(ReferenceUnavailable, match=r"churn: .*cannot read .*reference\.parquet"),
    ):
        load_reference(session, s.model("churn"))
    cycle = check_model(ctx, "churn", START)
    assert {r.result.status for r in cycle.runs.values()} == {Status.INSUFFICIENT_DATA}
    # Only the kinds the model enables get a run (no score-less estimated runs etc.).
    assert set(cycle.runs) == set(enabled_kinds(s.model("churn")))


def test_operations_run_without_a_reference(
    tmp_path: Path, engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    """Latency and errors need no reference: a model not monitored yet still gets them."""
    s = settings(tmp_path, {"kind": "snapshot"})
    ctx = JobContext(settings=s, engine=engine, sessions=session_factory)
    rows = window(600, 1)
    cycle = check_model(ctx, "churn", START, load_window=lambda *_: rows)
    ops = cycle.runs[CheckKind.OPERATIONS].result
    assert ops.status is Status.OK, ops.reason
    assert ops.rows == 600
    assert {r.result.status for k, r in cycle.runs.items() if k is not CheckKind.OPERATIONS} == {
        Status.INSUFFICIENT_DATA
    }
    assert [f.kind for f in cycle.findings if f.firing] == ["monitoring"]
