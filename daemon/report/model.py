"""The report's data: one week as frozen values, computed before anything renders.

Everything the template shows is here, so rendering is pure and tests can assert on
figures without parsing HTML. daemon/report/queries.py reads these from the store,
figures.py derives the per-model series, actions.py ranks what to do, and gather.py
puts them together.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from checks.interface import CheckKind
from daemon.report.weeks import Week
from daemon.store.tables import AlertState
from retrain.policy import trigger_words

# The drifting features a model's table shows, most often drifted first.
TOP_FEATURES = 5


class Health(enum.StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    ALERTING = "alerting"
    NO_DATA = "no data"


@dataclass(frozen=True, kw_only=True)
class KindCounts:
    runs: int = 0
    alert: int = 0
    insufficient: int = 0
    error: int = 0


@dataclass(frozen=True, kw_only=True)
class FeatureDrift:
    column: str
    method: str
    detail: str | None
    runs: int
    drifted_runs: int
    last_score: float | None
    max_score: float | None
    threshold: float | None
    # Where the last threshold came from ("at n=120, calibrated for 1% false alarms").
    basis: str | None = None

    @property
    def drifted_share(self) -> float:
        return self.drifted_runs / self.runs if self.runs else 0.0


@dataclass(frozen=True, kw_only=True)
class DriftPolicy:
    """How a model's drift thresholds are set, and what that means over a week."""

    calibrated: bool
    false_alarm_rate: float | None
    # Drift check runs a week at the configured cadence (None: not computable).
    runs_per_week: int | None
    persistence: str | None = None

    @property
    def expected_false_alarms(self) -> float | None:
        """Check runs a week expected to flag a column on clean data (at most)."""
        if not self.calibrated or self.false_alarm_rate is None or self.runs_per_week is None:
            return None
        return self.false_alarm_rate * self.runs_per_week

    def sentence(self) -> str:
        if not self.calibrated:
            return (
                "Drift thresholds: Evidently's fixed defaults, which ignore the window's "
                'size: the false-alarm rate is unknown (set thresholds = "calibrated").'
            )
        rate = f"{(self.false_alarm_rate or 0) * 100:.3g}%"
        text = (
            f"Drift thresholds calibrated from the reference for {rate} false alarms per check run"
        )
        expected = self.expected_false_alarms
        if expected is not None:
            text += (
                f": at {self.runs_per_week} runs a week, at most {expected:.2g} runs a week "
                "are expected to flag a column on clean data"
            )
        if self.persistence:
            text += f"; a column alerts only when beyond its threshold in {self.persistence}"
        return text + "."


@dataclass(frozen=True, kw_only=True)
class PerformanceRow:
    """One performance check's line of the week: realized (labels) or estimated (no labels).

    Each check has its own threshold (a band from the reference's chunks of its own
    kind): a row shows the threshold of the check that produced its value.
    """

    kind: str
    metric: str
    last: float | None
    # The last judged run's boundary, and where it came from (a band, a margin).
    threshold: float | None
    basis: str | None
    alert_runs: int
    # The day `last` was measured on, and whether it is older than the week's last
    # performance run of either kind (labels stopped coming: a realized figure from
    # the last labelled window is not the last day's).
    day: date | None = None
    stale: bool = False

    @property
    def label(self) -> str:
        return "estimated" if self.kind == CheckKind.ESTIMATED_PERFORMANCE else "realized"

    @property
    def estimated(self) -> bool:
        return self.kind == CheckKind.ESTIMATED_PERFORMANCE


@dataclass(frozen=True, kw_only=True)
class PerformanceTrend:
    metric: str | None
    baseline: float | None
    # One line per performance check that judged a run this week, realized first.
    rows: tuple[PerformanceRow, ...] = ()
    realized: tuple[float | None, ...]
    estimated: tuple[float | None, ...]
    last_realized: float | None
    last_estimated: float | None
    alert_runs: int
    # Why the latest performance run measured nothing (e.g. too few labels), if it did not.
    note: str | None = None

    @property
    def current(self) -> PerformanceRow | None:
        """The row that says how the model does now: realized, unless its figure is
        older than the week's last performance run and an estimate is not."""
        fresh = next((r for r in self.rows if not r.stale), None)
        return fresh or next(iter(self.rows), None)


