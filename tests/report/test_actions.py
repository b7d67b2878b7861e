"""The report's actions respect the config and drop what a later event superseded."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from daemon.report.actions import recommend
from daemon.report.model import (
    Action,
    ActionKind,
    DaemonHealth,
    FeatureDrift,
    FrameworkEnv,
    FrameworkRow,
    Health,
    ModelWeek,
    PerformanceRow,
    PerformanceTrend,
    RetrainRow,
)
from retrain.interface import JobState

T0 = datetime(2026, 3, 2, 8, tzinfo=UTC)
NO_FAULTS = DaemonHealth(
    jobs=(),
    sampled=0,
    rejected=0,
    rejected_by_reason={},
    rejected_examples=(),
    notifications={},
    failed_notifications=(),
)


def _perf(alert_runs: int) -> PerformanceTrend:
    # As daemon/report/figures.py builds it: a row per check kind that measured a value.
    realized = PerformanceRow(
        kind="performance",
        metric="accuracy",
        last=0.83,
        threshold=0.86,
        basis="band at n=500",
        alert_runs=alert_runs,
        day=date(2026, 3, 8),
    )
    return PerformanceTrend(
        metric="accuracy",
        baseline=0.91,
        rows=(realized,),
        realized=(0.83,),
        estimated=(),
        last_realized=0.83,
        last_estimated=None,
        alert_runs=alert_runs,
    )


def _job(uid: str, state: JobState, at: datetime, error: str | None = None) -> RetrainRow:
    return RetrainRow(
        job_uid=uid,
        trigger="decay",
        state=state.value,
        created_at=at,
        finished_at=at + timedelta(minutes=5),
        registered_version="3" if state is JobState.SUCCEEDED else None,
        champion_version="2",
        metric="accuracy",
        champion_score=None,
        challenger_score=None,
        promoted=False,
        reason="no gain" if state is JobState.SUCCEEDED else "",
        error=error,
    )


def _model(
    *,
    retrain_enabled: bool = True,
    alert_runs: int = 0,
    retrains: tuple[RetrainRow, ...] = (),
    drifting: tuple[FeatureDrift, ...] = (),
) -> ModelWeek:
    return ModelWeek(
        name="wine",
        version="2",
        health=Health.ALERTING,
        counts={},
        drift_share=(),
        drift_threshold=None,
        drifting=drifting,
        performance=_perf(alert_runs),
        quality=(),
        latency_p95=(),
        latency_threshold=None,
        error_rate=(),
        error_threshold=None,
        alerts=(),
        retrains=retrains,
        evidence=(),
        sampled=100,
        rejected={},
        retrain_enabled=retrain_enabled,
    )


def _actions(model: ModelWeek) -> list[Action]:
    return list(recommend([model], [], NO_FAULTS))


def test_a_failing_model_is_told_to_retrain_only_when_its_config_allows_it() -> None:
    [on] = _actions(_model(alert_runs=4))
    assert on.kind is ActionKind.RETRAIN and on.text.startswith("Retrain wine: accuracy 0.830")
    [off] = _actions(_model(alert_runs=4, retrain_enabled=False))
    assert off.kind is ActionKind.INVESTIGATE
    assert "Retrain" not in off.text and "retraining is off for it in the config" in off.text
    # Still ranked as the most urgent thing: the model's answers are wrong today.
    assert off.score == on.score


def test_a_failed_retraining_that_a_later_job_got_past_asks_for_nothing() -> None:
    failed = _job("job-1", JobState.FAILED, T0, "ModuleNotFoundError: No module named 'xgb'")
    [still] = _actions(_model(retrains=(failed,)))
    assert still.text.startswith("Look into the failed retraining of wine (job-1: ModuleNotFound")
    later = _job("job-2", JobState.SUCCEEDED, T0 + timedelta(hours=2))
    assert _actions(_model(retrains=(failed, later))) == []
    # A success before the failure supersedes nothing.
    earlier = _job("job-0", JobState.SUCCEEDED, T0 - timedelta(hours=2))
    [kept] = _actions(_model(retrains=(earlier, failed)))
    assert "job-1" in kept.text
    # A later failure does not clear an earlier one either: both are open.
    again = _job("job-3", JobState.TIMED_OUT, T0 + timedelta(hours=3))
    assert len(_actions(_model(retrains=(failed, again)))) == 2


def _drifted(column: str, drifted: int, runs: int = 24) -> FeatureDrift:
    return FeatureDrift(
        column=column,
        method="wasserstein",
        detail=None,
        runs=runs,
        drifted_runs=drifted,
        last_score=0.31,
        max_score=0.4,
        threshold=0.1,
    )


def test_a_drifting_model_is_told_of_every_drifting_feature() -> None:
    # Most often drifted first, as the report orders them; one of them only now and then.
    drifting = (_drifted("alcohol", 18), _drifted("ph", 13), _drifted("sulphates", 2))
    [look] = _actions(_model(drifting=drifting))
    assert look.kind is ActionKind.INVESTIGATE
    assert look.text == (
        "Investigate the drifting features of wine: "
        "alcohol drifted in 75% of checks (wasserstein 0.31, threshold 0.1); "
        "ph drifted in 54% of checks (wasserstein 0.31, threshold 0.1); "
        "sulphates drifted in 8% of checks (wasserstein 0.31, threshold 0.1)"
    )
    # Ranked by the most drifted feature, below a failing model.
    assert look.score == 150 + 100 * 0.75
    # A stray drift is still named: the model is degraded, the action says where.
    [stray] = _actions(_model(drifting=(_drifted("ph", 1),)))
    assert stray.text.startswith("Investigate the drifting feature of wine: ph drifted in 4%")
    # A failing model is told to retrain, and of all the features that drifted.
    [retrain] = _actions(_model(alert_runs=4, drifting=drifting))
    assert retrain.kind is ActionKind.RETRAIN
    assert retrain.text.endswith("(4 failing performance checks; drifting: alcohol, ph, sulphates)")


def _row(
    kind: str, last: float, threshold: float, failing: int, on: date | None = None
) -> PerformanceRow:
    """A row of the week ending 2026-03-08; `on`: its figure's older day (labels stopped)."""
    return PerformanceRow(
        kind=kind,
        metric="roc_auc",
        last=last,
        threshold=threshold,
        basis="band at n=500",
        alert_runs=failing,
        day=on or date(2026, 3, 8),
        stale=on is not None,
    )


