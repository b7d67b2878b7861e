"""One window column, prepared once for whichever drift test scores it.

The reference is sorted and counted once (checks/reference.py); a window
column costs one sort of its own values, and the histograms and counts the
tests need are binary searches into the two sorted runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from checks.reference import CategoricalStats, FloatArray, NumericStats, numeric_values


def sturges_edges(low: float, high: float, n: int) -> FloatArray:
    """`np.histogram_bin_edges(a, "sturges")` from a's min, max and size."""
    ptp = high - low
    first, last = (low - 0.5, high + 0.5) if low == high else (low, high)
    width = ptp / (np.log2(n) + 1.0)
    bins = int(np.ceil((last - first) / width)) if width else 1
    return np.linspace(first, last, bins + 1, endpoint=True)


def sorted_histogram(sorted_values: FloatArray, edges: FloatArray) -> FloatArray:
    """np.histogram counts (last bin closed) of already sorted values."""
    left = np.searchsorted(sorted_values, edges, side="left")
    left[-1] = np.searchsorted(sorted_values, edges[-1], side="right")
    return np.diff(left).astype(np.float64)


def fill_empty_bins(percents: FloatArray) -> FloatArray:
    """Evidently's `feel_zeroes`: empty bins get a tiny share so logs stay finite."""
    nonzero = percents[percents != 0]
    if nonzero.size == 0:
        return percents
    low = nonzero.min()
    out = percents.copy()
    out[out == 0] = low / 10**6 if low <= 0.0001 else 0.0001
    return out


@dataclass(frozen=True)
class Discrete:
    """Counts per distinct value over the union of reference and window values."""

    keys: list[object]
    ref: FloatArray
    cur: FloatArray
    ref_unique: int
    cur_unique: int


class WindowColumn:
    """One column of the window, prepared lazily for whichever test runs."""

    def __init__(self, stats: NumericStats | CategoricalStats, series: pd.Series) -> None:
        self.stats = stats
        self._sorted: FloatArray | None = None
        self._counts: pd.Series | None = None
        if isinstance(stats, NumericStats):
            values = numeric_values(series)
            self.values: FloatArray = values[~np.isnan(values)]
            self.n = int(self.values.size)
            self.ref_n = stats.n
        else:
            # Counted at once (missing values dropped): no copy of the column without them.
            self._counts = series.value_counts(dropna=True)
            self.n = int(self._counts.sum())
            self.ref_n = stats.n

    @classmethod
    def from_sorted(cls, stats: NumericStats, sorted_values: FloatArray) -> WindowColumn:
        """A numeric window column from its finite values, already sorted (calibration)."""
        col = cls.__new__(cls)
        col.stats = stats
        col.values = sorted_values
        col._sorted = sorted_values
        col._counts = None
        col.n = int(sorted_values.size)
        col.ref_n = stats.n
        return col

    @classmethod
    def from_counts(cls, stats: CategoricalStats, counts: pd.Series) -> WindowColumn:
        """A categorical window column from its value counts (calibration)."""
        col = cls.__new__(cls)
        col.stats = stats
        col._sorted = None
        col._counts = counts
        col.n = int(counts.sum())
        col.ref_n = stats.n
        return col

    @property
    def numeric(self) -> NumericStats:
        assert isinstance(self.stats, NumericStats)  # only called on numeric columns
        return self.stats

    @property
    def categorical(self) -> CategoricalStats:
        assert isinstance(self.stats, CategoricalStats)  # only called on categorical columns
        return self.stats

    @property
    def sorted(self) -> FloatArray:
        if self._sorted is None:
            self._sorted = np.sort(self.values)
        return self._sorted

    @property
    def sorted_if_known(self) -> FloatArray | None:
        """The sorted values when a test has sorted them already, else None (no sort)."""
        return self._sorted

    def cur_counts(self) -> pd.Series:
        assert self._counts is not None  # counted when a categorical column is made
        return self._counts

    def n_values(self) -> int:
        """Distinct values in reference and window together."""
        if isinstance(self.stats, NumericStats):
            if self.stats.nunique > 5:
                return self.stats.nunique
            cur = np.unique(self.sorted)
            return int(np.union1d(self.stats.uniques, cur).size)
        keys = set(self.stats.counts) | set(self.cur_counts().index)
        return len(keys)

    def discrete(self) -> Discrete:
        if isinstance(self.stats, NumericStats):
            cur_keys, cur_counts = np.unique(self.sorted, return_counts=True)
            if self.stats.nunique <= self.stats.uniques.size:
                ref_keys = self.stats.uniques
            else:
                ref_keys = np.unique(self.stats.sorted)
            keys = np.union1d(ref_keys, cur_keys)
            ref = _sorted_counts(self.stats.sorted, keys)
            cur = np.zeros(keys.size)
            cur[np.searchsorted(keys, cur_keys)] = cur_counts
            return Discrete(list(keys.tolist()), ref, cur, int(ref_keys.size), int(cur_keys.size))
        counts = self.cur_counts()
        ref_counts = self.stats.counts
        union = list(dict.fromkeys([*ref_counts, *counts.index]))
        cur_map = counts.to_dict()
        return Discrete(
            union,
            np.array([ref_counts.get(k, 0) for k in union], dtype=np.float64),
            np.array([cur_map.get(k, 0) for k in union], dtype=np.float64),
            len(ref_counts),
            len(cur_map),
        )


def _sorted_counts(sorted_values: FloatArray, keys: FloatArray) -> FloatArray:
    left = np.searchsorted(sorted_values, keys, side="left")
    right = np.searchsorted(sorted_values, keys, side="right")
    return (right - left).astype(np.float64)
