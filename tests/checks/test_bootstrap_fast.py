"""The performance bootstrap's faster arrays give the numbers the plain ones gave.

`decay` draws and scores its Poisson weights a block of replicates at a time and
`labelled_auc` gathers columns with `np.take` (issue 17, `mlmaint check` at the
terminal), and the AUC of distinct scores sums each positive's weight times the negatives'
weight below it: the interval, the value and every metric must stay bit for bit what
the stacked weights, fancy indexing and the grouped sums gave.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from checks.interface import LABEL, PREDICTION, SCORE, TaskKind
from checks.performance.decay import BOOTSTRAP_BLOCK, DecaySpec, decay
from checks.performance.metrics import Metric, labelled_auc, metric_values, weighted_auc
from checks.performance.poisson import poisson_one


def _window(n: int, seed: int, ties: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    score = rng.random(n)
    if ties:
        score = np.round(score, 2)  # many rows share a score: the grouped path
    label = (rng.random(n) < score).astype(float)
    label[rng.random(n) < 0.4] = np.nan  # unlabelled rows are left out
    return pd.DataFrame({SCORE: score, PREDICTION: (score >= 0.5).astype(float), LABEL: label})


def _plain_auc(scores: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """The AUC as it was computed before: fancy indexing, then the grouped sums."""
    order = np.argsort(scores, kind="stable")
    s, p, q = scores[order], pos[:, order], neg[:, order]
    starts = np.r_[0, np.flatnonzero(np.diff(s)) + 1]
    if starts.size != s.size:
        p = np.add.reduceat(p, starts, axis=1)
        q = np.add.reduceat(q, starts, axis=1)
    below = np.cumsum(q, axis=1) - q
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray((p * (below + 0.5 * q)).sum(axis=1) / (p.sum(axis=1) * q.sum(axis=1)))


# 24 replicates fill the first block with the window's own row; 60 and 200 span blocks,
# the last one partly filled (decay draws and scores BOOTSTRAP_BLOCK rows at a time).
@pytest.mark.parametrize("bootstrap", [24, 60, 200])
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("metric", [Metric.ROC_AUC, Metric.ACCURACY, Metric.F1])
def test_decay_interval_is_the_stacked_weights_interval(
    metric: Metric, ties: bool, bootstrap: int
) -> None:
    assert BOOTSTRAP_BLOCK == 25
    window = _window(3000, seed=5, ties=ties)
    spec = DecaySpec(task=TaskKind.BINARY, metric=metric, bootstrap=bootstrap, seed=11)
    got = decay(spec, window, baseline=0.9)

    rows = window[window[LABEL].notna()]
    label = rows[LABEL].to_numpy(np.float64)
    score = rows[SCORE].to_numpy(np.float64)
    n = len(rows)
    rng = np.random.default_rng(spec.seed)
    weights = np.vstack([np.ones(n), poisson_one(rng, (spec.bootstrap, n))]).astype(np.float64)
    if metric is Metric.ROC_AUC:
        values = _plain_auc(score, weights * label, weights * (1 - label))
    else:
        prediction = rows[PREDICTION].to_numpy(np.float64)
        values = metric_values(TaskKind.BINARY, (metric,), label, prediction, score, weights)[
            metric
        ]
    boot = values[1:][np.isfinite(values[1:])]
    low, high = np.quantile(boot, [0.025, 0.975])
    assert got.value == float(values[0])
    assert (got.ci_low, got.ci_high) == (float(low), float(high))
    assert got.labelled == n


@pytest.mark.parametrize("ties", [False, True])
def test_auc_gathers_equal_fancy_indexing(ties: bool) -> None:
    rng = np.random.default_rng(3)
    n = 5000
    scores = rng.random(n)
    if ties:
        scores = np.round(scores, 3)
    y = (rng.random(n) < scores).astype(float)
    w = rng.poisson(1.0, size=(40, n)).astype(np.float64)
    expected = _plain_auc(scores, w * y, w * (1 - y))
    np.testing.assert_array_equal(labelled_auc(scores, w, y), expected)
    np.testing.assert_array_equal(weighted_auc(scores, w * y, w * (1 - y)), expected)
    # Fractional weights (CBPE's expected AUC: p and 1 - p) keep the plain gather: the
    # same bits. labelled_auc's C-order sums agree with them to rounding only.
    p = rng.random(n)
    np.testing.assert_array_equal(
        weighted_auc(scores, w * p, w * (1 - p)), _plain_auc(scores, w * p, w * (1 - p))
    )
    np.testing.assert_allclose(
        labelled_auc(scores, w * p, y), _plain_auc(scores, w * p * y, w * p * (1 - y)), rtol=1e-12
    )


@pytest.mark.parametrize("share", [0.0, 0.02, 0.5, 0.98, 1.0])
def test_distinct_scores_auc_is_the_grouped_sums_auc(share: float) -> None:
    # Distinct scores and 0/1 labels take the positives-times-negatives-below path; one
    # class alone gives NaN there as in the grouped sums, and so do zero weights.
    rng = np.random.default_rng(8)
    n = 2000
    scores = rng.random(n)
    y = (rng.random(n) < share).astype(float)
    w = rng.poisson(1.0, size=(30, n)).astype(np.float64)
    w[3] = 0.0
    expected = _plain_auc(scores, w * y, w * (1 - y))
    got = labelled_auc(scores, w, y)
    np.testing.assert_array_equal(got, expected)
    assert np.isnan(got).all() == (share in (0.0, 1.0))
