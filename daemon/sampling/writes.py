"""Bulk writes of sampled rows, labels, counters, rejects and watermarks.

Everything here runs on a Connection inside the caller's transaction, so rows
and the watermark that says they were read commit together or not at all.
Predictions go in through the driver directly (executemany on SQLite, COPY into
a temporary table on PostgreSQL) with `ON CONFLICT DO NOTHING` on
(model_id, prediction_id): re-delivering a row is a no-op, which is what makes
a replay after a crash exactly-once.

A write fails for one of two reasons. The rows' data (a value the database
refuses): `refuses_row` says so, and the caller splits the rows under savepoints
until the good ones land and each refused one is quarantined. Or the store as a
whole (down, disk full, read-only, connection lost), whichever layer raised it,
SQLAlchemy or the driver under executemany or COPY: `store_down` says so, and
the caller rolls the chunk back and raises `StoreUnavailable`.
"""

from __future__ import annotations

import binascii
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import BindParameter, Connection, bindparam, func, insert, select, text, update
from sqlalchemy import exc as sa_exc

from daemon.sampling.validation import MODEL_VERSION, Reason, Reject, excerpt
from daemon.store import features
from daemon.store.tables import Model, RejectedRow, Watermark

WATERMARK_VERSION = 1

_PRED_COLS = (
    "model_id, prediction_id, ts, layout_id, numeric_features, categorical_features, "
    "prediction, score, latency_ms, error, memory_mb, model_version"
)


class WatermarkAhead(Exception):
    def __init__(self, model: str, stream: str, version: int) -> None:
        super().__init__(
            f"the {stream} watermark of model {model} has version {version}, newer than "
            f"{WATERMARK_VERSION}: it was written by a newer mlmaint"
        )


# --------------------------------------------------------------------------- failures

# Every error a write may raise, whichever layer: `store_down` and `refuses_row` sort them.
STORE_ERRORS: tuple[type[BaseException], ...] = (
    sa_exc.SQLAlchemyError,
    sqlite3.Error,
    psycopg.Error,
    UnicodeError,
    ValueError,
    TypeError,
    OverflowError,
)

_DOWN = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.InternalError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,
    sqlite3.OperationalError,
    sqlite3.InterfaceError,
    sqlite3.InternalError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    psycopg.InternalError,
)

# What a row's data can make the database (or the driver binding it) refuse.
_ROW = (
    sqlite3.IntegrityError,
    sqlite3.DataError,
    psycopg.DataError,
    psycopg.IntegrityError,
    UnicodeError,
    ValueError,
    TypeError,
    OverflowError,
)


def _driver_error(exc: BaseException) -> BaseException:
    return exc.orig if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None else exc


def store_down(exc: BaseException) -> bool:
    """Whether the error says the store cannot write at all (not this data): down,
    unreachable, disk full, read-only, the connection lost."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    orig = _driver_error(exc)
    # sqlite3's bare DatabaseError is a file it cannot read ("disk image is malformed").
    return isinstance(exc, _DOWN) or isinstance(orig, _DOWN) or type(orig) is sqlite3.DatabaseError


def refuses_row(exc: BaseException) -> bool:
    """Whether the error is about the rows' data, so that splitting them can help."""
    if store_down(exc):
        return False
    if isinstance(exc, sa_exc.DataError | sa_exc.IntegrityError):
        return True
    if isinstance(exc, sa_exc.StatementError) and not isinstance(exc, sa_exc.DBAPIError):
        # A value SQLAlchemy could not bind.
        return True
    return isinstance(_driver_error(exc), _ROW)


def error_text(exc: BaseException) -> str:
    """The database's own message, first line (no statement, no parameters)."""
    lines = str(_driver_error(exc)).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


@contextmanager
def savepoint(conn: Connection) -> Iterator[None]:
    """A savepoint inside the caller's transaction: an error rolls back to it only."""
    if conn.dialect.name == "sqlite":
        raw = conn.connection.driver_connection
        if not raw.in_transaction:  # type: ignore[union-attr]
            # pysqlite opens its transaction at the first write: a SAVEPOINT before that
            # would open it instead, and its RELEASE would commit the caller's work.
            raw.execute("BEGIN")  # type: ignore[union-attr]
    with conn.begin_nested():
        yield


