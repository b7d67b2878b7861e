"""A check run says whether it was a backfill: a past window, not a live one.

One column on `check_runs`, false by default: the runs stored before it are
taken as live, as they were counted until now. The retrain policy counts only
live runs toward a failing streak, so a replay of the past starts no retrain.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 16:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("check_runs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("backfill", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    # Not batch mode: on SQLite it rebuilds `check_runs` (copy, DROP, rename), and the
    # DROP cascades to its measures. SQLite 3.35+ drops a column in place.
    op.execute(sa.text("ALTER TABLE check_runs DROP COLUMN backfill"))
