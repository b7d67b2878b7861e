"""How a check's threshold is set: the vocabulary the config and the checks share.

Kept free of numpy and pandas, like checks/methods.py, so the config can load
it without importing the statistics.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ThresholdMode(enum.StrEnum):
    """Drift thresholds: calibrated to the window's size, or Evidently's fixed rules."""

    CALIBRATED = "calibrated"
    EVIDENTLY = "evidently"


class BandMode(enum.StrEnum):
    """Performance alerts: a band from the reference's chunks, or a margin off the baseline."""

    BAND = "band"
    MARGIN = "margin"


@dataclass(frozen=True, kw_only=True)
class Persistence:
    """A column alerts only when it is beyond its threshold in `failing` of the last `windows`."""

    failing: int
    windows: int

    def __post_init__(self) -> None:
        if not 1 <= self.failing <= self.windows:
            raise ValueError(
                f"persistence needs 1 <= failing <= windows, got {self.failing} of {self.windows}"
            )

    def __str__(self) -> str:
        return f"{self.failing} of {self.windows} windows"


def percent(rate: float) -> str:
    """0.01 -> "1%", 0.005 -> "0.5%"."""
    return f"{rate * 100:.3g}%"
