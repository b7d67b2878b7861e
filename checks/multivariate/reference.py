"""The reference side of the multivariate check, fitted once per reference version.

`fit_multivariate` fits the reconstruction model, measures the reference's own
chunks for the error band, and draws the reference rows the domain classifier
trains on. The daemon keeps the result in its `CheckCache` by the reference's
digest and the spec's key; a window only applies it.

The band: NannyML takes the reference's chunks of the analysis' chunk size and
alerts outside their mean ± 3 standard deviations. A window here has any size,
so the chunks are cut at each size of the performance bands' grid
(`checks/calibration/bands.py`, the same seeded shuffles) and the centre and
spread at the window's size come from `chunk_spread`, as a performance band's
do: the spread scales as 1/sqrt(n), and the reference's own error is added to
the window's. The mean error of n rows is a mean of n independent row errors,
so the scaling is the statistic's own.

One departure from NannyML: its reference chunks are scored by the PCA fitted
on those very rows, which fits their noise and reads low. The bias is small
against a chunk's spread at 1,000 rows but not at 10,000: with 25 independent
features and a 10,000-row reference, every clean 10,000-row window of the fleet
benchmark sat above NannyML's band. So the band's row errors are measured out
of fold (`FOLDS` folds, each scored by a model fitted on the others with the
full model's number of components); the window is still scored by the model
fitted on the whole reference, as NannyML scores its analysis chunks. A fold
model, fitted on fewer rows, errs slightly more than the full one: the band
leans a little high, never low.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from checks.calibration.bands import BAND_GRID, MIN_CHUNKS, _chunks
from checks.multivariate.reconstruction import ReconstructionModel, fit_reconstruction
from checks.performance.bands import chunk_spread

# Folds of the reference scored out of fold for the band.
FOLDS = 5


@dataclass(frozen=True, kw_only=True)
class MultivariateSpec:
    """What the multivariate check compares, and how it judges."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    # The share of the standardised reference's variance the PCA keeps (NannyML: 0.65).
    variance: float = 0.65
    # The reconstruction error alerts outside the band's centre ± this many sigmas.
    band_sigmas: float = 3.0
    classifier: bool = True
    # The domain classifier alerts above this cross-validated AUROC (NannyML: 0.65).
    classifier_threshold: float = 0.65
    # At most this many window rows, and as many reference rows, train the classifier.
    classifier_rows: int = 1_000
    folds: int = 5
    min_rows: int = 100
    seed: int = 0

    @property
    def key(self) -> str:
        """What the fitted reference side depends on (not the thresholds)."""
        parts = (
            ",".join(self.numeric),
            ",".join(self.categorical),
            repr(self.variance),
            str(self.classifier_rows),
            str(self.seed),
        )
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


@dataclass(frozen=True, kw_only=True)
class ErrorBand:
    """The mean reconstruction error of reference chunks, at each chunk size."""

    reference_rows: int
    sizes: tuple[int, ...]
    means: tuple[float, ...]
    stds: tuple[float, ...]

    def limits(self, n: int, sigmas: float) -> tuple[float, float, float]:
        """(centre, lower, upper) at n rows; the lower edge never below 0 (NannyML's limit)."""
        centre, spread = chunk_spread(self.sizes, self.means, self.stds, self.reference_rows, n)
        return centre, max(centre - sigmas * spread, 0.0), centre + sigmas * spread

    def basis(self, n: int, sigmas: float) -> str:
        centre, lower, upper = self.limits(n, sigmas)
        # Both sides: the threshold shown is the side the value is on.
        return (
            f"band at n={n}: {lower:.4g} to {upper:.4g}, "
            f"reference chunks' mean {centre:.4g} ± {sigmas:g}σ"
        )


def error_band(errors: np.ndarray, *, seed: int = 0) -> ErrorBand | None:
    """The chunks' mean error at each grid size that gives MIN_CHUNKS chunks or more."""
    rows = int(errors.size)
    rng = np.random.default_rng([seed, 3])
    sizes, means, stds = [], [], []
    for size in (s for s in BAND_GRID if s * MIN_CHUNKS <= rows):
        values = np.asarray([errors[idx].mean() for idx in _chunks(rows, size, rng)])
        std = float(np.std(values, ddof=1))
        if not std > 0:
            continue
        sizes.append(size)
        means.append(float(np.mean(values)))
        stds.append(std)
    if not sizes:
        return None
    return ErrorBand(reference_rows=rows, sizes=tuple(sizes), means=tuple(means), stds=tuple(stds))


def out_of_fold_errors(frame: pd.DataFrame, spec: MultivariateSpec, kept: int) -> np.ndarray:
    """Each reference row's error under a model fitted without its fold (a seeded split)."""
    rows = len(frame)
    order = np.random.default_rng([spec.seed, 6]).permutation(rows)
    errors = np.empty(rows)
    for held in np.array_split(order, FOLDS):
        train = np.setdiff1d(order, held, assume_unique=True)
        model = fit_reconstruction(
            frame.iloc[train], spec.numeric, spec.categorical, components=kept
        )
        if model is None:
            return np.empty(0)
        errors[held] = model.errors(frame.iloc[held])
    return errors


@dataclass(frozen=True, kw_only=True, eq=False)
class MultivariateReference:
    """The fitted reference side: the reconstruction model, its band, the classifier's rows."""

    digest: str
    rows: int
    model: ReconstructionModel | None
    band: ErrorBand | None
    # Up to `classifier_rows` reference rows (a seeded draw), the features only.
    sample: pd.DataFrame = field(repr=False)
    # Why the model could not be fitted (no usable column, too few rows).
    reason: str | None = None


def fit_multivariate(
    frame: pd.DataFrame, spec: MultivariateSpec, *, digest: str = ""
) -> MultivariateReference:
    """Fit everything the check needs from the reference (once per reference version)."""
    columns = [c for c in (*spec.numeric, *spec.categorical) if c in frame]
    rng = np.random.default_rng([spec.seed, 4])
    take = rng.permutation(len(frame))[: spec.classifier_rows]
    sample = frame.iloc[np.sort(take)][columns].reset_index(drop=True)
    model = fit_reconstruction(frame, spec.numeric, spec.categorical, variance=spec.variance)
    if model is None:
        return MultivariateReference(
            digest=digest,
            rows=len(frame),
            model=None,
            band=None,
            sample=sample,
            reason=f"the reference ({len(frame)} rows) has no usable feature column",
        )
    band = error_band(out_of_fold_errors(frame, spec, model.kept), seed=spec.seed)
    return MultivariateReference(
        digest=digest,
        rows=len(frame),
        model=model,
        band=band,
        sample=sample,
        reason=None if band is not None else f"too few reference rows ({len(frame)}) for a band",
    )
