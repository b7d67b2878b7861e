"""The bootstrap's Poisson(1) weights have the Poisson(1) distribution."""

from __future__ import annotations

import math

import numpy as np

from checks.performance.poisson import MAX_COUNT, poisson_one


def test_counts_follow_poisson_one() -> None:
    rng = np.random.default_rng(7)
    counts = poisson_one(rng, (40, 50_000))
    n = counts.size
    observed = np.bincount(counts.ravel(), minlength=MAX_COUNT + 1)
    assert observed.sum() == n
    assert counts.max() <= MAX_COUNT
    # Pearson's chi-square over the counts 0..5 and a tail bin: far below the 0.1%
    # critical value (22.46 for 6 degrees of freedom) for the right distribution.
    pmf = [math.exp(-1.0) / math.factorial(k) for k in range(6)]
    expected = np.array([*pmf, 1.0 - sum(pmf)]) * n
    got = np.array([*observed[:6], observed[6:].sum()], dtype=np.float64)
    chi2 = float(((got - expected) ** 2 / expected).sum())
    assert chi2 < 22.46, (chi2, got, expected)
    assert abs(counts.mean() - 1.0) < 0.003 and abs(counts.var() - 1.0) < 0.005


def test_a_wrong_distribution_fails_the_same_measure() -> None:
    # The chi-square above can fail: Poisson(1.02) counts are rejected by it.
    counts = np.random.default_rng(7).poisson(1.02, 2_000_000)
    n = counts.size
    pmf = [math.exp(-1.0) / math.factorial(k) for k in range(6)]
    expected = np.array([*pmf, 1.0 - sum(pmf)]) * n
    observed = np.bincount(counts, minlength=MAX_COUNT + 1)
    got = np.array([*observed[:6], observed[6:].sum()], dtype=np.float64)
    assert float(((got - expected) ** 2 / expected).sum()) > 22.46


def test_the_same_seed_gives_the_same_weights_however_the_blocks_are_cut() -> None:
    whole = poisson_one(np.random.default_rng(3), (10, 1001))
    rng = np.random.default_rng(3)
    parts = np.vstack([poisson_one(rng, (3, 1001)), poisson_one(rng, (7, 1001))])
    assert np.array_equal(whole, parts)


def test_the_counts_are_the_search_over_the_thresholds_draw_for_draw() -> None:
    from checks.performance.poisson import THRESHOLDS

    counts = poisson_one(np.random.default_rng(11), (30, 40_000))
    uniform = np.random.default_rng(11).integers(0, 2**32, size=(30, 40_000), dtype=np.uint32)
    searched = np.searchsorted(THRESHOLDS, uniform, side="right").astype(np.uint8)
    assert np.array_equal(counts, searched)
    assert counts.max() >= 6  # the tail past the comparisons is exercised
