"""Estimated performance of a regression model without labels: NannyML's Direct Loss Estimation.

NannyML's DLE ("How it works: Direct Loss Estimation",
https://nannyml.readthedocs.io/en/stable/how_it_works/performance_estimation.html#direct-loss-estimation-dle;
the tutorial https://nannyml.readthedocs.io/en/stable/tutorials/performance_estimation/regression_performance_estimation.html):
a second model, fitted on the labelled reference, learns the monitored model's
loss on each row from the row's features and its prediction. On an unlabelled
window, each prediction of that model clipped at 0 as NannyML does,

- estimated MAE = the mean of the predicted absolute errors;
- estimated RMSE = the square root of the mean of the predicted squared errors.

One regressor per loss (absolute and squared error), as NannyML fits one per
metric. Under covariate shift (P(y | x) unchanged) the estimate follows the
realized metric as the window moves into regions where the model errs more or
less; a change of P(y | x) itself it cannot see (realized decay does, once labels
arrive).

The regressor: NannyML fits LightGBM's `LGBMRegressor` with its defaults.
mlmaint does not depend on LightGBM, so it fits scikit-learn's
`HistGradientBoostingRegressor` set to LightGBM's defaults (100 trees of at most
31 leaves grown best-first, learning rate 0.1, at least 20 rows per leaf, 255
bins, no regularisation, no early stopping). Both are histogram gradient-boosted
trees; their estimates agree to about 2% (tests/benchmarks/bench_dle.py).
Categorical features are coded as integers and split as categories, as NannyML
codes them for LightGBM; a category the reference never held is a missing value.

The alert band follows NannyML's DLE thresholds: the metric *realized* on chunks
of the labelled reference (checks/calibration/bands.py, `realized_band`), since a
clean window's estimate tracks its realized metric. The fitted loss model is
built once per reference version (the daemon keeps it in `CheckCache`), never per
window.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd

from checks.interface import (
    LABEL,
    PREDICTION,
    CheckKind,
    CheckResult,
    Measure,
    TaskKind,
    insufficient,
)
from checks.performance.bands import Band
from checks.performance.decay import DecaySpec, margin_basis
from checks.performance.judged import judge_estimate
from checks.performance.metrics import Metric, baseline_source, realized
from checks.reference import FloatArray, ReferenceStats, numeric_values
from checks.thresholds import BandMode

# The metrics DLE estimates; other regression metrics fall back to the default, RMSE.
DLE_METRICS = (Metric.MAE, Metric.RMSE)
# Fewer labelled reference rows than this fit no loss model: the estimate is then
# "insufficient data", not a guess from a handful of errors.
MIN_FIT_ROWS = 100
# HistGradientBoostingRegressor takes at most this many categories per feature (its
# bins less the missing values' one): the rarer ones share the last code.
MAX_CATEGORIES = 254
# LightGBM's defaults, which NannyML's DLE uses.
LIGHTGBM_DEFAULTS: Mapping[str, object] = {
    "max_iter": 100,
    "learning_rate": 0.1,
    "max_leaf_nodes": 31,
    "min_samples_leaf": 20,
    "max_bins": 255,
    "l2_regularization": 0.0,
    "early_stopping": False,
}


# The trees fit and predict on one OpenMP thread. The daemon checks many models at
# once on threads of its own, and OpenMP's spinning workers on a busy machine made a
# 20,000-row fit 13 times slower (37 s, not 2.8 s, on 2 shared cores). OpenMP's
# limit belongs to the thread that sets it: the other checks' threads keep theirs.
@contextmanager
def _one_thread() -> Iterator[None]:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="openmp"):
        yield


class Regressor(Protocol):
    def predict(self, x: FloatArray) -> FloatArray: ...


@dataclass(frozen=True, kw_only=True)
class DLESpec:
    metric: Metric = Metric.RMSE
    max_absolute_drop: float | None = None
    max_relative_drop: float | None = 0.05
    min_rows: int = 200
    mode: BandMode = BandMode.MARGIN
    band_sigmas: float = 3.0
    band_quantile: float | None = None

    def allowed_drop(self, baseline: float) -> float:
        """The margin: the smaller of the configured absolute and relative rises of the loss."""
        return DecaySpec(
            task=TaskKind.REGRESSION,
            metric=self.metric,
            max_absolute_drop=self.max_absolute_drop,
            max_relative_drop=self.max_relative_drop,
        ).allowed_drop(baseline)


@dataclass(frozen=True, kw_only=True, eq=False)
class LossModel:
    """The monitored model's absolute and squared errors, predicted from features and prediction."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    # Each categorical feature's values (as text) to their codes.
    codes: Mapping[str, Mapping[str, int]] = field(repr=False)
    absolute: Regressor = field(repr=False)
    squared: Regressor = field(repr=False)
    rows: int

    def losses(self, frame: pd.DataFrame) -> tuple[FloatArray, FloatArray]:
        """Predicted absolute and squared errors (clipped at 0) of the rows with a prediction."""
        x = design(frame, self.numeric, self.categorical, self.codes)
        x = x[~np.isnan(x[:, -1])]
        if not x.shape[0]:
            return np.empty(0), np.empty(0)
        with _one_thread():
            absolute = np.maximum(0.0, np.asarray(self.absolute.predict(x), dtype=np.float64))
            squared = np.maximum(0.0, np.asarray(self.squared.predict(x), dtype=np.float64))
        return absolute, squared

    def estimate(self, frame: pd.DataFrame) -> dict[Metric, float]:
        """Estimated MAE and RMSE of the rows with a prediction (NaN when there are none)."""
        absolute, squared = self.losses(frame)
        if not absolute.size:
            return {Metric.MAE: math.nan, Metric.RMSE: math.nan}
        return {
            Metric.MAE: float(np.mean(absolute)),
            Metric.RMSE: float(np.sqrt(np.mean(squared))),
        }


