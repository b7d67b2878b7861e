"""The performance metrics, computed for many bootstrap replicates at once.

Every metric here is a weighted sum over rows: one row of weights per
replicate (a Poisson bootstrap weights each row by a Poisson(1) count), so no
resampled copies of the data are made. With weights of one the values equal
sklearn's.
"""

from __future__ import annotations

import enum

import numpy as np
import numpy.typing as npt
import pandas as pd

# The vocabulary (Metric, which task takes which, the default, the parsing) lives in
# checks/interface.py, light enough for the config to validate a metric at load;
# it is named here too, where the metrics are computed.
from checks.interface import LABEL, PREDICTION, SCORE, TaskKind
from checks.interface import LOWER_IS_BETTER as LOWER_IS_BETTER
from checks.interface import NEEDS_SCORE as NEEDS_SCORE
from checks.interface import TASK_METRICS as TASK_METRICS
from checks.interface import Metric as Metric
from checks.interface import MetricError as MetricError
from checks.interface import alerts_when as alerts_when
from checks.interface import default_metric as default_metric
from checks.interface import parse_metric as parse_metric
from checks.reference import FloatArray, numeric_values


class BaselineSource(enum.StrEnum):
    """Where a performance check's baseline came from: the stored `baseline` measure's
    detail, and what a decay's causes say the drop is measured from."""

    # The value recorded at training time, handed to the check.
    TRAINING = "training"
    # The same metric on the reference's labelled rows (the usual case).
    REFERENCE = "reference"
    # The mean of the reference chunks of the window's size (no metric on the whole).
    BAND = "reference chunks' mean"


def baseline_source(given: float | None) -> BaselineSource:
    """Where a check's baseline comes from: the training value it was handed, else the
    reference's own metric."""
    return BaselineSource.TRAINING if given is not None else BaselineSource.REFERENCE


# --------------------------------------------------------------------------- metrics

Weights = npt.NDArray[np.float64]  # (B, n): one row per bootstrap replicate
IntArray = npt.NDArray[np.intp]


def weighted_auc(scores: FloatArray, pos: Weights, neg: Weights) -> FloatArray:
    """ROC AUC with per-row positive and negative weights, ties counted half.

    With 0/1 labels as weights this is the usual AUC (sklearn's roc_auc_score);
    with calibrated probabilities p and 1 - p it is CBPE's expected AUC.
    """
    order = np.argsort(scores, kind="stable")
    return _sorted_auc(scores[order], pos[:, order], neg[:, order])


def labelled_auc(
    scores: FloatArray, w: Weights, y: FloatArray, order: IntArray | None = None
) -> FloatArray:
    """`weighted_auc(scores, w * y, w * (1 - y))`, the same numbers: the rows are put in
    score order once, on `w`, before the products (a product does not care where its
    row sits), rather than on each of the two products. `order` is
    `np.argsort(scores, kind="stable")` when the caller has it (a bootstrap scores the
    same rows block after block)."""
    if order is None:
        order = np.argsort(scores, kind="stable")
    y_ordered = y[order]
    s = scores[order]
    distinct = bool((np.diff(s) > 0).all())
    if s.size and distinct and bool(((y_ordered == 0) | (y_ordered == 1)).all()):
        return _distinct_auc(w, order, y_ordered == 1)
    ordered = _columns(w, order)
    return _sorted_auc(s, ordered * y_ordered, ordered * (1 - y_ordered))


