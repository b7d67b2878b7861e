"""Thresholds calibrated from the reference itself, for a stated false-alarm rate.

Why: Evidently compares a distance with a fixed 0.1 (Wasserstein normed,
Jensen-Shannon, ...) at every window size. A distance between two samples of
one population shrinks like 1/sqrt(n), so the same 0.1 flags most clean
windows of 120 rows and misses real shifts in windows of 100,000. Here each
column's threshold is the score that a window of *its* size, drawn from the
reference's own population, exceeds with a known, small probability.

How (drift, distance methods):

- **Null by resampling.** For each column and each size of a fixed grid,
  `REPLICATES` windows are drawn with replacement from the reference and scored
  against the whole reference by the very code that scores a real window, or
  by an exact shortcut of it (`wasserstein_resampled`, `jensenshannon_binned`,
  `jensenshannon_counts`; tests hold them equal). The scores are Evidently's:
  only the threshold is ours.
- **The reference's own noise.** A resampled window differs from the
  reference by the window's noise alone; a real one also by the reference's
  own sampling error, which is the same for every window checked against it.
  Adding the two in quadrature would hold the rate on average over references
  but not for an unlucky one: a reference whose mean sits 2 standard errors
  off (common in one column of ten) would then flag one clean window in ten.
  So the two are added as distances (Wasserstein, Jensen-Shannon, Hellinger
  and energy are metrics), each at its own size, the reference's at a ten
  times stricter level: the rate holds for the reference in hand unless that
  reference is itself a 1-in-1,000 draw (per column, at a 1% rate on one
  column). At 1% the bench's lognormal reference of 20,000 rows, a 1-in-300
  draw, alarmed 4 windows in 100 at n = 100,000. This costs power only where
  the window is about as large as the reference or larger.
- **The tail, fitted.** A 1% false-alarm rate over 25 columns needs a
  per-column tail of 0.04%, which no affordable number of replicates shows
  directly. Above the replicates' 90% quantile the excess is fitted by a
  generalized Pareto law (peaks over threshold), its shape kept at or above
  the exponential's. A scaled chi-square matched to two moments was tried
  first: it put the 0.2% quantile 5-10% low, doubling the false alarms.
- **Between and beyond the grid.** The fitted quantile is interpolated log-log
  between grid sizes and extended with the score's own scaling beyond them:
  score**power goes as 1/n (power 2 for Wasserstein, Jensen-Shannon,
  Hellinger and energy distances, square roots of quadratic forms; 1 for PSI
  and Kullback-Leibler, quadratic forms themselves, whose square roots are
  added as distances).
- **Many columns.** The false-alarm rate is a dataset-level rate: each of the
  m judged columns gets rate / m (Bonferroni), which holds whatever the
  columns' correlation. Dataset drift (a share of drifted columns) is rarer
  still.
- **p-value tests** (KS, chi-square, z, ... which Evidently picks for
  references of up to 1,000 rows) already account for both sample sizes; the
  calibrated mode applies the same Bonferroni split to their level.

Performance bands follow NannyML: the labelled (or, for the label-free
estimate, scored) reference is cut into chunks of a grid of sizes, the metric
is computed per chunk, and the band at a window's size is the chunks' mean
plus or minus k standard deviations (or a quantile of the standardized chunk
values). Chunks are cut from a seeded shuffle, since a reference file may be
sorted by anything, and the spread at size s is corrected for sampling
without replacement and scaled as 1/sqrt(n) between and beyond the grid. As
for drift, the reference's own error (its one-row spread over sqrt(N)) is added
to the window's, not in quadrature.

All of this is computed once per reference version (the daemon stores it with
the reference's digest), never per window.

Rooms: `tails` (the fitted null tail and the drift calibration it makes up),
`resampling` (clean windows drawn from the reference, scored, per column),
`bands` (performance bands from reference chunks), `stored` (the versioned
JSON form kept beside the reference's digest).
"""

from checks.calibration.bands import (
    BAND_CHUNKS,
    BAND_GRID,
    MIN_CHUNKS,
    estimated_band,
    realized_band,
)
from checks.calibration.resampling import (
    DRIFT_GRID,
    POWER,
    REPLICATES,
    calibrate_column,
    calibrate_drift,
    jensenshannon_binned,
    jensenshannon_counts,
    reference_method,
    wasserstein_resampled,
)
from checks.calibration.stored import CALIBRATION_VERSION, CalibrationError, ReferenceCalibration
from checks.calibration.tails import (
    REFERENCE_LEVEL,
    TAIL_SHARE,
    DriftCalibration,
    NullTail,
    fit_tail,
)

__all__ = [
    "BAND_CHUNKS",
    "BAND_GRID",
    "CALIBRATION_VERSION",
    "DRIFT_GRID",
    "MIN_CHUNKS",
    "POWER",
    "REFERENCE_LEVEL",
    "REPLICATES",
    "TAIL_SHARE",
    "CalibrationError",
    "DriftCalibration",
    "NullTail",
    "ReferenceCalibration",
    "calibrate_column",
    "calibrate_drift",
    "estimated_band",
    "fit_tail",
    "jensenshannon_binned",
    "jensenshannon_counts",
    "realized_band",
    "reference_method",
    "wasserstein_resampled",
]
