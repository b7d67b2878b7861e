"""Sampled predictions into the store in bulk, through the driver directly.

executemany on SQLite, COPY (into a temporary table when ids may be stored
already) on PostgreSQL, with `ON CONFLICT DO NOTHING` on (model_id,
prediction_id): re-delivering a row is a no-op, which is what makes a replay
after a crash exactly-once. Everything runs on a Connection inside the
caller's transaction, so rows and the watermark that says they were read commit
together or not at all. The rows can be rendered for the backend (`prepare`)
ahead of time, off the thread that inserts.
"""

from __future__ import annotations

import binascii
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection

from daemon.sampling.rows import MODEL_VERSION
from daemon.store import features

_PRED_COLS = (
    "model_id, prediction_id, ts, layout_id, numeric_features, categorical_features, "
    "prediction, score, label, labelled_at, latency_ms, error, memory_mb, model_version"
)

NUMERIC = "__numeric__"
CATEGORICAL = "__categorical__"


def with_features(table: pa.Table, numeric: Sequence[str], categorical: Iterable[str]) -> pa.Table:
    """The rows with their stored feature forms as columns (packed numeric values,
    categorical JSON), so they can be built ahead, off the thread that inserts;
    filtering the rows later keeps them in step."""
    if NUMERIC in table.column_names:
        return table
    packed = features.pack(features.numeric_matrix(table, numeric))
    table = table.append_column(NUMERIC, packed)
    return table.append_column(CATEGORICAL, features.categorical_json(table, categorical))


def _prediction_text(arr: pa.ChunkedArray) -> pa.ChunkedArray:
    return arr if pa.types.is_string(arr.type) else pc.cast(arr, pa.string())


@dataclass(frozen=True)
class SqliteInsert:
    """Rows ready for the driver's executemany, and the statement they fit."""

    sql: str
    rows: list[tuple[object, ...]]


Prepared = bytes | SqliteInsert


def prepare(
    dialect: str, model_id: int, layout_id: int, table: pa.Table, now: datetime
) -> Prepared:
    """The rows (with their stored feature columns, `with_features`) rendered for the
    backend's bulk path, so it can be done ahead, off the thread that inserts: COPY
    text for PostgreSQL, parameter tuples for SQLite. `now` is when the labels the
    rows carry were received (`labelled_at`)."""
    if dialect == "sqlite":
        return sqlite_insert(model_id, layout_id, table, now)
    return copy_payload(model_id, layout_id, table, now)


def _labels(table: pa.Table) -> pa.ChunkedArray | pa.Array:
    """The labels the rows carry: none in a table built without the column."""
    if "label" in table.column_names:
        return table["label"]
    return pa.nulls(table.num_rows, pa.string())


def _labelled_at(table: pa.Table, now: datetime, *, zone: bool) -> pa.Array:
    """`now` where the row carries a label, else null: SQLite's text of a UTC time
    (naive, as SQLAlchemy writes it), or with its zone for PostgreSQL's COPY."""
    text = now.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    text += "+00:00" if zone else ""
    has = pc.is_valid(_labels(table))
    return pc.if_else(has, pa.scalar(text, pa.string()), pa.scalar(None, pa.string()))


def write_predictions(
    conn: Connection,
    model_id: int,
    layout_id: int,
    table: pa.Table,
    numeric: Sequence[str],
    categorical: Iterable[str],
    *,
    now: datetime,
    fresh: bool = True,
    prepared: Prepared | None = None,
) -> int:
    """Insert the rows; return how many were new (the rest were already there).

    `layout_id` is the layout (`features.ensure_layout`) of `numeric`, the order the
    numeric features are packed in. `now` is when the labels the rows carry (a log
    that holds the label column) were received. `prepared` is the same rows already
    rendered by `prepare`. `fresh` says the rows are most likely not stored yet (a first read
    rather than a replay): on PostgreSQL they are then copied straight into the table,
    and only a conflict sends them down the slower path that skips the stored ones.
    """
    if table.num_rows == 0:
        return 0
    if prepared is None:
        table = with_features(table, numeric, categorical)
        prepared = prepare(conn.dialect.name, model_id, layout_id, table, now)
    if isinstance(prepared, SqliteInsert):
        return _insert_sqlite(conn, prepared)
    return _copy_predictions(conn, prepared, fresh=fresh)


