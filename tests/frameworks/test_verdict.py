"""The verdict of a verification, from two replays: pure arithmetic on known arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from packaging.requirements import Requirement

from checks.frameworks.advisories import parse_record
from checks.frameworks.matching import AdvisoryIndex
from checks.frameworks.releases import Release, ReleaseInfo
from checks.frameworks.verdict import (
    Verdict,
    agreement,
    clearing_candidates,
    decide,
    describe,
    failed,
    headline,
    metric_gain,
    smallest_safe,
    timing,
)
from checks.interface import TaskKind
from checks.performance.metrics import Metric
from retrain.verify import candidate
from retrain.verify.spec import comparison_from_json, comparison_to_json
from tests.frameworks.conftest import osv_record

P = np.array([0.1, 0.4, 0.6, 0.9])


def test_identical_probabilities_are_safe_and_say_so() -> None:
    a = agreement("reference", P, P + 1e-9, TaskKind.BINARY, numeric=True)
    assert a.identical() and a.changed == 0
    c = decide(
        [a], None, current=timing([0.001] * 20, 200_000), candidate=timing([0.00092] * 20, 190_000)
    )
    assert c.verdict is Verdict.SAFE
    assert describe(c) == "predictions identical to 1e-06; p95 −8%"
    assert headline("torch", "1.13.0", "2.6.0", ["CVE-2025-32434"], c) == (
        "torch 1.13.0 → 2.6.0 clears CVE-2025-32434; predictions identical to 1e-06; p95 −8%"
    )


def test_a_moved_probability_changes_predictions_with_its_difference_and_labels() -> None:
    moved = P + np.array([0.0, 0.15, 0.0, 0.05])
    a = agreement("holdout", P, moved, TaskKind.BINARY, numeric=True)
    assert a.max_abs_diff == pytest.approx(0.15)
    # 0.4 -> 0.55 crosses 0.5: one label of four.
    assert a.changed == 1 and a.changed_share == 0.25
    c = decide([a], None)
    assert c.verdict is Verdict.CHANGES_PREDICTIONS
    assert describe(c).startswith("changes predictions: max difference 0.15, 25.0% of 4 labels")


def test_labels_and_regression_values() -> None:
    labels = np.array(["a", "b", "c"], dtype=object)
    a = agreement(
        "r", labels, np.array(["a", "c", "c"], dtype=object), TaskKind.MULTICLASS, numeric=False
    )
    assert a.max_abs_diff is None and a.changed == 1
    values = np.array([1.0, 2.0, np.nan])
    r = agreement("r", values, np.array([1.0, 2.5, np.nan]), TaskKind.REGRESSION, numeric=True)
    assert r.max_abs_diff == 0.5 and r.changed == 1
    one_missing = agreement(
        "r", values, np.array([1.0, 2.0, 3.0]), TaskKind.REGRESSION, numeric=True
    )
    assert one_missing.max_abs_diff == np.inf


def test_metric_gain_is_paired_and_signed_better_positive() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    truth = np.array([str(v) for v in y], dtype=object)
    good = np.clip(y * 0.6 + rng.uniform(0, 0.4, 300), 0, 1)
    same = metric_gain(
        TaskKind.BINARY, Metric.ROC_AUC, "h", truth, good, good, numeric=True, positive="1"
    )
    assert same is not None and same.low == same.high == 0.0 and not same.worse
    noisy = rng.uniform(0, 1, 300)
    worse = metric_gain(
        TaskKind.BINARY, Metric.ROC_AUC, "h", truth, good, noisy, numeric=True, positive="1"
    )
    assert worse is not None and worse.gain < -0.3 and worse.worse
    # A worse metric is never safe, whatever the agreement says.
    a = agreement("h", good, good, TaskKind.BINARY, numeric=True)
    assert decide([a], worse).verdict is Verdict.CHANGES_PREDICTIONS
    loss = metric_gain(
        TaskKind.BINARY, Metric.LOG_LOSS, "h", truth, noisy, good, numeric=True, positive="1"
    )
    assert loss is not None and loss.gain > 0 and loss.candidate < loss.current
    few = metric_gain(
        TaskKind.BINARY, Metric.F1, "h", truth[:5], good[:5], good[:5], numeric=True, positive="1"
    )
    assert few is None


def test_failures_keep_the_last_line_and_round_trip() -> None:
    c = failed(
        Verdict.FAILS_TO_INSTALL, "Looking in indexes\nERROR: No matching distribution for x==9\n"
    )
    assert describe(c) == "fails to install: ERROR: No matching distribution for x==9"
    assert comparison_from_json(comparison_to_json(c)) == c
    with pytest.raises(ValueError, match="not a failure"):
        failed(Verdict.SAFE, "")


def test_clearing_candidates_walk_the_releases_that_no_advisory_affects() -> None:
    index = AdvisoryIndex(
        [
            parse_record(osv_record("PYSEC-1", "demo", "0", "1.0.2"), "t"),
            parse_record(osv_record("PYSEC-2", "demo", "1.1.0", "1.1.1"), "t"),
        ]
    )
    info = ReleaseInfo(
        package="demo",
        releases=tuple(
            Release(version=v, uploaded=None, yanked=False)
            for v in ("1.0.0", "1.0.1", "1.0.2", "1.1.0", "1.1.1", "2.0.0")
        ),
    )
    assert clearing_candidates("demo", "1.0.0", index, info) == ["1.0.2", "1.1.1", "2.0.0"]
    assert clearing_candidates("demo", "1.0.0", index, None) == ["1.0.2", "1.1.1"]
    verdicts = {"1.0.2": Verdict.CHANGES_PREDICTIONS, "1.1.1": Verdict.SAFE}
    assert smallest_safe(["1.0.2", "1.1.1", "2.0.0"], verdicts) == "1.1.1"


def test_the_plan_installs_the_upgrade_and_only_the_pins_not_satisfied() -> None:
    logged, skipped = candidate.read_requirements(
        "mlflow==3.17.2\nscikit-learn==1.9.1\ntorch==1.13.0\n# comment\n-e ./local\nnumpy>=1.20\n"
        'pywin32==306; sys_platform == "win32"\n'
    )
    have = {"mlflow": "3.17.2", "scikit-learn": "1.5.0", "torch": "1.13.0", "numpy": "2.1.0"}
    plan = candidate.plan(logged, [Requirement("torch==2.6.0")], skipped, have.get)
    assert plan.install == ("scikit-learn==1.9.1", "torch==2.6.0")
    assert plan.changes == ("scikit-learn 1.5.0 -> ==1.9.1", "torch 1.13.0 -> ==2.6.0")
    assert plan.skipped == ("-e ./local",)
    with pytest.raises(candidate.VerifyError, match="must pin one version"):
        candidate.parse_upgrade("torch>=2.6")
    assert candidate.pip_index("http://127.0.0.1:8080") == "http://127.0.0.1:8080/simple/"
    assert candidate.logged_pins(logged, [Requirement("torch==2.6.0")]) == {"torch": "1.13.0"}
    assert candidate.logged_pins(logged, [Requirement("numpy==2.2.0")]) == {}


def test_the_worker_asks_the_index_before_pip_and_leaves_no_lock(tmp_path: Path) -> None:
    """Where the daemon's own check passed but the worker cannot reach the index: an
    error (no verdict), before a venv is made, and the lock file removed."""
    import socket

    from retrain.verify.index import IndexUnreachable

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    want = candidate.Plan(install=("mlmaint-demo-dep==1.0.1",), changes=(), skipped=())
    with pytest.raises(IndexUnreachable, match=f"the package index {closed} did not answer"):
        candidate.build(tmp_path / "envs", want, closed)
    assert list((tmp_path / "envs").iterdir()) == []


def test_change_text_labels_a_downgrade() -> None:
    from checks.frameworks.verdict import change_text

    assert change_text("scikit-learn", "1.3.0", "1.3.2") == "scikit-learn 1.3.0 → 1.3.2"
    assert change_text("scikit-learn", "1.3.2", "1.3.0") == (
        "scikit-learn 1.3.2 → 1.3.0 (downgrade)"
    )
    assert change_text("torch", "", "2.6.0") == "torch ? → 2.6.0"


def test_the_verify_schedule_is_off_unless_configured() -> None:
    from daemon.config import parse_config
    from daemon.stages import Stage, build_jobs

    def stages(frameworks: dict[str, object]) -> set[Stage]:
        settings = parse_config({"frameworks": frameworks}, environ={})
        return {j.stage for j in build_jobs(settings)}

    assert Stage.FRAMEWORKS_VERIFY not in stages({})
    weekly = {"verify_schedule": {"cron": "0 5 * * 1", "timezone": "UTC"}}
    assert Stage.FRAMEWORKS_VERIFY in stages(weekly)
    assert Stage.FRAMEWORKS_VERIFY not in stages({**weekly, "enabled": False})
