"""Cause ranking (checks/causes.py): the features whose drift follows performance."""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from checks.causes import (
    Baseline,
    CauseRanking,
    CauseSpec,
    drift_signal,
    importances_of,
    pearson,
    rank_causes,
)
from checks.interface import CheckKind, CheckResult, Direction, Measure, Status
from checks.multivariate import CLASSIFIER, RECONSTRUCTION
from checks.performance.metrics import BaselineSource
from daemon.alerts.finding import WHY, Finding
from daemon.alerts.policy import apply_findings
from daemon.checking.causes import cause_words, change_words, explain, rank_stored
from daemon.checking.records import KindRun, store_runs
from daemon.config.common import ConfigError
from daemon.report.queries import _why
from daemon.store.tables import Alert
from daemon.tables import fmt_value
from tests.checks.frames import START, churn_settings


def test_pearson_matches_numpy_and_refuses_constant_or_short_series() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=20), rng.normal(size=20)
    r = pearson(list(x), list(y))
    assert r is not None and math.isclose(r, float(np.corrcoef(x, y)[0, 1]), abs_tol=1e-12)
    assert pearson([1.0, 1.0, 1.0, 1.0], [1.0, 2.0, 3.0, 4.0]) is None
    assert pearson([1.0, 2.0], [2.0, 1.0]) is None
    with pytest.raises(ValueError, match="different lengths"):
        pearson([1.0, 2.0, 3.0], [1.0, 2.0])


def test_drift_signal_is_one_at_the_threshold_and_grows_with_drift() -> None:
    assert drift_signal(0.2, 0.1, p_value=False) == pytest.approx(2.0)
    assert drift_signal(0.05, 0.05, p_value=True) == pytest.approx(1.0)
    # Smaller p-values drift more; a p-value of 0 stays finite.
    assert drift_signal(1e-6, 0.05, True) > drift_signal(0.01, 0.05, True) > 1.0  # type: ignore[operator]
    assert math.isfinite(drift_signal(0.0, 0.05, True) or math.inf)
    assert drift_signal(None, 0.1, False) is None
    assert drift_signal(0.3, None, False) is None


def _windows(seed: int = 0, n: int = 14) -> tuple[list[float], dict[str, list[float | None]]]:
    """A metric that falls over the last windows, one feature drifting with it, one
    drifting the other way, one noise."""
    rng = np.random.default_rng(seed)
    step = np.r_[np.zeros(n - 4), np.linspace(0.5, 2.0, 4)]
    auc = list(0.8 - 0.05 * step + rng.normal(0, 0.005, n))
    return auc, {
        "usage": list(0.5 + step + rng.normal(0, 0.05, n)),
        "tenure": list(rng.normal(0.5, 0.1, n)),
        "calm": list(1.5 - step + rng.normal(0, 0.05, n)),
    }


def test_the_feature_whose_drift_rises_as_the_score_falls_comes_first() -> None:
    auc, drift = _windows()
    ranking = rank_causes("roc_auc", Direction.BELOW, auc, drift, CauseSpec(min_r=0.0))
    assert ranking.causes[0].subject == "usage"
    by = {c.subject: c for c in ranking.ranked}
    assert by["usage"].r > 0.9 and by["calm"].r < -0.9 and abs(by["tenure"].r) < 0.6
    assert [c.subject for c in ranking.ranked] == ["usage", "tenure", "calm"]
    assert ranking.worsened and ranking.change is not None and ranking.change < -0.04
    # With an r floor, the noise is not named; the same words as an alert says.
    told = rank_causes("roc_auc", Direction.BELOW, auc, drift, CauseSpec(min_r=0.7))
    assert "tenure" not in {c.subject for c in told.causes}
    words = cause_words(dataclasses.replace(told, causes=told.causes[:1]))
    assert words.startswith("roc_auc fell 0.") and "; it follows usage (r = 0.9" in words


def test_a_loss_that_rises_with_drift_is_a_positive_association() -> None:
    auc, drift = _windows(seed=1)
    mae = [1.0 - a for a in auc]  # rises as the AUC falls
    ranking = rank_causes("mae", Direction.ABOVE, mae, drift, CauseSpec(min_r=0.0))
    assert ranking.causes[0].subject == "usage" and ranking.causes[0].r > 0.9
    assert ranking.worsened and (ranking.change or 0.0) > 0


