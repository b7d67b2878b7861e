"""The ORM tables: the whole design, owned by the alembic migrations.

Every time is UTC. `UTCDateTime` stores naive UTC on SQLite (which has no time
zone type) and `timestamptz` on PostgreSQL, and always hands back aware UTC.
A change here needs a migration: `alembic check` in the test suite fails when
the two disagree.

No `from __future__ import annotations` here: the `Mapped[...]` annotations are
objects already, not strings SQLAlchemy evaluates one by one at import (a tenth of
this module's import time, which every `mlmaint` command pays).
"""

import enum
from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ColumnElement,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from checks.interface import Status
from daemon.runs import RunOutcome
from daemon.store.base import Base as Base
from daemon.store.base import BigId as BigId
from daemon.store.base import UTCDateTime as UTCDateTime
from retrain.interface import JobState


class AlertState(enum.StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"
    # A one-time event (a retrain decision): told once, kept as history, never firing.
    EVENT = "event"


class NotificationState(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    DEAD = "dead"


def _enum(cls: type[enum.StrEnum]) -> String:
    # Enums as plain strings: no PostgreSQL enum types to migrate when a value is added.
    return String(max(len(v.value) for v in cls) + 8)


class Model(Base):
    __tablename__ = "models"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime]
    # The registered model version currently serving (after promotion) and its reference.
    current_version: Mapped[str | None] = mapped_column(String(64))
    reference_uri: Mapped[str | None] = mapped_column(Text)
    reference_sha256: Mapped[str | None] = mapped_column(String(64))
    # A rollback pins the model to the version it rolled back to: no automatic
    # promotion until `retrain unpin`, or until `pinned_until` (None: no expiry).
    pinned_version: Mapped[str | None] = mapped_column(String(64))
    pinned_at: Mapped[datetime | None]
    pinned_until: Mapped[datetime | None]
    pinned_by: Mapped[str | None] = mapped_column(String(200))


class RegistryVersion(Base):
    """A model's registered version and aliases as MLflow last said (store/versions.py):
    the page and /v1 list versions that never served without asking MLflow."""

    __tablename__ = "registry_versions"
    __table_args__ = (
        UniqueConstraint("model_id", "version", name="uq_registry_versions_model_version"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    version: Mapped[str] = mapped_column(String(64))
    # The aliases on this version ("champion"), sorted; empty when none.
    aliases: Mapped[list[str]] = mapped_column(JSON)
    run_id: Mapped[str | None] = mapped_column(String(64))
    # When the registry created the version (None: it did not say).
    registered_at: Mapped[datetime | None]
    synced_at: Mapped[datetime]


class FeatureLayout(Base):
    """The numeric feature names, in order, that a prediction's packed values follow.

    A model's schema may gain or lose features over time: each row keeps the layout it
    was written with, and a window maps every layout onto the schema it is read with.
    """

    __tablename__ = "feature_layouts"
    __table_args__ = (
        UniqueConstraint("model_id", "digest", name="uq_feature_layouts_model_digest"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    # sha256 of the JSON list of names: the unique key (a JSON column can't be one).
    digest: Mapped[str] = mapped_column(String(64))
    numeric: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime]


class Prediction(Base):
    __tablename__ = "predictions"
    __table_args__ = (
        UniqueConstraint("model_id", "prediction_id", name="uq_predictions_model_prediction"),
        Index("ix_predictions_model_ts", "model_id", "ts"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    prediction_id: Mapped[str] = mapped_column(String(200))
    ts: Mapped[datetime]
    # The features, split by kind (daemon/store/features.py): the numeric ones as
    # little-endian float64 in the order of the row's layout (NaN where missing), the
    # categorical ones as a JSON object of strings.
    layout_id: Mapped[int] = mapped_column(ForeignKey("feature_layouts.id"))
    numeric_features: Mapped[bytes] = mapped_column(LargeBinary)
    categorical_features: Mapped[dict[str, object]]
    prediction: Mapped[str | None] = mapped_column(Text)
    score: Mapped[float | None] = mapped_column(Float)
    label: Mapped[str | None] = mapped_column(Text)
    labelled_at: Mapped[datetime | None]
    latency_ms: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    memory_mb: Mapped[float | None] = mapped_column(Float)
    model_version: Mapped[str | None] = mapped_column(String(64))


class PendingLabel(Base):
    """A label whose prediction has not been sampled yet: joined when it arrives."""

    __tablename__ = "pending_labels"
    __table_args__ = (
        UniqueConstraint("model_id", "prediction_id", name="uq_pending_labels_model_prediction"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    prediction_id: Mapped[str] = mapped_column(String(200))
    label: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime]


class Watermark(Base):
    """How far a source has been read: a cursor value or per-file offsets (JSON)."""

    __tablename__ = "watermarks"
    __table_args__ = (UniqueConstraint("model_id", "stream", name="uq_watermarks_model_stream"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    # "predictions" or "labels"
    stream: Mapped[str] = mapped_column(String(32))
    state: Mapped[dict[str, object]]
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime]


class RejectedRow(Base):
    __tablename__ = "rejected_rows"
    __table_args__ = (Index("ix_rejected_rows_model_at", "model_id", "received_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    stream: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text)
    # A bounded excerpt of the raw row.
    raw: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime]


class IngestCount(Base):
    """Daily counters per model and stream: sampled, skipped and rejected by reason.

    These are the aggregates the weekly report keeps after retention purges rows.
    """

    __tablename__ = "ingest_counts"
    __table_args__ = (
        UniqueConstraint("model_id", "day", "stream", "outcome", name="uq_ingest_counts_key"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    day: Mapped[str] = mapped_column(String(10))
    stream: Mapped[str] = mapped_column(String(32))
    # "sampled", "skipped", "duplicate" or "rejected:<reason>"
    outcome: Mapped[str] = mapped_column(String(80))
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class CheckRun(Base):
    __tablename__ = "check_runs"
    __table_args__ = (
        Index("ix_check_runs_model_kind_end", "model_id", "kind", "window_end"),
        # A model's runs over time, all kinds: /v1 history and `status`.
        Index("ix_check_runs_model_end", "model_id", "window_end"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[Status] = mapped_column(_enum(Status))
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    ran_at: Mapped[datetime]
    duration_s: Mapped[float] = mapped_column(Float)
    rows: Mapped[int] = mapped_column(Integer)
    summary: Mapped[dict[str, object]]
    model_version: Mapped[str | None] = mapped_column(String(64))
    evidence_path: Mapped[str | None] = mapped_column(Text)
    # A run over a past window (`mlmaint check --at/--from`, the first-start backfill):
    # history, not news, so it never counts toward a retrain streak. A window once
    # checked live stays live when it is checked again.
    backfill: Mapped[bool] = mapped_column(Boolean, server_default=false())
    # The segment judged ("region=A", "region=other"); NULL: the model's whole window.
    segment: Mapped[str | None] = mapped_column(String(200))


def of_segment(segment: str | None) -> ColumnElement[bool]:
    """The runs of one segment; None: the model's whole windows (no segment)."""
    return CheckRun.segment.is_(None) if segment is None else CheckRun.segment == segment


class CheckMetric(Base):
    __tablename__ = "check_metrics"
    __table_args__ = (Index("ix_check_metrics_run", "run_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("check_runs.id", ondelete="CASCADE"))
    # The column or aggregate the metric is about ("age", "dataset", "roc_auc").
    subject: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(64))
    value: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float)
    alerting: Mapped[bool] = mapped_column(Boolean, default=False)
    detail: Mapped[str | None] = mapped_column(String(200))
    # Where the threshold came from ("at n=120, calibrated for 1% false alarms").
    basis: Mapped[str | None] = mapped_column(String(200))


class ReferenceCalibrationRow(Base):
    """Calibrated thresholds and bands of one reference version (checks/calibration/).

    `key` hashes the reference's digest, the model's column layout, the methods
    and what is calibrated; `version` is the calibration format's. Computed once,
    read by every check run after it (and after a restart).
    """

    __tablename__ = "reference_calibrations"
    __table_args__ = (UniqueConstraint("key", name="uq_reference_calibrations_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(64))
    reference_digest: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    duration_s: Mapped[float] = mapped_column(Float)
    payload: Mapped[str] = mapped_column(Text)


class Alert(Base):
    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("fingerprint", name="uq_alerts_fingerprint"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    # The model name or the framework environment name.
    scope: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(300))
    state: Mapped[AlertState] = mapped_column(_enum(AlertState))
    severity: Mapped[str] = mapped_column(String(16))
    summary: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, object]]
    first_fired_at: Mapped[datetime]
    last_fired_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    last_notified_at: Mapped[datetime | None]
    # What people were last told ("firing" or "resolved") and at which severity: a
    # resolution is announced only after the cooldown, so a flapping alert stays quiet.
    notified_state: Mapped[str | None] = mapped_column(String(16))
    notified_severity: Mapped[str | None] = mapped_column(String(16))
    # An ack silences repeats until acked_until, or until the alert resolves when None.
    acked_at: Mapped[datetime | None]
    acked_until: Mapped[datetime | None]
    ack_note: Mapped[str | None] = mapped_column(Text)
    fire_count: Mapped[int] = mapped_column(Integer, default=1)


class Notification(Base):
    """The transactional outbox: written with the alert change, delivered later."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_state_next", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(100))
    # "firing", "repeat", "resolved", "report", "test"
    kind: Mapped[str] = mapped_column(String(32))
    scope: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, object]]
    state: Mapped[NotificationState] = mapped_column(_enum(NotificationState))
    created_at: Mapped[datetime]
    not_before: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]


class NotificationAlert(Base):
    """Which alerts a (grouped) notification is about."""

    __tablename__ = "notification_alerts"

    notification_id: Mapped[int] = mapped_column(
        ForeignKey("notifications.id", ondelete="CASCADE"), primary_key=True
    )
    alert_id: Mapped[int] = mapped_column(
        ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True
    )


class RetrainJob(Base):
    __tablename__ = "retrain_jobs"
    __table_args__ = (Index("ix_retrain_jobs_model_state", "model_id", "state"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job_uid: Mapped[str] = mapped_column(String(64), unique=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    trigger: Mapped[str] = mapped_column(String(32))
    state: Mapped[JobState] = mapped_column(_enum(JobState))
    executor: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str | None] = mapped_column(String(200))
    spec: Mapped[dict[str, object]]
    outcome: Mapped[dict[str, object] | None] = mapped_column(JSON)
    snapshot_sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    deadline_at: Mapped[datetime | None]
    registered_version: Mapped[str | None] = mapped_column(String(64))
    promoted: Mapped[bool] = mapped_column(Boolean, default=False)
    log_tail: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)


class Report(Base):
    __tablename__ = "reports"
    __table_args__ = (UniqueConstraint("week", name="uq_reports_week"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # ISO week, "2026-W47"
    week: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime]
    path: Mapped[str] = mapped_column(Text)
    summary: Mapped[dict[str, object]]
    html: Mapped[bytes | None] = mapped_column(LargeBinary)
    # When the report was last queued on its channels (with the outbox rows); a week
    # built but never sent (a failed send, `mlmaint report` without --send) is None.
    sent_at: Mapped[datetime | None]


class JobRun(Base):
    """The last run of each scheduled job, so health and catch-up survive a restart."""

    __tablename__ = "job_runs"

    job_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    last_started_at: Mapped[datetime | None]
    last_finished_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_status: Mapped[str] = mapped_column(String(16))
    last_error: Mapped[str | None] = mapped_column(Text)
    last_duration_s: Mapped[float | None] = mapped_column(Float)
    runs: Mapped[int] = mapped_column(BigInteger, default=0)
    failures: Mapped[int] = mapped_column(BigInteger, default=0)


class JobHistory(Base):
    """One row per finished run of a scheduled job: what a week's daemon health counts.

    `job_runs` keeps each job's last run and its totals; this keeps every run, for
    `[service] job_history` (the retention sweep deletes older ones). The model is its
    name, not a key: a run's record outlives a model removed from the config.
    """

    __tablename__ = "job_history"
    __table_args__ = (Index("ix_job_history_started", "started_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job_id: Mapped[str] = mapped_column(String(200))
    stage: Mapped[str] = mapped_column(String(32))
    model: Mapped[str | None] = mapped_column(String(100))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime]
    duration_s: Mapped[float] = mapped_column(Float)
    outcome: Mapped[RunOutcome] = mapped_column(_enum(RunOutcome))
    error: Mapped[str | None] = mapped_column(Text)


# The frameworks room's tables live in their own module; imported here so that
# `Base.metadata` (alembic, the test templates) and `from daemon.store.tables import
# FrameworkFinding` see them as before.
from daemon.store.check_task_tables import (  # noqa: E402
    CheckTask as CheckTask,
)
from daemon.store.check_task_tables import (  # noqa: E402
    CheckTaskState as CheckTaskState,
)
from daemon.store.framework_tables import (  # noqa: E402
    Advisory as Advisory,
)
from daemon.store.framework_tables import (  # noqa: E402
    AdvisoryPackage as AdvisoryPackage,
)
from daemon.store.framework_tables import (  # noqa: E402
    FrameworkFinding as FrameworkFinding,
)
from daemon.store.framework_tables import (  # noqa: E402
    FrameworkVerification as FrameworkVerification,
)
from daemon.store.framework_tables import (  # noqa: E402
    ReleaseCache as ReleaseCache,
)
