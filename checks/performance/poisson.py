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


def poisson_one(rng: np.random.Generator, shape: tuple[int, int]) -> npt.NDArray[np.uint8]:
    """Counts with the Poisson(1) distribution, `shape` of them."""
    uniform = rng.integers(0, 2**32, size=shape, dtype=np.uint32)
    return np.searchsorted(THRESHOLDS, uniform, side="right").astype(np.uint8)
