"""Framework verifications: an upgrade replayed on a model's champion, and the verdict.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 07:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "framework_verifications",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("model_version", sa.String(length=50), nullable=True),
        sa.Column("package", sa.String(length=200), nullable=False),
        sa.Column("installed", sa.String(length=100), nullable=False),
        sa.Column("target", sa.String(length=100), nullable=False),
        sa.Column("verdict", sa.String(length=32), nullable=False),
        sa.Column("max_abs_diff", sa.Float(), nullable=True),
        sa.Column("changed_share", sa.Float(), nullable=True),
        sa.Column("p95_change", sa.Float(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("outcome", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_framework_verifications")),
    )
    with op.batch_alter_table("framework_verifications", schema=None) as batch_op:
        batch_op.create_index(
            "ix_framework_verifications_model", ["model", "created_at"], unique=False
        )


def downgrade() -> None:
    op.drop_table("framework_verifications")