def sqlite_insert(model_id: int, layout_id: int, table: pa.Table, now: datetime) -> SqliteInsert:
    """The INSERT and its parameter tuples: the model and layout ids are literals in the
    statement and columns that are null throughout are left out, so each row binds
    only what it carries."""
    # The store's text form of a UTC time, as SQLAlchemy writes it: naive UTC with
    # micros, "YYYY-MM-DD HH:MM:SS.ffffff" (Arrow's cast, ten times faster than strftime).
    ts = pc.cast(pc.cast(table["timestamp"], pa.timestamp("us")), pa.string())
    columns: dict[str, pa.ChunkedArray | pa.Array] = {
        "prediction_id": table["prediction_id"],
        "ts": ts,
        "numeric_features": table[NUMERIC],
        "categorical_features": table[CATEGORICAL],
        "prediction": _prediction_text(table["prediction"]),
        "score": table["score"],
        "label": _labels(table),
        "labelled_at": _labelled_at(table, now, zone=False),
        "latency_ms": table["latency_ms"],
        "error": table["error"],
        "memory_mb": table["memory_mb"],
        "model_version": table[MODEL_VERSION],
    }
    n = table.num_rows
    bound = {name: arr for name, arr in columns.items() if arr.null_count < n}
    names = ", ".join(["model_id", "layout_id", *bound])
    marks = ", ".join([str(int(model_id)), str(int(layout_id)), *("?" * len(bound))])
    sql = (
        f"INSERT INTO predictions ({names}) VALUES ({marks}) "
        "ON CONFLICT (model_id, prediction_id) DO NOTHING"
    )
    values = [_pylist(arr) for arr in bound.values()]
    return SqliteInsert(sql, list(zip(*values, strict=True)))


def _pylist(arr: pa.ChunkedArray | pa.Array) -> list[object]:
    if isinstance(arr, pa.ChunkedArray) and pa.types.is_fixed_size_binary(arr.type):
        # Packed values: numpy hands out the rows as bytes several times faster than Arrow.
        width = arr.type.byte_width
        out: list[object] = []
        for chunk in arr.chunks:
            if chunk.null_count or not width:
                out.extend(chunk.to_pylist())
                continue
            data = np.frombuffer(
                chunk.buffers()[1],
                dtype=np.dtype((np.void, width)),
                count=len(chunk),
                offset=chunk.offset * width,
            )
            out.extend(data.tolist())
        return out
    values: list[object] = arr.to_pylist()
    return values


def _insert_sqlite(conn: Connection, prepared: SqliteInsert) -> int:
    # The driver's own executemany on the connection of the caller's transaction: one
    # prepared statement, no parameter dicts.
    raw = conn.connection.driver_connection
    cur = raw.cursor()  # type: ignore[union-attr]
    try:
        cur.executemany(prepared.sql, prepared.rows)
        return int(cur.rowcount)
    finally:
        cur.close()


