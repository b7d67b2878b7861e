"""The drift check: each column's score against its threshold, then the dataset's share.

Which threshold a column gets (its own, calibrated from the reference, or
Evidently's default) is `ThresholdRule`'s call; persistence (k of the last m
windows) is applied to the column's verdict after it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import pandas as pd

from checks.drift.specs import ColumnDrift, ColumnSpec, DatasetDrift, DriftSpec
from checks.drift.stattests import column_score, decide, default_method
from checks.drift.window import WindowColumn
from checks.interface import CheckKind, CheckResult, Direction, Measure, Status, insufficient
from checks.methods import METHODS, ColumnKind, Method
from checks.reference import CategoricalStats, NumericStats, ReferenceStats
from checks.thresholds import Persistence, ThresholdMode, percent

if TYPE_CHECKING:
    from checks.calibration import DriftCalibration

# Below this many window values (rows x columns) threads cost more than they save.
PARALLEL_CELLS = 2_000_000


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


@dataclass(frozen=True, kw_only=True)
class DriftOutcome:
    """A drift run: the result, and its columns for evidence (values and counts seen)."""

    result: CheckResult
    columns: tuple[ColumnDrift, ...]


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
    col = WindowColumn(stats, window[spec.name])
    if col.ref_n == 0 or col.n < max(min_rows, 1):
        return result(
            Status.INSUFFICIENT_DATA,
            f"{col.n} usable rows in the window, {col.ref_n} in the reference",
            ref_n=col.ref_n,
            cur_n=col.n,
        )
    method = spec.method or default_method(spec.kind, col.ref_n, col.n_values())
    threshold, basis = (rule or ThresholdRule()).pick(spec, method, col.n)
    score = column_score(method, col)
    if math.isnan(score):
        return result(
            Status.INSUFFICIENT_DATA,
            f"{method.value} is undefined on this data",
            method,
            col.ref_n,
            col.n,
        )
    drifted = decide(method, score, threshold)
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
        observed=col,
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
    return decide(method, score, threshold)


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
        return self.evaluate(window).result

    def evaluate(self, window: pd.DataFrame) -> DriftOutcome:
        """The result and the columns behind it (each with the window column it saw)."""
        if len(window) < self.spec.min_rows:
            return DriftOutcome(
                result=insufficient(
                    CheckKind.DRIFT, len(window), f"{len(window)} rows, {self.spec.min_rows} needed"
                ),
                columns=(),
            )
        columns = self.columns(window)
        return DriftOutcome(result=self._result(window, columns), columns=columns)

    def _result(self, window: pd.DataFrame, columns: tuple[ColumnDrift, ...]) -> CheckResult:
        measures = [
            Measure(
                subject=c.column,
                name=c.method.value if c.method else "drift",
                value=c.score,
                threshold=c.threshold,
                status=c.status,
                severity_ratio=c.severity_ratio if c.drifted else 0.0,
                # p-values drift when small, distances when large.
                alerts_when=Direction.BELOW
                if c.method and METHODS[c.method].p_value
                else Direction.ABOVE,
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