def test_only_the_last_windows_count_and_missing_values_are_left_out() -> None:
    auc, drift = _windows(n=30)
    # The oldest windows disagree wildly; only the last 14 are read.
    drift["usage"][:16] = [9.0 - i for i in range(16)]
    drift["tenure"] = [None] * 30
    spec = CauseSpec(windows=14, top_k=1, min_r=0.5)
    ranking = rank_causes("roc_auc", Direction.BELOW, auc, drift, spec)
    assert ranking.windows == 14 and [c.subject for c in ranking.causes] == ["usage"]
    assert "tenure" not in {c.subject for c in ranking.causes}
    with pytest.raises(ValueError, match="usage: 3 drift values for 14"):
        rank_causes("roc_auc", Direction.BELOW, auc, {"usage": [1.0, 2.0, 3.0]}, spec)


def test_importance_weighting_with_the_models_own_importances() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(600, 3))
    y = (x[:, 0] + 0.1 * x[:, 1] > 0).astype(int)
    features = ["usage", "tenure", "calm"]
    trees = RandomForestClassifier(n_estimators=10, random_state=0).fit(x, y)
    forest = importances_of(trees, features)
    linear = importances_of(LogisticRegression().fit(x, y), features)
    for found in (forest, linear):
        assert found is not None and math.isclose(sum(found.values()), 1.0)
        assert max(found, key=found.__getitem__) == "usage"
    assert importances_of(object(), features) is None
    assert importances_of(LogisticRegression().fit(x, y), features[:2]) is None
    auc, drift = _windows()
    # "calm" drifts most in the latest window, but the model hardly uses it.
    drift["calm"][-1] = 3.0
    ranking = rank_causes("roc_auc", Direction.BELOW, auc, drift, CauseSpec(), linear)
    assert ranking.by_importance[0].subject == "usage"
    # The figure says its unit: the latest drift in thresholds times the importance share.
    assert linear is not None and drift["usage"][-1] is not None
    figure = f"{drift['usage'][-1] * linear['usage']:.2g}"
    assert f"; by latest drift (× threshold) times importance share: usage ({figure})" in (
        cause_words(ranking)
    )


