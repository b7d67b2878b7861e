"""SQL source: a table or query in the production database, read incrementally.

Rows are read in bounded pages ordered by (cursor column, id column), keyset
paginated, never the whole table. With a timestamp cursor, each run starts
`lag` before the highest cursor seen, so rows that commit late are still
picked up; rows read again are no-ops thanks to the unique prediction id, and
only rows past the previous high mark are counted as new traffic.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import create_engine, text

from daemon.config import CursorKind, Secret, SqlSource
from daemon.store.engine import store_url


@dataclass(frozen=True)
class SqlChunk:
    records: list[dict[str, object]]
    # True for rows at or below the previous high mark: seen before, unless they came late.
    replay: list[bool]
    state: dict[str, object]

    @property
    def rows(self) -> int:
        return len(self.records)


def _encode(value: object) -> dict[str, object] | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return {"t": "datetime", "v": value.isoformat(), "naive": value.tzinfo is None}
    if isinstance(value, str):
        return {"t": "str", "v": value}
    if isinstance(value, int | float):
        return {"t": "num", "v": value}
    return {"t": "str", "v": str(value)}


def _decode(data: object) -> object:
    if not isinstance(data, dict):
        return None
    if data.get("t") == "datetime":
        return datetime.fromisoformat(str(data["v"]))
    return data.get("v")


def _minus(value: object, lag: timedelta) -> object:
    if isinstance(value, datetime):
        return value - lag
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return value
        return (parsed - lag).isoformat(sep="T" if "T" in value else " ")
    return value


def _after(a: object, b: object) -> bool:
    try:
        return bool(a > b)  # type: ignore[operator]
    except TypeError:
        return str(a) > str(b)


def read_sql(
    source: SqlSource, password: Secret | None, id_column: str, state: dict[str, object]
) -> Iterator[SqlChunk]:
    engine = create_engine(store_url(source.url, password))
    try:
        with engine.connect() as conn:
            quote = conn.dialect.identifier_preparer.quote
            cur, idc = quote(source.cursor_column), quote(id_column)
            if source.table is not None:
                table = ".".join(quote(p) for p in source.table.split("."))
                base = f"SELECT * FROM {table}"
            else:
                base = f"SELECT * FROM ({source.query}) AS mlmaint_src"
            high = start_high = _decode(state.get("high"))
            position: tuple[object, object] | None = None
            if high is not None:
                if source.cursor_kind is CursorKind.TIMESTAMP:
                    position = (_minus(high, source.lag), None)
                else:
                    position = (_decode(state.get("cursor")), state.get("id"))
            while True:
                params: dict[str, object] = {"n": source.batch_size}
                if position is None:
                    where = ""
                elif position[1] is None:
                    where = f"WHERE {cur} >= :c"
                    params["c"] = position[0]
                else:
                    where = f"WHERE {cur} > :c OR ({cur} = :c AND {idc} > :i)"
                    params.update(c=position[0], i=position[1])
                rows = [
                    dict(r)
                    for r in conn.execute(
                        text(f"{base} {where} ORDER BY {cur}, {idc} LIMIT :n"), params
                    ).mappings()
                ]
                if not rows:
                    return
                last = rows[-1]
                position = (last[source.cursor_column], last[id_column])
                replay = [
                    start_high is not None and not _after(r[source.cursor_column], start_high)
                    for r in rows
                ]
                for r in rows:
                    if high is None or _after(r[source.cursor_column], high):
                        high = r[source.cursor_column]
                new_state: dict[str, object] = {
                    "cursor": _encode(position[0]),
                    "id": position[1] if isinstance(position[1], int | str) else str(position[1]),
                    "high": _encode(high),
                }
                yield SqlChunk(records=rows, replay=replay, state=new_state)
                if len(rows) < source.batch_size:
                    return
    finally:
        engine.dispose()
