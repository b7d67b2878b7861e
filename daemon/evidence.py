"""Evidence for an alerting drift result: Evidently's HTML report of the same data.

Our own drift tests decide (checks/drift.py); Evidently's report is what a data
scientist opens to look at the distributions. It is rendered only for alerting
windows, and evidently is imported only here, inside the function, so the
daemon starts without it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

log = logging.getLogger(__name__)

# Our method names where Evidently registers another.
_EVIDENTLY_NAMES = {"energy": "ed"}


def evidently_method(method: str) -> str:
    return _EVIDENTLY_NAMES.get(method, method)


def write_drift_evidence(
    reference: pd.DataFrame,
    window: pd.DataFrame,
    *,
    numeric: tuple[str, ...],
    categorical: tuple[str, ...],
    path: Path,
    methods: Mapping[str, str] | None = None,
    thresholds: Mapping[str, float] | None = None,
    drift_share: float = 0.5,
) -> Path:
    """Run `Report([DataDriftPreset()])` on the columns and save its HTML at `path`.

    `methods` and `thresholds` carry the per-column choices of the check (our
    method names), so the report shows the same tests that alerted.
    """
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    columns = [c for c in (*numeric, *categorical) if c in reference and c in window]
    num = [c for c in numeric if c in columns]
    cat = [c for c in categorical if c in columns]
    definition = DataDefinition(numerical_columns=num, categorical_columns=cat)
    ref = Dataset.from_pandas(reference[columns].reset_index(drop=True), data_definition=definition)
    cur = Dataset.from_pandas(window[columns].reset_index(drop=True), data_definition=definition)
    per_method = {c: evidently_method(m) for c, m in (methods or {}).items() if c in columns}
    per_threshold = {c: t for c, t in (thresholds or {}).items() if c in columns}
    preset = DataDriftPreset(
        columns=columns,
        drift_share=drift_share,
        per_column_method=per_method or None,
        per_column_threshold=per_threshold or None,
    )
    snapshot = Report([preset], include_tests=True).run(current_data=cur, reference_data=ref)
    path.parent.mkdir(parents=True, exist_ok=True)
    snapshot.save_html(str(path))
    log.debug("drift evidence written to %s", path)
    return path
