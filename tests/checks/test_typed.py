"""The one typing: canonical text for categoricals and labels, float for numbers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from checks.typed import (
    FrameSchema,
    canonical_category,
    text_category,
    text_cells,
    text_number,
    type_frame,
)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        pytest.param(True, "true", id="bool-true"),
        pytest.param(False, "false", id="bool-false"),
        pytest.param(np.bool_(True), "true", id="numpy-bool"),
        pytest.param(1, "1", id="int"),
        pytest.param(-3, "-3", id="negative-int"),
        pytest.param(np.int64(7), "7", id="numpy-int64"),
        pytest.param(np.uint8(2), "2", id="numpy-uint8"),
        pytest.param(1.0, "1", id="integral-float"),
        pytest.param(np.float64(0.0), "0", id="numpy-integral-float"),
        pytest.param(0.5, "0.5", id="float"),
        pytest.param(0.1, "0.1", id="float-shortest-repr"),
        pytest.param(np.float32(0.1), "0.1", id="float32-shortest-in-its-width"),
        pytest.param(Decimal("2.00"), "2", id="integral-decimal"),
        pytest.param(Decimal("2.5"), "2.5", id="decimal"),
        pytest.param(float("inf"), "inf", id="infinite-float"),
        pytest.param("blue", "blue", id="text"),
        pytest.param("1.0", "1.0", id="text-kept-as-is"),
        pytest.param("", "", id="empty-text"),
        pytest.param(b"x", "x", id="bytes"),
        pytest.param(dt.date(2026, 1, 2), "2026-01-02", id="date"),
    ],
)
def test_canonical_category(value: object, text: str) -> None:
    assert canonical_category(value) == text


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(None, id="none"),
        pytest.param(float("nan"), id="nan"),
        pytest.param(np.float32("nan"), id="numpy-nan"),
        pytest.param(pd.NA, id="pd-na"),
        pytest.param(pd.NaT, id="nat"),
        pytest.param(np.datetime64("NaT"), id="numpy-nat"),
        pytest.param(Decimal("NaN"), id="decimal-nan"),
    ],
)
def test_missing_stays_missing(value: object) -> None:
    assert canonical_category(value) is None


SCHEMA = FrameSchema(numeric=("x",), categorical=("c",), label="y")


def _typed_column(values: pd.Series) -> list[object]:
    typed = type_frame(pd.DataFrame({"c": values}), SCHEMA)["c"]
    assert typed.dtype == object
    return typed.tolist()


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param(pd.Series([True, False, True]), ["true", "false", "true"], id="bool-dtype"),
        pytest.param(pd.Series([0, 1, 2]), ["0", "1", "2"], id="int-codes"),
        pytest.param(pd.Series([0.0, 1.0, np.nan]), ["0", "1", None], id="float-codes"),
        pytest.param(pd.Series([0.5, 2.0]), ["0.5", "2"], id="float-values"),
        pytest.param(pd.Series(["a", None, "b"]), ["a", None, "b"], id="text-with-none"),
        pytest.param(
            pd.Series([True, 1, 1.0, None, np.nan, pd.NA], dtype=object),
            ["true", "1", "1", None, None, None],
            id="object-mixing-bool-and-numbers",
        ),
        pytest.param(pd.Series([1, None, 3], dtype="Int64"), ["1", None, "3"], id="nullable-int"),
        pytest.param(pd.Series([True, None], dtype="boolean"), ["true", None], id="nullable-bool"),
        pytest.param(pd.Series(["a", None], dtype="string"), ["a", None], id="string-dtype"),
    ],
)
def test_categorical_columns_become_canonical_text(
    values: pd.Series, expected: list[object]
) -> None:
    assert _typed_column(values) == expected


def test_category_dtype_loses_unused_categories() -> None:
    column = pd.Series(
        pd.Categorical(["a", "b", None, "a"], categories=["a", "b", "never", "unused"])
    )
    typed = type_frame(pd.DataFrame({"c": column}), SCHEMA)["c"]
    assert typed.dtype == object
    assert typed.tolist() == ["a", "b", None, "a"]
    assert set(typed.dropna().unique()) == {"a", "b"}


def test_category_dtype_of_int_codes_is_text() -> None:
    column = pd.Series(pd.Categorical([1, 2, 1], categories=[1, 2, 3]))
    assert _typed_column(column) == ["1", "2", "1"]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param(pd.Series([True, False]), [1.0, 0.0], id="bool"),
        pytest.param(pd.Series([1, 2]), [1.0, 2.0], id="int"),
        pytest.param(pd.Series(["1.5", " 2 ", "x", ""]), [1.5, 2.0, None, None], id="text"),
        pytest.param(
            pd.Series([True, "3", None, 4, pd.NA], dtype=object),
            [1.0, 3.0, None, 4.0, None],
            id="object-mixed",
        ),
        pytest.param(pd.Series([1, None], dtype="Int64"), [1.0, None], id="nullable-int"),
        pytest.param(pd.Series(pd.Categorical([1.5, 2.5])), [1.5, 2.5], id="category"),
    ],
)
def test_numeric_columns_become_float(values: pd.Series, expected: list[float | None]) -> None:
    typed = type_frame(pd.DataFrame({"x": values}), SCHEMA)["x"]
    assert typed.dtype == np.float64
    assert [None if np.isnan(v) else v for v in typed.tolist()] == expected


def test_classification_label_is_canonical_text() -> None:
    frame = pd.DataFrame({"y": [1.0, 0.0, np.nan]})
    assert type_frame(frame, SCHEMA)["y"].tolist() == ["1", "0", None]
    frame = pd.DataFrame({"y": [True, False]})
    assert type_frame(frame, SCHEMA)["y"].tolist() == ["true", "false"]


def test_regression_label_is_float() -> None:
    schema = FrameSchema(numeric=("x",), label="y", label_numeric=True)
    frame = pd.DataFrame({"y": ["1.5", 2, True]}, dtype=object)
    typed = type_frame(frame, schema)["y"]
    assert typed.dtype == np.float64
    assert typed.tolist() == [1.5, 2.0, 1.0]


def test_other_columns_untouched_absent_columns_not_invented() -> None:
    frame = pd.DataFrame({"id": [1, 2], "c": [True, False], "when": ["a", "b"]})
    typed = type_frame(frame, SCHEMA)
    assert list(typed.columns) == ["id", "c", "when"]
    assert typed["id"].dtype == np.int64
    assert typed["id"].tolist() == [1, 2]
    assert typed["c"].tolist() == ["true", "false"]
    # The input frame is left as it was.
    assert frame["c"].dtype == bool


def test_same_rows_typed_alike_from_every_source() -> None:
    from_json = pd.DataFrame({"c": [True, False, None], "x": [1, 2, None]}, dtype=object)
    from_csv = pd.DataFrame({"c": [True, False, np.nan], "x": [1.0, 2.0, np.nan]})
    from_text = pd.DataFrame({"c": ["true", "false", None], "x": ["1", "2", ""]})
    from_parquet = pd.DataFrame(
        {
            "c": pd.Categorical(["true", "false", None], categories=["false", "true", "x"]),
            "x": pd.array([1, 2, None], dtype="Int64"),
        }
    )
    typed = [type_frame(f, SCHEMA) for f in (from_json, from_csv, from_text, from_parquet)]
    for other in typed[1:]:
        pd.testing.assert_frame_equal(typed[0], other)


@pytest.mark.parametrize(
    ("cell", "text"),
    [
        pytest.param("", None, id="empty-is-missing"),
        pytest.param("True", "true", id="pandas-true"),
        pytest.param("FALSE", "false", id="upper-false"),
        pytest.param("1", "1", id="int"),
        pytest.param("1.0", "1", id="float-code"),
        pytest.param("0.50", "0.5", id="float"),
        pytest.param("1e3", "1000", id="exponent"),
        pytest.param("01234", "01234", id="leading-zero-code-kept"),
        pytest.param("NA", "NA", id="na-is-a-category"),
        pytest.param("paris", "paris", id="text"),
    ],
)
def test_text_cells_read_as_they_spell(cell: str, text: str | None) -> None:
    assert text_category(cell) == text
    assert text_cells(pd.Series([cell, None], dtype=object)).tolist() == [text, None]


@pytest.mark.parametrize(
    ("cell", "number"),
    [("", None), (" 2.5 ", 2.5), ("True", 1.0), ("false", 0.0), ("-3", -3.0)],
)
def test_text_numbers(cell: str, number: float | None) -> None:
    assert text_number(cell) == number


def test_text_number_refuses_words() -> None:
    with pytest.raises(ValueError, match="could not convert"):
        text_number("old")


def test_frame_digest_covers_dtypes() -> None:
    from checks.reference import frame_digest

    frames = [
        pd.DataFrame({"c": [1, 0]}),
        pd.DataFrame({"c": [True, False]}),
        pd.DataFrame({"c": pd.Categorical(["a", "b"])}),
        pd.DataFrame({"c": pd.Categorical(["a", "b"], categories=["a", "b", "unused"])}),
    ]
    assert len({frame_digest(f) for f in frames}) == len(frames)
    assert frame_digest(pd.DataFrame({"c": [1, 0]})) == frame_digest(frames[0])
