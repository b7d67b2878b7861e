"""Operations: latency percentiles, error rate and memory, when logged with predictions.

The error column says whether a prediction failed, in whatever form the
serving code logs it: a boolean, a null, an empty string, an error message or
a numeric code. `is_error` is the one reading of it, used where rows are
stored and where the rate is counted: false, 0, an empty string and null
(and their text spellings, as a CSV writes them) mean no error; true, a
non-zero code and any other text mean an error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import numpy.typing as npt
import pandas as pd

from checks.interface import (
    ERROR,
    LATENCY,
    MEMORY,
    CheckKind,
    CheckResult,
    Measure,
    Status,
    insufficient,
    overall,
)
from checks.reference import numeric_values

# Text that means "no error": the empty string, and false, 0 and null as a
# text-only source (CSV) or a str() of the value spells them.
NO_ERROR_TEXT = frozenset({"", "false", "0", "0.0", "none", "null", "nan"})


def is_error(value: object) -> bool:
    """Whether a logged error value marks a failed prediction (see the module docstring)."""
    if value is None or value is pd.NA:
        return False
    if isinstance(value, str):
        return value.strip().lower() not in NO_ERROR_TEXT
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | float | Decimal | np.number):
        number = float(value)
        return not math.isnan(number) and number != 0
    return True


def error_mask(errors: pd.Series) -> npt.NDArray[np.bool_]:
    """`is_error` of each value of an error column."""
    if pd.api.types.is_bool_dtype(errors.dtype) and not errors.hasnans:
        return errors.to_numpy(dtype=bool)
    codes, uniques = pd.factorize(errors.astype(object), use_na_sentinel=True)
    # True and 1 hash alike, and both are errors; False and 0 both are not.
    table = np.array([is_error(v) for v in uniques] + [False], dtype=bool)
    return table[codes]


@dataclass(frozen=True, kw_only=True)
class OperationsSpec:
    max_latency_p95_ms: float | None = None
    max_latency_p99_ms: float | None = None
    max_error_rate: float | None = 0.05
    max_memory_mb: float | None = None
    min_rows: int = 1
    # Whether the model logs an error column. A window always has one (null where
    # nothing was logged), and null reads as "no error": without the column, a rate
    # of 0 would claim a health nobody measured, so no rate is given.
    errors_logged: bool = True


def _against(subject: str, name: str, value: float, limit: float | None) -> Measure:
    if limit is None:
        return Measure(subject=subject, name=name, value=value)
    alert = value > limit
    return Measure(
        subject=subject,
        name=name,
        value=value,
        threshold=limit,
        status=Status.ALERT if alert else Status.OK,
        severity_ratio=(value / limit if limit > 0 else float("inf")) if alert else 0.0,
    )


@dataclass(frozen=True, kw_only=True)
class OperationsCheck:
    spec: OperationsSpec

    @property
    def kind(self) -> CheckKind:
        return CheckKind.OPERATIONS

    def run(self, window: pd.DataFrame) -> CheckResult:
        kind = CheckKind.OPERATIONS
        n = len(window)
        if n < self.spec.min_rows:
            return insufficient(kind, n, f"{n} rows, {self.spec.min_rows} needed")
        measures: list[Measure] = []
        if LATENCY in window:
            latency = numeric_values(window[LATENCY])
            latency = latency[~np.isnan(latency)]
            if latency.size:
                p50, p95, p99 = (float(v) for v in np.percentile(latency, [50, 95, 99]))
                measures.append(_against("latency", "p50_ms", p50, None))
                measures.append(_against("latency", "p95_ms", p95, self.spec.max_latency_p95_ms))
                measures.append(_against("latency", "p99_ms", p99, self.spec.max_latency_p99_ms))
        if self.spec.errors_logged and ERROR in window:
            rate = float(error_mask(window[ERROR]).sum()) / n
            measures.append(_against("errors", "error_rate", rate, self.spec.max_error_rate))
        if MEMORY in window:
            memory = numeric_values(window[MEMORY])
            memory = memory[~np.isnan(memory)]
            if memory.size:
                measures.append(
                    _against("memory", "max_mb", float(memory.max()), self.spec.max_memory_mb)
                )
        if not measures:
            return insufficient(kind, n, "no latency, error or memory logged with predictions")
        status = overall(tuple(measures))
        if status is Status.INSUFFICIENT_DATA:
            # Only informational measures (no thresholds configured): nothing is wrong.
            status = Status.OK
        return CheckResult(
            kind=kind,
            status=status,
            rows=n,
            measures=tuple(measures),
            summary={f"{m.subject}.{m.name}": m.value for m in measures},
        )
