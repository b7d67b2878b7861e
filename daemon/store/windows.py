"""Window queries: a model's sampled rows in a time range -> a typed DataFrame.

The columns are the features under their schema names (numeric float64,
categorical `category`) and the reserved columns `prediction_id`,
`timestamp` (UTC), `prediction`, `score` (NaN when absent), `label` (NaN or
None until labelled), `latency_ms`, `error` (str or None) and `memory_mb`.
Predictions and labels are floats for binary and regression models, strings
for multiclass ones.

Rows stream from the driver in chunks (`iter_window`); the features of a chunk
are stored as JSON text and parsed by Arrow in one call over the newline-joined
strings, not one `json.loads` per row. `load_window` assembles the chunks,
keeping categoricals as codes, so memory stays near the size of the result.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, Engine, select

from daemon.config import ModelSettings, Task
from daemon.jobs import JobContext
from daemon.store.tables import Model

DEFAULT_CHUNK_ROWS = 50_000


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
    return _frame(model, [], _feature_schema(model), sqlite=True)


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
    ts = "ts" if sqlite else "EXTRACT(EPOCH FROM ts)"
    sql = (
        f"SELECT prediction_id, {ts}, CAST(features AS TEXT), prediction, score, label, "
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
    """The window [start, end) in chunks of at most chunk_rows rows, oldest first."""
    engine = _engine(source)
    feature_schema = _feature_schema(model)
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
            while True:
                rows = cursor.fetchmany(chunk_rows)
                if not rows:
                    break
                yield _frame(model, rows, feature_schema, sqlite=sqlite)
        finally:
            cursor.close()
            conn.rollback()


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
    chunks = list(
        iter_window(
            source,
            model,
            start,
            end,
            chunk_rows=chunk_rows,
            labelled_only=labelled_only,
            limit=limit,
        )
    )
    if not chunks:
        return empty_window(model)
    if len(chunks) == 1:
        return chunks[0]
    categorical = list(model.schema_.categorical)
    cats = {c: pd.api.types.union_categoricals([ch[c].array for ch in chunks]) for c in categorical}
    for ch in chunks:
        ch.drop(columns=categorical, inplace=True)
    frame = pd.concat(chunks, ignore_index=True, copy=False)
    del chunks
    for c in categorical:
        frame[c] = pd.Categorical(cats[c])
    return frame[_column_order(model)]


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


def _floats(values: Sequence[object]) -> np.ndarray:
    return np.array(values, dtype=np.float64)


def _text_as_float(values: Sequence[object]) -> np.ndarray:
    arr = pc.cast(pa.array(values, pa.string()), pa.float64())
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=np.float64)


def _frame(
    model: ModelSettings,
    rows: Sequence[Sequence[object]],
    feature_schema: pa.Schema,
    *,
    sqlite: bool,
) -> pd.DataFrame:
    import pyarrow.json as pj

    n = len(rows)
    cols = list(zip(*rows, strict=True)) if rows else [()] * 9
    pid, ts, feats, pred, score, label, latency, error, memory = cols
    if n:
        block = "\n".join(feats).encode()
        table = pj.read_json(
            io.BytesIO(block),
            read_options=pj.ReadOptions(block_size=max(len(block) + 1, 1 << 20)),
            parse_options=pj.ParseOptions(
                explicit_schema=feature_schema, unexpected_field_behavior="ignore"
            ),
        )
    else:
        table = feature_schema.empty_table()
    data: dict[str, object] = {"prediction_id": np.array(pid, dtype=object)}
    if sqlite:
        data["timestamp"] = pd.to_datetime(
            pd.Series(ts, dtype=object), format="%Y-%m-%d %H:%M:%S.%f", utc=True
        )
    else:
        data["timestamp"] = pd.to_datetime(_floats(ts), unit="s", utc=True).round("us")
    for c in model.schema_.numeric:
        data[c] = table[c].to_numpy()
    for c in model.schema_.categorical:
        data[c] = pc.dictionary_encode(table[c]).to_pandas()
    numeric_target = model.task is not Task.MULTICLASS
    data["prediction"] = _text_as_float(pred) if numeric_target else np.array(pred, dtype=object)
    data["score"] = _floats(score)
    data["label"] = _text_as_float(label) if numeric_target else np.array(label, dtype=object)
    data["latency_ms"] = _floats(latency)
    data["error"] = np.array(error, dtype=object)
    data["memory_mb"] = _floats(memory)
    frame = pd.DataFrame(data)
    if isinstance(frame["timestamp"].dtype, pd.DatetimeTZDtype):
        return frame
    frame["timestamp"] = frame["timestamp"].astype("datetime64[us, UTC]")
    return frame
