"""A large window's check kinds run side by side and give the results they give one by one."""

from __future__ import annotations

from pathlib import Path

from checks.calibration import ReferenceCalibration
from checks.interface import CheckKind
from daemon.checking.cache import CheckCache
from daemon.checking.references import reference_stats
from daemon.checking.run import PARALLEL_ROWS, _evaluate, _evaluate_all
from daemon.frames import typed_check
from tests.checks.frames import churn_settings, window


def test_kinds_side_by_side_give_the_serial_results(tmp_path: Path) -> None:
    settings = churn_settings(
        tmp_path,
        {"kind": "file", "path": str(tmp_path / "reference.parquet")},
        checks={"performance": {"bootstrap": 40, "min_labelled": 100}},
    )
    model = settings.model("churn")
    reference = typed_check(window(2000, 1).rename(columns={"label": "churned"}), model)
    ref = reference_stats(model, reference, cache=CheckCache())
    # Drift, a quality problem and a concept change: every kind has something to say.
    frame = typed_check(window(PARALLEL_ROWS, 2, shift=0.7, new_category=0.05, concept=True), model)
    kinds = tuple(CheckKind)
    calibration = ReferenceCalibration()

    together = _evaluate_all(kinds, model, ref, None, calibration, None, frame)
    assert list(together) == list(kinds)
    for kind in kinds:
        alone, seen, _ = _evaluate(kind, model, ref, None, calibration, None, frame)
        got, got_seen, _ = together[kind]
        # repr: NaN fields compare equal as text, and every value is in it.
        assert repr(got) == repr(alone), kind
        assert [(c.column, c.score, c.drifted) for c in got_seen] == [
            (c.column, c.score, c.drifted) for c in seen
        ]
    assert together[CheckKind.DRIFT][0].status.value == "alert"
