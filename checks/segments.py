"""Segments: a window cut by the values of one categorical column.

A model can decay in one region while its totals look fine, as Evidently's
group-by and Deepchecks' weak segments show. A segmentation keeps the `top`
most frequent values of the column in the reference (ties by value, so the
choice is stable) and folds every other value, missing ones included, into
"other": a value seen rarely, or first seen in production, is judged with the
rest rather than on a handful of rows. The segments are fixed by the
reference, never by the window, so one segment keeps its name, its alerts and
its history from window to window.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from checks.interface import SchemaMismatch

OTHER = "other"


@dataclass(frozen=True, kw_only=True)
class Segmentation:
    """The values of `column` checked apart; every other value is "other"."""

    column: str
    values: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        """Each segment's value, "other" last."""
        return (*self.values, OTHER)

    def labels(self, frame: pd.DataFrame) -> npt.NDArray[np.object_]:
        """Each row's segment value ("other" for the rest and for missing values)."""
        if self.column not in frame.columns:
            raise SchemaMismatch("segments", (self.column,), "the frame")
        raw = frame[self.column].to_numpy(dtype=object)
        known = np.isin(raw, np.asarray(self.values, dtype=object))
        out: npt.NDArray[np.object_] = np.where(known, raw, OTHER)
        return out

    def split(self, frame: pd.DataFrame) -> Iterator[tuple[str, pd.DataFrame]]:
        """(value, rows) per segment, in `names` order; a segment with no rows is empty."""
        labels = self.labels(frame)
        for name in self.names:
            yield name, frame.loc[labels == name].reset_index(drop=True)


def segmentation(reference: pd.DataFrame, column: str, top: int) -> Segmentation:
    """The `top` most frequent values of `column` in the reference, most frequent first."""
    if top < 1:
        raise ValueError(f"top must be >= 1, got {top}")
    if column not in reference.columns:
        raise SchemaMismatch("segments", (column,), "the reference")
    counts = reference[column].dropna().astype(str).value_counts()
    ranked = sorted(counts.items(), key=lambda kv: (-int(kv[1]), kv[0]))
    values = tuple(str(v) for v, _ in ranked if v != OTHER)[:top]
    return Segmentation(column=column, values=values)
