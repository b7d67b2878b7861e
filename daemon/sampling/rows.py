"""What a row's verdict is made of, on every path and in every source.

The canonical table of valid rows has the window's reserved column names (see
`RESERVED_COLUMNS`), the features under their own names, and the model version
under `MODEL_VERSION`. A row that is not valid becomes a `Reject` with its
`Reason` and an excerpt of what arrived, kept in the store for inspection.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pyarrow as pa

MODEL_VERSION = "__model_version__"
RAW_EXCERPT = 2000


class Reason(enum.StrEnum):
    MALFORMED = "malformed"
    TRUNCATED = "truncated"
    MISSING_COLUMN = "missing_column"
    EXTRA_COLUMN = "extra_column"
    WRONG_TYPE = "wrong_type"
    NON_FINITE = "non_finite"
    # A value its column cannot hold: a binary classifier's score (P(positive)) outside [0, 1].
    OUT_OF_RANGE = "out_of_range"
    OVERSIZE_STRING = "oversize_string"
    MISSING_ID = "missing_id"
    BAD_TIMESTAMP = "bad_timestamp"
    IMPLAUSIBLE_TIMESTAMP = "implausible_timestamp"
    MISSING_LABEL = "missing_label"
    NUL_CHARACTER = "nul_character"
    LONE_SURROGATE = "lone_surrogate"
    INVALID_UTF8 = "invalid_utf8"
    # Valid as far as validation can tell, refused by the database (its error kept).
    STORE_REFUSED = "store_refused"


@dataclass(frozen=True, slots=True)
class Reject:
    reason: Reason
    detail: str
    raw: str


@dataclass(frozen=True)
class Validated:
    table: pa.Table
    rejects: tuple[Reject, ...]

    @property
    def rows(self) -> int:
        return int(self.table.num_rows)


def excerpt(raw: object) -> str:
    if isinstance(raw, bytes):
        text = raw[: RAW_EXCERPT * 4].decode("utf-8", "replace")
    elif isinstance(raw, str):
        text = raw
    else:
        text = json.dumps(raw, default=str)[: RAW_EXCERPT + 1]
    text = text if len(text) <= RAW_EXCERPT else text[:RAW_EXCERPT] + "…"
    # Kept in the store: what it cannot hold (a NUL, a lone surrogate) is spelled out.
    if text_problem(text) is not None:
        text = text.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode()
    return text


def text_problem(text: str) -> tuple[Reason, str] | None:
    """Why the store cannot hold this text, if it cannot (a NUL, a lone surrogate)."""
    at = text.find("\x00")
    if at >= 0:
        return Reason.NUL_CHARACTER, f"a NUL character at {at}"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return Reason.LONE_SURROGATE, f"a lone surrogate at {exc.start}"
    return None


class Unparsed(ValueError):
    """A line `parse_lines` refuses; its message is the reject's detail."""


def parse_lines(
    lines: Sequence[bytes], parse: Callable[[str], object]
) -> tuple[list[object], list[bytes], list[Reject]]:
    """Each line decoded as UTF-8 and parsed into a record, with the lines it came from.

    A line that is not UTF-8 is an `INVALID_UTF8` reject; one that `parse` refuses
    (raising `Unparsed`) is `MALFORMED`.
    """
    records: list[object] = []
    raws: list[bytes] = []
    rejects: list[Reject] = []
    for line in lines:
        try:
            decoded = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            rejects.append(Reject(Reason.INVALID_UTF8, f"not UTF-8: {exc}", excerpt(line)))
            continue
        try:
            records.append(parse(decoded))
        except Unparsed as exc:
            rejects.append(Reject(Reason.MALFORMED, str(exc), excerpt(line)))
            continue
        raws.append(line)
    return records, raws, rejects


def concat(schema: pa.Schema, parts: Sequence[Validated]) -> Validated:
    tables = [p.table for p in parts if p.table.num_rows]
    table = pa.concat_tables(tables) if tables else schema.empty_table()
    return Validated(table, tuple(r for p in parts for r in p.rejects))