def _copy_text(arr: pa.ChunkedArray, *, json_text: bool = False) -> pa.ChunkedArray:
    """A column as COPY text fields: backslash, tab, newline and CR escaped, null as \\N.

    JSON from `features.categorical_json` holds no raw control characters (json.dumps
    escapes them), so only its backslashes are looked for, with a plain substring search.
    """
    if not pa.types.is_string(arr.type):
        arr = pc.cast(arr, pa.string())
    elif json_text:
        if pc.any(pc.match_substring(arr, "\\")).as_py():
            arr = pc.replace_substring(arr, "\\", "\\\\")
    elif pc.any(pc.match_substring_regex(arr, r"[\\\t\n\r]")).as_py():
        for char, escaped in (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r")):
            arr = pc.replace_substring(arr, char, escaped)
    return pc.fill_null(arr, "\\N")


def _bytea_hex(packed: pa.ChunkedArray) -> pa.Array:
    """Packed values as COPY text fields of bytea: "\\\\x" and two hex digits a byte."""
    if pa.types.is_fixed_size_binary(packed.type) and packed.type.byte_width:
        data = b"".join(
            chunk.buffers()[1].to_pybytes()[
                chunk.offset * chunk.type.byte_width : (chunk.offset + len(chunk))
                * chunk.type.byte_width
            ]
            for chunk in packed.chunks
        )
        width = 2 * packed.type.byte_width
        hexed = pa.FixedSizeBinaryArray.from_buffers(
            pa.binary(width), len(packed), [None, pa.py_buffer(binascii.hexlify(data))]
        )
        digits = pc.cast(pc.cast(hexed, pa.binary()), pa.string())
    else:
        digits = pa.array([bytes(v).hex() for v in packed.to_pylist()], pa.string())
    return pc.binary_join_element_wise("\\\\x", digits, "")


def copy_payload(model_id: int, layout_id: int, table: pa.Table, now: datetime) -> bytes:
    """The rows (with their stored feature columns, `with_features`) in COPY's text
    format, built column-wise by Arrow (no per-row Python), ahead of time."""
    pieces: list[pa.ChunkedArray | pa.Array | str] = [f"{model_id}\t"]
    for i, col in enumerate(
        (
            table["prediction_id"],
            table["timestamp"],  # "YYYY-MM-DD HH:MM:SS.ffffffZ": timestamptz reads the Z
        )
    ):
        if i:
            pieces.append("\t")
        pieces.append(_copy_text(col))
    pieces.append(f"\t{layout_id}\t")
    pieces.append(_bytea_hex(table[NUMERIC]))
    pieces.append("\t")
    pieces.append(_copy_text(table[CATEGORICAL], json_text=True))
    for col in (
        table["prediction"],
        table["score"],
        _labels(table),
        _labelled_at(table, now, zone=True),
        table["latency_ms"],
        table["error"],
        table["memory_mb"],
        table[MODEL_VERSION],
    ):
        pieces.append("\t")
        pieces.append(_copy_text(col))
    pieces.append("\n")
    lines = pc.binary_join_element_wise(*pieces, "")
    if isinstance(lines, pa.Array):
        lines = pa.chunked_array([lines])
    # Each chunk's value buffer is its lines back to back: the payload, sliced out.
    out = []
    for chunk in lines.chunks:
        offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int32)
        first, last = offsets[chunk.offset], offsets[chunk.offset + len(chunk)]
        out.append(chunk.buffers()[2].to_pybytes()[first:last])
    return b"".join(out)


def _copy_predictions(conn: Connection, data: bytes, *, fresh: bool) -> int:
    raw = conn.connection.driver_connection
    if fresh:
        # New rows go straight in with one COPY; a savepoint undoes it if any id is
        # already stored (a replay after a crash), and the conflict path below runs.
        fresh_savepoint = conn.begin_nested()
        try:
            with raw.cursor() as cur:  # type: ignore[union-attr]
                with cur.copy(f"COPY predictions ({_PRED_COLS}) FROM STDIN") as copy:
                    copy.write(data)
                inserted = int(cur.rowcount)
        except psycopg.errors.UniqueViolation:
            fresh_savepoint.rollback()
        except BaseException:
            # Any other error (a refused value): undone here, judged by the caller.
            if fresh_savepoint.is_active:
                fresh_savepoint.rollback()
            raise
        else:
            fresh_savepoint.commit()
            return inserted
    # COPY can't skip conflicts, so it fills a temporary table and one
    # INSERT ... SELECT ... ON CONFLICT DO NOTHING moves the new rows.
    with raw.cursor() as cur:  # type: ignore[union-attr]
        cur.execute(
            "CREATE TEMP TABLE IF NOT EXISTS mlmaint_predictions_in ("
            "model_id integer, prediction_id text, ts timestamptz, layout_id integer, "
            "numeric_features bytea, categorical_features json, prediction text, "
            "score float8, label text, labelled_at timestamptz, latency_ms float8, "
            "error text, memory_mb float8, "
            "model_version text) ON COMMIT DELETE ROWS"
        )
        with cur.copy(f"COPY mlmaint_predictions_in ({_PRED_COLS}) FROM STDIN") as copy:
            copy.write(data)
        cur.execute(
            f"INSERT INTO predictions ({_PRED_COLS}) SELECT {_PRED_COLS} "
            "FROM mlmaint_predictions_in ON CONFLICT (model_id, prediction_id) DO NOTHING"
        )
        inserted = int(cur.rowcount)
        cur.execute("DELETE FROM mlmaint_predictions_in")
    return inserted
