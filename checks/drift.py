"""Column drift and dataset drift, with Evidently 0.7's tests and selection rules.

Every test reproduces the definition in Evidently's
`legacy/calculations/stattests` (the functions `Report([DataDriftPreset()])`
calls), so a score and a verdict here equal Evidently's on the same data, to
floating point. What differs is the cost: the reference is sorted and counted
once (checks/reference.py), so a window costs one sort of the window's own
values (Wasserstein merges two sorted runs, histograms are binary searches)
instead of Evidently's per-call concatenations, pandas value counts and
`scipy` re-sorting of both samples.

Default selection (Evidently's `_get_default_stattest`), counted on the rows
left after dropping missing and infinite values:

- reference <= 1,000 rows: numeric with > 5 distinct values (reference and
  window together): Kolmogorov-Smirnov; otherwise chi-squared, or the
  two-proportion z-test when there are at most 2 distinct values;
- reference > 1,000 rows: numeric with > 5 distinct values: Wasserstein
  distance normalized by the reference's standard deviation; otherwise
  Jensen-Shannon distance.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, assert_never

import numpy as np
import pandas as pd

from checks.interface import (
    CheckKind,
    CheckResult,
    Measure,
    Status,
    insufficient,
)

# Re-exported: the drift vocabulary is imported from here too.
from checks.methods import METHODS as METHODS
from checks.methods import ColumnKind as ColumnKind
from checks.methods import Method as Method
from checks.methods import MethodInfo as MethodInfo
from checks.methods import fits
from checks.reference import (
    CategoricalStats,
    FloatArray,
    NumericStats,
    ReferenceStats,
    numeric_values,
)
from checks.thresholds import Persistence, ThresholdMode, percent

if TYPE_CHECKING:
    from checks.calibration import DriftCalibration

# A p-value this many decades below its threshold, or a distance this many times
# its threshold, is critical rather than a warning.
CRITICAL_RATIO = 2.0
# Below this many window values (rows x columns) threads cost more than they save.
PARALLEL_CELLS = 2_000_000


class DriftConfigError(ValueError):
    """A method that does not apply to a column's kind."""


@dataclass(frozen=True, kw_only=True)
class ColumnSpec:
    name: str
    kind: ColumnKind
    # None: Evidently's default selection.
    method: Method | None = None
    # None: the method's default threshold.
    threshold: float | None = None
    # Where an explicit threshold was set (said beside it).
    threshold_basis: str = "configured for this column"
    weight: float = 1.0
    # Features count towards dataset drift; prediction, score and label do not.
    in_dataset: bool = True

    def __post_init__(self) -> None:
        if self.method is not None and not fits(self.method, self.kind):
            raise DriftConfigError(
                f"drift method {self.method.value!r} does not apply to "
                f"{self.kind.value} column {self.name!r}"
            )


@dataclass(frozen=True, kw_only=True)
class DriftSpec:
    columns: tuple[ColumnSpec, ...]
    drift_share: float = 0.5
    min_rows: int = 1
    # Threads for windows above PARALLEL_CELLS values (1: none).
    workers: int = field(default_factory=lambda: min(os.cpu_count() or 1, 8))
    # EVIDENTLY: each method's fixed default; CALIBRATED: from the reference, for a
    # `false_alarm_rate` over the whole check run (checks/calibration.py).
    thresholds: ThresholdMode = ThresholdMode.EVIDENTLY
    false_alarm_rate: float = 0.01
    # A column alerts only when beyond its threshold in k of the last m windows.
    persistence: Persistence | None = None

    @property
    def column_rate(self) -> float:
        """Each column's share of the false-alarm rate (Bonferroni over the judged columns)."""
        return self.false_alarm_rate / max(len(self.columns), 1)


@dataclass(frozen=True, kw_only=True)
class ColumnDrift:
    column: str
    kind: ColumnKind
    status: Status
    method: Method | None
    score: float | None
    threshold: float | None
    drifted: bool
    reference_rows: int
    current_rows: int
    weight: float = 1.0
    in_dataset: bool = True
    reason: str | None = None
    # Where the threshold came from: "calibrated for 1% false alarms at n=120", ...
    basis: str | None = None
    # Beyond the threshold in this window (`drifted` also needs the persistence rule).
    exceeded: bool = False

    @property
    def severity_ratio(self) -> float:
        """>= 1 at the threshold; distances: score / threshold; p-values: decades below + 1."""
        if self.score is None or self.threshold is None or self.method is None:
            return 0.0
        if METHODS[self.method].p_value:
            if self.score <= 0:
                return math.inf
            return 1.0 + math.log10(self.threshold / self.score)
        return self.score / self.threshold


