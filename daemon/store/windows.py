"""Window queries: a model's sampled rows in a time range -> a typed DataFrame.

The columns are the features under their schema names (numeric float64,
categorical `category`) and the reserved columns `prediction_id`,
`timestamp` (UTC), `prediction`, `score` (NaN when absent), `label` (NaN or
None until labelled), `latency_ms`, `error` (str or None) and `memory_mb`.
Predictions and labels are floats for binary and regression models, strings
for multiclass ones.

Rows stream from the driver in chunks (`iter_window`); the features of a chunk
are stored as JSON text and parsed by Arrow in one call over the newline-joined
strings, not one `json.loads` per row. A SQLite file store is read through ADBC
(Arrow's SQLite driver), which fills Arrow batches directly: the features of a
batch are then one contiguous JSON Lines buffer, parsed without a copy. In-memory
SQLite and PostgreSQL go through the SQLAlchemy connection's DB-API cursor.
`load_window` assembles the chunks, keeping categoricals as codes, so memory
stays near the size of the result.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, Engine, select

from daemon.config import ModelSettings, Task
from daemon.jobs import JobContext
from daemon.store.tables import Model

DEFAULT_CHUNK_ROWS = 20_000


def _engine(source: JobContext | Engine) -> Engine:
    return source.engine if isinstance(source, JobContext) else source


def _feature_schema(model: ModelSettings) -> pa.Schema:
    schema = model.schema_
    return pa.schema(
        [
            *(pa.field(c, pa.float64()) for c in schema.numeric),
            *(pa.field(c, pa.string()) for c in schema.categorical),
        ]
    )


def empty_window(model: ModelSettings) -> pd.DataFrame:
    return _to_pandas(_table(model, [], _feature_schema(model), sqlite=True))


def _sqlite_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _query(
    conn: Connection,
    model_id: int,
    start: datetime,
    end: datetime,
    labelled_only: bool,
    limit: int | None,
) -> tuple[str, tuple[object, ...]]:
    for bound in (start, end):
        if bound.tzinfo is None:
            raise ValueError(f"naive datetime {bound.isoformat()} given for a window: use UTC")
    sqlite = conn.dialect.name == "sqlite"
    mark = "?" if sqlite else "%s"
    ts = "ts" if sqlite else "CAST(EXTRACT(EPOCH FROM ts) AS DOUBLE PRECISION)"
    # The JSON text as bytes on SQLite: no decoding to str, it goes straight to Arrow.
    features = "CAST(features AS BLOB)" if sqlite else "CAST(features AS TEXT)"
    sql = (
        f"SELECT prediction_id, {ts}, {features}, prediction, score, label, "
        f"latency_ms, error, memory_mb FROM predictions "
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
    source: JobContext | Engine,
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
        yield _to_pandas(table)


def iter_window_tables(
    source: JobContext | Engine,
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
    feature_schema = _feature_schema(model)
    path = _sqlite_file(engine)
    if path is not None:
        with engine.connect() as conn:
            model_id = conn.scalar(select(Model.id).where(Model.name == model.name))
            conn.rollback()
        if model_id is None:
            return
        yield from _iter_adbc(
            path, model, feature_schema, int(model_id), start, end, chunk_rows, labelled_only, limit
        )
        return
    with engine.connect() as conn:
        model_id = conn.scalar(select(Model.id).where(Model.name == model.name))
        if model_id is None:
            return
        sqlite = conn.dialect.name == "sqlite"
        sql, params = _query(conn, int(model_id), start, end, labelled_only, limit)
        raw = conn.connection.driver_connection
        # A server-side cursor on PostgreSQL, so the server streams the rows as well.
        cursor = raw.cursor() if sqlite else raw.cursor(name="mlmaint_window")  # type: ignore[union-attr]
        try:
            if not sqlite:
                cursor.itersize = chunk_rows
            cursor.execute(sql, params)
            # The driver fetches the next chunk while a worker thread parses this one
            # (Arrow's JSON parser and SQLite both release the GIL): at most one chunk
            # waits, so memory stays bounded by the chunk size.
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlmaint-window") as pool:
                parsing: Future[pa.Table] | None = None
                while True:
                    rows = cursor.fetchmany(chunk_rows)
                    if not rows:
                        break
                    nxt = pool.submit(_table, model, rows, feature_schema, sqlite=sqlite)
                    del rows
                    if parsing is not None:
                        yield parsing.result()
                    parsing = nxt
                if parsing is not None:
                    yield parsing.result()
        finally:
            cursor.close()
            conn.rollback()


def _sqlite_file(engine: Engine) -> str | None:
    """The path of a file SQLite store that ADBC can open, else None (memory, URI options)."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or url.query:
        return None
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return database


