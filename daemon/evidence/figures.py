"""What an evidence page shows, computed from what the drift check already has.

The check's result gives each column's statistic, threshold and its basis; the
reference's statistics give its sorted values and category counts. What is left
is one pass over each *drifted* window column: a numpy histogram on bins the
reference and the window share, or the window's category counts (two of them for
a numeric column of only 0 and 1: a flag, a class, a bool). Non-drifted
columns get no chart (their line in the page needs nothing from the data), and
at most `MAX_CHARTS` columns are charted, so the cost and the page stay small
whatever the width of the frame.
"""

from __future__ import annotations

import enum
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np
import pandas as pd

from checks.drift.window import WindowColumn, sorted_histogram
from checks.interface import CheckResult, Measure, Status
from checks.methods import METHODS, ColumnKind, Method
from checks.reference import (
    CategoricalStats,
    FloatArray,
    NumericStats,
    ReferenceStats,
    numeric_values,
)

# Drifted columns charted, most severe first; the rest are listed.
MAX_CHARTS = 30
# Histogram bins: Sturges' rule on the pooled size, within these bounds.
MIN_BINS = 5
MAX_BINS = 24
# Categories shown per column (by the larger of their reference and window shares);
# the others are summed into one "other" bar.
TOP_CATEGORIES = 12
# A numeric column with only these values is drawn as two category bars (a bool
# column is typed to 0.0/1.0 like any numeric one: checks/typed.py).
BINARY_VALUES = (0.0, 1.0)
BINARY_LABELS = ("0", "1")
# The dataset-level measure of a drift result (not a column).
DATASET_MEASURE = "drifted_share"


class ThresholdSource(enum.StrEnum):
    """Where a drift threshold came from, as the page names it."""

    CONFIGURED = "configured"
    CALIBRATED = "calibrated"
    FALSE_ALARM_LEVEL = "false-alarm level"
    EVIDENTLY_DEFAULT = "Evidently's default"
    STATED = "as stated"


def threshold_source(basis: str | None) -> ThresholdSource:
    """Classify the basis `checks.drift.ThresholdRule.pick` wrote beside a threshold.

    A test walks every branch of `pick`, so a new wording there fails here first.
    """
    text = (basis or "").strip()
    if text.startswith("configured"):
        return ThresholdSource.CONFIGURED
    if text.startswith("Evidently's default"):
        return ThresholdSource.EVIDENTLY_DEFAULT
    if text.startswith("level "):
        return ThresholdSource.FALSE_ALARM_LEVEL
    if "calibrated for" in text:
        return ThresholdSource.CALIBRATED
    return ThresholdSource.STATED


@dataclass(frozen=True, kw_only=True)
class Histogram:
    """Counts of finite values per bin; bins are [e_i, e_i+1), the last one closed."""

    edges: tuple[float, ...]
    reference: tuple[int, ...]
    current: tuple[int, ...]


@dataclass(frozen=True, kw_only=True)
class Bars:
    """Counts of the top categories, and of every other category together."""

    labels: tuple[str, ...]
    reference: tuple[int, ...]
    current: tuple[int, ...]
    other_reference: int = 0
    other_current: int = 0
    # How many categories the "other" bar holds.
    other_categories: int = 0


@dataclass(frozen=True, kw_only=True)
class ColumnEvidence:
    column: str
    kind: ColumnKind | None
    status: Status
    method: str
    statistic: str | None
    value: float | None
    threshold: float | None
    basis: str | None
    source: ThresholdSource
    # Whether the method is a p-value (drift below the threshold) or a distance (above).
    p_value: bool
    severity_ratio: float
    reference_n: int | None = None
    current_n: int | None = None
    chart: Histogram | Bars | None = None

    @property
    def drifted(self) -> bool:
        return self.status is Status.ALERT


@dataclass(frozen=True, kw_only=True)
class EvidenceData:
    model: str
    window_start: datetime
    window_end: datetime
    window_rows: int
    reference_rows: int
    # Drifted columns, most severe first: charted up to MAX_CHARTS.
    drifted: tuple[ColumnEvidence, ...]
    # Every other judged column, by name.
    others: tuple[ColumnEvidence, ...]
    dataset: Measure | None
    thresholds: str | None = None
    false_alarm_rate: float | None = None


def _method(name: str) -> Method | None:
    try:
        return Method(name)
    except ValueError:
        return None


