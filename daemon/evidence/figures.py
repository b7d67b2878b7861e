"""What an evidence page shows, computed from what the drift check already has.

The check's result gives each column's statistic, threshold and its basis; the
reference's statistics give its sorted values and category counts. What is left
is one pass over each *drifted* window column: a numpy histogram on bins the
reference and the window share, or the window's category counts. Non-drifted
columns get no chart (their line in the page needs nothing from the data), and
at most `MAX_CHARTS` columns are charted, so the cost and the page stay small
whatever the width of the frame.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from checks.drift.window import sorted_histogram
from checks.interface import CheckResult, Measure, Status
from checks.methods import METHODS, ColumnKind, Method
from checks.reference import CategoricalStats, NumericStats, ReferenceStats, numeric_values

# Drifted columns charted, most severe first; the rest are listed.
MAX_CHARTS = 30
# Histogram bins: Sturges' rule on the pooled size, within these bounds.
MIN_BINS = 5
MAX_BINS = 24
# Categories shown per column (by the larger of their reference and window shares);
# the others are summed into one "other" bar.
TOP_CATEGORIES = 12
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


def histogram(stats: NumericStats, window: pd.Series) -> Histogram:
    """Reference and window counts on shared, equal-width bins over both ranges."""
    values = numeric_values(window)
    values = values[~np.isnan(values)]
    lows = [x for x in (stats.low, float(values.min()) if values.size else math.nan) if x == x]
    highs = [x for x in (stats.high, float(values.max()) if values.size else math.nan) if x == x]
    if not lows:
        return Histogram(edges=(), reference=(), current=())
    low, high = min(lows), max(highs)
    bins = bin_count(stats.n + int(values.size))
    if low == high:
        low, high, bins = low - 0.5, high + 0.5, 1
    edges = np.linspace(low, high, bins + 1)
    ref = sorted_histogram(stats.sorted, edges)
    cur, _ = np.histogram(values, bins=edges)
    return Histogram(
        edges=tuple(float(e) for e in edges),
        reference=tuple(int(c) for c in ref),
        current=tuple(int(c) for c in cur),
    )


def bars(stats: CategoricalStats, window: pd.Series, top: int = TOP_CATEGORIES) -> Bars:
    """The `top` categories by their larger share, and the rest as "other"."""
    cur = window.value_counts(dropna=True)
    cur = cur[cur > 0]
    ref = pd.Series(stats.counts, dtype="float64") if stats.counts else pd.Series(dtype="float64")
    both = pd.concat([ref, cur.astype("float64")], axis=1, sort=False).fillna(0.0)
    ref_counts = both.iloc[:, 0].to_numpy()
    cur_counts = both.iloc[:, 1].to_numpy()
    ref_total, cur_total = ref_counts.sum(), cur_counts.sum()
    share = np.maximum(
        ref_counts / ref_total if ref_total else ref_counts,
        cur_counts / cur_total if cur_total else cur_counts,
    )
    # Largest share first; ties by position (reference order, then new categories).
    order = np.argsort(-share, kind="stable")[:top]
    labels = [both.index[i] for i in order]
    shown_ref = ref_counts[order]
    shown_cur = cur_counts[order]
    return Bars(
        labels=tuple(str(k) for k in labels),
        reference=tuple(int(c) for c in shown_ref),
        current=tuple(int(c) for c in shown_cur),
        other_reference=int(ref_total - shown_ref.sum()),
        other_current=int(cur_total - shown_cur.sum()),
        other_categories=int(len(both) - len(order)),
    )


def _charted(c: ColumnEvidence, ref: ReferenceStats, window: pd.DataFrame) -> ColumnEvidence:
    from dataclasses import replace

    if c.column not in window:
        return c
    numeric = ref.numeric.get(c.column)
    if numeric is not None and c.kind is not ColumnKind.CATEGORICAL:
        hist = histogram(numeric, window[c.column])
        return replace(c, reference_n=numeric.n, current_n=sum(hist.current), chart=hist)
    categorical = ref.categorical.get(c.column)
    if categorical is not None:
        found = bars(categorical, window[c.column])
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
    max_charts: int = MAX_CHARTS,
) -> EvidenceData:
    """The page's data for one drift result; only the drifted columns touch the window."""
    dataset = next((m for m in result.measures if m.name == DATASET_MEASURE), None)
    columns = [
        _column(m, kinds.get(m.subject)) for m in result.measures if m.name != DATASET_MEASURE
    ]
    drifted = sorted((c for c in columns if c.drifted), key=lambda c: -c.severity_ratio)
    charted = [_charted(c, reference, window) for c in drifted[:max_charts]]
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