def refused(table: pa.Table, exc: BaseException) -> Reject:
    """The one row of `table` the store refused, as a quarantined reject."""
    row = table.drop_columns([c for c in (NUMERIC, CATEGORICAL) if c in table.column_names])
    record = row.slice(0, 1).to_pylist()[0]
    detail = f"the store refused the row: {error_text(exc)}"
    return Reject(Reason.STORE_REFUSED, detail, excerpt(record))


def model_id_of(conn: Connection, name: str) -> int | None:
    found = conn.scalar(select(Model.id).where(Model.name == name))
    return None if found is None else int(found)


# --------------------------------------------------------------------------- predictions


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


def prepare(dialect: str, model_id: int, layout_id: int, table: pa.Table) -> Prepared:
    """The rows (with their stored feature columns, `with_features`) rendered for the
    backend's bulk path, so it can be done ahead, off the thread that inserts: COPY
    text for PostgreSQL, parameter tuples for SQLite."""
    if dialect == "sqlite":
        return sqlite_insert(model_id, layout_id, table)
    return copy_payload(model_id, layout_id, table)


def write_predictions(
    conn: Connection,
    model_id: int,
    layout_id: int,
    table: pa.Table,
    numeric: Sequence[str],
    categorical: Iterable[str],
    *,
    fresh: bool = True,
    prepared: Prepared | None = None,
) -> int:
    """Insert the rows; return how many were new (the rest were already there).

    `layout_id` is the layout (`features.ensure_layout`) of `numeric`, the order the
    numeric features are packed in. `prepared` is the same rows already rendered by
    `prepare`. `fresh` says the rows are most likely not stored yet (a first read
    rather than a replay): on PostgreSQL they are then copied straight into the table,
    and only a conflict sends them down the slower path that skips the stored ones.
    """
    if table.num_rows == 0:
        return 0
    if prepared is None:
        table = with_features(table, numeric, categorical)
        prepared = prepare(conn.dialect.name, model_id, layout_id, table)
    if isinstance(prepared, SqliteInsert):
        return _insert_sqlite(conn, prepared)
    return _copy_predictions(conn, prepared, fresh=fresh)


def sqlite_insert(model_id: int, layout_id: int, table: pa.Table) -> SqliteInsert:
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


def copy_payload(model_id: int, layout_id: int, table: pa.Table) -> bytes:
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
            "score float8, latency_ms float8, error text, memory_mb float8, "
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


def existing_ids(conn: Connection, model_id: int, ids: list[str]) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        found.update(
            conn.execute(
                text(
                    "SELECT prediction_id FROM predictions "
                    "WHERE model_id = :m AND prediction_id IN :ids"
                ).bindparams(_expanding("ids")),
                {"m": model_id, "ids": chunk},
            ).scalars()
        )
    return found


def _expanding(name: str) -> BindParameter[object]:
    return bindparam(name, expanding=True)


# --------------------------------------------------------------------------- labels


def join_pending_labels(conn: Connection, model_id: int) -> int:
    """Attach labels that arrived before their prediction; return how many joined."""
    if not conn.execute(
        text("SELECT 1 FROM pending_labels WHERE model_id = :m LIMIT 1"), {"m": model_id}
    ).first():
        return 0
    joined = conn.execute(
        text(
            "UPDATE predictions SET "
            "label = (SELECT p.label FROM pending_labels p WHERE p.model_id = predictions.model_id"
            " AND p.prediction_id = predictions.prediction_id), "
            "labelled_at = (SELECT p.received_at FROM pending_labels p"
            " WHERE p.model_id = predictions.model_id"
            " AND p.prediction_id = predictions.prediction_id) "
            "WHERE model_id = :m AND prediction_id IN "
            "(SELECT prediction_id FROM pending_labels WHERE model_id = :m)"
        ),
        {"m": model_id},
    ).rowcount
    conn.execute(
        text(
            "DELETE FROM pending_labels WHERE model_id = :m AND EXISTS (SELECT 1 FROM predictions p"
            " WHERE p.model_id = pending_labels.model_id"
            " AND p.prediction_id = pending_labels.prediction_id)"
        ),
        {"m": model_id},
    )
    return int(joined)