# Reserved columns read through ADBC. SQLite types are per value and ADBC infers a
# column's Arrow type from its first batch, so every column is cast to one type and
# never NULL (a NULL column would be inferred as int64 and a later text value would
# fail): the NULLs travel as bits of one integer column instead.
_NULLABLE: tuple[tuple[str, str, str], ...] = (
    ("prediction", "TEXT", "''"),
    ("score", "REAL", "0.0"),
    ("label", "TEXT", "''"),
    ("latency_ms", "REAL", "0.0"),
    ("error", "TEXT", "''"),
    ("memory_mb", "REAL", "0.0"),
)


def _adbc_query(labelled_only: bool, limit: int | None) -> str:
    values = ", ".join(f"COALESCE(CAST({c} AS {t}), {zero})" for c, t, zero in _NULLABLE)
    nulls = " + ".join(f"({c} IS NULL) * {1 << i}" for i, (c, _, _) in enumerate(_NULLABLE))
    # Each JSON text ends with a newline, so a batch's value buffer is JSON Lines as is.
    sql = (
        "SELECT CAST(prediction_id AS TEXT), CAST(ts AS TEXT), "
        f"CAST(features || char(10) AS BLOB), {values}, {nulls} FROM predictions "
        "WHERE model_id = ? AND ts >= ? AND ts < ?"
    )
    if labelled_only:
        sql += " AND label IS NOT NULL"
    sql += " ORDER BY ts, id"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return sql


def _iter_adbc(
    path: str,
    model: ModelSettings,
    feature_schema: pa.Schema,
    model_id: int,
    start: datetime,
    end: datetime,
    chunk_rows: int,
    labelled_only: bool,
    limit: int | None,
) -> Iterator[pa.Table]:
    """A file SQLite window through ADBC: the driver fills Arrow batches without Python
    objects, and releases the GIL while it does, so parsing batch N in a worker thread
    overlaps fetching batch N + 1. At most two batches are alive at a time."""
    import adbc_driver_sqlite.dbapi as adbc_sqlite

    for bound in (start, end):
        if bound.tzinfo is None:
            raise ValueError(f"naive datetime {bound.isoformat()} given for a window: use UTC")
    params = (model_id, _sqlite_time(start), _sqlite_time(end))
    with adbc_sqlite.connect(path) as conn, conn.cursor() as cursor:
        # As the engine's own connections: wait for a checkpoint instead of failing.
        cursor.execute("PRAGMA busy_timeout = 30000")
        cursor.fetchall()
        cursor.adbc_statement.set_options(
            **{"adbc.sqlite.query.batch_rows": str(max(1, chunk_rows))}
        )
        cursor.execute(_adbc_query(labelled_only, limit), params)
        reader = cursor.fetch_record_batch()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlmaint-window") as pool:
            parsing: Future[pa.Table] | None = None
            for batch in reader:
                if batch.num_rows == 0:
                    continue
                nxt = pool.submit(_adbc_table, model, batch, feature_schema)
                del batch
                if parsing is not None:
                    yield parsing.result()
                parsing = nxt
            if parsing is not None:
                yield parsing.result()
        conn.rollback()


