"""The checks as a library (`import checks`): the names the README documents.

Each function must build the check the daemon runs (same columns, same
thresholds), find features from the reference's dtypes, and keep the daemon's
start-up free of pandas: the names are imported on first use.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

import checks
from checks.drift import ColumnKind, ColumnSpec, DriftCheck, DriftSpec
from checks.frameworks.offline import advisory_records
from checks.interface import CheckKind, Status
from checks.library import feature_columns
from checks.reference import build_reference
from checks.typed import FrameSchema, type_frame
from daemon.frameworks.mirror import SHIPPED_SNAPSHOT

ROOT = Path(__file__).resolve().parents[2]


def _customers(
    rng: np.random.Generator, n: int, age_mean: float = 40.0, age_sd: float = 10.0
) -> pd.DataFrame:
    age = rng.normal(age_mean, age_sd, n)
    churn = 1 / (1 + np.exp(-(age - 45) / 5))
    return pd.DataFrame(
        {
            "age": age,
            "visits": rng.poisson(3, n).astype("int64"),
            "plan": rng.choice(["basic", "plus", "pro"], n, p=[0.5, 0.3, 0.2]),
            "is_student": rng.random(n) < 0.2,
            "score": np.clip(churn + rng.normal(0, 0.05, n), 0, 1),
            "label": rng.random(n) < churn,
        }
    )


def test_the_documented_names_are_there_and_import_lazily() -> None:
    assert set(checks.__all__) >= {
        "check_drift",
        "check_quality",
        "estimate_performance",
        "scan_requirements",
        "CheckResult",
    }
    for name in checks.__all__:
        assert callable(getattr(checks, name)), name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = checks.nope  # type: ignore[attr-defined]
    # What the config and the store import must not pull pandas in.
    code = "import sys, checks, checks.interface; print('pandas' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert done.stdout.strip() == "False"


def test_features_are_found_from_the_dtypes() -> None:
    frame = _customers(np.random.default_rng(0), 50)
    assert feature_columns(frame) == (("age", "visits"), ("plan", "is_student"))
    # Naming some columns does not turn the other numbers into categories, or back.
    assert feature_columns(frame, numeric=["age"]) == (("age",), ("plan", "is_student"))
    named = feature_columns(frame, categorical=["visits", "plan"])
    assert named == (("age",), ("visits", "plan"))


def test_check_drift_is_the_daemons_drift_check() -> None:
    rng = np.random.default_rng(1)
    reference, current = _customers(rng, 3000), _customers(rng, 800, age_mean=47)
    found = checks.check_drift(reference, current, thresholds="evidently")
    schema = FrameSchema(numeric=("age", "visits"), categorical=("plan", "is_student"))
    spec = DriftSpec(
        columns=(
            ColumnSpec(name="age", kind=ColumnKind.NUMERIC),
            ColumnSpec(name="visits", kind=ColumnKind.NUMERIC),
            ColumnSpec(name="plan", kind=ColumnKind.CATEGORICAL),
            ColumnSpec(name="is_student", kind=ColumnKind.CATEGORICAL),
        )
    )
    ref = build_reference(type_frame(reference, schema), schema.numeric, schema.categorical)
    expected = DriftCheck(spec=spec, reference=ref).run(type_frame(current, schema))
    assert found == expected
    assert found.kind is CheckKind.DRIFT and found.status is Status.ALERT
    assert [m.subject for m in found.alerting] == ["age"]

    calibrated = checks.check_drift(reference, current)
    age = calibrated.measure("age", "wasserstein")
    assert age.value == pytest.approx(found.measure("age", "wasserstein").value)
    assert age.basis == "at n=800, calibrated for 1% false alarms"
    clean = checks.check_drift(reference, _customers(rng, 800))
    assert clean.status is Status.OK and not clean.alerting


def test_check_quality_counts_what_the_reference_never_had() -> None:
    rng = np.random.default_rng(2)
    reference, current = _customers(rng, 2000), _customers(rng, 1000)
    current.loc[:49, "plan"] = "enterprise"
    current.loc[:99, "age"] = np.nan
    result = checks.check_quality(reference, current)
    assert result.status is Status.ALERT
    assert result.measure("plan", "new_category_share").value == pytest.approx(0.05)
    assert result.measure("age", "missing_share").value == pytest.approx(0.1)
    assert {(m.subject, m.name) for m in result.alerting} == {
        ("plan", "new_category_share"),
        ("age", "missing_share"),
    }
    assert checks.check_quality(reference, _customers(rng, 1000)).status is Status.OK


def test_estimate_performance_tracks_the_realized_value_without_labels() -> None:
    rng = np.random.default_rng(4)
    reference = _customers(rng, 5000).rename(columns={"score": "proba", "label": "churned"})
    # The same population, then customers bunched where the model is least sure.
    for age_sd, status in ((10.0, Status.OK), (4.0, Status.ALERT)):
        current = _customers(rng, 3000, 45.0, age_sd).rename(columns={"score": "proba"})
        result = checks.estimate_performance(
            reference, current.drop(columns="label"), score="proba", label="churned"
        )
        estimated = result.measure("roc_auc", "estimated").value
        realized = roc_auc_score(current["label"], current["proba"])
        assert estimated == pytest.approx(realized, abs=0.03), (age_sd, estimated, realized)
        assert result.status is status, (age_sd, result)


def test_scan_requirements_reads_only_the_packages_folders(tmp_path: Path) -> None:
    records = json.loads(SHIPPED_SNAPSHOT.read_text())
    database = tmp_path / "advisory-database" / "vulns"
    for record in records:
        folder = database / record["affected"][0]["package"]["name"]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{record['id']}.json").write_text(json.dumps(record))
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("torch==1.12.1\nPillow==9.0.0\nrequests==2.31.0\nnumpy\n")

    assert {r.id for r in advisory_records(database.parent, ["torch"])} == {
        r["id"] for r in records if r["affected"][0]["package"]["name"] == "torch"
    }
    by_folder = checks.scan_requirements(requirements, database.parent)
    whole = checks.scan_requirements(requirements, SHIPPED_SNAPSHOT)
    assert by_folder.findings == whole.findings
    vulnerable = {(f.package, f.advisory_ids[0]) for f in whole.findings if f.advisory_ids}
    assert ("torch", "PYSEC-2022-43015") in vulnerable
    assert {p for p, _ in vulnerable} == {"torch", "pillow"}
    assert by_folder.environment == "requirements.txt"