def test_the_ranking_is_frozen_and_the_spec_checked() -> None:
    auc, drift = _windows()
    ranking = rank_causes("roc_auc", Direction.BELOW, auc, drift, CauseSpec())
    assert isinstance(ranking, CauseRanking)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ranking.metric = "x"  # type: ignore[misc]
    for bad in ({"windows": 2}, {"top_k": 0}, {"min_r": 1.5}):
        with pytest.raises(ValueError):
            CauseSpec(**bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no performance value"):
        rank_causes("roc_auc", Direction.BELOW, [None] * 5, {}, CauseSpec())


def _three(text: str) -> tuple[float, float, float]:
    """(fell, from, to) of "roc_auc fell X from Y (...) to Z"."""
    found = re.search(r"fell (\d+\.\d+) from (\d+\.\d+) \(([^)]*)\) to (\d+\.\d+)", text)
    assert found is not None, text
    return float(found.group(1)), float(found.group(2)), float(found.group(4))


@pytest.mark.parametrize(
    ("source", "origin"),
    [
        (BaselineSource.REFERENCE, "reference"),
        (BaselineSource.TRAINING, "training"),
        (BaselineSource.BAND, "reference chunks' mean"),
        (None, "baseline"),
    ],
)
def test_the_change_is_measured_from_the_baseline_and_says_from_what(
    source: BaselineSource | None, origin: str
) -> None:
    auc, drift = _windows()
    base = Baseline(value=0.91, source=source)
    ranking = rank_causes("roc_auc", Direction.BELOW, auc, drift, CauseSpec(), baseline=base)
    assert ranking.since == 0.91 and ranking.baseline == base and ranking.earlier == 0
    assert ranking.change == pytest.approx(auc[-1] - 0.91) and ranking.worsened
    words = cause_words(ranking)
    assert f"from 0.91 ({origin}) to {fmt_value(auc[-1])};" in words, words
    fell, was, now = _three(words)
    # The sentence's arithmetic holds on the printed figures.
    assert fell == pytest.approx(was - now) and was == 0.91


def test_the_figures_read_as_the_alerts_own() -> None:
    # Four significant figures, no trailing zero on both ("baseline 0.711" in the alert
    # head): the demo's day-21 alert.
    auc, drift = _windows()
    auc[-1] = 0.625
    base = Baseline(value=0.711, source=BaselineSource.REFERENCE)
    ranking = rank_causes("roc_auc", Direction.BELOW, auc, drift, CauseSpec(), baseline=base)
    assert change_words(ranking) == "roc_auc fell 0.086 from 0.711 (reference) to 0.625"
    mae = replace(ranking, metric="mae", latest=1234.5678, since=1000.0, change=234.5678)
    assert change_words(mae) == "mae rose 235 from 1000 (reference) to 1235"


def test_without_a_baseline_the_change_is_from_the_earlier_windows_mean_and_says_so() -> None:
    auc, drift = _windows()
    auc[3] = None  # type: ignore[call-overload]
    ranking = rank_causes("roc_auc", Direction.BELOW, auc, drift, CauseSpec())
    earlier = [a for a in auc[:-1] if a is not None]
    assert ranking.baseline is None and ranking.earlier == 12
    assert ranking.since == pytest.approx(float(np.mean(earlier)))
    words = cause_words(ranking)
    assert "(mean of the previous 12 windows) to " in words, words
    fell, was, now = _three(words)
    assert fell == pytest.approx(was - now) and now == round(auc[-1], 4)
    # A loss rises; a non-finite baseline is no baseline.
    mae = [1.0 - a if a is not None else None for a in auc]
    nan = Baseline(value=math.nan, source=BaselineSource.REFERENCE)
    risen = rank_causes("mae", Direction.ABOVE, mae, drift, CauseSpec(), baseline=nan)
    assert risen.baseline is None and cause_words(risen).startswith("mae rose 0.")
    assert "mean of the previous 12 windows" in cause_words(risen)
    # The same figure from both ends: unchanged, said so.
    flat = rank_causes(
        "roc_auc",
        Direction.BELOW,
        auc,
        drift,
        CauseSpec(),
        baseline=Baseline(value=auc[-1], source=BaselineSource.REFERENCE),
    )
    assert cause_words(flat).startswith(f"roc_auc unchanged at {fmt_value(auc[-1])} (reference);")


def test_a_feature_whose_drift_falls_as_performance_falls_is_never_named() -> None:
    # x3's drift falls while roc_auc falls (the trial's r = -0.64): whatever the floor,
    # and however much the model leans on it, it is no cause.
    auc, drift = _windows()
    rng = np.random.default_rng(11)
    step = np.r_[np.zeros(10), np.linspace(0.5, 2.0, 4)]
    drift["x3"] = list(2.5 - step + rng.normal(0, 0.6, 14))
    # The model leans on x3 most: by latest drift times importance it would come first.
    weights = {"usage": 0.05, "tenure": 0.05, "calm": 0.1, "x3": 0.8}
    for floor in (0.0, 0.5):
        spec = CauseSpec(min_r=floor, top_k=4)
        ranking = rank_causes("roc_auc", Direction.BELOW, auc, drift, spec, weights)
        by = {c.subject: c for c in ranking.ranked}
        assert -0.9 < by["x3"].r < -0.3 and by["calm"].r < -0.9, ranking.ranked
        named = {c.subject for c in (*ranking.causes, *ranking.by_importance)}
        assert named.isdisjoint({"x3", "calm"}) and "usage" in named
        assert all(c.r > 0 for c in ranking.causes)
        words = cause_words(ranking)
        assert "x3" not in words and "calm" not in words and "r = -" not in words, words
    assert not CauseSpec(min_r=0.0).names(-0.64) and not CauseSpec().names(0.3)
    assert CauseSpec().names(0.5) and CauseSpec(min_r=0.0).names(0.01)


def test_the_features_joint_drift_is_a_candidate_cause() -> None:
    # Every feature's drift is noise; the reconstruction error rises as roc_auc falls.
    auc, _ = _windows()
    rng = np.random.default_rng(4)
    noise = {f: list(rng.normal(0.5, 0.1, 14)) for f in ("x1", "x2")}
    step = np.r_[np.zeros(10), np.linspace(0.5, 2.0, 4)]
    joint: dict[str, list[float | None]] = {
        RECONSTRUCTION: list(1.0 + 0.3 * step + rng.normal(0, 0.02, 14)),
        CLASSIFIER: [None] * 10 + [0.5, 0.5, 0.5, 0.5],  # constant: no correlation
    }
    spec = CauseSpec(min_r=0.7)
    # The multivariate check alerted on the last four windows.
    alerted = {RECONSTRUCTION: [False] * 10 + [True] * 4, CLASSIFIER: [False] * 14}
    ranking = rank_causes(
        "roc_auc", Direction.BELOW, auc, noise, spec, joint=joint, joint_alerting=alerted
    )
    assert [c.subject for c in ranking.joint] == [RECONSTRUCTION] and ranking.causes == ()
    assert ranking.joint[0].r > 0.9 and ranking.joint[0].drift == joint[RECONSTRUCTION][-1]
    words = cause_words(ranking)
    assert words.endswith(
        f"; it follows the joint drift of the features (reconstruction error, "
        f"r = {ranking.joint[0].r:.2f})"
    ), words
    # Falling as performance falls: not named, and the words say both were looked at.
    # The same series, the check never alerting: it did not drift, and is not named.
    quiet = rank_causes("roc_auc", Direction.BELOW, auc, noise, spec, joint=joint)
    assert quiet.joint == () and quiet.joint_ranked[0].r > 0.9
    assert "; no feature drifted, nor did their joint drift alert, over the last 14 " in (
        cause_words(quiet)
    )
    # Falling as performance falls: not named, and the words say what drifted.
    joint[RECONSTRUCTION] = [-v for v in joint[RECONSTRUCTION] if v is not None]
    calm = rank_causes(
        "roc_auc", Direction.BELOW, auc, noise, spec, joint=joint, joint_alerting=alerted
    )
    assert calm.joint == () and calm.joint_ranked[0].r < -0.9
    assert "; nothing that drifted (their joint drift) follows it over 14 windows" in (
        cause_words(calm)
    )
    without = rank_causes("roc_auc", Direction.BELOW, auc, noise, spec)
    assert cause_words(without).endswith(
        "; no feature drifted over the last 14 windows: the fall is not explained by drift "
        "(a change in how the labels follow the features?)"
    )
    with pytest.raises(ValueError, match="reconstruction: 3 drift values for 14"):
        rank_causes("roc_auc", Direction.BELOW, auc, {}, spec, joint={RECONSTRUCTION: [1.0] * 3})


def test_the_old_min_abs_r_key_is_refused_with_its_new_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"checks.causes: min_abs_r is now min_r"):
        churn_settings(tmp_path, {"kind": "snapshot"}, checks={"causes": {"min_abs_r": 0.5}})
    model = churn_settings(tmp_path, {"kind": "snapshot"}, checks={"causes": {"min_r": 0.3}})
    assert model.model("churn").checks.causes.min_r == 0.3


