"""The per-row path: each record typed and checked on its own, naming its reason.

The exact verdict for every row the columnar path (`validation.py`) cannot
vouch for, and the whole path for records that arrive one by one (SQL rows,
pushed JSON arrays). Values are typed by the one typing (checks/typed.py): a
categorical (or a multiclass prediction) that arrives as a JSON boolean, an
integer or a float code is stored as its canonical text (`true`, `1`), a CSV
cell as what it spells (`True` is `true`, `1.0` is `1`, empty is missing), a
boolean numeric feature as 0/1. The error column is read by
`checks.operations.is_error`: a value that means "no error" is stored as null,
an error as its text.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal

import pyarrow as pa

from checks.interface import TaskKind
from checks.operations import is_error
from checks.typed import bool_text, canonical_category, text_category, text_number
from daemon.sampling.labels import row_label
from daemon.sampling.rows import (
    MODEL_VERSION,
    Reason,
    Reject,
    Unparsed,
    Validated,
    excerpt,
    parse_lines,
    text_problem,
)
from daemon.sampling.specs import SamplingSpec


class _RowError(Exception):
    def __init__(self, reason: Reason, detail: str) -> None:
        self.reason = reason
        self.detail = detail


class _Implausible(Exception):
    """A value that reads as a time, but one no datetime can hold (epoch ms, year 0)."""


def _parse_timestamp(value: object) -> datetime:
    """The value as a UTC time (naive means UTC); ValueError if it is not a time at all."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        parsed = datetime.fromisoformat(value)
    elif isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (ValueError, OverflowError, OSError) as exc:
            raise _Implausible(f"{value!r} seconds since the epoch: {exc}") from None
    else:
        raise ValueError(f"not a timestamp: {value!r}")
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError as exc:
        raise _Implausible(f"{value!r}: {exc}") from None


def _checked(col: str, text: str) -> str:
    problem = text_problem(text)
    if problem is not None:
        raise _RowError(problem[0], f"{col}: {problem[1]}")
    return text


def stored_error(value: object) -> str | None:
    """A logged error value as stored: null for no error, else the error's text."""
    if not is_error(value):
        return None
    if isinstance(value, str):
        return value
    text = canonical_category(value)
    return str(value) if text is None else text


