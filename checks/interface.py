"""What every check shares: the Check protocol, frozen results, statuses and errors,
and the performance metrics' names (which task takes which, the default).

A check is a pure function of a reference (its precomputed statistics) and a
window (a DataFrame): data in, a frozen `CheckResult` out. Results hold values
only; nothing here renders, stores or alerts. The daemon maps results onto its
tables and onto alert findings.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    # Only the Check protocol names a DataFrame: the vocabulary here stays light
    # enough for the config and the store to import at start-up.
    import pandas as pd

# Reserved window columns, besides the features (see daemon/store/windows.py).
PREDICTION_ID = "prediction_id"
TIMESTAMP = "timestamp"
PREDICTION = "prediction"
SCORE = "score"
LABEL = "label"
LATENCY = "latency_ms"
ERROR = "error"
MEMORY = "memory_mb"


class Status(enum.StrEnum):
    """The outcome of a check or of one of its subjects; the store keeps these values."""

    OK = "ok"
    ALERT = "alert"
    INSUFFICIENT_DATA = "insufficient_data"
    ERROR = "error"


class TaskKind(enum.StrEnum):
    """What a model predicts: the one spelling for the config, checks and retraining."""

    BINARY = "binary_classification"
    MULTICLASS = "multiclass_classification"
    REGRESSION = "regression"


class CheckKind(enum.StrEnum):
    DRIFT = "drift"
    QUALITY = "quality"
    PERFORMANCE = "performance"
    ESTIMATED_PERFORMANCE = "estimated_performance"
    OPERATIONS = "operations"
    # Reconstruction error and domain classifier over the features together (off by default).
    MULTIVARIATE = "multivariate"


class CheckError(Exception):
    """Root of the errors a check raises."""


class InsufficientData(CheckError):
    """Too few usable rows for a meaningful answer: not "ok", not "alert"."""

    def __init__(self, check: str, n: int, min_n: int, what: str = "rows") -> None:
        self.check = check
        self.n = n
        self.min_n = min_n
        super().__init__(f"{check}: {n} {what}, at least {min_n} needed")


class SchemaMismatch(CheckError):
    """The window or the reference lacks columns the check needs."""

    def __init__(self, check: str, missing: tuple[str, ...], where: str) -> None:
        self.check = check
        self.missing = missing
        super().__init__(f"{check}: {where} lacks column(s) {', '.join(missing)}")


class Direction(enum.StrEnum):
    """The side of its threshold on which a measure alerts.

    Distances, error rates, latencies and losses alert above it; p-values and
    scores where higher is better (AUC, accuracy) alert below it.
    """

    ABOVE = "above"
    BELOW = "below"


class Metric(enum.StrEnum):
    ACCURACY = "accuracy"
    PRECISION = "precision"
    RECALL = "recall"
    F1 = "f1"
    ROC_AUC = "roc_auc"
    LOG_LOSS = "log_loss"
    MAE = "mae"
    RMSE = "rmse"
    MAPE = "mape"
    R2 = "r2"


LOWER_IS_BETTER = frozenset({Metric.LOG_LOSS, Metric.MAE, Metric.RMSE, Metric.MAPE})


def alerts_when(metric: Metric) -> Direction:
    """A loss alerts above its boundary, a score (AUC, accuracy) below it."""
    return Direction.ABOVE if metric in LOWER_IS_BETTER else Direction.BELOW


TASK_METRICS: dict[TaskKind, tuple[Metric, ...]] = {
    TaskKind.BINARY: (
        Metric.ACCURACY,
        Metric.PRECISION,
        Metric.RECALL,
        Metric.F1,
        Metric.ROC_AUC,
        Metric.LOG_LOSS,
    ),
    TaskKind.MULTICLASS: (Metric.ACCURACY, Metric.PRECISION, Metric.RECALL, Metric.F1),
    TaskKind.REGRESSION: (Metric.MAE, Metric.RMSE, Metric.MAPE, Metric.R2),
}
# Metrics that need a probability score.
NEEDS_SCORE = frozenset({Metric.ROC_AUC, Metric.LOG_LOSS})


def default_metric(task: TaskKind, has_score: bool) -> Metric:
    """The metric when `checks.performance.metric` is unset (config.toml says the same).

    ROC AUC for binary (F1 where the model logs no score: AUC needs one), macro
    F1 for multiclass (accuracy hides a minority class the model stopped
    finding), RMSE for regression (large errors count more). It governs the
    alert, the band and the promotion alike.
    """
    if task is TaskKind.BINARY:
        return Metric.ROC_AUC if has_score else Metric.F1
    if task is TaskKind.MULTICLASS:
        return Metric.F1
    return Metric.RMSE


class MetricError(ValueError):
    """A metric name that is unknown, or that does not apply to the model's task."""


def parse_metric(name: str, task: TaskKind) -> Metric:
    try:
        metric = Metric(name.lower())
    except ValueError:
        raise MetricError(
            f"unknown metric {name!r}, expected one of {', '.join(m.value for m in Metric)}"
        ) from None
    if metric not in TASK_METRICS[task]:
        allowed = ", ".join(m.value for m in TASK_METRICS[task])
        raise MetricError(f"metric {name!r} does not apply to {task.value}; use {allowed}")
    return metric


@dataclass(frozen=True, kw_only=True)
class Measure:
    """One value about one subject (a column, "dataset", a metric name)."""

    subject: str
    name: str
    value: float | None
    threshold: float | None = None
    status: Status = Status.OK
    # How far beyond the threshold, in units of the threshold's allowance (>= 1 alerts).
    severity_ratio: float = 0.0
    detail: str | None = None
    # Where the threshold came from: "at n=120, calibrated for 1% false alarms",
    # "Evidently's default", "band at n=500: ...".
    basis: str | None = None
    # Which side of the threshold alerts: the words "above"/"below" in messages follow it.
    alerts_when: Direction = Direction.ABOVE

    @property
    def alerting(self) -> bool:
        return self.status is Status.ALERT


@dataclass(frozen=True, kw_only=True)
class CheckResult:
    """A check's outcome on one window: an overall status and its measures."""

    kind: CheckKind
    status: Status
    rows: int
    measures: tuple[Measure, ...] = ()
    summary: Mapping[str, object] = field(default_factory=dict)
    reason: str | None = None

    def measure(self, subject: str, name: str) -> Measure:
        for m in self.measures:
            if m.subject == subject and m.name == name:
                return m
        raise KeyError(f"{self.kind.value}: no measure {name!r} for {subject!r}")

    @property
    def alerting(self) -> tuple[Measure, ...]:
        return tuple(m for m in self.measures if m.alerting)


def insufficient(kind: CheckKind, rows: int, reason: str) -> CheckResult:
    return CheckResult(kind=kind, status=Status.INSUFFICIENT_DATA, rows=rows, reason=reason)


def overall(measures: tuple[Measure, ...]) -> Status:
    """ALERT if any measure alerts, OK if any is OK, else INSUFFICIENT_DATA."""
    statuses = {m.status for m in measures}
    if Status.ALERT in statuses:
        return Status.ALERT
    if Status.OK in statuses:
        return Status.OK
    if Status.ERROR in statuses:
        return Status.ERROR
    return Status.INSUFFICIENT_DATA


class Check(Protocol):
    """A check built from a frozen spec; `run` is pure and returns frozen data."""

    @property
    def kind(self) -> CheckKind: ...

    def run(self, window: pd.DataFrame) -> CheckResult: ...