def _drift_run(values: dict[str, float]) -> dict[CheckKind, KindRun]:
    # Distances (PSI, threshold 0.1) and a p-value test (chi-square, threshold 0.05).
    measures = [
        Measure(subject=c, name="psi", value=v, threshold=0.1)
        for c, v in values.items()
        if c != "plan"
    ]
    measures.append(Measure(subject="plan", name="chisquare", value=values["plan"], threshold=0.05))
    result = CheckResult(kind=CheckKind.DRIFT, status=Status.OK, rows=500, measures=tuple(measures))
    return {CheckKind.DRIFT: KindRun(result=result, duration_s=0.0)}


def _performance_run(auc: float) -> dict[CheckKind, KindRun]:
    measure = Measure(subject="roc_auc", name="value", value=auc, threshold=0.7)
    result = CheckResult(
        kind=CheckKind.PERFORMANCE, status=Status.OK, rows=500, measures=(measure,)
    )
    return {CheckKind.PERFORMANCE: KindRun(result=result, duration_s=0.0)}


def test_a_firing_decay_alert_names_what_follows_it_from_the_store(
    tmp_path: Path, session_factory: sessionmaker[Session]
) -> None:
    model = churn_settings(tmp_path, {"kind": "snapshot"}).model("churn")
    auc, drift = _windows(n=10)
    rng = np.random.default_rng(9)
    with session_factory.begin() as session:
        for day in range(10):
            end = START + timedelta(days=day + 1)
            span = {"start": end - timedelta(days=1), "end": end}
            step = drift["usage"][day] or 0.0
            values = {
                "income": 0.05 * step,  # follows the AUC down
                "age": float(rng.uniform(0.01, 0.05)),  # noise
                "visits": 0.03,  # constant: no correlation at all
                "plan": float(np.exp(-3.0 * step)),  # a p-value that shrinks as it drifts
                "region": float(rng.uniform(0.01, 0.05)),
            }
            store_runs(session, "churn", _drift_run(values), **span)
            store_runs(session, "churn", _performance_run(auc[day]), **span)
    end = START + timedelta(days=10)
    firing = Finding(
        scope="churn",
        kind=CheckKind.PERFORMANCE,
        subject="roc_auc",
        firing=True,
        summary="roc_auc 0.7 below threshold 0.75",
    )
    with session_factory() as session:
        [told] = explain(session, model, [firing], end)
        ranking = rank_stored(session, model, CheckKind.PERFORMANCE, "roc_auc", end)
        # Not firing, or another kind: left as it was.
        calm = replace(firing, firing=False)
        assert explain(session, model, [calm], end) == [calm]
    assert ranking is not None and {c.subject for c in ranking.causes} == {"income", "plan"}
    assert "visits" not in {c.subject for c in ranking.causes}
    assert told.summary.startswith("roc_auc 0.7 below threshold 0.75; roc_auc fell 0.0")
    # These runs stored no baseline: the change is from the earlier windows, said so.
    assert "(mean of the previous 9 windows) to " in told.summary
    # Both exactly linear in the step: income's distance, and plan's p-value through its log.
    assert told.summary.endswith("; it follows income (r = 1.00) and plan (r = 1.00)")
    # The alert keeps the words where the weekly report reads them.
    settings = churn_settings(tmp_path, {"kind": "snapshot"})
    with session_factory.begin() as session:
        apply_findings(session, settings, [told], end)
    with session_factory() as session:
        alert = session.scalars(select(Alert)).one()
        assert _why(alert.details) == told.details[WHY] and told.summary.endswith(
            str(told.details[WHY])
        )


