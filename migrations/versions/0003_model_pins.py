"""A model's pin: after a rollback, no automatic promotion until unpinned or expired.

Four nullable columns on `models`: the pinned version, since when, until when
(null: until `mlmaint retrain unpin`), and who pinned it. Existing models are
unpinned.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 21:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pinned_version", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("pinned_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("pinned_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("pinned_by", sa.String(length=200), nullable=True))


def downgrade() -> None:
    # Not batch mode: on SQLite it rebuilds `models` (copy, DROP, rename), and the
    # DROP cascades to every table whose foreign key points at it, emptying the
    # predictions. SQLite 3.35+ drops a column in place, as PostgreSQL does.
    for column in ("pinned_by", "pinned_until", "pinned_at", "pinned_version"):
        op.execute(sa.text(f"ALTER TABLE models DROP COLUMN {column}"))
