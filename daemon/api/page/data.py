"""What the page shows, as frozen data: read from the store by reads.py, drawn by render.py.

Every point on a chart is one stored check run's measure, with the run's id and
window end, so what the page draws can be traced back to the row it came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from daemon.report.model import FrameworkEnv, Health, PinRow, RetrainRow


@dataclass(frozen=True, kw_only=True)
class Point:
    """One stored measure of one check run."""

    at: datetime
    value: float
    threshold: float | None
    alerting: bool
    run_id: int


@dataclass(frozen=True, kw_only=True)
class FeatureDrift:
    """One feature's drift score against its threshold, oldest point first."""

    feature: str
    # The statistic (check_metrics.name: "wasserstein", "psi", ...) and its display name.
    method: str
    detail: str | None
    basis: str | None
    points: tuple[Point, ...]
    # The model's prediction, score or label: drift of its outputs, not an input
    # feature (the drift check's dataset rule counts input features only).
    output: bool = False

    @property
    def last(self) -> Point:
        return self.points[-1]

    @property
    def drifted(self) -> bool:
        """Beyond its threshold in the latest run."""
        return self.last.alerting

    @property
    def ratio(self) -> float:
        """The latest score over its threshold: the page lists the worst features first."""
        threshold = self.last.threshold
        if threshold is None or threshold <= 0:
            return 0.0
        return self.last.value / threshold


@dataclass(frozen=True, kw_only=True)
class PerformanceTrend:
    """The headline metric, realized (with labels) against estimated (without), over time."""

    metric: str | None
    realized: tuple[Point, ...]
    estimated: tuple[Point, ...]
    # The latest baseline the runs compared against.
    baseline: float | None

    @property
    def empty(self) -> bool:
        return not self.realized and not self.estimated


@dataclass(frozen=True, kw_only=True)
class KindStatus:
    """The latest run of one check kind."""

    kind: str
    status: str
    at: datetime


@dataclass(frozen=True, kw_only=True)
class AlertView:
    id: int
    scope: str
    kind: str
    subject: str
    severity: str
    summary: str
    first_fired_at: datetime
    last_fired_at: datetime
    fire_count: int
    acked_until: datetime | None


@dataclass(frozen=True, kw_only=True)
class VersionView:
    version: str
    serving: bool
    pinned: bool
    # The job that registered it (mlmaint trained it), None for a version mlmaint
    # did not train (registered by hand, onboarded).
    trained_by: RetrainRow | None
    # What the store says of it, in words.
    note: str
    # Its aliases as the registry last said ("champion"); empty when none or unknown.
    aliases: tuple[str, ...] = ()
    # When the registry created it (None: not recorded).
    registered_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class ModelView:
    name: str
    # The version the registry's alias points at, as the store last recorded it.
    version: str | None
    alias: str
    # None: the model is in the store but no longer in the config.
    retrain_enabled: bool | None
    pin: PinRow | None
    # As the report judges a model: alerting (an alert fires or a latest run alerts),
    # degraded (a latest run errored or lacked data), healthy, no data.
    health: Health
    statuses: tuple[KindStatus, ...]
    # Worst first: drifted features, then by score over threshold.
    drift: tuple[FeatureDrift, ...]
    # Drift runs stored in the span, and how many the charts show (see reads.thin).
    drift_runs: int
    drift_shown: int
    performance: PerformanceTrend
    alerts: tuple[AlertView, ...]
    # Newest first.
    jobs: tuple[RetrainRow, ...]
    # Every version the store knows, newest first (versions.known_versions).
    versions: tuple[VersionView, ...]
    # The time axis every chart of the model shares; None without a run to draw.
    start: datetime | None
    end: datetime | None

    @property
    def inputs(self) -> tuple[FeatureDrift, ...]:
        """The input features' drift: what the dataset rule's share counts."""
        return tuple(f for f in self.drift if not f.output)

    @property
    def outputs(self) -> tuple[FeatureDrift, ...]:
        """Prediction, score and label drift, kept apart from the features' share."""
        return tuple(f for f in self.drift if f.output)

    @property
    def drifted(self) -> int:
        """Input features beyond their threshold in the latest run."""
        return sum(1 for f in self.inputs if f.drifted)

    @property
    def configured(self) -> bool:
        return self.retrain_enabled is not None


@dataclass(frozen=True, kw_only=True)
class PageData:
    generated_at: datetime
    # How far back from each model's latest run the charts reach.
    history: timedelta
    models: tuple[ModelView, ...]
    # Every firing alert, models' and environments' alike.
    alerts: tuple[AlertView, ...]
    frameworks: tuple[FrameworkEnv, ...]
    # When the daemon's framework scan last succeeded: with no findings stored, it
    # tells a clean scan from none at all.
    frameworks_scanned_at: datetime | None = None

    def health_counts(self) -> dict[Health, int]:
        return {h: sum(1 for m in self.models if m.health is h) for h in Health}
