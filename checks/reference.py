"""Reference statistics, computed once per reference and reused for every window.

Sorting the reference is what makes the drift tests cheap per window (a merge
instead of a sort for Wasserstein, binary searches for histograms), so it is
done here once per model version. The daemon keeps the statistics keyed by
the reference's content digest (`daemon/checking/cache.py`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, kw_only=True, eq=False)
class NumericStats:
    """A numeric column of the reference: finite values sorted, and summaries."""

    name: str
    sorted: FloatArray
    rows: int
    missing: int
    std: float
    nunique: int
    # The distinct values when there are few (low-cardinality numeric columns).
    uniques: FloatArray

    @property
    def n(self) -> int:
        return int(self.sorted.size)

    @property
    def low(self) -> float:
        return float(self.sorted[0]) if self.n else float("nan")

    @property
    def high(self) -> float:
        return float(self.sorted[-1]) if self.n else float("nan")


@dataclass(frozen=True, kw_only=True, eq=False)
class CategoricalStats:
    """A categorical column of the reference: counts of each non-missing value."""

    name: str
    # Most frequent first (value_counts' order): the evidence page takes the top ones.
    counts: Mapping[object, int]
    rows: int
    missing: int

    @property
    def n(self) -> int:
        return self.rows - self.missing


@dataclass(frozen=True, kw_only=True)
class Calibration:
    """Isotonic map from a score to P(label = 1), fitted on the labelled reference."""

    x: FloatArray = field(repr=False)
    y: FloatArray = field(repr=False)
    rows: int

    def __call__(self, scores: FloatArray) -> FloatArray:
        return np.interp(scores, self.x, self.y)


@dataclass(frozen=True, kw_only=True, eq=False)
class ReferenceStats:
    digest: str
    rows: int
    numeric: Mapping[str, NumericStats]
    categorical: Mapping[str, CategoricalStats]
    columns: tuple[str, ...]
    frame: pd.DataFrame = field(repr=False)
    calibration: Calibration | None = None


# Up to this many distinct values are kept; the auto selection needs "<= 5" and
# the binned tests switch on "> 20".
_FEW = 32


def numeric_values(series: pd.Series) -> FloatArray:
    """The column as float64, non-numbers (and infinities) as NaN."""
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return np.where(np.isfinite(values), values, np.nan)


def numeric_stats(name: str, series: pd.Series) -> NumericStats:
    values = numeric_values(series)
    finite = np.sort(values[~np.isnan(values)])
    if finite.size:
        change = np.flatnonzero(np.diff(finite) != 0)
        nunique = int(change.size + 1)
        uniques = finite[np.r_[0, change + 1]] if nunique <= _FEW else np.empty(0)
        std = float(np.std(finite))
    else:
        nunique, uniques, std = 0, np.empty(0), float("nan")
    return NumericStats(
        name=name,
        sorted=finite,
        rows=int(values.size),
        missing=int(values.size - finite.size),
        std=std,
        nunique=nunique,
        uniques=uniques,
    )


def categorical_stats(name: str, series: pd.Series) -> CategoricalStats:
    counts = series.value_counts(dropna=True)
    # A `category` dtype counts its unused categories as 0: they are not values seen.
    counts = counts[counts > 0]
    return CategoricalStats(
        name=name,
        counts={k: int(v) for k, v in counts.items()},
        rows=int(series.size),
        missing=int(series.size - counts.sum()),
    )


def frame_digest(frame: pd.DataFrame) -> str:
    """A content digest of a frame: equal data with equal dtypes, equal digest.

    `hash_pandas_object` hashes values alone (True and 1, "1" and a category
    "1" can hash alike), so the column names and dtypes are hashed as well:
    frames that type differently never share cached statistics.
    """
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    h = hashlib.sha256(hashed.tobytes())
    # repr: a category dtype names its categories, unused ones included.
    h.update("\x1f".join(f"{c}:{t!r}" for c, t in frame.dtypes.items()).encode())
    return h.hexdigest()


def fit_calibration(scores: FloatArray, labels: FloatArray) -> Calibration | None:
    """Isotonic calibration of scores on the labelled reference (None if not possible)."""
    ok = ~(np.isnan(scores) | np.isnan(labels))
    x, y = scores[ok], labels[ok]
    if x.size < 20 or np.unique(y).size < 2:
        return None
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(x, y)
    return Calibration(
        x=np.asarray(iso.X_thresholds_, dtype=np.float64),
        y=np.asarray(iso.y_thresholds_, dtype=np.float64),
        rows=int(x.size),
    )


def build_reference(
    frame: pd.DataFrame,
    numeric: tuple[str, ...],
    categorical: tuple[str, ...],
    *,
    score: str | None = None,
    label: str | None = None,
    digest: str | None = None,
) -> ReferenceStats:
    """Precompute the statistics of the named columns present in `frame`.

    `score` and `label` (binary tasks) fit the calibration that estimated
    performance uses.
    """
    calibration = None
    if score and label and score in frame and label in frame:
        calibration = fit_calibration(numeric_values(frame[score]), numeric_values(frame[label]))
    return ReferenceStats(
        digest=digest or frame_digest(frame),
        rows=len(frame),
        numeric={c: numeric_stats(c, frame[c]) for c in numeric if c in frame},
        categorical={c: categorical_stats(c, frame[c]) for c in categorical if c in frame},
        columns=tuple(map(str, frame.columns)),
        frame=frame,
        calibration=calibration,
    )
