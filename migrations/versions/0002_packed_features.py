"""Features split by kind: numeric ones packed as float64, categorical ones as JSON.

A sampled row's features were one JSON object. The numeric ones are now packed
little-endian float64 values in the order of a `feature_layouts` row, so that a
window reads them as one matrix instead of parsing text; the categorical ones stay
a JSON object. Existing rows are converted in batches: a number goes to the packed
values, a string to the categorical object, a null to neither (both read back as
missing). The downgrade rebuilds the JSON objects.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 15:30:00.000000
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5_000

_layouts = sa.table(
    "feature_layouts",
    sa.column("id", sa.Integer()),
    sa.column("model_id", sa.Integer()),
    sa.column("digest", sa.String()),
    sa.column("numeric", sa.JSON()),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
_predictions = sa.table(
    "predictions",
    sa.column("id", sa.Integer()),
    sa.column("model_id", sa.Integer()),
    sa.column("features", sa.JSON()),
    sa.column("layout_id", sa.Integer()),
    sa.column("numeric_features", sa.LargeBinary()),
    sa.column("categorical_features", sa.JSON()),
)


def upgrade() -> None:
    op.create_table(
        "feature_layouts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("numeric", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["models.id"],
            name=op.f("fk_feature_layouts_model_id_models"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feature_layouts")),
        sa.UniqueConstraint("model_id", "digest", name="uq_feature_layouts_model_digest"),
    )
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("layout_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("numeric_features", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("categorical_features", sa.JSON(), nullable=True))

    _pack_existing_rows(op.get_bind())

    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.alter_column("layout_id", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("numeric_features", existing_type=sa.LargeBinary(), nullable=False)
        batch_op.alter_column("categorical_features", existing_type=sa.JSON(), nullable=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_predictions_layout_id_feature_layouts"),
            "feature_layouts",
            ["layout_id"],
            ["id"],
        )
        batch_op.drop_column("features")


def downgrade() -> None:
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("features", sa.JSON(), nullable=True))

    _unpack_rows(op.get_bind())

    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.alter_column("features", existing_type=sa.JSON(), nullable=False)
        batch_op.drop_constraint(
            batch_op.f("fk_predictions_layout_id_feature_layouts"), type_="foreignkey"
        )
        batch_op.drop_column("categorical_features")
        batch_op.drop_column("numeric_features")
        batch_op.drop_column("layout_id")
    op.drop_table("feature_layouts")


def _digest(names: Sequence[str]) -> str:
    return hashlib.sha256(json.dumps(list(names)).encode()).hexdigest()


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _batches(conn: sa.Connection, *columns: sa.ColumnClause[object]) -> Iterator[list[sa.Row[Any]]]:
    """All predictions (id first, then `columns`) in batches of BATCH, in id order."""
    last = -1
    while rows := conn.execute(
        sa.select(_predictions.c.id, *columns)
        .where(_predictions.c.id > last)
        .order_by(_predictions.c.id)
        .limit(BATCH)
    ).all():
        yield list(rows)
        last = rows[-1][0]


def _pack_existing_rows(conn: sa.Connection) -> None:
    layout_ids: dict[tuple[int, tuple[str, ...]], int] = {}
    now = datetime.now(UTC)
    for rows in _batches(conn, _predictions.c.model_id, _predictions.c.features):
        updates = []
        for row_id, model_id, feats in rows:
            values = feats if isinstance(feats, dict) else json.loads(feats or "{}")
            numeric = {k: float(v) for k, v in values.items() if _is_number(v)}
            categorical = {k: v for k, v in values.items() if isinstance(v, str)}
            key = (int(model_id), tuple(numeric))
            if key not in layout_ids:
                layout_ids[key] = _ensure_layout(conn, key[0], key[1], now)
            updates.append(
                {
                    "row_id": row_id,
                    "layout_id": layout_ids[key],
                    "packed": np.array(list(numeric.values()), dtype="<f8").tobytes(),
                    "categorical": categorical,
                }
            )
        conn.execute(
            sa.update(_predictions)
            .where(_predictions.c.id == sa.bindparam("row_id"))
            .values(
                layout_id=sa.bindparam("layout_id"),
                numeric_features=sa.bindparam("packed"),
                categorical_features=sa.bindparam("categorical"),
            ),
            updates,
        )


def _ensure_layout(
    conn: sa.Connection, model_id: int, names: tuple[str, ...], now: datetime
) -> int:
    digest = _digest(names)
    query = sa.select(_layouts.c.id).where(
        _layouts.c.model_id == model_id, _layouts.c.digest == digest
    )
    found = conn.scalar(query)
    if found is None:
        stamp = now.replace(tzinfo=None) if conn.dialect.name == "sqlite" else now
        conn.execute(
            sa.insert(_layouts).values(
                model_id=model_id, digest=digest, numeric=list(names), created_at=stamp
            )
        )
        found = conn.scalar(query)
    return int(found)


def _unpack_rows(conn: sa.Connection) -> None:
    layouts = {
        int(i): list(names)
        for i, names in conn.execute(sa.select(_layouts.c.id, _layouts.c.numeric))
    }
    for rows in _batches(
        conn,
        _predictions.c.layout_id,
        _predictions.c.numeric_features,
        _predictions.c.categorical_features,
    ):
        updates = []
        for row_id, layout_id, packed, categorical in rows:
            values = np.frombuffer(bytes(packed), dtype="<f8").tolist()
            feats: dict[str, object] = {
                name: None if np.isnan(v) else v
                for name, v in zip(layouts[int(layout_id)], values, strict=True)
            }
            feats.update(categorical or {})
            updates.append({"row_id": row_id, "features": feats})
        conn.execute(
            sa.update(_predictions)
            .where(_predictions.c.id == sa.bindparam("row_id"))
            .values(features=sa.bindparam("features")),
            updates,
        )