def category_codes(series: pd.Series) -> dict[str, int]:
    """Codes of a categorical feature's reference values (as text): the most frequent
    first, ties by value, the rarest beyond MAX_CATEGORIES sharing the last code."""
    counts = series.dropna().astype(str).value_counts()
    ordered = sorted(((str(v), int(n)) for v, n in counts.items()), key=lambda kv: (-kv[1], kv[0]))
    return {v: min(i, MAX_CATEGORIES - 1) for i, (v, _n) in enumerate(ordered)}


def _coded(series: pd.Series, known: Mapping[str, int]) -> FloatArray:
    """A categorical feature's codes; missing and never-seen values are NaN."""
    values = series.astype(object)
    missing = values.isna().to_numpy()
    codes = pd.to_numeric(values.astype(str).map(known), errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan
    )
    codes[missing] = np.nan
    return codes


def design(
    frame: pd.DataFrame,
    numeric: tuple[str, ...],
    categorical: tuple[str, ...],
    codes: Mapping[str, Mapping[str, int]],
) -> FloatArray:
    """The loss model's inputs: numeric features, categorical codes, then the prediction.

    A column absent from the frame is all missing (the trees send missing values down
    the side learnt for them); so is a category the reference never held.
    """
    n = len(frame)
    columns: list[FloatArray] = []
    for name in numeric:
        columns.append(numeric_values(frame[name]) if name in frame else np.full(n, np.nan))
    for name in categorical:
        columns.append(_coded(frame[name], codes[name]) if name in frame else np.full(n, np.nan))
    columns.append(numeric_values(frame[PREDICTION]) if PREDICTION in frame else np.full(n, np.nan))
    return np.column_stack(columns) if columns else np.empty((n, 0))


