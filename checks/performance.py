"""Performance decay with labels, and estimated performance without them.

Realized decay compares a metric on the window's labelled rows with a baseline
(the metric recorded at training time, or the same metric on the reference).
A drop alerts only when it is larger than the allowed margin *and* the whole
bootstrap confidence interval lies beyond the margin, so that a small window's
noise does not cry wolf; below `min_labelled` labelled rows the answer is
"insufficient data". The bootstrap is a Poisson bootstrap (each row weighted
by a Poisson(1) count), which needs no resampled copies of the data: every
metric here is a weighted sum over rows, computed for all replicates at once.

Estimated performance follows NannyML's confidence-based performance
estimation (CBPE) for binary classifiers: an isotonic calibration fitted on
the labelled reference turns each score into P(label = 1); the expected
confusion matrix and the expected ROC curve of an unlabelled window follow
from those probabilities. Under covariate shift (P(label | x) unchanged),
this tracks the realized metric long before labels arrive.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from checks.interface import (
    LABEL,
    PREDICTION,
    SCORE,
    CheckKind,
    CheckResult,
    Measure,
    Status,
    TaskKind,
    insufficient,
)
from checks.reference import FloatArray, ReferenceStats, numeric_values
from checks.thresholds import BandMode

CRITICAL_RATIO = 2.0


class Metric(enum.StrEnum):
    ACCURACY = "accuracy"
    PRECISION = "precision"
    RECALL = "recall"
    F1 = "f1"
    ROC_AUC = "roc_auc"
    LOG_LOSS = "log_loss"
    MAE = "mae"
    RMSE = "rmse"
    MAPE = "mape"
    R2 = "r2"


LOWER_IS_BETTER = frozenset({Metric.LOG_LOSS, Metric.MAE, Metric.RMSE, Metric.MAPE})
TASK_METRICS: dict[TaskKind, tuple[Metric, ...]] = {
    TaskKind.BINARY: (
        Metric.ACCURACY,
        Metric.PRECISION,
        Metric.RECALL,
        Metric.F1,
        Metric.ROC_AUC,
        Metric.LOG_LOSS,
    ),
    TaskKind.MULTICLASS: (Metric.ACCURACY, Metric.PRECISION, Metric.RECALL, Metric.F1),
    TaskKind.REGRESSION: (Metric.MAE, Metric.RMSE, Metric.MAPE, Metric.R2),
}
# Metrics that need a probability score.
NEEDS_SCORE = frozenset({Metric.ROC_AUC, Metric.LOG_LOSS})


def default_metric(task: TaskKind, has_score: bool) -> Metric:
    """The metric when `checks.performance.metric` is unset (config.toml says the same).

    ROC AUC for binary (F1 where the model logs no score: AUC needs one), macro
    F1 for multiclass (accuracy hides a minority class the model stopped
    finding), RMSE for regression (large errors count more). It governs the
    alert, the band and the promotion alike.
    """
    if task is TaskKind.BINARY:
        return Metric.ROC_AUC if has_score else Metric.F1
    if task is TaskKind.MULTICLASS:
        return Metric.F1
    return Metric.RMSE


class MetricError(ValueError):
    pass


def parse_metric(name: str, task: TaskKind) -> Metric:
    try:
        metric = Metric(name.lower())
    except ValueError:
        raise MetricError(
            f"unknown metric {name!r}, expected one of {', '.join(m.value for m in Metric)}"
        ) from None
    if metric not in TASK_METRICS[task]:
        allowed = ", ".join(m.value for m in TASK_METRICS[task])
        raise MetricError(f"metric {name!r} does not apply to {task.value}; use {allowed}")
    return metric


# --------------------------------------------------------------------------- metrics

Weights = npt.NDArray[np.float64]  # (B, n): one row per bootstrap replicate


def weighted_auc(scores: FloatArray, pos: Weights, neg: Weights) -> FloatArray:
    """ROC AUC with per-row positive and negative weights, ties counted half.

    With 0/1 labels as weights this is the usual AUC (sklearn's roc_auc_score);
    with calibrated probabilities p and 1 - p it is CBPE's expected AUC.
    """
    order = np.argsort(scores, kind="stable")
    s = scores[order]
    starts = np.r_[0, np.flatnonzero(np.diff(s)) + 1]
    pos_g = np.add.reduceat(pos[:, order], starts, axis=1)
    neg_g = np.add.reduceat(neg[:, order], starts, axis=1)
    neg_below = np.cumsum(neg_g, axis=1) - neg_g
    total = pos_g.sum(axis=1) * neg_g.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray((pos_g * (neg_below + 0.5 * neg_g)).sum(axis=1) / total)


def _wmean(values: FloatArray, w: Weights) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray((w * values).sum(axis=1) / w.sum(axis=1))


def _prf(tp: FloatArray, fp: FloatArray, fn: FloatArray) -> dict[Metric, FloatArray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        recall = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
    return {Metric.PRECISION: precision, Metric.RECALL: recall, Metric.F1: f1}


def metric_values(
    task: TaskKind,
    metrics: tuple[Metric, ...],
    label: npt.NDArray[np.generic],
    prediction: npt.NDArray[np.generic],
    score: FloatArray | None,
    w: Weights,
) -> dict[Metric, FloatArray]:
    """Each metric for each row of weights `w` (B, n)."""
    out: dict[Metric, FloatArray] = {}
    if task is TaskKind.REGRESSION:
        y = label.astype(np.float64)
        yhat = prediction.astype(np.float64)
        err = yhat - y
        out[Metric.MAE] = _wmean(np.abs(err), w)
        out[Metric.RMSE] = np.sqrt(_wmean(err**2, w))
        # sklearn's MAPE: |error| / max(|y|, machine epsilon).
        out[Metric.MAPE] = _wmean(np.abs(err) / np.maximum(np.abs(y), np.finfo(np.float64).eps), w)
        ybar = _wmean(y, w)[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            out[Metric.R2] = 1 - (w * err**2).sum(axis=1) / (w * (y - ybar) ** 2).sum(axis=1)
        return {m: out[m] for m in metrics}
    correct = (label == prediction).astype(np.float64)
    out[Metric.ACCURACY] = _wmean(correct, w)
    if task is TaskKind.BINARY:
        y = label.astype(np.float64)
        yhat = prediction.astype(np.float64)
        tp = (w * (y * yhat)).sum(axis=1)
        fp = (w * ((1 - y) * yhat)).sum(axis=1)
        fn = (w * (y * (1 - yhat))).sum(axis=1)
        out.update(_prf(tp, fp, fn))
        if score is not None:
            out[Metric.ROC_AUC] = weighted_auc(score, w * y, w * (1 - y))
            p = np.clip(score, 1e-15, 1 - 1e-15)
            out[Metric.LOG_LOSS] = _wmean(-(y * np.log(p) + (1 - y) * np.log(1 - p)), w)
    else:
        classes = np.unique(np.concatenate([label, prediction]))
        per: dict[Metric, list[FloatArray]] = {
            Metric.PRECISION: [],
            Metric.RECALL: [],
            Metric.F1: [],
        }
        for c in classes:
            y = (label == c).astype(np.float64)
            yhat = (prediction == c).astype(np.float64)
            tp = (w * (y * yhat)).sum(axis=1)
            fp = (w * ((1 - y) * yhat)).sum(axis=1)
            fn = (w * (y * (1 - yhat))).sum(axis=1)
            for k, v in _prf(tp, fp, fn).items():
                per[k].append(v)
        # Macro averages, as sklearn's average="macro".
        for k, vs in per.items():
            out[k] = np.mean(np.vstack(vs), axis=0)
    return {m: out[m] for m in metrics if m in out}


# --------------------------------------------------------------------------- bands


@dataclass(frozen=True, kw_only=True)
class Band:
    """A metric on chunks of the reference, at each chunk size (checks/calibration.py).

    `stds` are the chunks' spread at each size; `z` the standardized chunk
    values of every size, pooled and sorted, for a quantile band.
    """

    metric: Metric
    reference_rows: int
    sizes: tuple[int, ...]
    means: tuple[float, ...]
    stds: tuple[float, ...]
    z: tuple[float, ...]

    def at(self, n: int) -> tuple[float, float]:
        """The band's centre and the spread of a window of n rows against the reference.

        A chunk of s rows drawn without replacement from N varies by
        sigma * sqrt((N - s) / (N - 1) / s); sigma (the one-row spread) is
        interpolated over log s and held beyond the grid, so the spread scales
        as 1/sqrt(n). The reference's own error, sigma / sqrt(N), is the same for
        every window: it is added, not in quadrature (checks/calibration.py).
        """
        big_n = self.reference_rows
        sizes = np.asarray(self.sizes, dtype=np.float64)
        unit = np.asarray(self.stds) * np.sqrt(sizes) / np.sqrt((big_n - sizes) / max(big_n - 1, 1))
        x = math.log(max(n, 1))
        logs = np.log(sizes)
        centre = float(np.interp(x, logs, np.asarray(self.means)))
        sigma = math.exp(float(np.interp(x, logs, np.log(unit))))
        return centre, sigma * (1.0 / math.sqrt(max(n, 1)) + 1.0 / math.sqrt(big_n))

    def limit(self, n: int, *, sigmas: float, quantile: float | None) -> tuple[float, float]:
        """(centre, boundary): the worse edge of the band at n rows."""
        centre, spread = self.at(n)
        worse = 1.0 if self.metric in LOWER_IS_BETTER else -1.0
        if quantile is None:
            return centre, centre + worse * sigmas * spread
        z = np.asarray(self.z)
        q = 1 - quantile if worse > 0 else quantile
        return centre, centre + float(np.quantile(z, q)) * spread

    def basis(self, n: int, *, sigmas: float, quantile: float | None) -> str:
        width = f"{sigmas:g}σ" if quantile is None else f"the {quantile:g} quantile"
        return f"band at n={n}: reference chunks' mean {self.at(n)[0]:.4g} ± {width}"


def _band_decision(
    band: Band, n: int, value: float, sigmas: float, quantile: float | None
) -> tuple[float, float, float, bool, float, str]:
    """(centre, boundary, drop, alert, severity, basis) of a value against the band."""
    centre, boundary = band.limit(n, sigmas=sigmas, quantile=quantile)
    lower_better = band.metric in LOWER_IS_BETTER
    drop = value - centre if lower_better else centre - value
    allowed = abs(boundary - centre)
    alert = value > boundary if lower_better else value < boundary
    severity = drop / allowed if alert and allowed > 0 else 0.0
    return centre, boundary, drop, alert, severity, band.basis(n, sigmas=sigmas, quantile=quantile)


# --------------------------------------------------------------------------- decay


@dataclass(frozen=True, kw_only=True)
class DecaySpec:
    task: TaskKind
    metric: Metric
    max_absolute_drop: float | None = None
    max_relative_drop: float | None = 0.05
    min_labelled: int = 200
    bootstrap: int = 200
    confidence: float = 0.95
    seed: int = 0
    # MARGIN: a drop beyond the margins off the baseline; BAND: outside the reference's band.
    mode: BandMode = BandMode.MARGIN
    band_sigmas: float = 3.0
    band_quantile: float | None = None

    def allowed_drop(self, baseline: float) -> float:
        """The margin: the smaller of the configured absolute and relative drops."""
        margins = []
        if self.max_absolute_drop is not None:
            margins.append(self.max_absolute_drop)
        if self.max_relative_drop is not None:
            margins.append(self.max_relative_drop * abs(baseline))
        return min(margins) if margins else math.inf


@dataclass(frozen=True, kw_only=True)
class Decay:
    metric: Metric
    status: Status
    value: float | None
    baseline: float | None
    boundary: float | None
    ci_low: float | None
    ci_high: float | None
    labelled: int
    drop: float | None
    severity_ratio: float = 0.0
    reason: str | None = None
    # Where the boundary came from ("band at n=500: ...", "margin 5% of the baseline").
    basis: str | None = None


def margin_basis(max_absolute_drop: float | None, max_relative_drop: float | None) -> str:
    parts = []
    if max_relative_drop is not None:
        parts.append(f"{max_relative_drop:.3g} of the baseline")
    if max_absolute_drop is not None:
        parts.append(f"{max_absolute_drop:.3g}")
    return "margin " + " or ".join(parts) if parts else "no margin"


def _labelled(window: pd.DataFrame, task: TaskKind) -> pd.DataFrame:
    if LABEL not in window or PREDICTION not in window:
        return window.iloc[0:0]
    mask = window[LABEL].notna() & window[PREDICTION].notna()
    return window.loc[mask]


def _arrays(
    frame: pd.DataFrame, task: TaskKind
) -> tuple[npt.NDArray[np.generic], npt.NDArray[np.generic], FloatArray | None]:
    label: npt.NDArray[np.generic]
    prediction: npt.NDArray[np.generic]
    if task is TaskKind.MULTICLASS:
        label = frame[LABEL].astype(str).to_numpy()
        prediction = frame[PREDICTION].astype(str).to_numpy()
    else:
        label = numeric_values(frame[LABEL])
        prediction = numeric_values(frame[PREDICTION])
    score = None
    if task is TaskKind.BINARY and SCORE in frame:
        score = numeric_values(frame[SCORE])
        if np.isnan(score).any():
            score = None
    return label, prediction, score


def realized_arrays(
    frame: pd.DataFrame, task: TaskKind
) -> tuple[npt.NDArray[np.generic], npt.NDArray[np.generic], FloatArray | None] | None:
    """Label, prediction and score of the labelled rows (None when there are none)."""
    rows = _labelled(frame, task)
    if rows.empty:
        return None
    return _arrays(rows, task)


def realized(
    task: TaskKind, frame: pd.DataFrame, metrics: tuple[Metric, ...] | None = None
) -> dict[Metric, float]:
    """Each applicable metric on the labelled rows of `frame` (no bootstrap)."""
    rows = _labelled(frame, task)
    if rows.empty:
        return {}
    label, prediction, score = _arrays(rows, task)
    wanted = metrics or TASK_METRICS[task]
    if score is None:
        wanted = tuple(m for m in wanted if m not in NEEDS_SCORE)
    w = np.ones((1, len(rows)))
    values = metric_values(task, wanted, label, prediction, score, w)
    return {m: float(v[0]) for m, v in values.items()}


def decay(
    spec: DecaySpec, window: pd.DataFrame, baseline: float | None, band: Band | None = None
) -> Decay:
    rows = _labelled(window, spec.task)
    n = len(rows)

    def short(reason: str, value: float | None = None) -> Decay:
        return Decay(
            metric=spec.metric,
            status=Status.INSUFFICIENT_DATA,
            value=value,
            baseline=baseline,
            boundary=None,
            ci_low=None,
            ci_high=None,
            labelled=n,
            drop=None,
            reason=reason,
        )

    if n < spec.min_labelled:
        return short(f"{n} labelled rows, at least {spec.min_labelled} needed")
    label, prediction, score = _arrays(rows, spec.task)
    if spec.metric in NEEDS_SCORE and score is None:
        return short(f"{spec.metric.value} needs a probability score on every row")
    if spec.task is TaskKind.BINARY and spec.metric is Metric.ROC_AUC and np.unique(label).size < 2:
        return short("ROC AUC needs both classes among the labelled rows")
    rng = np.random.default_rng(spec.seed)
    weights = np.vstack([np.ones(n), rng.poisson(1.0, size=(spec.bootstrap, n))]).astype(np.float64)
    values = metric_values(spec.task, (spec.metric,), label, prediction, score, weights)[
        spec.metric
    ]
    value = float(values[0])
    boot = values[1:][np.isfinite(values[1:])]
    alpha = (1 - spec.confidence) / 2
    if boot.size:
        low, high = (float(q) for q in np.quantile(boot, [alpha, 1 - alpha]))
    else:
        low = high = value
    if spec.mode is BandMode.BAND and band is not None and band.metric is spec.metric:
        # The band is the noise model (chunks of this size vary this much): no interval on top.
        centre, boundary, drop, alert, severity, basis = _band_decision(
            band, n, value, spec.band_sigmas, spec.band_quantile
        )
        return Decay(
            metric=spec.metric,
            status=Status.ALERT if alert else Status.OK,
            value=value,
            # The baseline people know (training or the whole reference); the band's
            # centre, the chunks' mean at this size, is named in the basis.
            baseline=baseline if baseline is not None else centre,
            boundary=boundary,
            ci_low=low,
            ci_high=high,
            labelled=n,
            drop=drop,
            severity_ratio=severity,
            basis=basis,
        )
    if baseline is None:
        return short("no baseline: neither a training metric nor a labelled reference", value)
    basis = margin_basis(spec.max_absolute_drop, spec.max_relative_drop)
    if spec.mode is BandMode.BAND:
        basis += " (no band: too few labelled reference rows)"
    margin = spec.allowed_drop(baseline)
    lower_better = spec.metric in LOWER_IS_BETTER
    drop = value - baseline if lower_better else baseline - value
    boundary = baseline + margin if lower_better else baseline - margin
    # The whole interval must lie beyond the boundary: a small window's wide
    # interval straddles it and stays quiet.
    confirmed = low > boundary if lower_better else high < boundary
    alert = drop > margin and confirmed
    return Decay(
        metric=spec.metric,
        status=Status.ALERT if alert else Status.OK,
        value=value,
        baseline=baseline,
        boundary=boundary,
        ci_low=low,
        ci_high=high,
        labelled=n,
        drop=drop,
        severity_ratio=drop / margin if alert and margin > 0 else 0.0,
        basis=basis,
    )


def _decay_measures(d: Decay, name: str = "value") -> tuple[Measure, ...]:
    subject = d.metric.value
    measures = [
        Measure(
            subject=subject,
            name=name,
            value=d.value,
            threshold=d.boundary,
            status=d.status,
            severity_ratio=d.severity_ratio,
            detail=d.reason or (f"baseline {d.baseline:.4f}" if d.baseline is not None else None),
            basis=d.basis,
        )
    ]
    for key, value in (("baseline", d.baseline), ("ci_low", d.ci_low), ("ci_high", d.ci_high)):
        if value is not None:
            measures.append(Measure(subject=subject, name=key, value=value))
    return tuple(measures)


@dataclass(frozen=True, kw_only=True)
class PerformanceCheck:
    """Realized decay; the baseline is the training metric, else the reference's."""

    spec: DecaySpec
    reference: ReferenceStats
    baseline: float | None = None
    band: Band | None = None

    @property
    def kind(self) -> CheckKind:
        return CheckKind.PERFORMANCE

    def reference_baseline(self) -> float | None:
        if self.baseline is not None:
            return self.baseline
        values = realized(self.spec.task, self.reference.frame, (self.spec.metric,))
        value = values.get(self.spec.metric)
        return None if value is None or not math.isfinite(value) else value

    def run(self, window: pd.DataFrame) -> CheckResult:
        baseline = self.reference_baseline()
        d = decay(self.spec, window, baseline, self.band)
        measures = list(_decay_measures(d))
        if d.labelled >= self.spec.min_labelled:
            others = realized(self.spec.task, window)
            measures.extend(
                Measure(subject=m.value, name="value", value=v)
                for m, v in others.items()
                if m is not self.spec.metric
            )
        return CheckResult(
            kind=CheckKind.PERFORMANCE,
            status=d.status,
            rows=len(window),
            measures=tuple(measures),
            summary={
                "metric": d.metric.value,
                "value": d.value,
                "baseline": d.baseline,
                "ci": [d.ci_low, d.ci_high],
                "labelled": d.labelled,
                "threshold": d.boundary,
                "basis": d.basis,
            },
            reason=d.reason,
        )


# --------------------------------------------------------------------------- estimation

ESTIMATED = (Metric.ROC_AUC, Metric.ACCURACY, Metric.F1)


@dataclass(frozen=True, kw_only=True)
class EstimationSpec:
    metric: Metric = Metric.ROC_AUC
    max_absolute_drop: float | None = None
    max_relative_drop: float | None = 0.05
    min_rows: int = 200
    # Predicted class when the window has no prediction column: score >= this.
    decision_threshold: float = 0.5
    mode: BandMode = BandMode.MARGIN
    band_sigmas: float = 3.0
    band_quantile: float | None = None

    def allowed_drop(self, baseline: float) -> float:
        return DecaySpec(
            task=TaskKind.BINARY,
            metric=self.metric,
            max_absolute_drop=self.max_absolute_drop,
            max_relative_drop=self.max_relative_drop,
        ).allowed_drop(baseline)


def estimate(
    probabilities: FloatArray, scores: FloatArray, predicted: FloatArray
) -> dict[Metric, float]:
    """CBPE: expected ROC AUC, accuracy and F1 from calibrated probabilities."""
    p = probabilities[None, :]
    auc = float(weighted_auc(scores, p, 1 - p)[0])
    yhat = predicted
    accuracy = float(np.mean(yhat * probabilities + (1 - yhat) * (1 - probabilities)))
    tp = float(np.sum(yhat * probabilities))
    fp = float(np.sum(yhat * (1 - probabilities)))
    fn = float(np.sum((1 - yhat) * probabilities))
    f1 = 2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) > 0 else 0.0
    return {Metric.ROC_AUC: auc, Metric.ACCURACY: accuracy, Metric.F1: f1}


