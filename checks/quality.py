"""Data quality: schema, missing values, new categories, values out of range.

Shares are judged against the reference, not against zero: a column that was
already 8% missing in training data is not a problem at 8% in production.
A measure alerts when the window's share exceeds the reference's share by more
than the configured allowance. Schema problems (a feature absent from the
window, numbers that arrive as text) alert on any occurrence.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from checks.interface import CheckKind, CheckResult, Measure, Status, insufficient, overall
from checks.reference import CategoricalStats, NumericStats, ReferenceStats
from checks.typed import numeric_series


@dataclass(frozen=True, kw_only=True)
class QualitySpec:
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    max_missing_share: float = 0.05
    max_new_category_share: float = 0.02
    max_out_of_range_share: float = 0.05
    min_rows: int = 1


def _share_measure(
    subject: str, name: str, value: float, baseline: float, allowance: float
) -> Measure:
    limit = min(baseline + allowance, 1.0)
    alert = value > limit
    excess = value - baseline
    return Measure(
        subject=subject,
        name=name,
        value=value,
        threshold=limit,
        status=Status.ALERT if alert else Status.OK,
        severity_ratio=(excess / allowance if allowance > 0 else float("inf")) if alert else 0.0,
        detail=f"reference {baseline:.4g}",
    )


def _numeric(stats: NumericStats, series: pd.Series, spec: QualitySpec) -> list[Measure]:
    # Missing: a missing marker or blank text. Anything else that is not a number
    # once typed (text such as "abc") is a schema problem, counted apart.
    raw_missing = series.isna().to_numpy()
    if series.dtype == object:
        raw_missing |= np.fromiter(
            (isinstance(v, str) and not v.strip() for v in series), dtype=bool, count=len(series)
        )
    values = numeric_series(series).to_numpy(dtype=np.float64, na_value=np.nan)
    n = values.size
    not_numeric = int(np.count_nonzero(np.isnan(values) & ~raw_missing))
    missing = ~np.isfinite(values)
    finite = values[~missing]
    ref_missing = stats.missing / stats.rows if stats.rows else 0.0
    measures = [
        _share_measure(
            stats.name,
            "missing_share",
            float(np.count_nonzero(raw_missing)) / n,
            ref_missing,
            spec.max_missing_share,
        ),
        Measure(
            subject=stats.name,
            name="non_numeric_share",
            value=not_numeric / n,
            threshold=0.0,
            status=Status.ALERT if not_numeric else Status.OK,
            severity_ratio=1.0 if not_numeric else 0.0,
            detail="schema: values that are not numbers" if not_numeric else None,
        ),
    ]
    if stats.n and finite.size:
        outside = np.count_nonzero((finite < stats.low) | (finite > stats.high))
        measures.append(
            _share_measure(
                stats.name,
                "out_of_range_share",
                float(outside) / finite.size,
                0.0,
                spec.max_out_of_range_share,
            )
        )
    return measures


def _categorical(stats: CategoricalStats, series: pd.Series, spec: QualitySpec) -> list[Measure]:
    n = series.size
    missing = int(series.isna().sum())
    counts = series.value_counts(dropna=True)
    new = counts[~counts.index.isin(list(stats.counts))]
    present = n - missing
    ref_missing = stats.missing / stats.rows if stats.rows else 0.0
    measures = [
        _share_measure(
            stats.name, "missing_share", missing / n, ref_missing, spec.max_missing_share
        )
    ]
    if present:
        m = _share_measure(
            stats.name,
            "new_category_share",
            float(new.sum()) / present,
            0.0,
            spec.max_new_category_share,
        )
        if len(new):
            shown = ", ".join(map(str, new.index[:5]))
            m = replace(m, detail=f"new: {shown}")
        measures.append(m)
    return measures


@dataclass(frozen=True, kw_only=True)
class QualityCheck:
    spec: QualitySpec
    reference: ReferenceStats

    @property
    def kind(self) -> CheckKind:
        return CheckKind.QUALITY

    def run(self, window: pd.DataFrame) -> CheckResult:
        expected = (*self.spec.numeric, *self.spec.categorical)
        absent = tuple(c for c in expected if c not in window)
        not_in_reference = tuple(
            c
            for c in expected
            if c not in self.reference.numeric and c not in self.reference.categorical
        )
        measures = [
            Measure(
                subject="schema",
                name="missing_columns",
                value=float(len(absent)),
                threshold=0.0,
                status=Status.ALERT if absent else Status.OK,
                severity_ratio=2.0 if absent else 0.0,
                detail=("window lacks " + ", ".join(absent)) if absent else None,
            ),
            Measure(
                subject="schema",
                name="reference_missing_columns",
                value=float(len(not_in_reference)),
                threshold=0.0,
                status=Status.ALERT if not_in_reference else Status.OK,
                severity_ratio=2.0 if not_in_reference else 0.0,
                detail=("reference lacks " + ", ".join(not_in_reference))
                if not_in_reference
                else None,
            ),
        ]
        if len(window) < self.spec.min_rows:
            result = insufficient(
                CheckKind.QUALITY, len(window), f"{len(window)} rows, {self.spec.min_rows} needed"
            )
            if absent or not_in_reference:
                return CheckResult(
                    kind=CheckKind.QUALITY,
                    status=Status.ALERT,
                    rows=len(window),
                    measures=tuple(measures),
                    reason=result.reason,
                )
            return result
        for name in self.spec.numeric:
            stats = self.reference.numeric.get(name)
            if stats is not None and name in window:
                measures.extend(_numeric(stats, window[name], self.spec))
        for name in self.spec.categorical:
            cstats = self.reference.categorical.get(name)
            if cstats is not None and name in window:
                measures.extend(_categorical(cstats, window[name], self.spec))
        status = overall(tuple(measures))
        return CheckResult(
            kind=CheckKind.QUALITY,
            status=status,
            rows=len(window),
            measures=tuple(measures),
            summary={
                "problems": [f"{m.subject}.{m.name}" for m in measures if m.alerting],
            },
        )
