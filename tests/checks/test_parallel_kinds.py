"""A long window runs its check kinds side by side, with the results of a run one by one.

`run_checks` hands each kind to a thread from PARALLEL_ROWS rows on (issue 17: the
performance check's bootstrap need not wait for the drift columns). The checks share
the window and the reference and write neither: the same results, in the same order.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest

from checks.interface import CheckKind
from daemon.checking import run
from daemon.checking.run import PARALLEL_ROWS, run_checks
from tests.checks.frames import START, churn_settings, window


def test_a_long_window_runs_its_kinds_in_threads_with_the_same_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = churn_settings(
        tmp_path,
        {"kind": "snapshot"},
        checks={
            "min_rows": 50,
            "performance": {"bootstrap": 60, "min_labelled": 100},
            "multivariate": {"enabled": True, "classifier_rows": 300},
        },
    ).model("churn")
    reference = window(4_000, 1)
    frame = window(PARALLEL_ROWS, 2, shift=1.0, concept=True)
    now = START + timedelta(days=1)
    threads: dict[CheckKind, str] = {}
    build = run._build

    def spy(kind: CheckKind, *args: object, **kwargs: object) -> object:
        threads[kind] = threading.current_thread().name
        return build(kind, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(run, "_build", spy)
    side_by_side = run_checks(None, model, now, frame, reference)
    assert set(side_by_side.runs) == set(CheckKind)
    assert all(name.startswith("mlmaint-check") for name in threads.values()), threads

    threads.clear()
    monkeypatch.setattr(run, "PARALLEL_ROWS", len(frame) + 1)
    one_by_one = run_checks(None, model, now, frame, reference)
    assert set(threads.values()) == {threading.current_thread().name}

    assert list(side_by_side.runs) == list(one_by_one.runs)
    for kind, got in side_by_side.runs.items():
        assert repr(got.result) == repr(one_by_one.runs[kind].result), kind
    assert side_by_side.result(CheckKind.DRIFT).status.value == "alert"
    assert repr(side_by_side.findings) == repr(one_by_one.findings)