def write_labels(
    conn: Connection, model_id: int, labels: Mapping[str, str], now: datetime
) -> tuple[int, int]:
    """Label sampled predictions; park the others as pending. Returns (joined, pending)."""
    if not labels:
        return 0, 0
    from daemon.store.tables import PendingLabel, Prediction

    ids = list(labels)
    present = existing_ids(conn, model_id, ids)
    if present:
        conn.execute(
            update(Prediction)
            .where(Prediction.model_id == model_id)
            .where(Prediction.prediction_id == _bind("pid"))
            .values(label=_bind("lab"), labelled_at=now)
            .execution_options(synchronize_session=False),
            [{"pid": pid, "lab": labels[pid]} for pid in present],
        )
    pending = [pid for pid in ids if pid not in present]
    if pending:
        # The latest label for an id wins, whether it arrives once or is corrected later.
        _delete_pending(conn, model_id, pending)
        conn.execute(
            insert(PendingLabel),
            [
                {
                    "model_id": model_id,
                    "prediction_id": pid,
                    "label": labels[pid],
                    "received_at": now,
                }
                for pid in pending
            ],
        )
    return len(present), len(pending)


def _delete_pending(conn: Connection, model_id: int, ids: list[str]) -> None:
    for i in range(0, len(ids), 500):
        conn.execute(
            text(
                "DELETE FROM pending_labels WHERE model_id = :m AND prediction_id IN :ids"
            ).bindparams(_expanding("ids")),
            {"m": model_id, "ids": ids[i : i + 500]},
        )


def _bind(name: str) -> BindParameter[object]:
    return bindparam(name)


# --------------------------------------------------------------------------- counters


def bump_counts(
    conn: Connection, model_id: int, day: str, stream: str, counts: Mapping[str, int]
) -> None:
    params = [
        {"m": model_id, "d": day, "s": stream, "o": outcome, "c": count}
        for outcome, count in counts.items()
        if count
    ]
    if not params:
        return
    conn.execute(
        text(
            "INSERT INTO ingest_counts (model_id, day, stream, outcome, count) "
            "VALUES (:m, :d, :s, :o, :c) ON CONFLICT (model_id, day, stream, outcome) "
            "DO UPDATE SET count = ingest_counts.count + excluded.count"
        ),
        params,
    )


def keep_rejects(
    conn: Connection,
    model_id: int,
    stream: str,
    rejects: Iterable[Reject],
    now: datetime,
    max_kept: int,
) -> None:
    """Keep the first rejects for inspection, up to max_kept per model.

    A row the store itself refused (it passed validation) is always kept: it is the
    quarantine of a row that would otherwise be lost, and such rows are rare.
    """
    rejects = list(rejects)
    refused = [r for r in rejects if r.reason is Reason.STORE_REFUSED]
    rejects = [r for r in rejects if r.reason is not Reason.STORE_REFUSED]
    room = 0
    if rejects and max_kept > 0:
        kept = conn.scalar(
            select(func.count()).select_from(RejectedRow).where(RejectedRow.model_id == model_id)
        )
        room = max(0, max_kept - int(kept or 0))
    rejects = refused + rejects[:room]
    if not rejects:
        return
    conn.execute(
        insert(RejectedRow),
        [
            {
                "model_id": model_id,
                "stream": stream,
                "reason": r.reason.value,
                "detail": excerpt(r.detail),
                "raw": r.raw,
                "received_at": now,
            }
            for r in rejects
        ],
    )


def reject_counts(rejects: Iterable[Reject]) -> Counter[str]:
    return Counter(f"rejected:{r.reason.value}" for r in rejects)


# --------------------------------------------------------------------------- watermarks


def read_watermark(conn: Connection, model_id: int, stream: str, model: str) -> dict[str, object]:
    row = conn.execute(
        select(Watermark.state, Watermark.version).where(
            Watermark.model_id == model_id, Watermark.stream == stream
        )
    ).first()
    if row is None:
        return {}
    if row.version > WATERMARK_VERSION:
        raise WatermarkAhead(model, stream, row.version)
    return dict(row.state)


def write_watermark(
    conn: Connection, model_id: int, stream: str, state: Mapping[str, object], now: datetime
) -> None:
    done = conn.execute(
        update(Watermark)
        .where(Watermark.model_id == model_id, Watermark.stream == stream)
        .values(state=dict(state), version=WATERMARK_VERSION, updated_at=now)
    ).rowcount
    if not done:
        conn.execute(
            insert(Watermark).values(
                model_id=model_id,
                stream=stream,
                state=dict(state),
                version=WATERMARK_VERSION,
                updated_at=now,
            )
        )
