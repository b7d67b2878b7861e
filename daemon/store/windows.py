"""Window queries: a model's sampled rows in a time range -> a typed DataFrame.

The columns are the features under their schema names (numeric float64,
categorical object columns of canonical text or None) and the reserved
columns `prediction_id`, `timestamp` (UTC), `prediction`, `score` (NaN when
absent), `label` (NaN or None until labelled), `latency_ms`, `error` (str or
None) and `memory_mb`. Predictions and labels are floats for binary and
regression models (a binary label stored as "true"/"false" is 1/0), strings
for multiclass ones. The frame is typed by the one typing
(checks/typed.py, `daemon.frames.check_schema`), as references are, so a
window and a reference of the same rows are equal frames.

Rows stream from the driver in chunks (`iter_window`); Arrow takes a chunk's
tuples in one call, column by column. The numeric features are packed float64
values (daemon/store/features.py): a chunk's lie back to back in Arrow's value
buffer, one matrix read without parsing. The categorical ones are JSON objects, parsed by
Arrow in one call over the newline-joined strings, not one `json.loads` per row.
`load_window` assembles the chunks, keeping categoricals as codes until the
end (then one shared string object per category), so memory stays near the
size of the result.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, Engine, select

from checks.interface import TaskKind
from checks.typed import text_number
from daemon.config import ModelSettings
from daemon.frames import typed_check
from daemon.store import features
from daemon.store.tables import Model

DEFAULT_CHUNK_ROWS = 20_000


class HasEngine(Protocol):
    """What a window reader needs of a job's context: the store's engine.

    A protocol, not daemon.jobs.JobContext, so the store does not reach up to the jobs.
    """

    @property
    def engine(self) -> Engine: ...


def _engine(source: HasEngine | Engine) -> Engine:
    return source if isinstance(source, Engine) else source.engine


def _categorical_schema(model: ModelSettings) -> pa.Schema:
    return pa.schema([pa.field(c, pa.string()) for c in model.schema_.categorical])


def empty_window(model: ModelSettings) -> pd.DataFrame:
    return _to_pandas(_table(model, [], {}, sqlite=True), model)


def _sqlite_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _query(
    conn: Connection,
    model_id: int,
    start: datetime,
    end: datetime,
    labelled_only: bool,
    limit: int | None,
    one_layout: bool,
) -> tuple[str, tuple[object, ...]]:
    for bound in (start, end):
        if bound.tzinfo is None:
            raise ValueError(f"naive datetime {bound.isoformat()} given for a window: use UTC")
    sqlite = conn.dialect.name == "sqlite"
    mark = "?" if sqlite else "%s"
    ts = "ts" if sqlite else "CAST(EXTRACT(EPOCH FROM ts) AS DOUBLE PRECISION)"
    # The JSON text as bytes on SQLite: no decoding to str, it goes straight to Arrow.
    categorical = (
        "CAST(categorical_features AS BLOB)" if sqlite else "CAST(categorical_features AS TEXT)"
    )
    sql = (
        # A model whose schema never changed has one layout: no need to read it per row.
        f"SELECT prediction_id, {ts}, {'' if one_layout else 'layout_id, '}numeric_features, "
        f"{categorical}, prediction, "
        f"score, label, latency_ms, error, memory_mb FROM predictions "
        f"WHERE model_id = {mark} AND ts >= {mark} AND ts < {mark}"
    )
    if labelled_only:
        sql += " AND label IS NOT NULL"
    sql += " ORDER BY ts, id"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    if sqlite:
        return sql, (model_id, _sqlite_time(start), _sqlite_time(end))
    return sql, (model_id, start, end)


def iter_window(
    source: HasEngine | Engine,
    model: ModelSettings,
    start: datetime,
    end: datetime,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    labelled_only: bool = False,
    limit: int | None = None,
) -> Iterator[pd.DataFrame]:
    """The window [start, end) in DataFrames of at most chunk_rows rows, oldest first."""
    for table in iter_window_tables(
        source, model, start, end, chunk_rows=chunk_rows, labelled_only=labelled_only, limit=limit
    ):
        yield _to_pandas(table, model)


def iter_window_tables(
    source: HasEngine | Engine,
    model: ModelSettings,
    start: datetime,
    end: datetime,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    labelled_only: bool = False,
    limit: int | None = None,
) -> Iterator[pa.Table]:
    """The window as Arrow tables (the same columns), chunk by chunk."""
    engine = _engine(source)
    with engine.connect() as conn:
        _one_snapshot(conn)
        model_id = conn.scalar(select(Model.id).where(Model.name == model.name))
        if model_id is None:
            return
        layouts = features.layouts_of(conn, int(model_id))
        sqlite = conn.dialect.name == "sqlite"
        one_layout = len(layouts) == 1
        sql, params = _query(
            conn, int(model_id), start, end, labelled_only, limit, one_layout=one_layout
        )
        raw = conn.connection.driver_connection
        # A server-side cursor on PostgreSQL, so the server streams the rows as well.
        cursor = raw.cursor() if sqlite else raw.cursor(name="mlmaint_window")  # type: ignore[union-attr]
        try:
            if not sqlite:
                cursor.itersize = chunk_rows
            cursor.execute(sql, params)
            # The driver fetches the next chunk while a worker thread converts this one
            # (SQLite's steps and Arrow's parsing run without the GIL): at most one chunk
            # waits, so memory stays bounded by the chunk size.
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlmaint-window") as pool:
                parsing: Future[pa.Table] | None = None
                while True:
                    rows = cursor.fetchmany(chunk_rows)
                    if not rows:
                        break
                    nxt = pool.submit(_table, model, rows, layouts, sqlite=sqlite)
                    del rows
                    if parsing is not None:
                        yield parsing.result()
                    parsing = nxt
                if parsing is not None:
                    yield parsing.result()
        finally:
            cursor.close()
            conn.rollback()


def _one_snapshot(conn: Connection) -> None:
    """Read the layouts and the rows in one snapshot of the store.

    A sampler may commit a new layout and rows under it in between two statements:
    read apart, the rows would be decoded with a layout list that lacks theirs (or,
    with the one-layout shortcut, with the wrong one).
    """
    if conn.dialect.name == "sqlite":
        # pysqlite opens no transaction for reads: one explicit (deferred) transaction
        # takes its snapshot at the first read and keeps it to the rollback.
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")


def load_window(
    source: HasEngine | Engine,
    model: ModelSettings,
    start: datetime,
    end: datetime,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    labelled_only: bool = False,
    limit: int | None = None,
) -> pd.DataFrame:
    """The whole window [start, end) as one DataFrame (see the module docstring)."""
    tables = list(
        iter_window_tables(
            source,
            model,
            start,
            end,
            chunk_rows=chunk_rows,
            labelled_only=labelled_only,
            limit=limit,
        )
    )
    if not tables:
        return empty_window(model)
    # Arrow concatenates without copying; one conversion at the end, releasing each
    # column as it goes, keeps the peak near the size of the result.
    table = pa.concat_tables(tables).unify_dictionaries()
    del tables
    return _to_pandas(table, model)


def load_labelled(
    conn: Connection, model_id: int, model: ModelSettings, start: datetime, end: datetime
) -> pd.DataFrame:
    """The labelled rows of [start, end], end included, as training data, oldest first.

    Retraining's window, read on the caller's connection (`session.connection()`:
    its decision holds a lock in that transaction) and typed by the one typing for
    training: numerics float, a missing categorical missing, the label as stored
    (canonical text, or a float for regression). Columns: `prediction_id`,
    `timestamp`, the features, the label.
    """
    from checks.typed import text_category
    from daemon.frames import typed_training
    from daemon.store.tables import Prediction

    schema = model.schema_
    rows = conn.execute(
        select(
            Prediction.prediction_id,
            Prediction.ts,
            Prediction.layout_id,
            Prediction.numeric_features,
            Prediction.categorical_features,
            Prediction.label,
        )
        .where(
            Prediction.model_id == model_id,
            Prediction.label.is_not(None),
            Prediction.ts >= start,
            Prediction.ts <= end,
        )
        .order_by(Prediction.ts, Prediction.prediction_id)
    ).all()
    numbers = features.unpack(
        pa.array([r.numeric_features for r in rows], pa.binary()),
        np.asarray([r.layout_id for r in rows], dtype=np.int64),
        features.layouts_of(conn, model_id),
        schema.numeric,
    )
    data: dict[str, object] = {
        "prediction_id": [r.prediction_id for r in rows],
        "timestamp": [r.ts for r in rows],
    }
    for c in schema.numeric:
        data[c] = numbers[c].to_numpy(zero_copy_only=False)
    for c in schema.categorical:
        data[c] = [r.categorical_features.get(c) for r in rows]
    stored = [r.label for r in rows]
    if model.task is TaskKind.BINARY:
        # A binary label is stored as the number it spells; rows stored before the one
        # typing say "1.0" where new ones say "1": both are read as one class.
        stored = [None if v is None else text_category(v) for v in stored]
    data[schema.label] = stored
    columns = ["prediction_id", "timestamp", *schema.features, schema.label]
    return typed_training(pd.DataFrame(data, columns=columns), model)


def _to_pandas(table: pa.Table, model: ModelSettings) -> pd.DataFrame:
    frame: pd.DataFrame = table.to_pandas(self_destruct=True, split_blocks=True)
    for col in ("prediction_id", "error"):
        if col in frame and frame[col].dtype != object:
            frame[col] = frame[col].astype(object)
    # The stored values are canonical already: this turns the `category` columns
    # Arrow's dictionaries become into plain text, as every reference is typed.
    return typed_check(frame, model)


def _row_type(sqlite: bool, one_layout: bool) -> pa.StructType:
    """The query's rows as Arrow sees them: the driver's tuples go in as one struct array."""
    return pa.struct(
        [
            ("prediction_id", pa.string()),
            # SQLite: the stored "YYYY-MM-DD HH:MM:SS.ffffff"; PostgreSQL: epoch seconds.
            ("ts", pa.string() if sqlite else pa.float64()),
            *([] if one_layout else [("layout_id", pa.int64())]),
            ("numeric", pa.binary()),
            ("categorical", pa.binary() if sqlite else pa.string()),
            ("prediction", pa.string()),
            ("score", pa.float64()),
            ("label", pa.string()),
            ("latency_ms", pa.float64()),
            ("error", pa.string()),
            ("memory_mb", pa.float64()),
        ]
    )


def _text_as_float(values: pa.Array) -> pa.Array:
    return pc.cast(values, pa.float64())


def _label_as_float(values: pa.Array) -> pa.Array:
    """Stored label text as a number: "1", "0.0" and the canonical "true"/"false"."""
    encoded = pc.dictionary_encode(values)
    numbers = pa.array(
        [_label_number(v) for v in encoded.dictionary.to_pylist()], type=pa.float64()
    )
    return pc.take(numbers, encoded.indices)


def _label_number(text: str) -> float | None:
    try:
        return text_number(text)
    except ValueError:
        # Not a number (a label stored before the binary rule): missing, not a crash.
        return None


def _ndjson(values: pa.Array) -> bytes:
    """The JSON texts one per line: each followed by a newline, back to back."""
    empty, newline = pa.scalar(b"", values.type), pa.scalar(b"\n", values.type)
    lines = pc.binary_join_element_wise(values, empty, newline)
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)
    first, last = int(offsets[lines.offset]), int(offsets[lines.offset + len(lines)])
    data: bytes = lines.buffers()[2].to_pybytes()
    return data[first:last]


def _table(
    model: ModelSettings,
    rows: Sequence[Sequence[object]],
    layouts: Mapping[int, tuple[str, ...]],
    *,
    sqlite: bool,
) -> pa.Table:
    import pyarrow.json as pj

    schema = model.schema_
    # Arrow converts the driver's tuples in one pass: no transposing in Python.
    one_layout = len(layouts) == 1
    got = pa.array(rows, type=_row_type(sqlite, one_layout))
    if one_layout:
        layout_ids = np.full(len(got), next(iter(layouts)), dtype=np.int64)
    else:
        layout_ids = got.field("layout_id").to_numpy(zero_copy_only=False)
    numbers = features.unpack(got.field("numeric"), layout_ids, layouts, schema.numeric)
    categorical_schema = _categorical_schema(model)
    if len(got) and schema.categorical:
        categories = pj.read_json(
            io.BytesIO(_ndjson(got.field("categorical"))),
            # Blocks of a few MB let Arrow parse them on several threads.
            read_options=pj.ReadOptions(block_size=4 << 20),
            parse_options=pj.ParseOptions(
                explicit_schema=categorical_schema, unexpected_field_behavior="ignore"
            ),
        )
    else:
        categories = categorical_schema.empty_table()
    utc = pa.timestamp("us", tz="UTC")
    ts = got.field("ts")
    if sqlite:
        # "YYYY-MM-DD HH:MM:SS.ffffff", naive UTC: Arrow's ISO 8601 cast reads it.
        stamps = pc.cast(pc.cast(ts, pa.timestamp("us")), utc)
    else:
        micros = pc.round(pc.multiply(ts, 1e6))
        stamps = pc.cast(pc.cast(micros, pa.int64()), utc)
    numeric_target = model.task is not TaskKind.MULTICLASS
    arrays: dict[str, pa.Array | pa.ChunkedArray] = {
        "prediction_id": got.field("prediction_id"),
        "timestamp": stamps,
    }
    for c in schema.numeric:
        arrays[c] = numbers[c]
    for c in schema.categorical:
        arrays[c] = pc.dictionary_encode(categories[c])
    for c in ("prediction", "score", "label", "latency_ms", "error", "memory_mb"):
        arrays[c] = got.field(c)
    if numeric_target:
        arrays["prediction"] = _text_as_float(arrays["prediction"])
        arrays["label"] = _label_as_float(arrays["label"])
    return pa.table(arrays)
