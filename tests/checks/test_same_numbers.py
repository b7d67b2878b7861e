"""The faster paths of the checks give the numbers the plain ones give, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from checks.interface import TaskKind
from checks.performance.metrics import Metric, labelled_auc, metric_values, weighted_auc


def _plain_auc(scores: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """The AUC as it was computed before: group every score, ties or not."""
    order = np.argsort(scores, kind="stable")
    s = scores[order]
    starts = np.r_[0, np.flatnonzero(np.diff(s)) + 1]
    pos_g = np.add.reduceat(pos[:, order], starts, axis=1)
    neg_g = np.add.reduceat(neg[:, order], starts, axis=1)
    neg_below = np.cumsum(neg_g, axis=1) - neg_g
    total = pos_g.sum(axis=1) * neg_g.sum(axis=1)
    return np.asarray((pos_g * (neg_below + 0.5 * neg_g)).sum(axis=1) / total)


@pytest.mark.parametrize("decimals", [None, 2, 1])
@pytest.mark.parametrize("seed", range(3))
def test_auc_paths_agree(seed: int, decimals: int | None) -> None:
    rng = np.random.default_rng(seed)
    n = 2000
    score = rng.random(n)
    if decimals is not None:
        score = np.round(score, decimals)  # ties
    y = (rng.random(n) < score).astype(np.float64)
    w = np.vstack([np.ones(n), rng.poisson(1.0, (50, n))]).astype(np.float64)
    want = _plain_auc(score, w * y, w * (1 - y))
    assert np.array_equal(labelled_auc(score, w, y), want)
    assert np.array_equal(weighted_auc(score, w * y, w * (1 - y)), want)
    p = np.clip(score, 0.01, 0.99)[None, :]
    assert np.array_equal(weighted_auc(score, p, 1 - p), _plain_auc(score, p, 1 - p))


def test_metrics_asked_alone_equal_metrics_asked_together() -> None:
    rng = np.random.default_rng(5)
    n = 1000
    score = rng.random(n)
    label = (rng.random(n) < score).astype(np.float64)
    prediction = (score >= 0.5).astype(np.float64)
    w = np.vstack([np.ones(n), rng.poisson(1.0, (20, n))]).astype(np.float64)
    every = tuple(Metric)
    together = metric_values(TaskKind.BINARY, every, label, prediction, score, w)
    for metric, values in together.items():
        alone = metric_values(TaskKind.BINARY, (metric,), label, prediction, score, w)
        assert np.array_equal(alone[metric], values), metric
