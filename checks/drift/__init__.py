"""Column drift and dataset drift, with Evidently 0.7's tests and selection rules.

Every test reproduces the definition in Evidently's
`legacy/calculations/stattests` (the functions `Report([DataDriftPreset()])`
calls), so a score and a verdict here equal Evidently's on the same data, to
floating point. What differs is the cost: the reference is sorted and counted
once (checks/reference.py), so a window costs one sort of the window's own
values (Wasserstein merges two sorted runs, histograms are binary searches)
instead of Evidently's per-call concatenations, pandas value counts and
`scipy` re-sorting of both samples.

Default selection (Evidently's `_get_default_stattest`), counted on the rows
left after dropping missing and infinite values:

- reference <= 1,000 rows: numeric with > 5 distinct values (reference and
  window together): Kolmogorov-Smirnov; otherwise chi-squared, or the
  two-proportion z-test when there are at most 2 distinct values;
- reference > 1,000 rows: numeric with > 5 distinct values: Wasserstein
  distance normalized by the reference's standard deviation; otherwise
  Jensen-Shannon distance.

Rooms: `specs` (what is asked, what is found), `window` (a window column
prepared once), `stattests` (the tests and their selection), `check` (the
thresholds, persistence, dataset drift and the `DriftCheck` itself).
"""

from checks.drift.check import (
    PARALLEL_CELLS,
    DriftCheck,
    DriftOutcome,
    ThresholdRule,
    column_drift,
    dataset_drift,
    exceeds,
    persist,
)
from checks.drift.specs import (
    CRITICAL_RATIO,
    ColumnDrift,
    ColumnSpec,
    DatasetDrift,
    DriftConfigError,
    DriftSpec,
)
from checks.drift.stattests import default_method
from checks.drift.window import sturges_edges

# The drift vocabulary is imported from here too.
from checks.methods import METHODS, ColumnKind, Method, MethodInfo

__all__ = [
    "CRITICAL_RATIO",
    "METHODS",
    "PARALLEL_CELLS",
    "ColumnDrift",
    "ColumnKind",
    "ColumnSpec",
    "DatasetDrift",
    "DriftCheck",
    "DriftConfigError",
    "DriftOutcome",
    "DriftSpec",
    "Method",
    "MethodInfo",
    "ThresholdRule",
    "column_drift",
    "dataset_drift",
    "default_method",
    "exceeds",
    "persist",
    "sturges_edges",
]
