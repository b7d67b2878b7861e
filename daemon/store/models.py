"""The models table's rows: created on first use by whichever job gets there first."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from daemon.store.engine import dialect_insert
from daemon.store.tables import Model


def ensure_model(conn: Connection | Session, name: str, now: datetime) -> int:
    """The id of model `name`, inserting its row if absent.

    Sampling, checks and retraining may meet a new model at the same moment, in
    separate transactions: INSERT ... ON CONFLICT DO NOTHING makes the loser of
    that race read the winner's row instead of failing on the unique name.
    """
    found = conn.scalar(select(Model.id).where(Model.name == name))
    if found is not None:
        return int(found)
    bind = conn.get_bind() if isinstance(conn, Session) else conn
    dialect = bind.dialect.name
    values = {"name": name, "created_at": now}
    conn.execute(
        dialect_insert(dialect, Model)
        .values(values)
        .on_conflict_do_nothing(index_elements=[Model.name])
    )
    created = conn.scalar(select(Model.id).where(Model.name == name))
    if created is None:
        raise RuntimeError(f"model row {name!r} vanished right after its insert")
    return int(created)
