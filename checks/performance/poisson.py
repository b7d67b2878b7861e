"""Poisson(1) bootstrap weights, drawn by inverting the distribution on 32-bit integers.

NumPy's `Generator.poisson` draws one count at a time through a general-purpose
algorithm; a bootstrap of 200 replicates over a 100,000-row window asks for 20
million counts, a third of `mlmaint check`'s time on such a window. Here each count
is one uniform 32-bit integer placed among the cumulative Poisson(1) probabilities
(scaled to 2**32): the same distribution, with each probability rounded to 2**-32
and counts above `MAX_COUNT` (probability below 1e-9 per row) folded into it.
The draws differ from `Generator.poisson`'s for the same seed; they are as
reproducible for a given seed.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

MAX_COUNT = 12

# The 2**32-scaled cumulative probabilities P(X <= k), k = 0 .. MAX_COUNT - 1: a
# uniform u falls among them at the count whose probability band holds it.
THRESHOLDS = np.array(
    [
        round(2**32 * sum(math.exp(-1.0) / math.factorial(j) for j in range(k + 1)))
        for k in range(MAX_COUNT)
    ],
    dtype=np.uint64,
)


# Every threshold is below 2**32 (the last, P(X <= 11), by about 3): they compare with
# the uint32 draws as uint32, with no cast of the draws to 64 bits.
_THRESHOLDS_32 = THRESHOLDS.astype(np.uint32)
assert np.array_equal(_THRESHOLDS_32, THRESHOLDS)

# Counts 0 .. HEAD - 1 come from HEAD comparisons over the whole block; the rows at or
# above the last of them (P(X >= HEAD) = 1.9% for HEAD = 4) are placed by a search.
HEAD = 4


def poisson_one(rng: np.random.Generator, shape: tuple[int, int]) -> npt.NDArray[np.uint8]:
    """Counts with the Poisson(1) distribution, `shape` of them.

    The count of a draw u is the number of thresholds at or below it. A binary search
    per draw (`np.searchsorted`) costs more than HEAD plain comparisons over the block
    (a 200 x 30,000 bootstrap: 0.3 s against 0.05 s); the few draws past the HEADth
    threshold are searched alone. The counts are `searchsorted(THRESHOLDS, u, "right")`,
    draw for draw.
    """
    uniform = rng.integers(0, 2**32, size=shape, dtype=np.uint32)
    counts = np.zeros(shape, dtype=np.uint8)
    above = np.empty(shape, dtype=np.bool_)
    for threshold in _THRESHOLDS_32[:HEAD]:
        np.greater_equal(uniform, threshold, out=above)
        counts += above
    tail = np.flatnonzero(above)
    counts.flat[tail] = np.searchsorted(THRESHOLDS, uniform.flat[tail], side="right")
    return counts
