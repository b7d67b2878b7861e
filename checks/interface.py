"""What every check shares: the Check protocol, frozen results, statuses and errors.

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
