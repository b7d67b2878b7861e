"""Spec and outcome versions, snapshots and the device choice: no MLflow, no workers."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from checks.performance import Metric
from retrain.devices import current_device, job_device, select_device
from retrain.evaluate import decide
from retrain.interface import (
    JobState,
    JobStatus,
    RetrainOutcome,
    RetrainSpec,
    SnapshotError,
    TrainerKind,
    VersionError,
)
from retrain.snapshot import read_snapshot, write_snapshot
from tests.retrain import data
from tests.retrain.conftest import COLUMNS


def test_spec_round_trips_and_refuses_a_newer_version(make_spec) -> None:  # type: ignore[no-untyped-def]
    spec = make_spec(data.frame(50, seed=1), data.frame(20, seed=2), params={"C": 0.5})
    assert RetrainSpec.from_json(spec.to_json()) == spec
    newer = json.loads(spec.to_json()) | {"version": 99}
    with pytest.raises(VersionError, match="different mlmaint versions"):
        RetrainSpec.from_json(json.dumps(newer))


def test_outcome_round_trips_and_refuses_a_newer_version() -> None:
    outcome = RetrainOutcome(job_id="j1", state=JobState.SUCCEEDED, challenger_score=0.8)
    assert RetrainOutcome.from_json(outcome.to_json()) == outcome
    with pytest.raises(VersionError):
        RetrainOutcome.from_json(json.dumps(json.loads(outcome.to_json()) | {"version": 2}))


def test_snapshot_hash_is_the_content(tmp_path: Path) -> None:
    frame = data.frame(300, seed=4)
    first = write_snapshot(frame, tmp_path / "a", COLUMNS)
    # Same rows in another order, elsewhere: the same bytes and hash.
    second = write_snapshot(frame.sample(frac=1.0, random_state=1), tmp_path / "b", COLUMNS)
    assert first.sha256 == second.sha256 and first.rows == 300
    assert read_snapshot(first).equals(read_snapshot(second))
    other = write_snapshot(data.frame(300, seed=5), tmp_path / "a", COLUMNS)
    assert other.sha256 != first.sha256


def test_a_changed_snapshot_is_refused(tmp_path: Path) -> None:
    ref = write_snapshot(data.frame(100, seed=4), tmp_path, COLUMNS)
    write_snapshot(data.frame(100, seed=5), tmp_path, COLUMNS)
    Path(ref.uri).write_bytes(Path(ref.uri).read_bytes()[:-10] + b"0123456789")
    with pytest.raises(SnapshotError, match="changed after the job was created"):
        read_snapshot(ref)
    with pytest.raises(SnapshotError, match="cannot be read"):
        read_snapshot(replace(ref, uri=str(tmp_path / "gone.parquet")))


@pytest.mark.parametrize(
    ("gpus", "available", "count", "busy", "expected"),
    [
        (0, False, 0, (), "cpu"),
        (1, False, 0, (), "cpu"),
        (1, True, 0, (), "cpu"),
        (0, True, 1, (), "cuda:0"),
        (1, True, 2, (), "cuda:0"),
        (1, True, 2, (0,), "cuda:1"),
        (1, True, 2, (0, 1), "cuda:0"),
    ],
)
def test_device_choice(
    gpus: int, available: bool, count: int, busy: tuple[int, ...], expected: str
) -> None:
    assert select_device(gpus, available, count, busy) == expected


def test_device_choice_rejects_negative_gpus() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        select_device(-1, True, 1)


def test_this_machine_trains_on_what_torch_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    # The expectation is torch's word alone, not the choice under test.
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert current_device(1).partition(":")[0] == expected
    # And it is torch's word that decides: told the opposite, the device follows.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: expected == "cpu")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1 if expected == "cpu" else 0)
    assert current_device(1).partition(":")[0] == ("cuda" if expected == "cpu" else "cpu")


def test_a_scikit_learn_job_trains_on_the_cpu_without_importing_torch() -> None:
    import subprocess
    import sys

    probe = (
        "import sys\n"
        "from retrain.devices import job_device\n"
        "from retrain.interface import TrainerKind\n"
        "print(job_device(TrainerKind.SKLEARN, 1), 'torch' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    assert out == ["cpu", "False"]
    # A torch or entry-point job asks torch, as current_device does.
    for trainer in (TrainerKind.TORCH, TrainerKind.ENTRYPOINT):
        assert job_device(trainer, 1) == current_device(1)


def test_promotion_needs_the_margin() -> None:
    auc = Metric.ROC_AUC
    assert decide(0.80, None, 0.0, auc)[0]
    assert decide(0.80, 0.70, 0.05, auc)[0]
    promoted, reason = decide(0.72, 0.70, 0.05, auc)
    assert not promoted and "margin 0.0500" in reason
    assert not decide(0.70, 0.70, 0.0, auc)[0]
    rmse = Metric.RMSE
    assert decide(1.0, 1.5, 0.1, rmse)[0] and not decide(1.5, 1.0, 0.0, rmse)[0]


def test_a_spec_from_before_the_metric_travelled_reads_with_the_tasks_default(
    make_spec,  # type: ignore[no-untyped-def]
) -> None:
    from retrain.evaluate import spec_metric

    spec = make_spec(data.frame(50, seed=1), metric=Metric.F1, python_path=("/opt/training",))
    assert RetrainSpec.from_json(spec.to_json()) == spec
    old = json.loads(spec.to_json())
    del old["metric"], old["python_path"]
    parsed = RetrainSpec.from_json(json.dumps(old))
    assert parsed.metric is None and parsed.python_path == ()
    assert spec_metric(parsed) is Metric.ROC_AUC and spec_metric(spec) is Metric.F1


def test_a_skipped_promotion_says_each_value_once(make_spec) -> None:  # type: ignore[no-untyped-def]
    """The decision as people are told it: the metric, champion vs challenger, the margin
    and the decision, each once (the job's reason, which says them again, stays in MLflow)."""
    from daemon.retraining.findings import job_finding
    from daemon.store.tables import RetrainJob

    def told(scored: Metric, champion: float, challenger: float, **spec: object) -> str:
        made = make_spec(data.frame(50, seed=1), trigger="drift", promote_margin=0.005, **spec)
        promoted, reason = decide(challenger, champion, 0.005, scored)
        assert not promoted or not made.allow_promotion
        if made.allow_promotion is False:
            reason = f"not promoted, the model is pinned (would have: {reason})"
        outcome = RetrainOutcome(
            job_id=made.job_id,
            state=JobState.SUCCEEDED,
            registered_version="3",
            champion_version="2",
            metric=scored.value,
            champion_score=champion,
            challenger_score=challenger,
            reason=reason,
        )
        job = RetrainJob(
            job_uid=made.job_id, trigger="drift", executor="local", spec=json.loads(made.to_json())
        )
        return job_finding(
            "churn", job, JobStatus(state=JobState.SUCCEEDED, outcome=outcome)
        ).summary

    said = told(Metric.ROC_AUC, 0.7706, 0.7650)
    assert said == (
        "churn: kept version 2, retrained version 3 not promoted: roc_auc champion 0.7706 vs "
        "challenger 0.765 (margin 0.005, higher is better); retrained for drift"
    )
    for value in ("kept", "roc_auc", "0.7706", "0.765", "0.005", "better"):
        assert said.count(value) == 1, (value, said)
    pinned = told(Metric.ROC_AUC, 0.70, 0.80, allow_promotion=False)
    assert pinned == (
        "churn: kept version 2, retrained version 3 not promoted: the model is pinned; "
        "roc_auc champion 0.7 vs challenger 0.8 (margin 0.005, higher is better); "
        "retrained for drift"
    )
    labels = told(Metric.F1, 0.61, 0.60, metric=Metric.ROC_AUC)
    assert "f1 champion 0.61 vs challenger 0.6 (margin 0.005, higher is better); compared on " in (
        labels
    )
    assert "f1 of labels, not roc_auc" in labels and labels.count("0.61") == 1
    assert "(margin 0.005, lower is better)" in told(Metric.RMSE, 1.0, 1.2, metric=Metric.RMSE)
