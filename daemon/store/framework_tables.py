"""The frameworks room's tables: findings, the offline advisory mirror, the release
cache and the verifications. Part of `daemon.store.tables` (which imports this
module at its end, so one `Base.metadata` holds every table).
"""

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from daemon.store.base import Base, BigId


class FrameworkFinding(Base):
    __tablename__ = "framework_findings"
    __table_args__ = (Index("ix_framework_findings_env_scan", "environment", "scanned_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    environment: Mapped[str] = mapped_column(String(200))
    package: Mapped[str] = mapped_column(String(200))
    installed: Mapped[str] = mapped_column(String(100))
    # "vulnerable", "yanked", "major_behind", "minor_behind", "stale", "eol", ...
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    advisory_ids: Mapped[dict[str, object]]
    recommended: Mapped[str | None] = mapped_column(String(100))
    detail: Mapped[str] = mapped_column(Text)
    scanned_at: Mapped[datetime]
    first_seen_at: Mapped[datetime]
    ignored_reason: Mapped[str | None] = mapped_column(Text)


class Advisory(Base):
    """The offline OSV mirror: one row per record, the record kept whole."""

    __tablename__ = "advisories"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    modified: Mapped[datetime]
    withdrawn: Mapped[datetime | None]
    aliases: Mapped[dict[str, object]]
    packages: Mapped[dict[str, object]]
    record: Mapped[dict[str, object]]
    source: Mapped[str] = mapped_column(String(200))


class AdvisoryPackage(Base):
    """Lookup from a normalized package name to the advisories that name it."""

    __tablename__ = "advisory_packages"

    package: Mapped[str] = mapped_column(String(200), primary_key=True)
    advisory_id: Mapped[str] = mapped_column(
        ForeignKey("advisories.id", ondelete="CASCADE"), primary_key=True
    )


class ReleaseCache(Base):
    __tablename__ = "release_cache"
    __table_args__ = (UniqueConstraint("index_url", "package", name="uq_release_cache_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    index_url: Mapped[str] = mapped_column(String(300))
    package: Mapped[str] = mapped_column(String(200))
    fetched_at: Mapped[datetime]
    releases: Mapped[dict[str, object]]


class FrameworkVerification(Base):
    """One `frameworks verify` run: an upgrade replayed on a model's champion, and the verdict."""

    __tablename__ = "framework_verifications"
    __table_args__ = (Index("ix_framework_verifications_model", "model", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    model: Mapped[str] = mapped_column(String(200))
    model_version: Mapped[str | None] = mapped_column(String(50))
    # The upgraded package (the first of the upgrade), as installed and as proposed.
    package: Mapped[str] = mapped_column(String(200))
    installed: Mapped[str] = mapped_column(String(100))
    target: Mapped[str] = mapped_column(String(100))
    # checks.frameworks.verdict.Verdict values.
    verdict: Mapped[str] = mapped_column(String(32))
    max_abs_diff: Mapped[float | None] = mapped_column(Float)
    changed_share: Mapped[float | None] = mapped_column(Float)
    p95_change: Mapped[float | None] = mapped_column(Float)
    # The one line the report and the alert show ("predictions identical to 1e-06; p95 -8%").
    summary: Mapped[str] = mapped_column(Text)
    # The whole VerifyOutcome (retrain.verify.spec), read back by its own reader.
    outcome: Mapped[dict[str, object]]
    created_at: Mapped[datetime]
    duration_s: Mapped[float] = mapped_column(Float)
