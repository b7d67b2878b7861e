"""`frameworks verify` on a real model, real wheels and a loopback index (the worker side).

The verification runs as the local executor runs it: `python -m
retrain.verify.run` under the "current" environment's interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from checks.frameworks.verdict import Verdict
from checks.interface import TaskKind
from retrain.snapshot import write_snapshot
from retrain.verify.spec import Dataset, VerifyOutcome, VerifySpec
from tests.frameworks import verify_world as vw

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[vw.World]:
    where = tmp_path_factory.mktemp("verify-world")
    wheels = vw.build_wheels(where)
    index_dir = vw.simple_index(wheels, where / "index")
    with vw.serve(index_dir) as url:
        python = vw.current_env(where / "current-env", url)
        uri = f"sqlite:///{where / 'mlflow.db'}"
        reference = where / "reference.parquet"
        vw.train(python, uri, where / "artifacts", reference)
        yield vw.World(
            index_url=url,
            current_python=python,
            tracking_uri=uri,
            reference=reference,
            wheels=wheels,
        )


def spec_for(world: vw.World, upgrade: str, env_root: Path, snapshots: Path) -> VerifySpec:
    import pandas as pd

    frame = pd.read_parquet(world.reference)
    ref = write_snapshot(frame, snapshots, [*vw.FEATURES, "label"])
    return VerifySpec(
        verification_id=uuid.uuid4().hex,
        model="churn",
        registered_model="churn",
        alias="champion",
        tracking_uri=world.tracking_uri,
        task=TaskKind.BINARY,
        features=vw.FEATURES,
        label="label",
        upgrades=(upgrade,),
        index_url=world.index_url,
        datasets=(Dataset(name="reference", data=ref),),
        env_root=str(env_root),
        deadline=datetime.now(UTC) + timedelta(minutes=10),
        latency_rows=50,
    )


def run_verify(world: vw.World, spec: VerifySpec, tmp: Path) -> tuple[VerifyOutcome, float]:
    (tmp / "spec.json").write_text(spec.to_json())
    started = time.monotonic()
    done = subprocess.run(
        [
            str(world.current_python),
            "-m",
            "retrain.verify.run",
            str(tmp / "spec.json"),
            str(tmp / "out.json"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    elapsed = time.monotonic() - started
    text = (tmp / "out.json").read_text() if (tmp / "out.json").exists() else ""
    assert done.returncode == 0, done.stderr[-3000:] + text
    return VerifyOutcome.from_json(text), elapsed


def test_patch_upgrade_is_safe(world: vw.World, tmp_path: Path) -> None:
    spec = spec_for(world, f"{vw.PACKAGE}==1.0.1", tmp_path / "envs", tmp_path / "snap")
    outcome, elapsed = run_verify(world, spec, tmp_path)
    print(f"verify {spec.upgrades[0]}: {elapsed:.1f}s wall, job {outcome.duration_s:.1f}s")
    assert outcome.verdict is Verdict.SAFE, outcome
    assert outcome.current_versions == {vw.PACKAGE: "1.0.0"}
    assert outcome.candidate_versions == {vw.PACKAGE: "1.0.1"}
    assert outcome.installed == (f"{vw.PACKAGE}==1.0.1",)
    c = outcome.comparison
    assert c.max_abs_diff == 0.0
    assert c.rows == 400
    assert c.metric is not None and c.metric.current == c.metric.candidate
    assert c.current is not None and c.current.p95_ms > 0 and c.current.peak_rss_mb > 50
    # The same upgrade again: the cached environment is used.
    again, _ = run_verify(world, spec, tmp_path)
    assert again.env_reused and again.verdict is Verdict.SAFE


def test_changed_function_changes_predictions(world: vw.World, tmp_path: Path) -> None:
    spec = spec_for(world, f"{vw.PACKAGE}==2.0.0", tmp_path / "envs", tmp_path / "snap")
    outcome, _ = run_verify(world, spec, tmp_path)
    assert outcome.verdict is Verdict.CHANGES_PREDICTIONS, outcome
    assert outcome.candidate_versions == {vw.PACKAGE: "2.0.0"}
    diff = outcome.comparison.max_abs_diff
    assert diff is not None and 0.01 < diff < 1.0
    assert 0 < outcome.comparison.changed_share < 1


def test_unavailable_version_fails_to_install(world: vw.World, tmp_path: Path) -> None:
    spec = spec_for(world, f"{vw.PACKAGE}==9.9.9", tmp_path / "envs", tmp_path / "snap")
    outcome, _ = run_verify(world, spec, tmp_path)
    assert outcome.verdict is Verdict.FAILS_TO_INSTALL
    assert "9.9.9" in (outcome.comparison.error or "")
    assert not list((tmp_path / "envs").glob("*/bin"))
    json.dumps(outcome.to_json())
