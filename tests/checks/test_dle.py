"""DLE: a regression model's MAE and RMSE estimated without labels (checks/performance/dle.py).

On a regression whose noise grows in one region of the input space, windows
shifted into that region have a higher realized MAE; the estimate follows it
within 10% and alerts, and clean windows stay quiet. NannyML's own DLE on the
same data: tests/benchmarks/bench_dle.py.
"""

from __future__ import annotations

import dataclasses
import json
from functools import cache

import numpy as np
import pytest

from checks.calibration import realized_band
from checks.interface import CheckKind, Direction, Status, TaskKind
from checks.performance import (
    Band,
    DirectLossCheck,
    DLESpec,
    LossModel,
    Metric,
    fit_loss_model,
    realized,
)
from checks.reference import ReferenceStats, build_reference
from checks.thresholds import BandMode
from tests.checks.regression import CATEGORICAL, NUMERIC, regression_window

REFERENCE_ROWS = 10_000


@cache
def reference() -> ReferenceStats:
    frame = regression_window(REFERENCE_ROWS, 1)
    return build_reference(frame, (*NUMERIC, "prediction", "label"), CATEGORICAL)


@cache
def loss_model() -> LossModel:
    fitted = fit_loss_model(reference().frame, NUMERIC, CATEGORICAL)
    assert fitted is not None
    return fitted


@cache
def band(metric: Metric) -> Band | None:
    """NannyML's DLE thresholds: the metric realized on the reference's chunks."""
    return realized_band(TaskKind.REGRESSION, metric, reference().frame)


def check(metric: Metric = Metric.MAE, mode: BandMode = BandMode.BAND) -> DirectLossCheck:
    return DirectLossCheck(
        spec=DLESpec(metric=metric, mode=mode, min_rows=100),
        reference=reference(),
        model=loss_model(),
        band=band(metric),
    )


@pytest.mark.parametrize("shift", [1.5, 2.0])
def test_estimated_mae_follows_the_realized_into_the_noisy_region(shift: float) -> None:
    """(a) of issue 19: within 10% of the realized MAE on shifted windows, and alerting."""
    for seed in (11, 12):
        frame = regression_window(4000, seed, shift=shift)
        result = check().run(frame)
        actual = realized(TaskKind.REGRESSION, frame, (Metric.MAE, Metric.RMSE))
        estimated = result.measure("mae", "estimated").value
        assert estimated is not None
        # The realized MAE here is 1.9 to 2.2 times the reference's: an estimate stuck
        # at the reference's value would be 45% off, not within 10%.
        assert abs(estimated / actual[Metric.MAE] - 1) < 0.10, (shift, estimated, actual)
        rmse = result.measure("rmse", "estimated").value
        assert rmse is not None and abs(rmse / actual[Metric.RMSE] - 1) < 0.10
        assert result.status is Status.ALERT
        measure = result.measure("mae", "estimated")
        assert measure.alerting and measure.alerts_when is Direction.ABOVE
        assert measure.threshold is not None and estimated > measure.threshold
        assert (measure.basis or "").startswith("band at n=4000")


def test_clean_windows_do_not_alert() -> None:
    baseline = realized(TaskKind.REGRESSION, reference().frame, (Metric.MAE,))[Metric.MAE]
    for seed in range(20, 32):
        frame = regression_window(1000, seed)
        result = check().run(frame)
        assert result.status is Status.OK, (seed, result.measures)
        estimated = result.measure("mae", "estimated").value
        assert estimated is not None and abs(estimated / baseline - 1) < 0.08
        assert result.measure("mae", "baseline").value == pytest.approx(baseline)


def test_rmse_is_the_root_of_the_mean_predicted_squared_error() -> None:
    """NannyML's definitions: MAE the mean of the predicted absolute errors, RMSE the
    root of the mean of the predicted squared errors, each clipped at 0."""
    frame = regression_window(500, 40, shift=1.0)
    absolute, squared = loss_model().losses(frame)
    assert absolute.shape == squared.shape == (500,)
    assert (absolute >= 0).all() and (squared >= 0).all()
    result = check(Metric.RMSE).run(frame)
    assert result.summary["metric"] == "rmse"
    assert result.measure("rmse", "estimated").value == pytest.approx(np.sqrt(squared.mean()))
    assert result.measure("mae", "estimated").value == pytest.approx(absolute.mean())


def test_unknown_categories_and_missing_values_are_estimated() -> None:
    frame = regression_window(600, 41)
    frame.loc[:99, "region"] = "east"  # never in the reference
    frame.loc[100:149, "x2"] = np.nan
    frame.loc[150:199, "prediction"] = np.nan  # no prediction: not estimated
    result = check().run(frame)
    assert result.status is Status.OK
    assert loss_model().losses(frame)[0].size == 550
    assert "region" in loss_model().codes and "east" not in loss_model().codes["region"]


def test_margin_mode_alerts_on_a_rise_of_the_loss() -> None:
    result = check(mode=BandMode.MARGIN).run(regression_window(2000, 42, shift=1.5))
    m = result.measure("mae", "estimated")
    baseline = result.measure("mae", "baseline").value
    assert baseline is not None and m.threshold == pytest.approx(baseline * 1.05)
    assert m.alerting and m.basis == "margin 0.05 of the baseline"
    quiet = check(mode=BandMode.MARGIN).run(regression_window(2000, 43))
    assert quiet.status is Status.OK


def test_the_contract_of_a_check_result() -> None:
    frame = regression_window(800, 44)
    result = check().run(frame)
    assert result.kind is CheckKind.ESTIMATED_PERFORMANCE and result.rows == 800
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.status = Status.ERROR  # type: ignore[misc]
    assert repr(result) == repr(check().run(frame))
    assert json.loads(json.dumps(result.summary, allow_nan=False)) == result.summary
    for rows in (0, 10):
        short = check().run(frame.iloc[:rows])
        assert short.status is Status.INSUFFICIENT_DATA and short.reason
    unfitted = dataclasses.replace(check(), model=None).run(frame)
    assert unfitted.status is Status.INSUFFICIENT_DATA and "loss model" in (unfitted.reason or "")
    no_prediction = check().run(frame.drop(columns=["prediction"]))
    assert no_prediction.status is Status.INSUFFICIENT_DATA


def test_too_few_labelled_rows_fit_no_model() -> None:
    frame = regression_window(300, 45)
    frame.loc[50:, "label"] = np.nan
    assert fit_loss_model(frame, NUMERIC, CATEGORICAL) is None
    assert fit_loss_model(frame.drop(columns=["label"]), NUMERIC, CATEGORICAL) is None
