"""The checks' contract, bad input, quality, operations and performance metrics.

The contract walks CheckKind itself, in river's manner (`check_estimator`
over every estimator): each kind's representative check, built by its entry
in CHECKS, must return frozen data, answer "insufficient data" rather than
raise, repeat its repr exactly and keep a JSON-safe summary. The test ids
name the kind. A kind added to CheckKind without an entry in CHECKS fails
every contract test, with a message that names it.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from functools import cache

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import (
    f1_score,
    log_loss,
    mean_absolute_percentage_error,
    r2_score,
    roc_auc_score,
)

from checks.drift import ColumnKind, ColumnSpec, DriftCheck, DriftConfigError, DriftSpec, Method
from checks.interface import Check, CheckKind, CheckResult, Status, TaskKind
from checks.multivariate import MultivariateCheck, MultivariateSpec, fit_multivariate
from checks.operations import OperationsCheck, OperationsSpec
from checks.performance import (
    DecaySpec,
    EstimatedPerformanceCheck,
    EstimationSpec,
    Metric,
    PerformanceCheck,
    decay,
    metric_values,
    realized,
)
from checks.quality import QualityCheck, QualitySpec
from checks.reference import ReferenceStats, build_reference
from tests.checks.frames import CATEGORICAL, NUMERIC, window

OUT_NUM = (*NUMERIC, "prediction", "score", "label")


def reference(n: int = 3000) -> ReferenceStats:
    return build_reference(window(n, 1), OUT_NUM, CATEGORICAL, score="score", label="label")


# Built once: every kind's check is built on this one labelled, scored reference.
shared_reference = cache(reference)


def drift_spec() -> DriftSpec:
    return DriftSpec(
        columns=tuple(ColumnSpec(name=c, kind=ColumnKind.NUMERIC) for c in NUMERIC)
        + tuple(ColumnSpec(name=c, kind=ColumnKind.CATEGORICAL) for c in CATEGORICAL),
        min_rows=50,
    )


MULTIVARIATE = MultivariateSpec(
    numeric=NUMERIC, categorical=CATEGORICAL, min_rows=50, classifier_rows=300
)


@cache
def fitted(ref: ReferenceStats) -> MultivariateCheck:
    """The multivariate check's reference side is fitted once per reference, as the daemon does."""
    return MultivariateCheck(
        spec=MULTIVARIATE, reference=fit_multivariate(ref.frame, MULTIVARIATE, digest=ref.digest)
    )


# --------------------------------------------------------------------------- the registry

# One representative check per kind, each needing 50 rows. A new CheckKind needs an
# entry here: without one, every contract test fails for it, by name.
CHECKS: dict[CheckKind, Callable[[ReferenceStats], Check]] = {
    CheckKind.DRIFT: lambda ref: DriftCheck(spec=drift_spec(), reference=ref),
    CheckKind.QUALITY: lambda ref: QualityCheck(
        spec=QualitySpec(numeric=NUMERIC, categorical=CATEGORICAL, min_rows=50), reference=ref
    ),
    CheckKind.PERFORMANCE: lambda ref: PerformanceCheck(
        spec=DecaySpec(task=TaskKind.BINARY, metric=Metric.ROC_AUC, min_labelled=50),
        reference=ref,
    ),
    CheckKind.ESTIMATED_PERFORMANCE: lambda ref: EstimatedPerformanceCheck(
        spec=EstimationSpec(min_rows=50), reference=ref
    ),
    CheckKind.OPERATIONS: lambda ref: OperationsCheck(spec=OperationsSpec(min_rows=50)),
    CheckKind.MULTIVARIATE: fitted,
}

# Every member of the enum, discovered: no hand-kept list, no index.
every_kind = pytest.mark.parametrize("kind", list(CheckKind), ids=str)