@dataclass(frozen=True, kw_only=True)
class DatasetDrift:
    columns: int
    drifted: int
    share: float
    weighted_share: float
    drift_share: float
    drifted_dataset: bool


# --------------------------------------------------------------------------- helpers


def _decide(method: Method, score: float, threshold: float) -> bool:
    info = METHODS[method]
    if info.p_value:
        return score <= threshold if info.inclusive else score < threshold
    return score >= threshold if info.inclusive else score > threshold


def sturges_edges(low: float, high: float, n: int) -> FloatArray:
    """`np.histogram_bin_edges(a, "sturges")` from a's min, max and size."""
    ptp = high - low
    first, last = (low - 0.5, high + 0.5) if low == high else (low, high)
    width = ptp / (np.log2(n) + 1.0)
    bins = int(np.ceil((last - first) / width)) if width else 1
    return np.linspace(first, last, bins + 1, endpoint=True)


def _sorted_histogram(sorted_values: FloatArray, edges: FloatArray) -> FloatArray:
    """np.histogram counts (last bin closed) of already sorted values."""
    left = np.searchsorted(sorted_values, edges, side="left")
    left[-1] = np.searchsorted(sorted_values, edges[-1], side="right")
    return np.diff(left).astype(np.float64)


def _fill_zeroes(percents: FloatArray) -> FloatArray:
    """Evidently's `feel_zeroes`: empty bins get a tiny share so logs stay finite."""
    nonzero = percents[percents != 0]
    if nonzero.size == 0:
        return percents
    low = nonzero.min()
    out = percents.copy()
    out[out == 0] = low / 10**6 if low <= 0.0001 else 0.0001
    return out


@dataclass(frozen=True)
class _Discrete:
    """Counts per distinct value over the union of reference and window values."""

    keys: list[object]
    ref: FloatArray
    cur: FloatArray
    ref_unique: int
    cur_unique: int