def _column(m: Measure, kind: ColumnKind | None) -> ColumnEvidence:
    method = _method(m.name)
    info = METHODS[method] if method is not None else None
    return ColumnEvidence(
        column=m.subject,
        kind=kind,
        status=m.status,
        method=m.name,
        statistic=info.display_name if info else m.detail,
        value=m.value,
        threshold=m.threshold,
        basis=m.basis,
        source=threshold_source(m.basis),
        p_value=bool(info and info.p_value),
        severity_ratio=m.severity_ratio,
    )


def bin_count(n: int) -> int:
    """Sturges' rule on the pooled size, bounded for a small page."""
    return int(min(MAX_BINS, max(MIN_BINS, math.ceil(math.log2(max(n, 1)) + 1))))


def _finite(window: pd.Series | None, observed: WindowColumn | None) -> FloatArray:
    if observed is not None:
        return observed.values  # finite already: what the test saw
    if window is None:
        return np.empty(0)
    values = numeric_values(window)
    return values[~np.isnan(values)]


def histogram(
    stats: NumericStats, window: pd.Series | None, observed: WindowColumn | None = None
) -> Histogram:
    """Reference and window counts on shared, equal-width bins over both ranges."""
    ordered = observed.sorted_if_known if observed is not None else None
    values = ordered if ordered is not None else _finite(window, observed)
    if ordered is not None and ordered.size:
        # The test sorted the window already: ends and counts are binary searches.
        cur_low, cur_high = float(ordered[0]), float(ordered[-1])
    elif values.size:
        cur_low, cur_high = float(values.min()), float(values.max())
    else:
        cur_low = cur_high = math.nan
    lows = [x for x in (stats.low, cur_low) if x == x]
    highs = [x for x in (stats.high, cur_high) if x == x]
    if not lows:
        return Histogram(edges=(), reference=(), current=())
    low, high = min(lows), max(highs)
    bins = bin_count(stats.n + int(values.size))
    if low == high:
        low, high, bins = low - 0.5, high + 0.5, 1
    edges = np.linspace(low, high, bins + 1)
    ref = sorted_histogram(stats.sorted, edges)
    cur = (
        sorted_histogram(ordered, edges) if ordered is not None else np.histogram(values, edges)[0]
    )
    return Histogram(
        edges=tuple(float(e) for e in edges),
        reference=tuple(int(c) for c in ref),
        current=tuple(int(c) for c in cur),
    )


def bars(
    stats: CategoricalStats,
    window: pd.Series | None,
    observed: WindowColumn | None = None,
    top: int = TOP_CATEGORIES,
) -> Bars:
    """The `top` categories by their larger share, and the rest as "other".

    Only the largest `top` of each side can be among the largest `top` by the
    larger share, so a column of thousands of categories costs two partial
    selections and one lookup, not a join.
    """
    if observed is not None:
        counted = observed.cur_counts()
    elif window is not None:
        counted = window.value_counts(dropna=True)
    else:
        counted = pd.Series(dtype="int64")
    labels, values = counted.index.tolist(), counted.to_numpy()
    if values.size and values.min() <= 0:
        keep = values > 0  # a `category` dtype counts its unused categories
        labels = list(itertools.compress(labels, keep.tolist()))
        values = values[keep]
    cur_total = int(values.sum())
    ref = stats.counts
    ref_total = stats.n
    # value_counts is sorted already: then its head is the largest. `counts` of the
    # reference is too (checks/reference.py builds it from value_counts).
    if values.size < 2 or bool(np.all(values[:-1] >= values[1:])):
        head: Sequence[int] = range(min(top, values.size))
    else:
        head = np.argsort(-values, kind="stable")[:top].tolist()
    counts = values.tolist()
    cur = {labels[i]: counts[i] for i in head}
    keys = list(dict.fromkeys([*itertools.islice(ref, top), *cur]))
    # Plain dicts and lists, not pandas lookups: a page has a bars figure per column,
    # and pandas' per-call overhead was most of the page's cost (issue 17: <= 5% of
    # the check). One pass over the categories, as the union below needs anyway.
    window_counts = dict(zip(labels, counts, strict=True))
    cur.update({k: window_counts.get(k, 0) for k in keys if k not in cur})
    rows = [(k, int(ref.get(k, 0)), cur[k]) for k in keys]

    def larger_share(row: tuple[object, int, int]) -> float:
        return max(row[1] / max(ref_total, 1), row[2] / max(cur_total, 1))

    # Stable: ties keep the reference's order, then the window's.
    shown = sorted(rows, key=larger_share, reverse=True)[:top]
    union = len(ref.keys() | window_counts.keys())
    return Bars(
        labels=tuple(str(k) for k, _, _ in shown),
        reference=tuple(r for _, r, _ in shown),
        current=tuple(c for _, _, c in shown),
        other_reference=ref_total - sum(r for _, r, _ in shown),
        other_current=cur_total - sum(c for _, _, c in shown),
        other_categories=union - len(shown),
    )