def build(kind: CheckKind, ref: ReferenceStats | None = None) -> Check:
    """The representative check of `kind`; a kind without an entry in CHECKS fails here."""
    factory = CHECKS.get(kind)
    if factory is None:
        pytest.fail(
            f"CheckKind.{kind.name} ({kind.value!r}) has no entry in CHECKS "
            "(tests/checks/test_checks.py): add a factory that builds a representative "
            f"{kind.value} check, so that it runs through the check contract",
            pytrace=False,
        )
    check = factory(shared_reference() if ref is None else ref)
    assert check.kind is kind, f"CHECKS[{kind.name}] builds a {check.kind.value} check"
    return check


def all_checks() -> list[Check]:
    """Every kind's representative check, in CheckKind's order."""
    return [build(kind) for kind in CheckKind]


# --------------------------------------------------------------------------- the contract

MEMORY_ADDRESS = re.compile(r"0x[0-9a-fA-F]{6,}")


@every_kind
def test_contract(kind: CheckKind) -> None:
    check = build(kind)
    result = check.run(window(800, 2))
    assert isinstance(result, CheckResult)
    assert result.kind is check.kind
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.status = Status.ERROR  # type: ignore[misc]
    assert repr(result) == repr(check.run(window(800, 2)))
    empty = check.run(window(800, 2).iloc[0:0])
    assert empty.status is Status.INSUFFICIENT_DATA
    assert empty.reason


@every_kind
def test_representative_window_gets_an_answer(kind: CheckKind) -> None:
    """The factory's check judges a clean window: the contract below is not vacuous."""
    result = build(kind).run(window(800, 2))
    assert result.status in (Status.OK, Status.ALERT), (result.status, result.reason)
    assert result.rows == 800
    assert result.measures
    assert result.summary


@every_kind
def test_result_is_frozen(kind: CheckKind) -> None:
    result = build(kind).run(window(800, 2))
    for field in dataclasses.fields(result):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(result, field.name, getattr(result, field.name))
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.extra = 1  # type: ignore[attr-defined]
    assert isinstance(result.measures, tuple)
    for measure in result.measures:
        with pytest.raises(dataclasses.FrozenInstanceError):
            measure.value = 0.0  # type: ignore[misc]
    derived = dataclasses.replace(result, status=Status.ERROR)
    assert derived.status is Status.ERROR and result.status is not Status.ERROR


@pytest.mark.parametrize("rows", [0, 1, 10], ids=lambda n: f"{n}_rows")
@every_kind
def test_insufficient_data_is_a_status_not_an_exception(kind: CheckKind, rows: int) -> None:
    result = build(kind).run(window(800, 2).iloc[:rows])
    assert isinstance(result, CheckResult)
    assert result.kind is kind
    assert result.status is Status.INSUFFICIENT_DATA, (result.status, result.measures)
    assert result.rows == rows
    assert result.reason
    assert not result.alerting


@every_kind
def test_repr_is_stable(kind: CheckKind) -> None:
    """Same inputs, same repr: from the same check, and from one built afresh on equal data."""
    first = build(kind).run(window(800, 2))
    again = build(kind, reference()).run(window(800, 2))
    assert repr(first) == repr(again)
    short = build(kind).run(window(800, 2).iloc[:10])
    assert repr(short) == repr(build(kind, reference()).run(window(800, 2).iloc[:10]))
    for text in (repr(first), repr(short)):
        assert not MEMORY_ADDRESS.search(text), text
        assert " object at " not in text, text


def bad_input() -> pd.DataFrame:
    """A window with an all-missing column, a constant one, one category and a lost column."""
    frame = window(500, 3)
    frame["age"] = np.nan
    frame["visits"] = 3.0
    frame["plan"] = "basic"
    return frame.drop(columns=["income"])


WINDOWS: dict[str, Callable[[], pd.DataFrame]] = {
    "clean": lambda: window(800, 2),
    "empty": lambda: window(800, 2).iloc[0:0],
    "bad_input": bad_input,
}


