"""What a drift check is asked and what it finds: column and check specs, frozen results."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from checks.interface import Status
from checks.methods import METHODS, ColumnKind, Method, fits
from checks.thresholds import Persistence, ThresholdMode

if TYPE_CHECKING:
    from checks.drift.window import WindowColumn

# A p-value this many decades below its threshold, or a distance this many times
# its threshold, is critical rather than a warning.
CRITICAL_RATIO = 2.0


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
    # `false_alarm_rate` over the whole check run (checks/calibration/).
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
    # The window column as the test saw it (its values and counts), for whoever shows
    # the evidence next without counting again; not part of the result's value.
    observed: WindowColumn | None = field(default=None, repr=False, compare=False)

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