def _binary_reference(stats: NumericStats) -> bool:
    """Whether the reference holds values and only 0 and 1 (sorted: its ends tell)."""
    return (
        stats.n > 0
        and stats.nunique <= 2
        and stats.low in BINARY_VALUES
        and stats.high in BINARY_VALUES
    )


def binary_bars(stats: NumericStats, values: FloatArray) -> Bars | None:
    """Two bars (0 and 1) for a numeric column that holds only 0 and 1 on both sides,
    else None.

    A flag, a class or a bool column (which the typing makes 0.0/1.0) has two values,
    not a range: equal-width bins would draw two spikes among empty ones.
    """
    if not values.size or not _binary_reference(stats):
        return None
    ones = int(np.count_nonzero(values == 1.0))
    if ones + int(np.count_nonzero(values == 0.0)) != values.size:
        return None
    # The reference's values are sorted: its zeros come first.
    ref_zeros = int(np.searchsorted(stats.sorted, 0.5))
    return Bars(
        labels=BINARY_LABELS,
        reference=(ref_zeros, stats.n - ref_zeros),
        current=(int(values.size) - ones, ones),
    )


def _charted(
    c: ColumnEvidence, ref: ReferenceStats, window: pd.DataFrame, observed: WindowColumn | None
) -> ColumnEvidence:
    series = window[c.column] if observed is None and c.column in window else None
    if observed is None and series is None:
        return c
    numeric = ref.numeric.get(c.column)
    if numeric is not None and c.kind is not ColumnKind.CATEGORICAL:
        two = (
            binary_bars(numeric, _finite(series, observed)) if _binary_reference(numeric) else None
        )
        if two is not None:
            return replace(c, reference_n=numeric.n, current_n=sum(two.current), chart=two)
        hist = histogram(numeric, series, observed)
        return replace(c, reference_n=numeric.n, current_n=sum(hist.current), chart=hist)
    categorical = ref.categorical.get(c.column)
    if categorical is not None:
        found = bars(categorical, series, observed)
        current_n = sum(found.current) + found.other_current
        return replace(c, reference_n=categorical.n, current_n=current_n, chart=found)
    return c


def evidence_data(
    *,
    model: str,
    result: CheckResult,
    reference: ReferenceStats,
    window: pd.DataFrame,
    kinds: Mapping[str, ColumnKind],
    window_start: datetime,
    window_end: datetime,
    observed: Mapping[str, WindowColumn] | None = None,
    max_charts: int = MAX_CHARTS,
) -> EvidenceData:
    """The page's data for one drift result; only the drifted columns touch the window.

    `observed` holds the window columns the check prepared (`DriftOutcome.columns`):
    their values and counts are used as they are, not computed again.
    """
    seen = observed or {}
    dataset = next((m for m in result.measures if m.name == DATASET_MEASURE), None)
    columns = [
        _column(m, kinds.get(m.subject)) for m in result.measures if m.name != DATASET_MEASURE
    ]
    drifted = sorted((c for c in columns if c.drifted), key=lambda c: -c.severity_ratio)
    charted = [_charted(c, reference, window, seen.get(c.column)) for c in drifted[:max_charts]]
    others: Sequence[ColumnEvidence] = sorted(
        (*drifted[max_charts:], *(c for c in columns if not c.drifted)), key=lambda c: c.column
    )
    summary = result.summary
    rate = summary.get("false_alarm_rate")
    return EvidenceData(
        model=model,
        window_start=window_start,
        window_end=window_end,
        window_rows=result.rows,
        reference_rows=reference.rows,
        drifted=tuple(charted),
        others=tuple(others),
        dataset=dataset,
        thresholds=str(summary["thresholds"]) if summary.get("thresholds") else None,
        false_alarm_rate=float(rate) if isinstance(rate, int | float) else None,
    )
