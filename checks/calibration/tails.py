"""The upper tail of a drift score on clean windows, fitted, and the threshold it gives.

Above the replicates' `TAIL_SHARE` quantile the excess is fitted by a
generalized Pareto law (peaks over threshold); the fitted quantile is
interpolated log-log between the simulated sizes and extended with the
score's own 1/n scaling beyond them (see checks/calibration/__init__.py).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from checks.methods import Method
from checks.reference import FloatArray

# The share of replicates whose excess is fitted (100 of 1,000).
TAIL_SHARE = 0.1
# The reference's own error is judged this many times more strictly than a window's.
REFERENCE_LEVEL = 10.0


@dataclass(frozen=True, kw_only=True)
class NullTail:
    """The upper tail of a column's score on clean windows, at each simulated size.

    Above its `TAIL_SHARE` quantile `u`, the score's excess is fitted by a
    generalized Pareto law (scale `beta`, shape `xi`, by the method of moments).
    """

    column: str
    method: Method
    power: float
    reference_rows: int
    sizes: tuple[int, ...]
    u: tuple[float, ...]
    beta: tuple[float, ...]
    xi: tuple[float, ...]

    def _quantile(self, i: int, alpha: float) -> float:
        ratio = TAIL_SHARE / alpha
        if ratio <= 1:
            return self.u[i]
        xi, beta = self.xi[i], self.beta[i]
        if xi < 1e-9:
            return self.u[i] + beta * math.log(ratio)
        return float(self.u[i] + beta / xi * (ratio**xi - 1))

    def sampling(self, size: float, alpha: float) -> float:
        """The score a sample of `size` rows exceeds with probability alpha, against the
        population it was drawn from (the reference standing in for it)."""
        logs = np.log(np.asarray(self.sizes, dtype=np.float64))
        values = np.log([self._quantile(i, alpha) for i in range(len(self.sizes))])
        x = math.log(max(size, 1.0))
        # Beyond the grid, score**power keeps its 1/n scaling.
        if x <= logs[0]:
            return math.exp(values[0] - (x - logs[0]) / self.power)
        if x >= logs[-1]:
            return math.exp(values[-1] - (x - logs[-1]) / self.power)
        return math.exp(float(np.interp(x, logs, values)))

    def threshold(self, n: int, alpha: float) -> float:
        """The score a clean window of n rows exceeds with probability at most alpha.

        The window's own noise and the reference's are added as distances (the
        triangle inequality), each at its own size. The reference's error
        repeats in every window, so it is taken at a level REFERENCE_LEVEL times
        stricter: unless the reference itself is a 1-in-(REFERENCE_LEVEL/alpha)
        draw, the rate holds for *this* reference, window after window, not only
        on average over references.
        """
        half = self.power / 2  # score ** half is a distance
        window = self.sampling(n, alpha) ** half
        reference = self.sampling(self.reference_rows, alpha / REFERENCE_LEVEL) ** half
        return float((window + reference) ** (1 / half))


def fit_tail(scores: FloatArray) -> tuple[float, float, float]:
    """(u, beta, xi): the TAIL_SHARE quantile and a generalized Pareto fit of the excess.

    The shape is kept in [0, 0.5]: never lighter than exponential (a score whose
    tail is Gaussian-like is then judged a little conservatively), and the
    method of moments needs a finite variance.
    """
    u = float(np.quantile(scores, 1 - TAIL_SHARE))
    excess = scores[scores > u] - u
    if excess.size < 2:
        return u, 0.0, 0.0
    mean, var = float(np.mean(excess)), float(np.var(excess, ddof=1))
    if not var > 0:
        return u, mean, 0.0
    ratio = mean * mean / var
    xi = min(max(0.5 * (1 - ratio), 0.0), 0.5)
    beta = mean if xi == 0 else 0.5 * mean * (ratio + 1)
    return u, beta, xi


@dataclass(frozen=True, kw_only=True)
class DriftCalibration:
    """The null tails of every calibrated column of one reference version."""

    columns: Mapping[str, NullTail]
    replicates: int
    seed: int
    # Why a column has no tail (a constant column, a method that is a p-value test).
    skipped: Mapping[str, str] = field(default_factory=dict)

    def tail(self, column: str, method: Method) -> NullTail | None:
        found = self.columns.get(column)
        return found if found is not None and found.method is method else None