@dataclass(frozen=True, kw_only=True)
class QualityIssue:
    column: str
    name: str
    worst: float | None
    threshold: float | None
    alert_runs: int
    runs: int
    detail: str | None


@dataclass(frozen=True, kw_only=True)
class AlertRow:
    kind: str
    subject: str
    severity: str
    state: AlertState
    summary: str
    first_fired_at: datetime
    resolved_at: datetime | None
    fired_this_week: bool
    resolved_this_week: bool
    fire_count: int
    # Why performance fell, when the alert is a decay's (daemon/checking/causes.py).
    why: str | None = None


@dataclass(frozen=True, kw_only=True)
class RetrainRow:
    job_uid: str
    trigger: str
    state: str
    created_at: datetime
    finished_at: datetime | None
    registered_version: str | None
    champion_version: str | None
    metric: str | None
    champion_score: float | None
    challenger_score: float | None
    promoted: bool
    reason: str
    error: str | None

    @property
    def trigger_words(self) -> str:
        """What started the job, in words: "drift", "performance decay", "by hand"."""
        return trigger_words(self.trigger)


@dataclass(frozen=True, kw_only=True)
class DecisionRow:
    """A retrain decision people were told of (promoted, skipped, rolled back, failed)."""

    at: datetime
    subject: str
    severity: str
    summary: str


@dataclass(frozen=True, kw_only=True)
class PinRow:
    """The model's pin: no automatic promotion while it holds."""

    version: str
    since: datetime
    # None: until `mlmaint retrain unpin`.
    until: datetime | None
    by: str | None
    # Whether it still held when the report was built.
    holds: bool


@dataclass(frozen=True, kw_only=True)
class Evidence:
    run_id: int
    kind: str
    window_end: datetime
    filename: str
    # Absolute, under report.base_url (daemon/links.py): it works from the archived
    # file and the emailed attachment too.
    url: str


@dataclass(frozen=True, kw_only=True)
class SegmentRow:
    """One segment's week: `region=eu`, its windows, the alerting ones by kind, the worst
    measure of its latest alerting window (None when none alerted)."""

    segment: str
    windows: int
    alerting: Mapping[str, int]
    latest: str | None

    @property
    def alerting_windows(self) -> str:
        """ "performance 3, drift 1" or "none"."""
        return ", ".join(f"{k} {n}" for k, n in self.alerting.items()) or "none"


@dataclass(frozen=True, kw_only=True)
class ModelWeek:
    name: str
    version: str | None
    health: Health
    counts: Mapping[str, KindCounts]
    drift_share: tuple[float | None, ...]
    drift_threshold: float | None
    # Every feature that drifted in a run of the week, most often first.
    drifting: tuple[FeatureDrift, ...]
    drift_policy: DriftPolicy | None = None
    performance: PerformanceTrend
    quality: tuple[QualityIssue, ...]
    latency_p95: tuple[float | None, ...]
    latency_threshold: float | None
    error_rate: tuple[float | None, ...]
    error_threshold: float | None
    alerts: tuple[AlertRow, ...]
    retrains: tuple[RetrainRow, ...]
    evidence: tuple[Evidence, ...]
    sampled: int
    rejected: Mapping[str, int]
    decisions: tuple[DecisionRow, ...] = ()
    pin: PinRow | None = None
    # "churn is not monitored: no reference (why)" while that alert fired at the week's end.
    unmonitored: str | None = None
    # `[models.retrain] enabled`: the report never asks to retrain a model that may not be.
    retrain_enabled: bool = True
    # Each segment's week from its runs (daemon/report/segments.py), `other` last.
    segments: tuple[SegmentRow, ...] = ()

    @property
    def firing(self) -> int:
        return sum(1 for a in self.alerts if a.state is AlertState.FIRING)

    @property
    def top_drift(self) -> tuple[FeatureDrift, ...]:
        """The drifting features the page's table shows (the actions name them all)."""
        return self.drifting[:TOP_FEATURES]


@dataclass(frozen=True, kw_only=True)
class FrameworkRow:
    package: str
    installed: str
    kind: str
    severity: str
    advisories: tuple[str, ...]
    recommended: str | None
    detail: str
    # What `frameworks verify` found of the recommended upgrade on a model, if it ran.
    verified: str | None = None
    # The recommended upgrade verified safe on every model it was replayed on.
    verified_safe: bool = False


