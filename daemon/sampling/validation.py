"""Rows from any source -> a canonical Arrow table of valid rows, and the rejects.

Two paths give the same answer. The fast path here hands a whole block to
Arrow (JSON Lines, CSV, Parquet) and checks it column by column; every row it
cannot vouch for (a null where a key may be missing, an oversize string, a
timestamp that does not parse, a block Arrow refuses) goes through the per-row
path (`per_row.py`), which names the exact reason. Clean traffic never pays
for the per-row path, and dirty traffic gets exact per-reason counts. Both
type values by the one typing (checks/typed.py), so they store the same text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from checks.interface import TaskKind
from checks.operations import NO_ERROR_TEXT
from checks.typed import bool_text, canonical_category, text_category
from daemon.sampling.labels import row_label
from daemon.sampling.per_row import PerRowValidator, stored_error
from daemon.sampling.rows import (
    MODEL_VERSION,
    Reason,
    Reject,
    Unparsed,
    Validated,
    concat,
    excerpt,
    parse_lines,
)


class RowValidator(PerRowValidator):
    """Validates prediction rows against one model's schema, a block at a time where it can."""

    def bounded(self, batch: Validated) -> Validated:
        """A batch (validated by any validator) with the rows outside this validator's
        plausible-time window moved to its rejects."""
        table = batch.table
        if self.bounds is None or not table.num_rows:
            return batch
        ts = table["timestamp"]
        low, high = (pa.scalar(b, pa.timestamp("us", tz="UTC")) for b in self.bounds)
        outside = _true_mask(pc.or_(pc.less(ts, low), pc.greater(ts, high)))
        if not outside.any():
            return batch
        bad = table.filter(pa.array(outside))
        # As text: a time past year 9999 has no Python datetime.
        texts = pc.cast(bad["timestamp"], pa.string()).to_pylist()
        bad = bad.set_column(bad.schema.get_field_index("timestamp"), "timestamp", pa.array(texts))
        col = self.spec.schema.timestamp
        window = f"[{self.bounds[0].isoformat()}, {self.bounds[1].isoformat()}]"
        rejects = [
            Reject(
                Reason.IMPLAUSIBLE_TIMESTAMP,
                f"{col}: {text} is outside the plausible window {window}",
                excerpt({k: v for k, v in rec.items() if isinstance(v, str | float | None)}),
            )
            for text, rec in zip(texts, bad.to_pylist(), strict=True)
        ]
        return Validated(table.filter(pa.array(~outside)), (*batch.rejects, *rejects))

    # ------------------------------------------------------------------ columnar path

    def from_jsonl(self, lines: Sequence[bytes]) -> Validated:
        """A block of non-empty JSON lines, parsed by Arrow in one go."""
        import pyarrow.json as pj

        if not lines:
            return self.from_records([])
        if not all(line.startswith(b"{") for line in lines):
            # Only objects can be rows: other lines are rejected one by one. pyarrow 25's
            # read_json with an explicit schema kills the process (SIGSEGV) on a block
            # that starts with a `null` line, so they never reach it.
            objects = [line for line in lines if line.startswith(b"{")]
            others = [line for line in lines if not line.startswith(b"{")]
            return concat(self.schema, [self.from_jsonl(objects), self.from_lines(others)])
        block = b"\n".join(lines)

        def read(schema: pa.Schema) -> pa.Table:
            return pj.read_json(
                io.BytesIO(block),
                read_options=pj.ReadOptions(block_size=4 << 20),
                parse_options=pj.ParseOptions(explicit_schema=schema, newlines_in_values=False),
            )

        try:
            table = read(self.explicit)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            try:
                table = read(self.explicit_numbers)
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                # A lone surrogate escape fails the block here too.
                return self._bisect(lines)
        if table.num_rows != len(lines):
            return self.from_lines(lines)
        try:
            # Arrow's JSON reader keeps invalid UTF-8 in strings as it found it.
            table.validate(full=True)
        except pa.ArrowInvalid:
            return self._bisect(lines)
        return self.from_table(table, lambda idx: self.from_lines([lines[i] for i in idx]))

    def _bisect(self, lines: Sequence[bytes]) -> Validated:
        # One bad row fails Arrow's whole block: halve until the bad rows are isolated,
        # so a few bad rows cost a few small per-row passes, not the whole block.
        if len(lines) <= 256:
            return self.from_lines(lines)
        mid = len(lines) // 2
        return concat(self.schema, [self.from_jsonl(lines[:mid]), self.from_jsonl(lines[mid:])])

    def from_csv(self, header: Sequence[str], lines: Sequence[bytes]) -> Validated:
        """CSV lines (without the header) whose columns the header names."""
        import pyarrow.csv as pcsv

        if not lines:
            return self.from_records([])
        cols = set(header)
        if cols >= self.required_keys and not (cols - self.allowed) and len(cols) == len(header):
            types = {c: pa.float64() for c in self.numeric}
            types.update({c: pa.string() for c in self.categorical})
            block = b"\n".join(lines)
            try:
                table = pcsv.read_csv(
                    io.BytesIO(block),
                    read_options=pcsv.ReadOptions(
                        column_names=list(header), block_size=max(len(block) + 1, 1 << 20)
                    ),
                    convert_options=pcsv.ConvertOptions(
                        column_types=types,
                        strings_can_be_null=False,
                        quoted_strings_can_be_null=False,
                    ),
                )
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                table = None
            if table is not None and table.num_rows == len(lines):
                return self.from_table(
                    table,
                    lambda idx: self._csv_rows(header, [lines[i] for i in idx]),
                    text_cells=True,
                )
        return self._csv_rows(header, lines)

    def _csv_rows(self, header: Sequence[str], lines: Sequence[bytes]) -> Validated:
        records, raws, rejects = parse_lines(lines, lambda decoded: _csv_record(header, decoded))
        return self.from_records(records, raws, coerce_strings=True, pre_rejects=rejects)

    def from_table(
        self,
        table: pa.Table,
        slow: Callable[[list[int]], Validated] | None = None,
        *,
        text_cells: bool = False,
    ) -> Validated:
        """An Arrow table in source column names (Parquet, or a parsed block).

        `text_cells`: the table's strings are cells of a text-only source (CSV).
        """
        if slow is None:

            def slow(idx: list[int]) -> Validated:
                return self.from_records(table.take(idx).to_pylist())

        names = set(table.column_names)
        n = table.num_rows
        if not names >= self.required_keys:
            return slow(list(range(n)))
        flagged = np.zeros(n, dtype=bool)
        for name in names - self.allowed:
            flagged |= _valid_mask(table[name])
        schema = self.spec.schema
        out: dict[str, pa.ChunkedArray | pa.Array] = {}
        try:
            out["prediction_id"] = pc.cast(table[schema.id], pa.string())
            ts = _to_timestamp(table[schema.timestamp])
            out["timestamp"] = ts
            for col in self.numeric:
                out[col] = pc.cast(table[col], pa.float64())
            for col in self.categorical:
                out[col] = _category_text(table[col], text_cells=text_cells)
                if col in self.boolean:
                    out[col] = _mapped(out[col], bool_text)
            if self.numeric_prediction:
                out["prediction"] = pc.cast(table[schema.prediction], pa.float64())
            else:
                out["prediction"] = _category_text(table[schema.prediction], text_cells=text_cells)
            for src, dst, typ in (
                (schema.score, "score", pa.float64()),
                (schema.latency, "latency_ms", pa.float64()),
                (schema.memory, "memory_mb", pa.float64()),
                (schema.model_version, MODEL_VERSION, pa.string()),
            ):
                if src is not None and src in names:
                    out[dst] = pc.cast(table[src], typ)
                else:
                    out[dst] = pa.nulls(n, typ)
            if self.label is not None and self.label in names:
                out["label"], refused = _label_texts(
                    table[self.label], self.spec.task, text_cells=text_cells
                )
                # A label the typing refuses: the per-row path names why.
                flagged |= refused
            else:
                out["label"] = pa.nulls(n, pa.string())
            # Cut as the per-row path cuts it (the column holds 64 characters).
            out[MODEL_VERSION] = pc.utf8_slice_codeunits(out[MODEL_VERSION], 0, 64)
            if schema.error is not None and schema.error in names:
                out["error"] = _error_array(table[schema.error])
            else:
                out["error"] = pa.nulls(n, pa.string())
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            return slow(list(range(n)))
        # Rows whose fate the columns can't settle go to the per-row path. A null in the
        # source may be a missing key; one the typing made (NaN, an empty CSV cell) is a
        # missing value, as the per-row path reads it too.
        for col in ("prediction_id", "timestamp", *self.numeric):
            flagged |= _null_mask(out[col])
        for col, src in (
            *((c, c) for c in self.categorical),
            ("prediction", schema.prediction),
        ):
            flagged |= _null_mask(table[src])
            if col == "prediction":
                flagged |= _null_mask(out[col])
        for col in (*self.numeric, "prediction", "score", "latency_ms", "memory_mb"):
            arr = out[col]
            if pa.types.is_floating(arr.type):
                flagged |= _true_mask(pc.invert(pc.is_finite(arr)))
        for col in ("prediction_id", *self.categorical, "prediction", "error"):
            arr = out[col]
            if pa.types.is_string(arr.type):
                limit = 200 if col == "prediction_id" else self.max_len
                flagged |= _true_mask(pc.greater(pc.utf8_length(arr), limit))
        if self.bounded_score:
            score = out["score"]
            flagged |= _true_mask(pc.or_(pc.less(score, 0.0), pc.greater(score, 1.0)))
        flagged |= _true_mask(pc.equal(out["prediction_id"], ""))
        for col in (
            "prediction_id",
            *self.categorical,
            "prediction",
            "label",
            "error",
            MODEL_VERSION,
        ):
            arr = out[col]
            if pa.types.is_string(arr.type) and arr.null_count < len(arr):
                # A NUL the store cannot hold: the per-row path names it.
                flagged |= _true_mask(pc.match_substring(arr, "\x00"))
        if self.bounds is not None:
            ts_out = out["timestamp"]
            low, high = (pa.scalar(b, pa.timestamp("us", tz="UTC")) for b in self.bounds)
            flagged |= _true_mask(pc.or_(pc.less(ts_out, low), pc.greater(ts_out, high)))
        table_out = pa.table([out[f.name] for f in self.schema], schema=self.schema)
        if not flagged.any():
            return Validated(table_out, ())
        bad = np.flatnonzero(flagged).tolist()
        good = table_out.filter(pa.array(~flagged))
        return concat(self.schema, [Validated(good, ()), slow(bad)])


