"""The error column: false, 0, "" and null are no error; true, codes and messages are."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from checks.interface import CheckKind, Status
from checks.operations import OperationsCheck, OperationsSpec, error_mask, is_error


@pytest.mark.parametrize(
    ("value", "error"),
    [
        pytest.param(None, False, id="null"),
        pytest.param(float("nan"), False, id="nan"),
        pytest.param(pd.NA, False, id="pd-na"),
        pytest.param(False, False, id="false"),
        pytest.param(np.bool_(False), False, id="numpy-false"),
        pytest.param(0, False, id="zero"),
        pytest.param(0.0, False, id="zero-float"),
        pytest.param(Decimal(0), False, id="zero-decimal"),
        pytest.param("", False, id="empty-string"),
        pytest.param("  ", False, id="blank-string"),
        pytest.param("False", False, id="csv-false"),
        pytest.param("0", False, id="csv-zero"),
        pytest.param("null", False, id="text-null"),
        pytest.param(True, True, id="true"),
        pytest.param(1, True, id="one"),
        pytest.param(503, True, id="status-code"),
        pytest.param(-1.5, True, id="negative-code"),
        pytest.param("True", True, id="csv-true"),
        pytest.param("timeout", True, id="message"),
        pytest.param("503", True, id="code-text"),
    ],
)
def test_is_error(value: object, error: bool) -> None:
    assert is_error(value) is error


def test_a_boolean_error_column_is_a_rate_not_all_errors() -> None:
    n = 2000
    flags = np.zeros(n, dtype=bool)
    flags[:10] = True
    for errors in (
        pd.Series(flags),
        pd.Series(flags.astype(object)),
        pd.Series(np.where(flags, "boom", None)),
        pd.Series(np.where(flags, 500, 0)),
        pd.Series(np.where(flags, "True", "False")),
    ):
        assert error_mask(errors).sum() == 10
        window = pd.DataFrame({"error": errors})
        result = OperationsCheck(spec=OperationsSpec(max_error_rate=0.05)).run(window)
        assert result.kind is CheckKind.OPERATIONS
        assert result.summary["errors.error_rate"] == pytest.approx(10 / n)
        assert result.status is Status.OK


def test_no_error_column_logged_gives_no_rate() -> None:
    window = pd.DataFrame({"error": [None] * 50, "latency_ms": np.linspace(1, 50, 50)})
    unknown = OperationsCheck(spec=OperationsSpec(errors_logged=False)).run(window)
    assert [m.subject for m in unknown.measures] == ["latency"] * 3
    assert "errors.error_rate" not in unknown.summary
    assert OperationsCheck(spec=OperationsSpec()).run(window).summary["errors.error_rate"] == 0.0