@pytest.mark.parametrize("frame", list(WINDOWS), ids=str)
@every_kind
def test_summary_is_json_safe(kind: CheckKind, frame: str) -> None:
    result = build(kind).run(WINDOWS[frame]())
    text = json.dumps(result.summary, allow_nan=False)
    assert json.loads(text) == result.summary
    assert all(isinstance(key, str) for key in result.summary)


def test_bad_input_never_raises() -> None:
    ref = shared_reference()
    frame = bad_input()
    for check in all_checks():
        check.run(frame)
    drift = DriftCheck(spec=drift_spec(), reference=ref).run(frame)
    assert drift.measure("age", "drift").status is Status.INSUFFICIENT_DATA
    assert drift.measure("income", "drift").status is Status.ERROR
    visits = next(m for m in drift.measures if m.subject == "visits")
    assert visits.status in (Status.OK, Status.ALERT) and visits.value is not None
    plan = next(m for m in drift.measures if m.subject == "plan")
    assert plan.value is not None
    quality = QualityCheck(
        spec=QualitySpec(numeric=NUMERIC, categorical=CATEGORICAL), reference=ref
    ).run(frame)
    schema = quality.measure("schema", "missing_columns")
    assert schema.status is Status.ALERT and "income" in (schema.detail or "")
    assert quality.measure("age", "missing_share").status is Status.ALERT


def test_constant_reference_and_single_category() -> None:
    ref_frame = window(200, 4)
    ref_frame["visits"] = 1.0
    ref_frame["region"] = "eu"
    ref = build_reference(ref_frame, NUMERIC, CATEGORICAL)
    cur = window(200, 5)
    cur["visits"] = 1.0
    cur["region"] = "eu"
    result = DriftCheck(spec=drift_spec(), reference=ref).run(cur)
    assert result.measure("visits", "z").value == 1.0
    assert result.measure("region", "z").status is Status.OK


def test_method_kind_mismatch_is_a_config_error() -> None:
    with pytest.raises(DriftConfigError, match="does not apply"):
        ColumnSpec(name="plan", kind=ColumnKind.CATEGORICAL, method=Method.KS)


def test_weighted_dataset_drift() -> None:
    ref = reference()
    cur = window(2000, 6, shift=1.0)  # only age drifts
    spec = DriftSpec(
        columns=(
            ColumnSpec(name="age", kind=ColumnKind.NUMERIC, weight=3.0),
            ColumnSpec(name="income", kind=ColumnKind.NUMERIC),
            ColumnSpec(name="visits", kind=ColumnKind.NUMERIC),
        ),
        drift_share=0.5,
    )
    result = DriftCheck(spec=spec, reference=ref).run(cur)
    assert result.summary["share"] == pytest.approx(1 / 3)
    assert result.summary["weighted_share"] == pytest.approx(3 / 5)
    assert result.measure("dataset", "drifted_share").status is Status.ALERT


def test_quality_new_category_and_range() -> None:
    ref = reference()
    cur = window(1000, 7, new_category=0.1, shift=3.0)
    result = QualityCheck(
        spec=QualitySpec(numeric=NUMERIC, categorical=CATEGORICAL), reference=ref
    ).run(cur)
    new = result.measure("plan", "new_category_share")
    assert new.status is Status.ALERT and "enterprise" in (new.detail or "")
    assert result.measure("age", "out_of_range_share").status is Status.ALERT
    assert result.measure("region", "new_category_share").status is Status.OK
    text = window(300, 8)
    text["income"] = text["income"].astype(object)
    text.loc[:10, "income"] = "n/a"
    bad = QualityCheck(
        spec=QualitySpec(numeric=NUMERIC, categorical=CATEGORICAL), reference=ref
    ).run(text)
    assert bad.measure("income", "non_numeric_share").status is Status.ALERT


