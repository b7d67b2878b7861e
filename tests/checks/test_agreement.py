"""Every drift score and verdict equals Evidently 0.7's, to 1e-6 relative.

Two levels: the whole `Report([DataDriftPreset()])` over a matrix of column
kinds and sizes (default selection, dataset share), and each configurable
method against Evidently's own stattest function.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from checks.drift import (
    METHODS,
    ColumnKind,
    ColumnSpec,
    DriftCheck,
    DriftSpec,
    Method,
    column_drift,
    sturges_edges,
)
from checks.reference import build_reference

RTOL = 1e-6


def matrix_frames(n_ref: int, n_cur: int, seed: int, drift: bool) -> tuple[pd.DataFrame, ...]:
    rng = np.random.default_rng(seed)
    d = 1.0 if drift else 0.0

    def make(n: int, shifted: float) -> pd.DataFrame:
        num = rng.normal(shifted * 0.3, 1 + shifted * 0.3, n)
        num[rng.random(n) < 0.03] = np.nan
        skew = rng.exponential(1 + shifted, n)
        low = rng.choice([0.0, 1.0, 2.0], n, p=[0.5 - 0.2 * shifted, 0.3, 0.2 + 0.2 * shifted])
        binary = rng.choice([0.0, 1.0], n, p=[0.7 - 0.1 * shifted, 0.3 + 0.1 * shifted])
        ints = rng.integers(0, 12 + int(4 * shifted), n).astype(float)
        cat = rng.choice(
            ["a", "b", "c", "d"], n, p=[0.4, 0.3, 0.2 - 0.1 * shifted, 0.1 + 0.1 * shifted]
        )
        cat2 = rng.choice(["yes", "no"], n, p=[0.5 + 0.1 * shifted, 0.5 - 0.1 * shifted]).astype(
            object
        )
        cat2[rng.random(n) < 0.02] = None
        return pd.DataFrame(
            {
                "num": num,
                "skew": skew,
                "low": low,
                "binary": binary,
                "ints": ints,
                "cat": cat,
                "cat2": cat2,
            }
        )

    return make(n_ref, 0.0), make(n_cur, d)


NUM = ("num", "skew", "low", "binary", "ints")
CAT = ("cat", "cat2")


def evidently_report(
    ref: pd.DataFrame, cur: pd.DataFrame
) -> tuple[dict[str, tuple[float, bool, str]], float]:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=list(NUM), categorical_columns=list(CAT))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        snap = Report([DataDriftPreset()], include_tests=True).run(
            current_data=Dataset.from_pandas(cur, data_definition=definition),
            reference_data=Dataset.from_pandas(ref, data_definition=definition),
        )
    data = snap.dict()
    scores: dict[str, float] = {}
    methods: dict[str, str] = {}
    share = float("nan")
    for m in data["metrics"]:
        config = m["config"]
        if config["type"].endswith("ValueDrift"):
            scores[config["column"]] = float(m["value"])
            methods[config["column"]] = config["method"]
        elif config["type"].endswith("DriftedColumnsCount"):
            share = float(m["value"]["share"])
    verdicts = {
        t["name"].removeprefix("Value Drift for column "): t["status"] == "FAIL"
        for t in data["tests"]
        if t["name"].startswith("Value Drift for column ")
    }
    return {c: (scores[c], verdicts[c], methods[c]) for c in scores}, share


@pytest.mark.parametrize(
    ("n_ref", "n_cur", "drift"),
    [(300, 200, False), (300, 200, True), (2500, 1500, False), (2500, 1500, True)],
)
def test_report_agreement(n_ref: int, n_cur: int, drift: bool) -> None:
    ref, cur = matrix_frames(n_ref, n_cur, seed=n_ref + n_cur + drift, drift=drift)
    expected, share = evidently_report(ref, cur)
    stats = build_reference(ref, NUM, CAT)
    spec = DriftSpec(
        columns=tuple(ColumnSpec(name=c, kind=ColumnKind.NUMERIC) for c in NUM)
        + tuple(ColumnSpec(name=c, kind=ColumnKind.CATEGORICAL) for c in CAT)
    )
    check = DriftCheck(spec=spec, reference=stats)
    ours = {c.column: c for c in check.columns(cur)}
    assert set(ours) == set(expected)
    for column, (score, drifted, display) in expected.items():
        mine = ours[column]
        assert mine.method is not None
        assert METHODS[mine.method].display_name == display, column
        assert mine.score == pytest.approx(score, rel=RTOL, abs=1e-300), column
        assert mine.drifted is drifted, column
    result = check.run(cur)
    assert result.measure("dataset", "drifted_share").value == pytest.approx(share, rel=RTOL)
    if drift:
        assert result.summary["drifted_columns"], "the drifted matrix should drift somewhere"


def _evidently_stattest(method: Method, kind: ColumnKind):  # type: ignore[no-untyped-def]
    from evidently.legacy.calculations.stattests.registry import get_registered_stattest
    from evidently.legacy.core import ColumnType

    column_type = ColumnType.Numerical if kind is ColumnKind.NUMERIC else ColumnType.Categorical
    name = "ed" if method is Method.ENERGY else method.value
    return get_registered_stattest(name, column_type), column_type


CASES = [
    (column, kind, method, n_ref)
    for column, kind in (
        ("num", ColumnKind.NUMERIC),
        ("ints", ColumnKind.NUMERIC),
        ("low", ColumnKind.NUMERIC),
        ("cat", ColumnKind.CATEGORICAL),
        ("cat2", ColumnKind.CATEGORICAL),
    )
    for method in Method
    if (METHODS[method].numeric if kind is ColumnKind.NUMERIC else METHODS[method].categorical)
    for n_ref in (120, 1500)
]


@pytest.mark.parametrize(("column", "kind", "method", "n_ref"), CASES)
def test_each_method_agrees(column: str, kind: ColumnKind, method: Method, n_ref: int) -> None:
    ref, cur = matrix_frames(n_ref, n_ref // 2 + 7, seed=n_ref, drift=True)
    stats = build_reference(ref, NUM, CAT)
    mine = column_drift(ColumnSpec(name=column, kind=kind, method=method), stats, cur)
    stattest, column_type = _evidently_stattest(method, kind)
    r = ref[column].replace([np.inf, -np.inf], np.nan).dropna()
    c = cur[column].replace([np.inf, -np.inf], np.nan).dropna()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = stattest(r.copy(), c.copy(), column_type, None)
    assert mine.score == pytest.approx(float(theirs.drift_score), rel=RTOL, abs=1e-300)
    assert mine.drifted is bool(theirs.drifted)
    assert mine.threshold == theirs.actual_threshold


@pytest.mark.parametrize("n", [1, 2, 7, 1000, 12345])
def test_sturges_edges_match_numpy(n: int) -> None:
    rng = np.random.default_rng(n)
    values = rng.normal(size=n) * 3
    expected = np.histogram_bin_edges(values, bins="sturges")
    got = sturges_edges(float(values.min()), float(values.max()), n)
    np.testing.assert_array_equal(got, expected)