def _mapped(arr: pa.ChunkedArray | pa.Array, fn: Callable[[object], str | None]) -> pa.Array:
    """`fn` of each distinct value (one call per value, not per row), as strings."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    encoded = pc.dictionary_encode(arr)
    texts = pa.array([fn(v) for v in encoded.dictionary.to_pylist()], type=pa.string())
    return pc.take(texts, encoded.indices)


def _label_texts(
    arr: pa.ChunkedArray | pa.Array, task: TaskKind, *, text_cells: bool
) -> tuple[pa.Array, np.ndarray]:
    """A label column as stored (`labels.row_label`, one call per distinct value), and
    the mask of the rows whose label it refuses."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    typ = arr.type
    if pa.types.is_dictionary(typ):
        arr = pc.cast(arr, typ.value_type)
        typ = typ.value_type
    if pa.types.is_null(typ):
        return pc.cast(arr, pa.string()), np.zeros(len(arr), dtype=bool)
    if not (
        pa.types.is_string(typ)
        or pa.types.is_large_string(typ)
        or pa.types.is_boolean(typ)
        or pa.types.is_integer(typ)
        or pa.types.is_floating(typ)
        or pa.types.is_decimal(typ)
    ):
        # Lists, structs, timestamps: the per-row path gives the exact verdict.
        raise pa.ArrowTypeError(f"a label column of type {typ}")
    encoded = pc.dictionary_encode(arr)
    texts: list[str | None] = []
    refused: list[bool] = []
    for value in encoded.dictionary.to_pylist():
        try:
            texts.append(row_label(value, task, text_cells))
            refused.append(False)
        except (ValueError, ArithmeticError):
            texts.append(None)
            refused.append(True)
    labels = pc.take(pa.array(texts, type=pa.string()), encoded.indices)
    mask = _true_mask(pc.take(pa.array(refused, type=pa.bool_()), encoded.indices))
    return labels, mask


