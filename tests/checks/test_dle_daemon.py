"""A regression model's estimated performance (DLE) in the daemon: specs, stored runs,
alerts, /v1 history and the weekly report, with the loss model fitted once per
reference version."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from checks.interface import CheckKind, Status
from checks.performance import Metric
from daemon.api.v1_queries import measures
from daemon.checking.cache import CheckCache
from daemon.checking.run import run_checks
from daemon.checking.specs import dle_spec, enabled_kinds, estimation_spec
from daemon.config import ModelSettings, Settings, parse_config
from daemon.jobs import JobContext
from daemon.report.gather import gather
from daemon.report.weeks import week_of_date
from daemon.store.tables import CheckMetric, CheckRun
from tests.checks.frames import START
from tests.checks.regression import CATEGORICAL, NUMERIC, regression_window


def regression_settings(
    tmp_path: Path, reference: Path, url: str = "sqlite://", **performance: object
) -> Settings:
    config = {
        "service": {"state_dir": str(tmp_path / "state")},
        "store": {"url": url},
        "models": [
            {
                "name": "spend",
                "task": "regression",
                "source": {"kind": "http"},
                "schema": {"numeric": list(NUMERIC), "categorical": list(CATEGORICAL)},
                "reference": {"kind": "file", "path": str(reference)},
                "checks": {
                    "min_rows": 100,
                    "drift": {"enabled": False},
                    "operations": {"enabled": False},
                    "performance": {"bootstrap": 20, "min_labelled": 100, **performance},
                },
            }
        ],
    }
    return parse_config(config, environ={})


def _model(tmp_path: Path, **performance: object) -> ModelSettings:
    return regression_settings(tmp_path, tmp_path / "ref.parquet", **performance).model("spend")


def test_the_performance_metric_picks_what_dle_estimates(tmp_path: Path) -> None:
    model = _model(tmp_path)
    spec = dle_spec(model)
    assert spec is not None and spec.metric is Metric.RMSE  # the regression default
    assert estimation_spec(model) is None
    assert CheckKind.ESTIMATED_PERFORMANCE in enabled_kinds(model)
    assert (spec := dle_spec(_model(tmp_path, metric="mae"))) and spec.metric is Metric.MAE
    # MAPE and R2 are not estimated: the regression default stands in.
    assert (spec := dle_spec(_model(tmp_path, metric="r2"))) and spec.metric is Metric.RMSE
    off = _model(tmp_path, estimate=False)
    assert dle_spec(off) is None and CheckKind.ESTIMATED_PERFORMANCE not in enabled_kinds(off)


def test_estimated_mae_is_stored_alerts_and_reaches_v1_and_the_report(
    tmp_path: Path,
    engine: Engine,
    session_factory: sessionmaker[Session],
    caplog: pytest.LogCaptureFixture,
) -> None:
    ref_path = tmp_path / "ref.parquet"
    regression_window(3000, 1).to_parquet(ref_path)
    settings = regression_settings(tmp_path, ref_path, metric="mae")
    ctx = JobContext(settings=settings, engine=engine, sessions=session_factory)
    model = settings.model("spend")
    reference = regression_window(3000, 1)
    cache = CheckCache()
    clean_at, shifted_at = START + timedelta(days=1), START + timedelta(days=2)
    with caplog.at_level(logging.INFO, logger="daemon.checking.loss_models"):
        # Labels have not arrived: only the estimate can judge these windows.
        clean = regression_window(1000, 2).drop(columns=["label"])
        first = run_checks(ctx, model, clean_at, clean, reference, cache=cache)
        shifted = regression_window(1000, 3, shift=2.0).drop(columns=["label"])
        second = run_checks(ctx, model, shifted_at, shifted, reference, cache=cache)
    fitted = [r for r in caplog.records if "fitted the loss model" in r.getMessage()]
    assert len(fitted) == 1, "one loss model per reference version, not one per check"

    quiet = first.result(CheckKind.ESTIMATED_PERFORMANCE)
    assert quiet.status is Status.OK and quiet.summary["method"] == "dle"
    assert first.result(CheckKind.PERFORMANCE).status is Status.INSUFFICIENT_DATA
    loud = second.result(CheckKind.ESTIMATED_PERFORMANCE)
    assert loud.status is Status.ALERT
    estimated = loud.measure("mae", "estimated")
    assert (estimated.basis or "").startswith("band at n=1000")
    findings = {(f.kind, f.subject): f for f in second.findings}
    finding = findings[("estimated_performance", "mae")]
    assert finding.firing and finding.summary.startswith("estimated mae ")
    assert "above threshold" in finding.summary
    assert not {(f.kind, f.subject): f for f in first.findings}[
        ("estimated_performance", "mae")
    ].firing

    with session_factory() as session:
        stored = session.execute(
            select(CheckMetric.value, CheckMetric.alerting)
            .join(CheckRun, CheckRun.id == CheckMetric.run_id)
            .where(CheckRun.kind == "estimated_performance", CheckMetric.subject == "mae")
            .where(CheckMetric.name == "estimated")
            .order_by(CheckRun.window_end)
        ).all()
        assert [a for _, a in stored] == [False, True]
        assert stored[1][0] == pytest.approx(estimated.value)
        history, truncated = measures(
            session,
            "spend",
            kind=CheckKind.ESTIMATED_PERFORMANCE,
            subject="mae",
            name="estimated",
            since=None,
            until=None,
            limit=10,
        )
        assert not truncated and [m.alerting for m in history] == [False, True]
        assert history[1].value == pytest.approx(estimated.value)
        week = week_of_date(START.date())
        report = gather(session, settings, week, START + timedelta(days=7))
    (spend,) = [m for m in report.models if m.name == "spend"]
    assert spend.performance.metric == "mae" and spend.performance.alert_runs == 1
    daily = [v for v in spend.performance.estimated if v is not None]
    assert len(daily) == 2 and daily[-1] == pytest.approx(estimated.value)
    assert spend.performance.last_estimated == pytest.approx(estimated.value)