def test_operations() -> None:
    frame = window(1000, 9)
    spec = OperationsSpec(max_latency_p95_ms=10.0, max_error_rate=0.05, max_memory_mb=1000)
    result = OperationsCheck(spec=spec).run(frame)
    p95 = result.measure("latency", "p95_ms")
    assert p95.value == pytest.approx(np.percentile(frame["latency_ms"], 95))
    assert p95.status is Status.ALERT
    assert result.measure("errors", "error_rate").status is Status.OK
    assert result.measure("memory", "max_mb").status is Status.OK


def test_metrics_equal_sklearn() -> None:
    frame = window(2000, 10)
    y, yhat, s = (
        frame["label"].to_numpy(),
        frame["prediction"].to_numpy(),
        frame["score"].to_numpy(),
    )
    got = realized(TaskKind.BINARY, frame)
    assert got[Metric.ROC_AUC] == pytest.approx(roc_auc_score(y, s))
    assert got[Metric.F1] == pytest.approx(f1_score(y, yhat))
    assert got[Metric.LOG_LOSS] == pytest.approx(log_loss(y, s))
    # ties in the score count half, as sklearn
    rounded = np.round(s, 1)
    w = np.ones((1, y.size))
    auc = metric_values(TaskKind.BINARY, (Metric.ROC_AUC,), y, yhat, rounded, w)[Metric.ROC_AUC]
    assert auc[0] == pytest.approx(roc_auc_score(y, rounded))
    reg = pd.DataFrame({"label": frame["income"] + 5, "prediction": frame["income"] * 0.9 + 5})
    got = realized(TaskKind.REGRESSION, reg)
    assert got[Metric.R2] == pytest.approx(r2_score(reg["label"], reg["prediction"]))
    assert got[Metric.MAPE] == pytest.approx(
        mean_absolute_percentage_error(reg["label"], reg["prediction"])
    )
    multi = pd.DataFrame(
        {"label": frame["plan"], "prediction": np.roll(frame["plan"].to_numpy(), 3)}
    )
    got = realized(TaskKind.MULTICLASS, multi)
    assert got[Metric.F1] == pytest.approx(
        f1_score(multi["label"], multi["prediction"], average="macro")
    )


def test_decay_needs_labels_and_confirms_with_the_interval() -> None:
    spec = DecaySpec(
        task=TaskKind.BINARY, metric=Metric.ROC_AUC, min_labelled=200, max_relative_drop=0.05
    )
    few = window(100, 11)
    assert decay(spec, few, 0.8).status is Status.INSUFFICIENT_DATA
    unlabelled = window(1000, 11)
    unlabelled["label"] = np.nan
    assert decay(spec, unlabelled, 0.8).status is Status.INSUFFICIENT_DATA
    clean = decay(
        spec, window(3000, 12), realized(TaskKind.BINARY, window(5000, 1))[Metric.ROC_AUC]
    )
    assert clean.status is Status.OK
    assert (
        clean.ci_low is not None
        and clean.ci_high is not None
        and clean.ci_low < clean.value < clean.ci_high
    )  # type: ignore[operator]
    broken = decay(spec, window(3000, 13, concept=True), 0.85)
    assert broken.status is Status.ALERT and broken.severity_ratio > 1


def test_estimated_performance_tracks_realized_under_covariate_shift() -> None:
    ref = build_reference(window(20000, 14), OUT_NUM, CATEGORICAL, score="score", label="label")
    check = EstimatedPerformanceCheck(spec=EstimationSpec(min_rows=100), reference=ref)
    for i, shift in enumerate((0.0, 0.5, 1.0, -1.0, 1.5)):
        frame = window(5000, 100 + i, covariate=shift)
        estimated = check.run(frame).measure("roc_auc", "estimated").value
        actual = realized(TaskKind.BINARY, frame)[Metric.ROC_AUC]
        assert estimated is not None and abs(estimated - actual) < 0.03, (shift, estimated, actual)
