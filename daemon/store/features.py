"""How a sampled row's features are stored, and read back column by column.

Numeric features are packed into one value per row: little-endian float64 in the
order of the row's layout (a `feature_layouts` row naming them), NaN where a value
is missing (validation lets no NaN in, so NaN can only mean missing). A window
joins the packed values of a whole chunk and reads them as one matrix, with no
parsing at all. Categorical features are a JSON object of strings per row, parsed
by Arrow a chunk at a time.

The layout keeps old rows readable when a model's schema changes: a window maps
each row's layout onto the schema it is read with (a feature the row lacks reads
as missing, one the schema dropped is ignored).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from daemon.store.engine import dialect_insert
from daemon.store.tables import FeatureLayout

DTYPE = np.dtype("<f8")


class CorruptFeatures(Exception):
    """Stored packed values that don't fit their layout."""


def layout_digest(names: Sequence[str]) -> str:
    return hashlib.sha256(json.dumps(list(names)).encode()).hexdigest()


def ensure_layout(
    conn: Connection | Session, model_id: int, names: Sequence[str], now: datetime
) -> int:
    """The id of the layout `names` for the model, inserting it if absent (race-free)."""
    digest = layout_digest(names)
    query = select(FeatureLayout.id).where(
        FeatureLayout.model_id == model_id, FeatureLayout.digest == digest
    )
    found = conn.scalar(query)
    if found is not None:
        return int(found)
    values = {"model_id": model_id, "digest": digest, "numeric": list(names), "created_at": now}
    bind = conn.get_bind() if isinstance(conn, Session) else conn
    conn.execute(
        dialect_insert(bind.dialect.name, FeatureLayout)
        .values(values)
        .on_conflict_do_nothing(index_elements=[FeatureLayout.model_id, FeatureLayout.digest])
    )
    created = conn.scalar(query)
    if created is None:
        raise RuntimeError(f"feature layout of model {model_id} vanished right after its insert")
    return int(created)


def layouts_of(conn: Connection | Session, model_id: int) -> dict[int, tuple[str, ...]]:
    """Every layout of the model: id -> numeric feature names, in packing order."""
    rows = conn.execute(
        select(FeatureLayout.id, FeatureLayout.numeric).where(FeatureLayout.model_id == model_id)
    )
    return {int(i): tuple(names) for i, names in rows}


# --------------------------------------------------------------------------- writing


def numeric_matrix(table: pa.Table, names: Sequence[str]) -> np.ndarray:
    """The named float columns as a C-ordered (rows, len(names)) float64 matrix, NaN for null."""
    out = np.empty((table.num_rows, len(names)), dtype=DTYPE)
    for j, name in enumerate(names):
        col = table[name]
        if col.null_count:
            col = pc.fill_null(col, float("nan"))
        out[:, j] = col.to_numpy()
    return out


def pack(matrix: np.ndarray) -> pa.Array:
    """One binary value per row of the matrix (its row's float64 bytes), zero-copy."""
    n, k = matrix.shape
    if k == 0:
        return pa.array([b""] * n, pa.binary())
    data = np.ascontiguousarray(matrix, dtype=DTYPE)
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(8 * k), n, [None, pa.py_buffer(data)])


def categorical_json(table: pa.Table, names: Iterable[str]) -> pa.ChunkedArray | pa.Array:
    """One JSON object of the categorical features per row, built column-wise by Arrow."""
    pieces: list[pa.Array | pa.ChunkedArray | str] = []
    first = True
    for col in names:
        pieces.append(("{" if first else ",") + json.dumps(col) + ":")
        pieces.append(pc.fill_null(json_strings(table[col]), "null"))
        first = False
    if first:
        return pa.array(["{}"] * table.num_rows, pa.string())
    pieces.append("}")
    # The literal pieces broadcast as scalars: no array of n copies per key.
    return pc.binary_join_element_wise(*pieces, "")