def _adbc_table(model: ModelSettings, batch: pa.RecordBatch, feature_schema: pa.Schema) -> pa.Table:
    import numpy as np
    import pyarrow.json as pj

    pid, ts, feats, *values, nulls = batch.columns
    n = batch.num_rows
    # The JSON Lines block is the binary column's value buffer between its first and
    # last offsets: no copy.
    wide = pa.types.is_large_binary(feats.type)
    offsets = np.frombuffer(
        feats.buffers()[1], dtype=np.int64 if wide else np.int32, count=feats.offset + n + 1
    )
    first, last = int(offsets[feats.offset]), int(offsets[feats.offset + n])
    block = feats.buffers()[2].slice(first, last - first)
    features = pj.read_json(
        pa.BufferReader(block),
        read_options=pj.ReadOptions(block_size=4 << 20),
        parse_options=pj.ParseOptions(
            explicit_schema=feature_schema, unexpected_field_behavior="ignore"
        ),
    )
    mask = nulls.cast(pa.int64())

    def reserved(i: int, kind: pa.DataType) -> pa.Array:
        is_null = pc.not_equal(pc.bit_wise_and(mask, pa.scalar(1 << i, pa.int64())), 0)
        return pc.if_else(is_null, pa.scalar(None, kind), values[i].cast(kind))

    numeric_target = model.task is not Task.MULTICLASS

    def outcome(i: int) -> pa.Array:
        text = reserved(i, pa.string())
        return pc.cast(text, pa.float64()) if numeric_target else text

    utc = pa.timestamp("us", tz="UTC")
    stamps = pc.cast(pc.cast(ts.cast(pa.string()), pa.timestamp("us")), utc)
    arrays: dict[str, pa.Array | pa.ChunkedArray] = {
        # A copy: a zero-copy slice would keep the whole ADBC batch (its features
        # text included) alive, as its buffers are released together.
        "prediction_id": pa.concat_arrays([pid.cast(pa.string()), pa.array([], pa.string())]),
        "timestamp": stamps,
    }
    for c in model.schema_.numeric:
        arrays[c] = features[c]
    for c in model.schema_.categorical:
        arrays[c] = pc.dictionary_encode(features[c])
    arrays["prediction"] = outcome(0)
    arrays["score"] = reserved(1, pa.float64())
    arrays["label"] = outcome(2)
    arrays["latency_ms"] = reserved(3, pa.float64())
    arrays["error"] = reserved(4, pa.string())
    arrays["memory_mb"] = reserved(5, pa.float64())
    return pa.table(arrays)


def load_window(
    source: JobContext | Engine,
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
    return _to_pandas(table)


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    frame: pd.DataFrame = table.to_pandas(self_destruct=True, split_blocks=True)
    for col in ("prediction_id", "error"):
        if col in frame and frame[col].dtype != object:
            frame[col] = frame[col].astype(object)
    return frame


def _column_order(model: ModelSettings) -> list[str]:
    return [
        "prediction_id",
        "timestamp",
        *model.schema_.features,
        "prediction",
        "score",
        "label",
        "latency_ms",
        "error",
        "memory_mb",
    ]


def _floats(values: Sequence[object]) -> pa.Array:
    return pa.array(values, pa.float64())


def _text_as_float(values: Sequence[object]) -> pa.Array:
    return pc.cast(pa.array(values, pa.string()), pa.float64())


def _table(
    model: ModelSettings,
    rows: Sequence[Sequence[object]],
    feature_schema: pa.Schema,
    *,
    sqlite: bool,
) -> pa.Table:
    import pyarrow.json as pj

    cols = list(zip(*rows, strict=True)) if rows else [()] * 9
    pid, ts, feats, pred, score, label, latency, error, memory = cols
    if rows:
        block = b"\n".join(feats) if sqlite else "\n".join(feats).encode()
        features = pj.read_json(
            io.BytesIO(block),
            # Blocks of a few MB let Arrow parse them on several threads.
            read_options=pj.ReadOptions(block_size=4 << 20),
            parse_options=pj.ParseOptions(
                explicit_schema=feature_schema, unexpected_field_behavior="ignore"
            ),
        )
    else:
        features = feature_schema.empty_table()
    utc = pa.timestamp("us", tz="UTC")
    if sqlite:
        # "YYYY-MM-DD HH:MM:SS.ffffff", naive UTC: Arrow's ISO 8601 cast reads it.
        stamps = pc.cast(pc.cast(pa.array(ts, pa.string()), pa.timestamp("us")), utc)
    else:
        micros = pc.round(pc.multiply(pa.array(ts, pa.float64()), 1e6))
        stamps = pc.cast(pc.cast(micros, pa.int64()), utc)
    numeric_target = model.task is not Task.MULTICLASS
    arrays: dict[str, pa.Array | pa.ChunkedArray] = {
        "prediction_id": pa.array(pid, pa.string()),
        "timestamp": stamps,
    }
    for c in model.schema_.numeric:
        arrays[c] = features[c]
    for c in model.schema_.categorical:
        arrays[c] = pc.dictionary_encode(features[c])
    arrays["prediction"] = _text_as_float(pred) if numeric_target else pa.array(pred, pa.string())
    arrays["score"] = _floats(score)
    arrays["label"] = _text_as_float(label) if numeric_target else pa.array(label, pa.string())
    arrays["latency_ms"] = _floats(latency)
    arrays["error"] = pa.array(error, pa.string())
    arrays["memory_mb"] = _floats(memory)
    return pa.table(arrays)