class PerRowValidator:
    """Validates prediction rows against one model's schema, one row at a time."""

    def __init__(self, spec: SamplingSpec, *, now: datetime | None = None) -> None:
        """`now` bounds the timestamps to the model's plausible-time window
        (`sampling.max_ahead`, `sampling.max_age`); without it they are not bounded."""
        schema = spec.schema
        self.spec = spec
        self.bounds: tuple[datetime, datetime] | None = None
        if now is not None:
            policy = spec.policy
            self.bounds = (now - policy.oldest_age, now + policy.max_ahead)
        self.max_len = schema.max_string_length
        self.numeric = schema.numeric
        self.categorical = schema.categorical
        # Declared booleans: every usual spelling stored as "true"/"false" (checks/typed.py).
        self.boolean = frozenset(schema.boolean)
        self.numeric_prediction = spec.task is not TaskKind.MULTICLASS
        # A binary classifier's score is P(positive): a value outside [0, 1] is a
        # logit or a bug upstream, and would bend the estimated performance.
        self.bounded_score = spec.task is TaskKind.BINARY
        # source column -> canonical column
        required = {
            schema.id: "prediction_id",
            schema.timestamp: "timestamp",
            **{c: c for c in schema.features},
            schema.prediction: "prediction",
        }
        # The label a row may carry beside its prediction (stored with it), unless the
        # schema ignores that column or gives it another role.
        self.label: str | None = (
            schema.label
            if schema.label not in schema.ignore and schema.label not in required
            else None
        )
        optional = {
            src: dst
            for src, dst in (
                (schema.score, "score"),
                (self.label, "label"),
                (schema.latency, "latency_ms"),
                (schema.error, "error"),
                (schema.memory, "memory_mb"),
                (schema.model_version, MODEL_VERSION),
            )
            if src is not None
        }
        self.required = required
        self.columns = {**required, **optional}
        self.allowed = frozenset(self.columns) | frozenset(schema.ignore)
        self.required_keys = frozenset(required)
        pred_type = pa.float64() if self.numeric_prediction else pa.string()
        fields = [
            pa.field("prediction_id", pa.string()),
            pa.field("timestamp", pa.timestamp("us", tz="UTC")),
            *(pa.field(c, pa.float64()) for c in schema.numeric),
            *(pa.field(c, pa.string()) for c in schema.categorical),
            pa.field("prediction", pred_type),
            pa.field("score", pa.float64()),
            pa.field("label", pa.string()),
            pa.field("latency_ms", pa.float64()),
            pa.field("error", pa.string()),
            pa.field("memory_mb", pa.float64()),
            pa.field(MODEL_VERSION, pa.string()),
        ]
        self.schema = pa.schema(fields)
        # What Arrow's JSON reader is told, so a wrong type fails the block, not a guess.
        numbers = [pa.field(c, pa.float64()) for c in schema.numeric]
        if self.numeric_prediction:
            numbers.append(pa.field(schema.prediction, pa.float64()))
        self.explicit = pa.schema(
            [*numbers, *(pa.field(c, pa.string()) for c in schema.categorical)]
        )
        # A block whose categoricals are JSON booleans or numbers is read again with
        # their types inferred, and `from_table` gives them their canonical text.
        self.explicit_numbers = pa.schema(numbers)
        self._numeric_src = [(c, c) for c in schema.numeric]

    # ------------------------------------------------------------------ per-row path

    def _number(self, col: str, value: object, coerce: bool) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool | int | float | Decimal):
            # A boolean is 0/1, as the one typing reads it.
            number = float(value)
        elif coerce and isinstance(value, str):
            try:
                parsed = text_number(value)
                if parsed is None:
                    return None
                number = parsed
            except ValueError:
                raise _RowError(
                    Reason.WRONG_TYPE, f"{col}: expected a number, got {value[:40]!r}"
                ) from None
        else:
            raise _RowError(
                Reason.WRONG_TYPE, f"{col}: expected a number, got {type(value).__name__}"
            )
        if not math.isfinite(number):
            raise _RowError(Reason.NON_FINITE, f"{col}: {number}")
        return number

    def _string(self, col: str, value: object, coerce: bool) -> str | None:
        """A categorical value (or a class name) as its canonical text."""
        if isinstance(value, str):
            text = text_category(value) if coerce else value
        elif value is None or isinstance(value, bool | int | float | Decimal):
            text = canonical_category(value)
        else:
            raise _RowError(
                Reason.WRONG_TYPE,
                f"{col}: expected a string, a number or a boolean, got {type(value).__name__}",
            )
        if text is not None and col in self.boolean:
            text = bool_text(text)
        if text is not None:
            _checked(col, text)
        if text is not None and len(text) > self.max_len:
            raise _RowError(
                Reason.OVERSIZE_STRING, f"{col}: {len(text)} characters > {self.max_len}"
            )
        return text

    def _row(self, rec: object, coerce: bool) -> list[object]:
        if not isinstance(rec, dict):
            raise _RowError(Reason.MALFORMED, f"expected an object, got {type(rec).__name__}")
        keys = rec.keys()
        if not keys >= self.required_keys:
            missing = sorted(self.required_keys - keys)
            raise _RowError(Reason.MISSING_COLUMN, f"missing: {', '.join(missing)}")
        extra = keys - self.allowed
        if extra:
            raise _RowError(Reason.EXTRA_COLUMN, f"unexpected: {', '.join(sorted(extra))}")
        schema = self.spec.schema
        raw_id = rec[schema.id]
        if isinstance(raw_id, int) and not isinstance(raw_id, bool):
            raw_id = str(raw_id)
        if not isinstance(raw_id, str) or raw_id == "":
            raise _RowError(
                Reason.MISSING_ID, f"the id column {schema.id!r} holds {raw_id!r}, not an id"
            )
        _checked(schema.id, raw_id)
        if len(raw_id) > 200:
            raise _RowError(Reason.OVERSIZE_STRING, f"{schema.id}: {len(raw_id)} characters > 200")
        ts = self._timestamp(rec[schema.timestamp], coerce)
        values: list[object] = [raw_id, ts]
        values.extend(self._number(c, rec[c], coerce) for c in self.numeric)
        values.extend(self._string(c, rec[c], coerce) for c in self.categorical)
        pred = rec[schema.prediction]
        if self.numeric_prediction:
            if isinstance(pred, bool):
                pred = float(pred)
            values.append(self._number(schema.prediction, pred, coerce))
        else:
            values.append(self._string(schema.prediction, pred, coerce))
        score = (
            None if schema.score is None else self._number("score", rec.get(schema.score), coerce)
        )
        if score is not None and self.bounded_score and not 0.0 <= score <= 1.0:
            raise _RowError(
                Reason.OUT_OF_RANGE,
                f"{schema.score}: {score!r} is outside [0, 1], a binary classifier's P(positive)",
            )
        values.append(score)
        values.append(self._label(rec, coerce))
        latency = schema.latency
        values.append(
            None if latency is None else self._number("latency_ms", rec.get(latency), coerce)
        )
        error = None if schema.error is None else stored_error(rec.get(schema.error))
        if error is not None:
            _checked("error", error)
        # An error message is evidence, not a feature: cut it rather than drop the row.
        values.append(None if error is None else error[: self.max_len])
        values.append(
            None
            if schema.memory is None
            else self._number("memory_mb", rec.get(schema.memory), coerce)
        )
        version = None if schema.model_version is None else rec.get(schema.model_version)
        values.append(None if version is None else _checked(MODEL_VERSION, str(version))[:64])
        return values

    def _label(self, rec: dict[object, object], coerce: bool) -> str | None:
        if self.label is None:
            return None
        try:
            text = row_label(rec.get(self.label), self.spec.task, coerce)
        except ArithmeticError as exc:
            raise _RowError(Reason.NON_FINITE, f"{self.label}: {exc}") from None
        except ValueError as exc:
            raise _RowError(Reason.WRONG_TYPE, f"{self.label}: {exc}") from None
        return None if text is None else _checked(self.label, text)

    def _timestamp(self, value: object, coerce: bool) -> datetime:
        col = self.spec.schema.timestamp
        if coerce and isinstance(value, str):
            # A CSV cell that spells a number is epoch seconds, as Arrow's CSV reader has it.
            try:
                number = text_number(value)
            except ValueError:
                number = None
            if number is not None:
                value = number
        try:
            ts = _parse_timestamp(value)
        except _Implausible as exc:
            raise _RowError(Reason.IMPLAUSIBLE_TIMESTAMP, f"{col}: {exc}") from None
        except (ValueError, TypeError, OverflowError, OSError) as exc:
            raise _RowError(Reason.BAD_TIMESTAMP, f"{col}: {exc}") from None
        if self.bounds is not None and not self.bounds[0] <= ts <= self.bounds[1]:
            low, high = (b.isoformat() for b in self.bounds)
            raise _RowError(
                Reason.IMPLAUSIBLE_TIMESTAMP,
                f"{col}: {ts.isoformat()} is outside the plausible window [{low}, {high}]",
            )
        return ts

    def from_records(
        self,
        records: Iterable[object],
        raws: Sequence[object] | None = None,
        *,
        coerce_strings: bool = False,
        pre_rejects: Iterable[Reject] = (),
    ) -> Validated:
        """The per-row path: records are parsed JSON objects, CSV dicts or SQL rows."""
        rows: list[list[object]] = []
        rejects = list(pre_rejects)
        for i, rec in enumerate(records):
            try:
                rows.append(self._row(rec, coerce_strings))
            except _RowError as err:
                raw = raws[i] if raws is not None else rec
                rejects.append(Reject(err.reason, err.detail, excerpt(raw)))
        columns = list(zip(*rows, strict=True)) if rows else [()] * len(self.schema)
        arrays = [
            pa.array(col, type=field.type) for col, field in zip(columns, self.schema, strict=True)
        ]
        return Validated(pa.Table.from_arrays(arrays, schema=self.schema), tuple(rejects))

    def from_lines(self, lines: Sequence[bytes]) -> Validated:
        records, raws, rejects = parse_lines(lines, _json_record)
        return self.from_records(records, raws, pre_rejects=rejects)


def _json_record(decoded: str) -> object:
    try:
        return json.loads(decoded)
    except ValueError as exc:
        raise Unparsed(f"not JSON: {exc}") from exc
