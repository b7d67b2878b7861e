"""Every run of every job, every registered version, check runs by window end.

`job_history` keeps one row per finished run (job, stage, model, start, end,
outcome, error): a week's daemon health counts that week's runs, where
`job_runs` kept only each job's last run and its totals since the store began.
It starts empty: runs before the upgrade are not known one by one.

`registry_versions` keeps every registered version of a model with its aliases,
as MLflow's registry last said (onboarding and each registry sync write it): a
version registered by hand that never served is known to the page and /v1 too.

`ix_check_runs_model_end` serves a model's runs of every kind over time (the /v1
history and `status`), which `ix_check_runs_model_kind_end` serves only per kind.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 06:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "job_history",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("job_id", sa.String(length=200), nullable=False),
        sa.Column("stage", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=100), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("outcome", sa.String(length=15), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_history")),
    )
    op.create_index("ix_job_history_started", "job_history", ["started_at"], unique=False)
    op.create_table(
        "registry_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "model_id",
            sa.Integer(),
            sa.ForeignKey(
                "models.id",
                name=op.f("fk_registry_versions_model_id_models"),
                ondelete="CASCADE",
            ),
            nullable=False,
        ),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("aliases", sa.JSON(), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_versions")),
        sa.UniqueConstraint("model_id", "version", name="uq_registry_versions_model_version"),
    )
    op.create_index(
        "ix_check_runs_model_end", "check_runs", ["model_id", "window_end"], unique=False
    )


def downgrade() -> None:
    # Plain DROP INDEX on both backends: no batch rebuild of check_runs (which
    # check_metrics points at).
    op.drop_index("ix_check_runs_model_end", table_name="check_runs")
    op.drop_table("registry_versions")
    op.drop_index("ix_job_history_started", table_name="job_history")
    op.drop_table("job_history")