def _category_text(
    arr: pa.ChunkedArray | pa.Array, *, text_cells: bool
) -> pa.ChunkedArray | pa.Array:
    """A categorical column as canonical text (see checks/typed.py)."""
    on_text = _text_cells if text_cells else _as_is
    return _as_text(arr, on_text, canonical_category, "a categorical column")


def _text_cells(text: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    return _mapped(text, _text_cell)


def _as_is(text: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    return text


def _as_text(
    arr: pa.ChunkedArray | pa.Array,
    on_text: Callable[[pa.ChunkedArray | pa.Array], pa.ChunkedArray | pa.Array],
    on_scalar: Callable[[object], str | None],
    what: str,
) -> pa.ChunkedArray | pa.Array:
    """A text-valued column as Arrow strings, whatever type it arrived in.

    Text goes through `on_text`, booleans and numbers value by value through
    `on_scalar`; any other type is an `ArrowTypeError` (the per-row path then
    gives the exact verdict).
    """
    typ = arr.type
    if pa.types.is_dictionary(typ):
        # A pandas `category` column written to Parquet.
        arr = pc.cast(arr, typ.value_type)
        typ = typ.value_type
    if pa.types.is_null(typ):
        return pc.cast(arr, pa.string())
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        return on_text(pc.cast(arr, pa.string()))
    if (
        pa.types.is_boolean(typ)
        or pa.types.is_integer(typ)
        or pa.types.is_floating(typ)
        or pa.types.is_decimal(typ)
    ):
        return _mapped(arr, on_scalar)
    # Timestamps, lists, structs: the per-row path gives the exact verdict.
    raise pa.ArrowTypeError(f"{what} of type {typ}")


def _csv_record(header: Sequence[str], decoded: str) -> dict[str, str]:
    try:
        row = next(csv.reader([decoded]))
    except (csv.Error, StopIteration) as exc:
        raise Unparsed(f"not CSV: {exc}") from exc
    if len(row) != len(header):
        raise Unparsed(f"{len(row)} fields, the header has {len(header)}")
    return dict(zip(header, row, strict=True))


def _text_cell(value: object) -> str | None:
    return text_category(value) if isinstance(value, str) else canonical_category(value)


def _error_array(arr: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """The error column as stored: null where it means no error (`is_error`)."""
    return _as_text(arr, _no_error_null, stored_error, "an error column")


def _no_error_null(text: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    spelled = pc.utf8_lower(pc.utf8_trim_whitespace(text))
    none = pc.is_in(spelled, value_set=pa.array(sorted(NO_ERROR_TEXT), type=pa.string()))
    return pc.if_else(none, pa.scalar(None, pa.string()), text)


def _null_mask(arr: pa.ChunkedArray | pa.Array) -> np.ndarray:
    if arr.null_count == 0:
        return np.zeros(len(arr), dtype=bool)
    return _true_mask(pc.is_null(arr))


def _valid_mask(arr: pa.ChunkedArray | pa.Array) -> np.ndarray:
    if arr.null_count == len(arr):
        return np.zeros(len(arr), dtype=bool)
    return _true_mask(pc.is_valid(arr))


def _true_mask(arr: pa.ChunkedArray | pa.Array) -> np.ndarray:
    # Most checks find nothing: one reduction is cheaper than a mask per column.
    if not pc.any(arr).as_py():
        return np.zeros(len(arr), dtype=bool)
    filled = pc.fill_null(arr, False)
    if isinstance(filled, pa.ChunkedArray):
        filled = filled.combine_chunks()
    return np.asarray(filled.to_numpy(zero_copy_only=False), dtype=bool)


def _to_timestamp(arr: pa.ChunkedArray | pa.Array) -> pa.Array:
    """ISO strings, epoch seconds or Arrow timestamps -> timestamp[us, UTC]; null if unparseable."""
    typ = arr.type
    if pa.types.is_timestamp(typ):
        if typ.tz is None:
            arr = pc.assume_timezone(arr, "UTC")
        return pc.cast(arr, pa.timestamp("us", tz="UTC"))
    if pa.types.is_integer(typ) or pa.types.is_floating(typ):
        micros = pc.multiply(pc.cast(arr, pa.float64()), 1e6)
        micros = pc.if_else(pc.is_finite(micros), micros, None)
        return pc.cast(pc.cast(micros, pa.int64()), pa.timestamp("us", tz="UTC"))
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        # Arrow's own ISO 8601 parser first: all with a zone offset, or all without one
        # (naive means UTC). A block it refuses (mixed, odd forms) goes through pandas,
        # which nulls what it can't read, and those rows get the per-row path's verdict.
        utc = pa.timestamp("us", tz="UTC")
        try:
            return pc.cast(arr, utc)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
        try:
            return pc.assume_timezone(pc.cast(arr, pa.timestamp("us")), "UTC")
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
        import pandas as pd

        series = pd.to_datetime(
            pd.Series(arr.to_numpy(zero_copy_only=False)),
            utc=True,
            format="ISO8601",
            errors="coerce",
        )
        return pa.array(series, type=pa.timestamp("us", tz="UTC"), from_pandas=True)
    raise pa.ArrowTypeError(f"timestamps of type {typ}")
