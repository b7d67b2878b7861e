"""A metric's band from chunks of the reference, and a value judged against it (NannyML's way)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from checks.performance.metrics import LOWER_IS_BETTER, Metric


@dataclass(frozen=True, kw_only=True)
class Band:
    """A metric on chunks of the reference, at each chunk size (checks/calibration/).

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
        every window: it is added, not in quadrature (checks/calibration/).
        """
        return chunk_spread(self.sizes, self.means, self.stds, self.reference_rows, n)

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


def chunk_spread(
    sizes: tuple[int, ...],
    means: tuple[float, ...],
    stds: tuple[float, ...],
    reference_rows: int,
    n: int,
) -> tuple[float, float]:
    """(centre, spread) at n rows of a statistic measured on reference chunks of `sizes`
    rows (`Band.at`; the multivariate reconstruction band scales the same way)."""
    big_n = reference_rows
    grid = np.asarray(sizes, dtype=np.float64)
    unit = np.asarray(stds) * np.sqrt(grid) / np.sqrt((big_n - grid) / max(big_n - 1, 1))
    x = math.log(max(n, 1))
    logs = np.log(grid)
    centre = float(np.interp(x, logs, np.asarray(means)))
    sigma = math.exp(float(np.interp(x, logs, np.log(unit))))
    return centre, sigma * (1.0 / math.sqrt(max(n, 1)) + 1.0 / math.sqrt(big_n))


def band_decision(
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
