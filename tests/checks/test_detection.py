"""Detection on synthetic streams with known change points, and the false-alarm rate.

Windows after the change must be flagged by the check that can see it (drift
for mean and variance shifts, quality for a new category, drift of the label
and decay for a label shift, only decay for concept drift); on clean windows
fewer than 5% of the windows may raise anything.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from checks.interface import CheckKind
from daemon.checking.cache import CheckCache
from daemon.checking.references import reference_stats
from daemon.checking.run import run_checks
from daemon.config import ModelSettings
from tests.checks.frames import START, window

MODEL = ModelSettings.model_validate(
    {
        "name": "churn",
        "source": {"kind": "http"},
        "schema": {
            "numeric": ["age", "income", "visits"],
            "categorical": ["plan", "region"],
            "score": "score",
            "latency": "latency_ms",
            "error": "error",
            "memory": "memory_mb",
        },
        "checks": {"performance": {"bootstrap": 100, "min_labelled": 300}},
    }
)
# The reference and its calibration, computed once for every window of this file.
CACHE = CheckCache()
REF = reference_stats(MODEL, window(5000, 1), cache=CACHE)
N = 2000


def alerts(frame_seed: int, **change: float | bool) -> set[tuple[str, str]]:
    cycle = run_checks(
        None,
        MODEL,
        START + timedelta(days=frame_seed),
        window(N, frame_seed, **change),  # type: ignore[arg-type]
        REF,
        cache=CACHE,
    )
    return {(f.kind, f.subject) for f in cycle.firing}


def test_false_alarm_rate_on_clean_windows() -> None:
    windows = 20
    noisy = [alerts(1000 + i) for i in range(windows)]
    rate = sum(bool(a) for a in noisy) / windows
    assert rate < 0.05, noisy


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"shift": 0.5}, (CheckKind.DRIFT.value, "age")),
        ({"scale": 1.6}, (CheckKind.DRIFT.value, "age")),
        ({"new_category": 0.08}, (CheckKind.QUALITY.value, "plan.new_category_share")),
        # The label is one of the model's outputs: their drift is one subject.
        ({"label_shift": 1.5}, (CheckKind.DRIFT.value, "outputs")),
        ({"concept": True}, (CheckKind.PERFORMANCE.value, "roc_auc")),
    ],
)
def test_changes_are_flagged(change: dict[str, float | bool], expected: tuple[str, str]) -> None:
    for i in range(3):
        found = alerts(2000 + i, **change)
        assert expected in found, (change, found)
        if "concept" in change:
            # Inputs did not move: only the labels can tell.
            drifted = {s for kind, s in found if kind == CheckKind.DRIFT.value}
            assert not drifted & {"age", "income", "visits", "plan", "region"}, found
