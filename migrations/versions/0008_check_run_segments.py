"""Check runs of a segment: the segment ("region=A") a run was judged on, NULL for the totals.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 16:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A nullable column without a default: ALTER TABLE ADD COLUMN on both backends, no
    # batch rebuild of check_runs (which check_metrics points at).
    op.add_column("check_runs", sa.Column("segment", sa.String(length=200), nullable=True))


def downgrade() -> None:
    # Segment runs mean nothing without their column: the totals stay.
    op.execute("DELETE FROM check_runs WHERE segment IS NOT NULL")
    # SQLite >= 3.35 drops a column in place, as PostgreSQL does.
    op.drop_column("check_runs", "segment")