def test_only_a_series_that_drifted_in_the_look_back_is_named() -> None:
    auc, drift = _windows()
    rng = np.random.default_rng(2)
    step = np.r_[np.zeros(10), np.linspace(0.5, 2.0, 4)]
    # Follows the fall closely, but never reaches its threshold (signal < 1): noise.
    drift["echo"] = list(0.2 + 0.3 * step + rng.normal(0, 0.02, 14))
    weights = {"usage": 0.1, "tenure": 0.1, "calm": 0.1, "echo": 0.7}
    ranking = rank_causes("roc_auc", Direction.BELOW, auc, drift, CauseSpec(), weights)
    echo = {c.subject: c for c in ranking.ranked}["echo"]
    assert echo.r > 0.9 and not echo.drifted and max(drift["echo"]) < 1  # type: ignore[type-var]
    assert [c.subject for c in ranking.causes] == ["usage"]
    assert [c.subject for c in ranking.by_importance] == ["usage"]
    assert ranking.drifted == ("calm", "usage") and "echo" not in cause_words(ranking)
    # Only echo follows: what drifted (calm, usage) is said, echo is not named.
    rest = {"echo": drift["echo"], "calm": drift["calm"]}
    told = rank_causes("roc_auc", Direction.BELOW, auc, rest, CauseSpec())
    assert cause_words(told).endswith("; nothing that drifted (calm) follows it over 14 windows")
    # Nothing drifted at all: said plainly, the fall of a score, the rise of a loss.
    quiet = {"echo": drift["echo"], "tenure": drift["tenure"]}
    none = rank_causes("roc_auc", Direction.BELOW, auc, quiet, CauseSpec())
    assert none.causes == () and none.drifted == () and none.ranked[0].r > 0.9
    assert cause_words(none).endswith(
        "; no feature drifted over the last 14 windows: the fall is not explained by drift "
        "(a change in how the labels follow the features?)"
    )
    mae = rank_causes("mae", Direction.ABOVE, [2 - a for a in auc], quiet, CauseSpec())
    assert "the rise is not explained by drift (the model's scores moved with no column" in (
        cause_words(mae, labelled=False)
    )
    # Drift from before the look-back does not count.
    old = {"late": [3.0] * 10 + list(0.2 + 0.3 * step[-14:])}
    gone = rank_causes("roc_auc", Direction.BELOW, [0.8] * 10 + auc, old, CauseSpec())
    assert gone.drifted == () and gone.causes == ()
    # No drift checked in the windows: nothing to tell, not "no feature drifted".
    blank = rank_causes("roc_auc", Direction.BELOW, auc, {"x": [None] * 14}, CauseSpec())
    assert "; no drift checked over the last 14 windows to tell what it follows" in (
        cause_words(blank)
    )


