"""Pure computations: data in, frozen results out. No I/O but what is handed in.

Used as a library, these names are the stable surface (imported on first use,
so the daemon's start-up does not pay for pandas here):

- `check_drift(reference, current)`, `check_quality(reference, current)` and
  `estimate_performance(reference, current)`: two pandas frames in, a frozen
  `CheckResult` out (its `status`, its `measures`, `alerting`, `measure()`);
- `scan_requirements(path, advisory_db)`: a requirements or lock file against
  a local OSV advisory database, an `EnvironmentReport` out (its `findings`);
- the vocabulary: `CheckResult`, `Measure`, `Status`, `CheckKind`.

(`checks.drift` and `checks.quality` are the rooms of those checks, hence the
verbs.)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from checks.frameworks.offline import scan_requirements
    from checks.interface import CheckKind, CheckResult, Measure, Status
    from checks.library import check_drift, check_quality, estimate_performance

_HOMES = {
    "check_drift": "checks.library",
    "check_quality": "checks.library",
    "estimate_performance": "checks.library",
    "scan_requirements": "checks.frameworks.offline",
    "CheckKind": "checks.interface",
    "CheckResult": "checks.interface",
    "Measure": "checks.interface",
    "Status": "checks.interface",
}

__all__ = [
    "CheckKind",
    "CheckResult",
    "Measure",
    "Status",
    "check_drift",
    "check_quality",
    "estimate_performance",
    "scan_requirements",
]


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'checks' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
