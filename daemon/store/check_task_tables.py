"""The check runs sent to workers (`[checks] run_on = "celery"`): one row per
(model, kinds, window end). Part of `daemon.store.tables` (imported at its end, so
one `Base.metadata` holds every table).

The row is the run's truth, not the broker: the leader inserts it (or keeps the one
there, so a cycle sent again never doubles), a worker marks it running and then done
with its findings, and the leader applies those findings once (`applied_at`), in
window order per model.
"""

import enum
from datetime import datetime

from sqlalchemy import Boolean, Float, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from daemon.store.base import Base, BigId


class CheckTaskState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    # Sent `attempts` times without an answer before its deadline: the leader gave up.
    FAILED = "failed"


class CheckTask(Base):
    __tablename__ = "check_tasks"
    __table_args__ = (
        UniqueConstraint("model", "kinds", "window_end", name="uq_check_tasks_window"),
        Index("ix_check_tasks_pending", "applied_at", "model", "window_end"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # The model's name, as in job_history: the record outlives a model removed.
    model: Mapped[str] = mapped_column(String(200))
    # The kinds run, sorted and comma-joined; "" for every enabled kind.
    kinds: Mapped[str] = mapped_column(String(200))
    window_end: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16))
    # How many times the leader sent it (a re-send after its deadline adds one).
    attempts: Mapped[int] = mapped_column(Integer)
    queued_at: Mapped[datetime]
    # When the latest send expires: the leader sends it again or gives up.
    deadline: Mapped[datetime]
    # Sent while the model's previous window was still unfinished (a cycle overran).
    overran: Mapped[bool] = mapped_column(Boolean, server_default=false())
    worker: Mapped[str | None] = mapped_column(String(200))
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    duration_s: Mapped[float | None] = mapped_column(Float)
    # {"version": 1, "findings": [...]}: what the leader hands the alert policy.
    findings: Mapped[dict[str, object] | None]
    error: Mapped[str | None] = mapped_column(Text)
    applied_at: Mapped[datetime | None]