def test_a_performance_action_cites_each_kind_that_failed_on_its_own_side() -> None:
    model = _model(alert_runs=5)
    # A score alerts below its threshold: the estimate is quoted as such, and the
    # realized figure, current and inside its band, as context.
    only_estimate = (
        _row("performance", 0.81, 0.78, 0),
        _row("estimated_performance", 0.74, 0.77, 5),
    )
    [est] = _actions(replace(model, performance=replace(model.performance, rows=only_estimate)))
    assert est.text == (
        "Retrain wine: estimated roc_auc 0.74 below threshold 0.77 "
        "(5 failing estimated-performance checks; realized roc_auc 0.810 within its threshold)"
    )
    # Both failed: the realized figure leads (it is measured), each kind counts its own.
    both = (
        _row("performance", 0.76, 0.78, 2, on=date(2026, 3, 6)),
        _row("estimated_performance", 0.79, 0.77, 3),
    )
    [real] = _actions(replace(model, performance=replace(model.performance, rows=both)))
    assert real.text == (
        "Retrain wine: roc_auc 0.760 vs baseline 0.910 on 2026-03-06 "
        "(2 failing performance checks; 3 failing estimated-performance checks)"
    )


def _vulnerable(ids: tuple[str, ...], severity: str = "high") -> FrameworkRow:
    return FrameworkRow(
        package="torch",
        installed="2.5.1",
        kind="vulnerable",
        severity=severity,
        advisories=ids,
        recommended="2.6.0",
        detail="demo",
    )


def _env(name: str, *rows: FrameworkRow) -> FrameworkEnv:
    return FrameworkEnv(
        environment=name, scanned_at=T0, vulnerable=rows, outdated=(), eol=(), ignored=0
    )


def test_an_upgrade_counts_each_advisory_once_whatever_its_aliases_and_environments() -> None:
    rce = ("PYSEC-2025-41", "CVE-2025-32434", "GHSA-53q9-r3pm-6pq6")
    one = [a.text for a in recommend([], [_env("serving", _vulnerable(rce))], NO_FAULTS)]
    assert one == ["Upgrade torch from 2.5.1 to 2.6.0 to clear 1 advisory (serving)"]
    other = ("PYSEC-2024-259", "CVE-2024-48063")
    envs = [_env("serving", _vulnerable(rce)), _env("batch", _vulnerable(rce), _vulnerable(other))]
    (action,) = recommend([], envs, NO_FAULTS)
    assert action.text == "Upgrade torch from 2.5.1 to 2.6.0 to clear 2 advisories (batch, serving)"
