"""Calibrated thresholds and performance bands, stored once per reference version.

Also `check_metrics.basis`: where each threshold came from (calibrated at the
window's size, Evidently's default, a band, a margin). Existing rows: null.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 08:45:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reference_calibrations",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            nullable=False,
        ),
        sa.Column(
            "model_id",
            sa.Integer(),
            sa.ForeignKey("models.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("reference_digest", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.UniqueConstraint("key", name="uq_reference_calibrations_key"),
    )
    with op.batch_alter_table("check_metrics", schema=None) as batch_op:
        batch_op.add_column(sa.Column("basis", sa.String(length=200), nullable=True))


def downgrade() -> None:
    # In place (SQLite 3.35+ and PostgreSQL): no batch rebuild of a table others point at.
    op.execute(sa.text("ALTER TABLE check_metrics DROP COLUMN basis"))
    op.drop_table("reference_calibrations")
