"""One typing of a frame against the model's schema, used by every path in.

Rows reach the checks from JSONL and CSV logs, Parquet, SQL, pushed JSON,
reference files read by pandas, training snapshots and holdouts. Each source
types a value its own way: a JSON boolean, a CSV integer code, a Parquet
``category`` column, a float code from a column that had a missing value. The
drift and quality checks compare distributions by value, so the same category
spelled ``True`` in one frame and ``"true"`` in another reads as total drift.
Everything is therefore typed here, once, to one form: numeric columns are
float64, categorical columns (and classification labels) are canonical text,
missing stays missing (``None``, never the text ``"None"``).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from decimal import Decimal
from numbers import Integral, Real

import numpy as np
import pandas as pd

__all__ = [
    "FrameSchema",
    "bool_text",
    "boolean_spelled",
    "canonical_category",
    "numeric_series",
    "text_category",
    "text_cells",
    "text_number",
    "type_frame",
]

# How a CSV writer spells a boolean (pandas writes True/False, others true/false).
_TEXT_BOOLS = {"true": True, "false": False}
# How people and writers spell a boolean in a column declared boolean (any case):
# the canonical text of each spelling (1 and 0 included, as a CSV writes a bool as
# an integer code).
_BOOL_SPELLINGS = {
    "true": "true",
    "false": "false",
    "yes": "true",
    "no": "false",
    "1": "true",
    "0": "false",
    "1.0": "true",
    "0.0": "false",
}
# A number as a writer of numbers prints it: no leading zeros ("01234" is a
# code, not 1234), an optional fraction and exponent.
_NUMBER = re.compile(
    r"[+-]?(0|[1-9][0-9]*)(\.[0-9]*)?([eE][+-]?[0-9]+)?|[+-]?\.[0-9]+([eE][+-]?[0-9]+)?"
)


def canonical_category(value: object) -> str | None:
    """The one text form of a categorical value or a classification label.

    bool becomes ``"true"``/``"false"`` (JSON's spelling, so a JSON log and a
    pandas frame agree); an integer or an integral float becomes its integer
    text (``1``, ``np.int64(1)`` and ``1.0`` are all ``"1"``: a float code is
    what an int-coded column becomes once pandas meets a missing value); any
    other float its shortest round-trip text; text is kept as it is; every
    missing marker (None, NaN, pd.NA, NaT) stays missing.
    """
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, str):
        return value
    # bool before the numbers: bool is an int subclass, numpy's bool_ is neither.
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, Integral):
        return str(int(value))
    if isinstance(value, np.floating):
        if np.isnan(value):
            return None
        if np.isfinite(value) and value == np.floor(value):
            return str(int(value))
        # numpy prints the shortest text that round-trips in the value's own
        # width: float32(0.1) is "0.1", not float64's "0.10000000149011612".
        return str(value)
    if isinstance(value, float | Decimal):
        if value != value:  # NaN, float or Decimal
            return None
        if math.isfinite(value) and value == int(value):
            return str(int(value))
        return repr(float(value)) if isinstance(value, float) else str(value)
    if isinstance(value, Real):
        return canonical_category(float(value))
    if isinstance(value, np.datetime64 | np.timedelta64) and np.isnat(value):
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def text_category(text: str) -> str | None:
    """The canonical form of a categorical cell read from a text-only source (CSV).

    CSV has no types: a boolean column is written ``True``/``False`` and a
    float-coded one ``1.0``, which a typed source (JSON, Parquet, a pandas
    frame) would hold as ``true`` and ``1``. The cell is read as what it
    spells: an empty cell is missing, a boolean word is the boolean, a number
    written as a number is that number; any other text is kept as it is.
    """
    if text == "":
        return None
    flag = _TEXT_BOOLS.get(text.lower())
    if flag is not None:
        return canonical_category(flag)
    if _NUMBER.fullmatch(text):
        number = float(text)
        if math.isfinite(number):
            return canonical_category(int(text) if text.lstrip("+-").isdigit() else number)
    return text


def bool_text(value: object) -> str | None:
    """A value of a boolean column as ``"true"``/``"false"``: a bool, 1/0, or the text
    true/false, yes/no, 1/0 in any case. Missing stays missing; any other value keeps
    its canonical text, so the quality check counts it as a category the reference
    never had."""
    text = value.strip().lower() if isinstance(value, str) else canonical_category(value)
    if text is None:
        return None
    spelled = _BOOL_SPELLINGS.get(text)
    if spelled is not None:
        return spelled
    return value if isinstance(value, str) else text


def boolean_spelled(column: pd.Series) -> bool:
    """Whether a column holds booleans however spelled: a bool dtype, or values that are
    all boolean spellings with at least one word (true, no, ...) or bool among them.
    Only 1 and 0 read as numbers: nothing says they are not a count."""
    if pd.api.types.is_bool_dtype(column.dtype):
        return True
    values = column.dropna().unique()
    if not len(values):
        return False
    texts = [bool_text(v) for v in values]
    if any(t not in ("true", "false") for t in texts):
        return False
    return any(
        isinstance(v, bool | np.bool_) or (isinstance(v, str) and v.strip().lower()[:1] in "tfyn")
        for v in values
    )


def text_cells(column: pd.Series) -> pd.Series:
    """A column of text cells (str or missing) as `text_category` reads each one."""
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    table = np.empty(len(uniques) + 1, dtype=object)
    table[: len(uniques)] = [
        text_category(v) if isinstance(v, str) else canonical_category(v) for v in uniques
    ]
    table[len(uniques)] = None
    return pd.Series(table[codes], index=column.index, name=column.name, dtype=object)


def text_number(text: str) -> float | None:
    """A numeric cell of a text-only source: a number, a boolean word as 0/1, or missing."""
    stripped = text.strip()
    if stripped == "":
        return None
    flag = _TEXT_BOOLS.get(stripped.lower())
    if flag is not None:
        return float(flag)
    return float(stripped)


@dataclass(frozen=True, kw_only=True)
class FrameSchema:
    """Which columns of a frame are numeric, categorical, and the label.

    ``label_numeric`` is True for regression: the label is then a number, for
    classification it is canonical text like a categorical.
    """

    numeric: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    label: str | None = None
    label_numeric: bool = False
    # Categorical columns that hold booleans: each spelling typed as "true"/"false".
    boolean: tuple[str, ...] = ()


def type_frame(frame: pd.DataFrame, schema: FrameSchema) -> pd.DataFrame:
    """``frame`` with its schema's columns typed; other columns untouched.

    Numeric columns become float64 (bool as 0/1, text that parses as its
    number, the text ``true``/``false`` as 1/0, anything else NaN);
    categorical columns become object columns of canonical text or None (a
    ``category`` dtype is turned into plain values, so unused categories are
    gone); the label becomes canonical text, or float for regression. Columns
    of the schema the frame does not hold are left out, not invented. The
    input frame is not modified.
    """
    out = frame.copy(deep=False)
    for name in schema.numeric:
        if name in out.columns:
            out[name] = _numeric(out[name])
    for name in schema.categorical:
        if name in out.columns:
            out[name] = _categorical(out[name])
    for name in schema.boolean:
        if name in out.columns:
            out[name] = _boolean(out[name])
    if schema.label is not None and schema.label in out.columns:
        column = out[schema.label]
        out[schema.label] = _numeric(column) if schema.label_numeric else _categorical(column)
    return out


def numeric_series(column: pd.Series) -> pd.Series:
    """One column typed as a numeric column of `type_frame` types it (float64)."""
    return _numeric(column)


def _numeric(column: pd.Series) -> pd.Series:
    if isinstance(column.dtype, pd.CategoricalDtype):
        column = column.astype(object)
    if column.dtype == np.float64:
        return column
    if pd.api.types.is_bool_dtype(column.dtype) or pd.api.types.is_numeric_dtype(column.dtype):
        # Nullable dtypes (Int64, boolean) carry pd.NA, which float64 spells NaN.
        return column.astype("float64") if not _nullable(column) else _nullable_float(column)
    values = column.astype(object)
    parsed = pd.to_numeric(values.map(_numeric_scalar), errors="coerce")
    return pd.Series(np.asarray(parsed, dtype=np.float64), index=column.index, name=column.name)


def _nullable(column: pd.Series) -> bool:
    return isinstance(column.dtype, pd.api.extensions.ExtensionDtype)


def _nullable_float(column: pd.Series) -> pd.Series:
    values = column.to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.Series(values, index=column.index, name=column.name)


def _numeric_scalar(value: object) -> object:
    """A value pd.to_numeric reads: text stripped, bools as 0/1, missing as NaN."""
    if isinstance(value, str):
        try:
            number = text_number(value)
        except ValueError:
            return np.nan
        return np.nan if number is None else number
    if isinstance(value, bool | np.bool_):
        return float(value)
    if value is None or value is pd.NA or value is pd.NaT:
        return np.nan
    return value


def _categorical(column: pd.Series) -> pd.Series:
    if column.dtype == object:
        raw = column.to_numpy(dtype=object)
        if _mixes_bool_and_number(set(map(type, raw))):
            # Hashing makes True, 1 and 1.0 one key, yet True is "true" and 1
            # is "1": a column mixing them is typed value by value.
            typed = np.empty(len(raw), dtype=object)
            typed[:] = [canonical_category(value) for value in raw]
            return pd.Series(typed, index=column.index, name=column.name, dtype=object)
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    values = list(uniques)
    table = np.empty(len(values) + 1, dtype=object)
    table[: len(values)] = [canonical_category(value) for value in values]
    table[len(values)] = None  # code -1: missing
    return pd.Series(table[codes], index=column.index, name=column.name, dtype=object)


def _boolean(column: pd.Series) -> pd.Series:
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    table = np.empty(len(uniques) + 1, dtype=object)
    table[: len(uniques)] = [bool_text(value) for value in uniques]
    table[len(uniques)] = None
    return pd.Series(table[codes], index=column.index, name=column.name, dtype=object)


def _mixes_bool_and_number(types: set[type]) -> bool:
    bools = any(issubclass(t, bool | np.bool_) for t in types)
    numbers = any(
        issubclass(t, Real | np.number) and not issubclass(t, bool | np.bool_) for t in types
    )
    return bools and numbers