@pytest.mark.parametrize(
    ("metric", "baseline", "latest", "said"),
    [
        ("rmse", 5.0912, 14.1, "rmse rose 9.009 from 5.091 (reference) to 14.1"),
        ("mae", 4.4938, 14.3249, "mae rose 9.826 from 4.494 (reference) to 14.32"),
        ("roc_auc", 0.815, 0.6165, "roc_auc fell 0.1985 from 0.815 (reference) to 0.6165"),
        ("mae", 0.5, 1.5, "mae rose 1 from 0.5 (reference) to 1.5"),
        ("mae", 98765.4, 123456.7, "mae rose 24730 from 9.877e+04 (reference) to 1.235e+05"),
    ],
)
def test_every_figure_prints_as_the_alerts_head_prints_it(
    metric: str, baseline: float, latest: float, said: str
) -> None:
    direction = Direction.BELOW if metric == "roc_auc" else Direction.ABOVE
    base = Baseline(value=baseline, source=BaselineSource.REFERENCE)
    perf = [baseline, baseline, latest]
    ranking = rank_causes(metric, direction, perf, {}, CauseSpec(), baseline=base)
    assert change_words(ranking) == said
    # The head's "(baseline 5.091; ...)" and the causes' "from 5.091": one formatter.
    assert f" from {fmt_value(baseline)} (" in said and said.endswith(f" to {fmt_value(latest)}")


def test_the_first_windows_say_the_drop_and_that_they_are_too_few(
    tmp_path: Path, session_factory: sessionmaker[Session]
) -> None:
    model = churn_settings(tmp_path, {"kind": "snapshot"}).model("churn")
    with session_factory.begin() as session:
        for day, auc in enumerate((0.7, 0.6165)):
            end = START + timedelta(days=day + 1)
            runs = _performance_run(auc)
            result = runs[CheckKind.PERFORMANCE].result
            # As the performance check stores it: the baseline it compared against.
            base = Measure(subject="roc_auc", name="baseline", value=0.815, detail="reference")
            runs[CheckKind.PERFORMANCE] = KindRun(
                result=replace(result, measures=(*result.measures, base)), duration_s=0.0
            )
            store_runs(session, "churn", runs, start=end - timedelta(days=1), end=end)
    firing = Finding(
        scope="churn", kind=CheckKind.PERFORMANCE, subject="roc_auc", firing=True, summary="low"
    )
    with session_factory() as session:
        [told] = explain(session, model, [firing], START + timedelta(days=2))
    assert told.summary == (
        "low; roc_auc fell 0.1985 from 0.815 (reference) to 0.6165; "
        "too few checked windows (2 of at least 3) to tell what it follows"
    )
    assert told.details[WHY] == told.summary.removeprefix("low; ")