class _Column:
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
    def from_sorted(cls, stats: NumericStats, sorted_values: FloatArray) -> _Column:
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
    def from_counts(cls, stats: CategoricalStats, counts: pd.Series) -> _Column:
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

    def discrete(self) -> _Discrete:
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
            return _Discrete(list(keys.tolist()), ref, cur, int(ref_keys.size), int(cur_keys.size))
        counts = self.cur_counts()
        ref_counts = self.stats.counts
        union = list(dict.fromkeys([*ref_counts, *counts.index]))
        cur_map = counts.to_dict()
        return _Discrete(
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


def default_method(kind: ColumnKind, reference_rows: int, n_values: int) -> Method:
    """Evidently 0.7's `_get_default_stattest` for numeric and categorical columns."""
    if reference_rows <= 1000:
        if kind is ColumnKind.NUMERIC and n_values > 5:
            return Method.KS
        return Method.CHISQUARE if n_values > 2 else Method.Z
    if kind is ColumnKind.NUMERIC and n_values > 5:
        return Method.WASSERSTEIN
    return Method.JENSENSHANNON


# --------------------------------------------------------------------------- tests


def _ks(col: _Column) -> float:
    from scipy.stats import ks_2samp

    return float(ks_2samp(col.numeric.sorted, col.sorted)[1])


def _wasserstein(col: _Column) -> float:
    """scipy's `wasserstein_distance` on sorted samples, merged instead of re-sorted."""
    ref = col.numeric.sorted
    cur = col.sorted
    both = np.concatenate([ref, cur])
    # Two sorted runs: the stable sort (timsort) merges them in linear time.
    order = np.argsort(both, kind="stable")
    merged = both[order]
    n, m = ref.size, cur.size
    # |F_ref - F_cur| at each merged point, scaled by n * m to stay in exact integers.
    ref_count = np.cumsum(order[:-1] < n, dtype=np.int64)
    seen = np.arange(1, merged.size, dtype=np.int64)
    gap = np.abs(ref_count * (n + m) - seen * n).astype(np.float64)
    distance = float(np.dot(gap, np.diff(merged))) / (n * m)
    norm = max(col.numeric.std, 0.001)
    return distance / norm


def _binned(col: _Column, fill_zeroes: bool) -> tuple[FloatArray, FloatArray]:
    """Evidently's `get_binned_data`: Sturges bins for rich numeric columns, else values."""
    if isinstance(col.stats, NumericStats) and col.stats.nunique > 20:
        ref = col.stats.sorted
        cur = col.sorted
        edges = sturges_edges(min(ref[0], cur[0]), max(ref[-1], cur[-1]), int(ref.size + cur.size))
        ref_p = _sorted_histogram(ref, edges) / ref.size
        cur_p = _sorted_histogram(cur, edges) / cur.size
    else:
        d = col.discrete()
        ref_p = d.ref / col.ref_n
        cur_p = d.cur / col.n
    if fill_zeroes:
        ref_p, cur_p = _fill_zeroes(ref_p), _fill_zeroes(cur_p)
    return ref_p, cur_p


def _jensenshannon(col: _Column) -> float:
    from scipy.spatial import distance

    ref_p, cur_p = _binned(col, fill_zeroes=False)
    return float(distance.jensenshannon(ref_p, cur_p))


def _psi(col: _Column) -> float:
    ref_p, cur_p = _binned(col, fill_zeroes=True)
    return float(np.sum((ref_p - cur_p) * np.log(ref_p / cur_p)))


def _kl_div(col: _Column) -> float:
    from scipy import stats

    ref_p, cur_p = _binned(col, fill_zeroes=True)
    return float(stats.entropy(ref_p, cur_p))


def _chisquare(col: _Column) -> float:
    from scipy.stats import chi2

    d = col.discrete()
    expected = d.ref * (col.n / col.ref_n)
    # A category absent from the reference has expected count 0: an infinite
    # statistic and a p-value of 0, as in scipy.stats.chisquare.
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = float(np.sum((d.cur - expected) ** 2 / expected))
    return float(chi2.sf(stat, len(d.keys) - 1))


def _z(col: _Column) -> float:
    from scipy.stats import norm

    d = col.discrete()
    if d.ref_unique == 1 and d.cur_unique == 1 and len(d.keys) == 1:
        return 1.0
    first = sorted(d.keys)[0]  # type: ignore[type-var]
    i = d.keys.index(first)
    n1, n2 = col.ref_n, col.n
    p1 = float(n1 - d.ref[i]) / n1
    p2 = float(n2 - d.cur[i]) / n2
    pooled = float(p1 * n1 + p2 * n2) / (n1 + n2)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
    return float(2 * (1 - norm.cdf(np.abs(z))))


def _hellinger(col: _Column) -> float:
    if isinstance(col.stats, CategoricalStats):
        d = col.discrete()
        total = float(np.sum(np.sqrt((d.ref / col.ref_n) * (d.cur / col.n))))
    else:
        ref, cur = col.stats.sorted, col.sorted
        keys = np.union1d(ref, cur)
        edges = np.histogram_bin_edges(keys, bins="sturges")
        widths = np.diff(edges)
        h1 = _sorted_histogram(ref, edges) / (ref.size * widths)
        h2 = _sorted_histogram(cur, edges) / (cur.size * widths)
        bin_width = (edges.max() - edges.min()) / (len(edges) - 1)
        total = float(np.sum(np.sqrt(h1 * h2) * bin_width))
    return math.sqrt(1 - float(np.clip(total, 0, 1)))


def _anderson(col: _Column) -> float:
    from scipy.stats import anderson_ksamp

    with warnings.catch_warnings():
        # scipy warns when it caps the p-value at its table's ends; the capped value is
        # what Evidently reports too.
        warnings.simplefilter("ignore", UserWarning)
        return float(anderson_ksamp([col.numeric.sorted, col.sorted])[2])


def _cramer_von_mises(col: _Column) -> float:
    from scipy.stats import cramervonmises_2samp

    return float(cramervonmises_2samp(col.numeric.sorted, col.sorted).pvalue)


def _mannw(col: _Column) -> float:
    from scipy.stats import mannwhitneyu

    # Evidently tests the one-sided alternative "reference is stochastically less".
    return float(mannwhitneyu(col.numeric.sorted, col.sorted, alternative="less")[1])


def _energy(col: _Column) -> float:
    from scipy.stats import energy_distance

    return float(energy_distance(col.numeric.sorted, col.sorted))


def _score(method: Method, col: _Column) -> float:
    match method:
        case Method.KS:
            return _ks(col)
        case Method.WASSERSTEIN:
            return _wasserstein(col)
        case Method.PSI:
            return _psi(col)
        case Method.JENSENSHANNON:
            return _jensenshannon(col)
        case Method.CHISQUARE:
            return _chisquare(col)
        case Method.Z:
            return _z(col)
        case Method.KL_DIV:
            return _kl_div(col)
        case Method.HELLINGER:
            return _hellinger(col)
        case Method.ANDERSON:
            return _anderson(col)
        case Method.CRAMER_VON_MISES:
            return _cramer_von_mises(col)
        case Method.MANNW:
            return _mannw(col)
        case Method.ENERGY:
            return _energy(col)
        case _:
            assert_never(method)


# --------------------------------------------------------------------------- thresholds


@dataclass(frozen=True, kw_only=True)
class ThresholdRule:
    """Which threshold a column gets: its own, calibrated, or Evidently's default."""

    mode: ThresholdMode = ThresholdMode.EVIDENTLY
    false_alarm_rate: float = 0.01
    column_rate: float = 0.01
    calibration: DriftCalibration | None = None

    def pick(self, spec: ColumnSpec, method: Method, n: int) -> tuple[float, str]:
        info = METHODS[method]
        if spec.threshold is not None:
            return spec.threshold, spec.threshold_basis
        if self.mode is ThresholdMode.EVIDENTLY:
            return info.default_threshold, "Evidently's default"
        rate = percent(self.false_alarm_rate)
        if info.p_value:
            return self.column_rate, f"level {self.column_rate:.3g}, for {rate} false alarms"
        tail = self.calibration.tail(spec.name, method) if self.calibration else None
        if tail is None:
            why = (self.calibration.skipped.get(spec.name) if self.calibration else None) or (
                f"not calibrated for {method.value}"
            )
            return info.default_threshold, f"Evidently's default ({why})"
        return (
            tail.threshold(n, self.column_rate),
            f"at n={n}, calibrated for {rate} false alarms",
        )


# --------------------------------------------------------------------------- API


def column_drift(
    spec: ColumnSpec,
    reference: ReferenceStats,
    window: pd.DataFrame,
    min_rows: int = 1,
    rule: ThresholdRule | None = None,
) -> ColumnDrift:
    """Drift of one column; missing columns and empty samples give a status, not an error."""

    def result(
        status: Status,
        reason: str | None = None,
        method: Method | None = None,
        ref_n: int = 0,
        cur_n: int = 0,
    ) -> ColumnDrift:
        return ColumnDrift(
            column=spec.name,
            kind=spec.kind,
            status=status,
            method=method,
            score=None,
            threshold=None,
            drifted=False,
            reference_rows=ref_n,
            current_rows=cur_n,
            weight=spec.weight,
            in_dataset=spec.in_dataset,
            reason=reason,
        )

    stats: NumericStats | CategoricalStats | None = (
        reference.numeric.get(spec.name)
        if spec.kind is ColumnKind.NUMERIC
        else reference.categorical.get(spec.name)
    )
    if stats is None:
        return result(Status.ERROR, "column missing from the reference")
    if spec.name not in window:
        return result(Status.ERROR, "column missing from the window", ref_n=stats.n)
    col = _Column(stats, window[spec.name])
    if col.ref_n == 0 or col.n < max(min_rows, 1):
        return result(
            Status.INSUFFICIENT_DATA,
            f"{col.n} usable rows in the window, {col.ref_n} in the reference",
            ref_n=col.ref_n,
            cur_n=col.n,
        )
    method = spec.method or default_method(spec.kind, col.ref_n, col.n_values())
    threshold, basis = (rule or ThresholdRule()).pick(spec, method, col.n)
    score = _score(method, col)
    if math.isnan(score):
        return result(
            Status.INSUFFICIENT_DATA,
            f"{method.value} is undefined on this data",
            method,
            col.ref_n,
            col.n,
        )
    drifted = _decide(method, score, threshold)
    return ColumnDrift(
        column=spec.name,
        kind=spec.kind,
        status=Status.ALERT if drifted else Status.OK,
        method=method,
        score=score,
        threshold=threshold,
        drifted=drifted,
        reference_rows=col.ref_n,
        current_rows=col.n,
        weight=spec.weight,
        in_dataset=spec.in_dataset,
        basis=basis,
        exceeded=drifted,
    )


def persist(column: ColumnDrift, earlier: tuple[bool, ...], rule: Persistence) -> ColumnDrift:
    """Apply k-of-m persistence: `earlier` are the previous windows' exceedances, oldest first."""
    if not column.exceeded:
        return column
    recent = (*earlier[-(rule.windows - 1) :], True) if rule.windows > 1 else (True,)
    failing = sum(recent)
    if failing >= rule.failing:
        return replace(column, basis=f"{column.basis}; beyond it in {failing} of {len(recent)}")
    return replace(
        column,
        status=Status.OK,
        drifted=False,
        basis=f"{column.basis}; beyond it in {failing} of the last {len(recent)} "
        f"window{'s' if len(recent) > 1 else ''}, {rule.failing} of {rule.windows} needed",
    )


def exceeds(method: Method, score: float, threshold: float) -> bool:
    """Whether a stored score was beyond its stored threshold (persistence's history)."""
    return _decide(method, score, threshold)


def dataset_drift(columns: tuple[ColumnDrift, ...], drift_share: float) -> DatasetDrift | None:
    """Share of drifted columns (Evidently's rule: share >= drift_share), and weighted."""
    tested = [c for c in columns if c.in_dataset and c.score is not None]
    if not tested:
        return None
    drifted = sum(c.drifted for c in tested)
    share = drifted / len(tested)
    total_weight = sum(c.weight for c in tested)
    weighted = sum(c.weight for c in tested if c.drifted) / total_weight if total_weight else share
    return DatasetDrift(
        columns=len(tested),
        drifted=drifted,
        share=share,
        weighted_share=weighted,
        drift_share=drift_share,
        drifted_dataset=weighted >= drift_share,
    )


@dataclass(frozen=True, kw_only=True)
class DriftCheck:
    spec: DriftSpec
    reference: ReferenceStats
    # Calibrated thresholds of this reference (spec.thresholds = CALIBRATED).
    calibration: DriftCalibration | None = None
    # Per column, whether it was beyond its threshold in the previous windows, oldest
    # first (spec.persistence).
    history: Mapping[str, tuple[bool, ...]] = field(default_factory=dict)

    @property
    def kind(self) -> CheckKind:
        return CheckKind.DRIFT

    @property
    def rule(self) -> ThresholdRule:
        return ThresholdRule(
            mode=self.spec.thresholds,
            false_alarm_rate=self.spec.false_alarm_rate,
            column_rate=self.spec.column_rate,
            calibration=self.calibration,
        )

    def columns(self, window: pd.DataFrame) -> tuple[ColumnDrift, ...]:
        rule = self.rule
        persistence = self.spec.persistence

        def one(c: ColumnSpec) -> ColumnDrift:
            found = column_drift(c, self.reference, window, self.spec.min_rows, rule)
            if persistence is None:
                return found
            return persist(found, self.history.get(c.name, ()), persistence)

        if len(window) * len(self.spec.columns) < PARALLEL_CELLS or self.spec.workers < 2:
            return tuple(one(c) for c in self.spec.columns)
        # numpy's sorts and array arithmetic release the GIL: large windows use the cores.
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=self.spec.workers) as pool:
            return tuple(pool.map(one, self.spec.columns))

    def run(self, window: pd.DataFrame) -> CheckResult:
        if len(window) < self.spec.min_rows:
            return insufficient(
                CheckKind.DRIFT, len(window), f"{len(window)} rows, {self.spec.min_rows} needed"
            )
        columns = self.columns(window)
        measures = [
            Measure(
                subject=c.column,
                name=c.method.value if c.method else "drift",
                value=c.score,
                threshold=c.threshold,
                status=c.status,
                severity_ratio=c.severity_ratio if c.drifted else 0.0,
                detail=c.reason or (METHODS[c.method].display_name if c.method else None),
                basis=c.basis,
            )
            for c in columns
        ]
        data = dataset_drift(columns, self.spec.drift_share)
        if data is not None:
            measures.append(
                Measure(
                    subject="dataset",
                    name="drifted_share",
                    value=data.weighted_share,
                    threshold=data.drift_share,
                    status=Status.ALERT if data.drifted_dataset else Status.OK,
                    severity_ratio=data.weighted_share / data.drift_share
                    if data.drifted_dataset
                    else 0.0,
                    detail=f"{data.drifted} of {data.columns} columns drifted",
                )
            )
        statuses = {c.status for c in columns}
        if any(c.drifted for c in columns):
            status = Status.ALERT
        elif data is not None:
            status = Status.OK
        else:
            status = Status.INSUFFICIENT_DATA
        return CheckResult(
            kind=CheckKind.DRIFT,
            status=status,
            rows=len(window),
            measures=tuple(measures),
            summary={
                "drifted_columns": [c.column for c in columns if c.drifted],
                "dataset_drift": bool(data and data.drifted_dataset),
                "share": data.share if data else None,
                "weighted_share": data.weighted_share if data else None,
                "columns_with_errors": [c.column for c in columns if c.status is Status.ERROR],
                "statuses": sorted(s.value for s in statuses),
                "thresholds": self.spec.thresholds.value,
                "false_alarm_rate": self.spec.false_alarm_rate
                if self.spec.thresholds is ThresholdMode.CALIBRATED
                else None,
                "exceeded_columns": [c.column for c in columns if c.exceeded],
            },
        )