def json_strings(arr: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """Strings as JSON string literals (null stays null)."""
    # Strings that need escaping are rare: those go through json.dumps one by one.
    needs_escape = pc.match_substring_regex(arr, r'["\\\x00-\x1f\x7f]')
    if not pc.any(needs_escape).as_py():
        return pc.binary_join_element_wise('"', arr, '"', "")
    values = arr.to_pylist()
    flags = needs_escape.to_pylist()
    return pa.array(
        [
            None if v is None else (json.dumps(v) if f else f'"{v}"')
            for v, f in zip(values, flags, strict=True)
        ],
        pa.string(),
    )


def stored_row(
    conn: Connection | Session,
    model_id: int,
    numeric: Sequence[str],
    values: Mapping[str, object],
    now: datetime,
) -> dict[str, object]:
    """One row's feature columns as stored, for a `Prediction` built one at a time.

    `numeric` names the numeric features (in order); every other key of `values` is
    categorical. Bulk writes go through `daemon.sampling.bulk` instead.
    """
    packed = np.array(
        [np.nan if values.get(c) is None else float(values[c]) for c in numeric],  # type: ignore[arg-type]
        dtype=DTYPE,
    )
    return {
        "layout_id": ensure_layout(conn, model_id, numeric, now),
        "numeric_features": packed.tobytes(),
        "categorical_features": {
            k: None if v is None else str(v) for k, v in values.items() if k not in numeric
        },
    }


# --------------------------------------------------------------------------- reading


def unpack(
    packed: pa.Array | pa.ChunkedArray,
    layout_ids: np.ndarray,
    layouts: Mapping[int, tuple[str, ...]],
    names: Sequence[str],
) -> dict[str, pa.Array]:
    """The packed values of a chunk of rows (a binary array, one value per row, and the
    rows' layout ids) as one float64 array per name, null where missing."""
    if isinstance(packed, pa.ChunkedArray):
        packed = packed.combine_chunks()
    n = len(packed)
    ids = np.asarray(layout_ids, dtype=np.int64)
    if n and (ids == ids[0]).all():
        matrix = _matrix(packed, layouts, int(ids[0]))
        return _columns(matrix, layouts[int(ids[0])], names)
    # Rows of several layouts in one chunk (a schema change inside the window).
    out = np.full((len(names), n), np.nan, dtype=DTYPE)
    for layout_id in np.unique(ids).tolist():
        rows = np.flatnonzero(ids == layout_id)
        matrix = _matrix(packed.take(pa.array(rows)), layouts, layout_id)
        position = {name: j for j, name in enumerate(layouts[layout_id])}
        for k, name in enumerate(names):
            if name in position:
                out[k, rows] = matrix[:, position[name]]
    return {name: pa.array(out[k], from_pandas=True) for k, name in enumerate(names)}


def _matrix(packed: pa.Array, layouts: Mapping[int, tuple[str, ...]], layout_id: int) -> np.ndarray:
    """The rows' packed values as a (rows, width) matrix: the array's value bytes, as
    they lie, once each row is seen to hold exactly `width` values."""
    if layout_id not in layouts:
        raise CorruptFeatures(f"feature layout {layout_id} is not in the store")
    width = len(layouts[layout_id])
    rows = len(packed)
    if pa.types.is_large_binary(packed.type):
        packed = packed.cast(pa.binary())
    if packed.null_count:
        raise CorruptFeatures(f"{packed.null_count} rows of layout {layout_id} have no values")
    bounds = np.frombuffer(packed.buffers()[1], dtype=np.int32)[
        packed.offset : packed.offset + rows + 1
    ]
    sizes = np.diff(bounds)
    if rows and not (sizes == width * DTYPE.itemsize).all():
        bad = int(np.flatnonzero(sizes != width * DTYPE.itemsize)[0])
        raise CorruptFeatures(
            f"a row of feature layout {layout_id} holds {int(sizes[bad])} bytes of numeric "
            f"features, not {width} float64 ({width * DTYPE.itemsize} bytes)"
        )
    if not rows or not width:
        return np.empty((rows, width), dtype=DTYPE)
    data = packed.buffers()[2]
    start = int(bounds[0])
    return np.frombuffer(data, dtype=DTYPE, count=rows * width, offset=start).reshape(rows, width)


def _columns(
    matrix: np.ndarray, layout: tuple[str, ...], names: Sequence[str]
) -> dict[str, pa.Array]:
    position = {name: j for j, name in enumerate(layout)}
    # One transposed copy: each column contiguous, the joined bytes released after.
    columns = np.ascontiguousarray(matrix.T)
    n = matrix.shape[0]
    return {
        name: (
            pa.array(columns[position[name]], from_pandas=True)
            if name in position
            else pa.nulls(n, pa.float64())
        )
        for name in names
    }