@dataclass(frozen=True, kw_only=True)
class EstimatedPerformanceCheck:
    spec: EstimationSpec
    reference: ReferenceStats
    baseline: float | None = None
    band: Band | None = None

    @property
    def kind(self) -> CheckKind:
        return CheckKind.ESTIMATED_PERFORMANCE

    def _predicted(self, frame: pd.DataFrame, scores: FloatArray) -> FloatArray:
        if PREDICTION in frame:
            pred = numeric_values(frame[PREDICTION])
            if not np.isnan(pred).any():
                return pred
        return (scores >= self.spec.decision_threshold).astype(np.float64)

    def _estimate(self, frame: pd.DataFrame) -> dict[Metric, float] | None:
        calibration = self.reference.calibration
        if calibration is None or SCORE not in frame:
            return None
        scores = numeric_values(frame[SCORE])
        keep = ~np.isnan(scores)
        scores = scores[keep]
        if scores.size == 0:
            return None
        return estimate(calibration(scores), scores, self._predicted(frame.loc[keep], scores))

    def reference_baseline(self) -> float | None:
        if self.baseline is not None:
            return self.baseline
        values = realized(TaskKind.BINARY, self.reference.frame, (self.spec.metric,))
        return values.get(self.spec.metric)

    def run(self, window: pd.DataFrame) -> CheckResult:
        kind = CheckKind.ESTIMATED_PERFORMANCE
        if self.reference.calibration is None:
            return insufficient(
                kind, len(window), "no calibration: the reference needs labels and scores"
            )
        if SCORE not in window:
            return insufficient(kind, len(window), "the window has no score column")
        scored = int(window[SCORE].notna().sum())
        if scored < self.spec.min_rows:
            return insufficient(
                kind, len(window), f"{scored} scored rows, at least {self.spec.min_rows} needed"
            )
        values = self._estimate(window)
        assert values is not None  # calibration and scores checked above
        baseline = self.reference_baseline()
        value = values[self.spec.metric]
        measures: list[Measure] = []
        status = Status.OK
        basis: str | None = None
        band = self.band
        if self.spec.mode is BandMode.BAND and band is not None and band.metric is self.spec.metric:
            centre, boundary, drop, alert, severity, basis = _band_decision(
                band, scored, value, self.spec.band_sigmas, self.spec.band_quantile
            )
            baseline = baseline if baseline is not None else centre
            status = Status.ALERT if alert else Status.OK
            measures.append(
                Measure(
                    subject=self.spec.metric.value,
                    name="estimated",
                    value=value,
                    threshold=boundary,
                    status=status,
                    severity_ratio=severity,
                    detail=f"baseline {baseline:.4f}",
                    basis=basis,
                )
            )
            measures.append(
                Measure(subject=self.spec.metric.value, name="baseline", value=baseline)
            )
        elif baseline is None:
            status = Status.INSUFFICIENT_DATA
            measures.append(Measure(subject=self.spec.metric.value, name="estimated", value=value))
        else:
            margin = self.spec.allowed_drop(baseline)
            drop = baseline - value
            alert = drop > margin
            status = Status.ALERT if alert else Status.OK
            basis = margin_basis(self.spec.max_absolute_drop, self.spec.max_relative_drop)
            if self.spec.mode is BandMode.BAND:
                basis += " (no band: too few scored reference rows)"
            measures.append(
                Measure(
                    subject=self.spec.metric.value,
                    name="estimated",
                    value=value,
                    threshold=baseline - margin,
                    status=status,
                    severity_ratio=drop / margin if alert and margin > 0 else 0.0,
                    detail=f"baseline {baseline:.4f}",
                    basis=basis,
                )
            )
            measures.append(
                Measure(subject=self.spec.metric.value, name="baseline", value=baseline)
            )
        measures.extend(
            Measure(subject=m.value, name="estimated", value=v)
            for m, v in values.items()
            if m is not self.spec.metric
        )
        return CheckResult(
            kind=kind,
            status=status,
            rows=len(window),
            measures=tuple(measures),
            summary={
                "metric": self.spec.metric.value,
                "estimated": value,
                "baseline": baseline,
                "basis": basis,
                **{f"estimated_{m.value}": v for m, v in values.items()},
            },
            reason=None if baseline is not None else "no baseline",
        )