def _distinct_auc(w: Weights, order: IntArray, positive: npt.NDArray[np.bool_]) -> FloatArray:
    """The AUC of distinct scores and 0/1 labels (`positive`, in score order): each positive
    adds its weight times the negatives' weight below it; no half-counted ties, and no
    pass over a positive-times-negative product. The negatives' running sum and the
    positives' weights are gathered apart, each about half of `w`: half the passes of
    `_sorted_auc` (issue 17, the bootstrap of `mlmaint check`). With whole-number weights
    every sum is an exact integer, so the AUC is `_sorted_auc`'s to the last bit.
    """
    pos_at = np.flatnonzero(positive)
    neg_at = np.flatnonzero(~positive)
    pos_w = np.take(w, order[pos_at], axis=1)
    neg_w = np.take(w, order[neg_at], axis=1)
    running = np.cumsum(neg_w, axis=1)
    # How many negatives lie below each positive: the running sum just before it.
    count = np.searchsorted(neg_at, pos_at)
    below = np.zeros_like(pos_w)
    some = count > 0
    below[:, some] = running[:, count[some] - 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray((pos_w * below).sum(axis=1) / (pos_w.sum(axis=1) * neg_w.sum(axis=1)))


def _columns(w: Weights, order: IntArray) -> Weights:
    """`w[:, order]`, the same values, in C order: `np.take` gathers faster than fancy
    indexing (which hands back Fortran order), and the row sums and cumulative sums that
    follow run along contiguous rows (a 201 x 30,000 bootstrap's AUC: 0.12 s, not 0.16).

    The order of the summands changes with the layout. With whole-number weights (the
    Poisson bootstrap's counts, a chunk's ones) and 0/1 labels every partial sum is a
    multiple of one half far below 2**53, so exact in either order: the same AUC to the
    last bit (tests/checks/test_bootstrap_fast.py). Fractional weights agree to ~1e-15.
    """
    return np.take(w, order, axis=1)


def _sorted_auc(s: FloatArray, pos: Weights, neg: Weights) -> FloatArray:
    """The AUC of rows already in score order (`s` ascending)."""
    starts = np.r_[0, np.flatnonzero(np.diff(s)) + 1]
    if starts.size == s.size:
        # No tied scores: each group is one row, and reduceat would copy the matrix as is.
        pos_g, neg_g = pos, neg
    else:
        pos_g = np.add.reduceat(pos, starts, axis=1)
        neg_g = np.add.reduceat(neg, starts, axis=1)
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
    *,
    score_order: IntArray | None = None,
) -> dict[Metric, FloatArray]:
    """Each metric for each row of weights `w` (B, n). `score_order`, when given, is
    `np.argsort(score, kind="stable")`, computed once by a caller that asks again."""
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
    # Only what is asked for: a bootstrap asks for one metric on (B, n) weights, and each
    # metric left out is a few passes over that matrix saved (the others' values are the same).
    wanted = set(metrics)
    if Metric.ACCURACY in wanted:
        correct = (label == prediction).astype(np.float64)
        out[Metric.ACCURACY] = _wmean(correct, w)
    if task is TaskKind.BINARY:
        y = label.astype(np.float64)
        if wanted & {Metric.PRECISION, Metric.RECALL, Metric.F1}:
            yhat = prediction.astype(np.float64)
            tp = (w * (y * yhat)).sum(axis=1)
            fp = (w * ((1 - y) * yhat)).sum(axis=1)
            fn = (w * (y * (1 - yhat))).sum(axis=1)
            out.update(_prf(tp, fp, fn))
        if score is not None and Metric.ROC_AUC in wanted:
            out[Metric.ROC_AUC] = labelled_auc(score, w, y, score_order)
        if score is not None and Metric.LOG_LOSS in wanted:
            p = np.clip(score, 1e-15, 1 - 1e-15)
            out[Metric.LOG_LOSS] = _wmean(-(y * np.log(p) + (1 - y) * np.log(1 - p)), w)
    elif wanted & {Metric.PRECISION, Metric.RECALL, Metric.F1}:
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


# --------------------------------------------------------------------------- labelled rows


def labelled_rows(window: pd.DataFrame, task: TaskKind) -> pd.DataFrame:
    if LABEL not in window or PREDICTION not in window:
        return window.iloc[0:0]
    mask = window[LABEL].notna() & window[PREDICTION].notna()
    return window.loc[mask]


def label_arrays(
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
    rows = labelled_rows(frame, task)
    if rows.empty:
        return None
    return label_arrays(rows, task)


def realized(
    task: TaskKind, frame: pd.DataFrame, metrics: tuple[Metric, ...] | None = None
) -> dict[Metric, float]:
    """Each applicable metric on the labelled rows of `frame` (no bootstrap)."""
    rows = labelled_rows(frame, task)
    if rows.empty:
        return {}
    label, prediction, score = label_arrays(rows, task)
    wanted = metrics or TASK_METRICS[task]
    if score is None:
        wanted = tuple(m for m in wanted if m not in NEEDS_SCORE)
    w = np.ones((1, len(rows)))
    values = metric_values(task, wanted, label, prediction, score, w)
    return {m: float(v[0]) for m, v in values.items()}