@dataclass(frozen=True, kw_only=True)
class VerificationRow:
    """The latest `frameworks verify` verdict of one upgrade on one model."""

    model: str
    model_version: str | None
    package: str
    installed: str
    target: str
    verdict: str
    summary: str
    created_at: datetime


@dataclass(frozen=True, kw_only=True)
class FrameworkEnv:
    environment: str
    scanned_at: datetime
    vulnerable: tuple[FrameworkRow, ...]
    outdated: tuple[FrameworkRow, ...]
    eol: tuple[FrameworkRow, ...]
    ignored: int


@dataclass(frozen=True, kw_only=True)
class JobHealth:
    """A job's runs in the week, and the last of them."""

    job_id: str
    runs: int
    failures: int
    last_status: str
    # The week's last successful run's end (None: none succeeded in the week).
    last_success_at: datetime | None
    last_error: str | None


@dataclass(frozen=True, kw_only=True)
class RejectedExample:
    model: str
    reason: str
    detail: str


@dataclass(frozen=True, kw_only=True)
class CheckWorkersHealth:
    """The week's check runs on `checks` workers (`[checks] run_on = "celery"`)."""

    runs: int
    # (worker, runs finished, mean seconds per run), busiest first.
    by_worker: tuple[tuple[str, int, float], ...]
    # The wait from a run's send to a worker's start: mean and worst.
    mean_lag_s: float
    max_lag_s: float
    # Cycles that started before the model's previous run finished.
    overran: int
    # Runs sent again past their deadline, and runs given up.
    resent: int
    failed: int


@dataclass(frozen=True, kw_only=True)
class DaemonHealth:
    jobs: tuple[JobHealth, ...]
    sampled: int
    rejected: int
    rejected_by_reason: Mapping[str, int]
    rejected_examples: tuple[RejectedExample, ...]
    notifications: Mapping[str, int]
    failed_notifications: tuple[tuple[str, str, str], ...]
    # The oldest run the job history holds (None: empty): runs before it are unknown.
    history_since: datetime | None = None
    # (job id, error) of the jobs whose latest run, as of the build, failed.
    failing: tuple[tuple[str, str | None], ...] = ()
    # None: no check ran on a worker in the week.
    check_workers: CheckWorkersHealth | None = None


class ActionKind(enum.StrEnum):
    RETRAIN = "retrain"
    UPGRADE = "upgrade"
    INVESTIGATE = "investigate"
    FIX = "fix"


@dataclass(frozen=True, kw_only=True)
class Action:
    kind: ActionKind
    scope: str
    text: str
    score: float


@dataclass(frozen=True, kw_only=True)
class WeekReport:
    week: Week
    generated_at: datetime
    models: tuple[ModelWeek, ...]
    frameworks: tuple[FrameworkEnv, ...]
    daemon: DaemonHealth
    actions: tuple[Action, ...]
    health_counts: Mapping[str, int] = field(default_factory=dict)
    verifications: tuple[VerificationRow, ...] = ()

    @property
    def no_data(self) -> tuple[str, ...]:
        """The models with no checked data this week: neither healthy nor nothing to do."""
        return tuple(m.name for m in self.models if m.health is Health.NO_DATA)

    def nothing_to_do(self) -> str:
        """The sentence when no action is ranked: it never calls a model without data healthy."""
        if self.no_data:
            return "No action ranked, but no data for: " + ", ".join(self.no_data) + "."
        return "Nothing to do: every model is healthy and no framework needs an upgrade."

    def summary(self) -> dict[str, object]:
        """The plain-data digest kept in the reports table and sent to Slack."""
        return {
            "week": self.week.label,
            "models": len(self.models),
            "health": dict(self.health_counts),
            "actions": [a.text for a in self.actions[:10]],
            "vulnerable_packages": len(
                {(e.environment, v.package) for e in self.frameworks for v in e.vulnerable}
            ),
            # Each advisory once, by its first id, whatever its aliases and environments.
            "advisories": len(
                {v.advisories[0] for e in self.frameworks for v in e.vulnerable if v.advisories}
            ),
        }