def fit_loss_model(
    frame: pd.DataFrame,
    numeric: tuple[str, ...],
    categorical: tuple[str, ...],
    *,
    min_rows: int = MIN_FIT_ROWS,
    seed: int = 0,
) -> LossModel | None:
    """Fit the loss model on the labelled reference rows (None below `min_rows` of them)."""
    if LABEL not in frame or PREDICTION not in frame:
        return None
    label = numeric_values(frame[LABEL])
    prediction = numeric_values(frame[PREDICTION])
    keep = ~(np.isnan(label) | np.isnan(prediction))
    if int(keep.sum()) < max(min_rows, 2):
        return None
    rows = frame.loc[keep]
    numeric = tuple(c for c in numeric if c in frame)
    categorical = tuple(c for c in categorical if c in frame)
    codes = {c: category_codes(rows[c]) for c in categorical}
    x = design(rows, numeric, categorical, codes)
    error = label[keep] - prediction[keep]

    from sklearn.ensemble import HistGradientBoostingRegressor

    mask = np.zeros(x.shape[1], dtype=bool)
    mask[len(numeric) : len(numeric) + len(categorical)] = True

    def fitted(target: FloatArray) -> Regressor:
        model = HistGradientBoostingRegressor(
            **LIGHTGBM_DEFAULTS,
            categorical_features=mask if mask.any() else None,
            random_state=seed,
        )
        out: Regressor = model.fit(x, target)
        return out

    with _one_thread():
        absolute, squared = fitted(np.abs(error)), fitted(error**2)
    return LossModel(
        numeric=numeric,
        categorical=categorical,
        codes=codes,
        absolute=absolute,
        squared=squared,
        rows=int(keep.sum()),
    )


@dataclass(frozen=True, kw_only=True)
class DirectLossCheck:
    """Estimated MAE or RMSE of a regression model's window, judged like CBPE's estimate."""

    spec: DLESpec
    reference: ReferenceStats
    model: LossModel | None
    baseline: float | None = None
    band: Band | None = None

    @property
    def kind(self) -> CheckKind:
        return CheckKind.ESTIMATED_PERFORMANCE

    def reference_baseline(self) -> float | None:
        if self.baseline is not None:
            return self.baseline
        value = realized(TaskKind.REGRESSION, self.reference.frame, (self.spec.metric,)).get(
            self.spec.metric
        )
        return None if value is None or not math.isfinite(value) else value

    def run(self, window: pd.DataFrame) -> CheckResult:
        kind = CheckKind.ESTIMATED_PERFORMANCE
        if self.model is None:
            return insufficient(
                kind,
                len(window),
                "no loss model: the reference has too few rows with a label and a prediction",
            )
        if PREDICTION not in window:
            return insufficient(kind, len(window), "the window has no prediction column")
        predicted = int(window[PREDICTION].notna().sum())
        if predicted < self.spec.min_rows:
            return insufficient(
                kind,
                len(window),
                f"{predicted} rows with a prediction, at least {self.spec.min_rows} needed",
            )
        values = self.model.estimate(window)
        value = values[self.spec.metric]
        judged = judge_estimate(
            self.spec.metric,
            value,
            predicted,
            self.reference_baseline(),
            self.band,
            mode=self.spec.mode,
            band_sigmas=self.spec.band_sigmas,
            band_quantile=self.spec.band_quantile,
            allowed_drop=self.spec.allowed_drop,
            margin_basis=margin_basis(self.spec.max_absolute_drop, self.spec.max_relative_drop),
            no_band="too few labelled reference rows",
            source=baseline_source(self.baseline),
        )
        measures = [
            *judged.measures,
            *(
                Measure(subject=m.value, name="estimated", value=v)
                for m, v in values.items()
                if m is not self.spec.metric
            ),
        ]
        return CheckResult(
            kind=kind,
            status=judged.status,
            rows=len(window),
            measures=tuple(measures),
            summary={
                "metric": self.spec.metric.value,
                "estimated": value,
                "baseline": judged.baseline,
                "basis": judged.basis,
                "method": "dle",
                **{f"estimated_{m.value}": v for m, v in values.items()},
            },
            reason=None if judged.baseline is not None else "no baseline",
        )
