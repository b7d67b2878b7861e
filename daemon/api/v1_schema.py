"""The bodies the read-only /v1 API answers with, as pydantic models.

The handlers build these models and the OpenAPI document (openapi.py) takes its
schemas from them, so what is served and what is documented are one definition.
Every time is UTC, written as ISO 8601 with a `Z`.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from checks.interface import CheckKind, Status, TaskKind
from daemon.store.tables import AlertState
from retrain.interface import JobState


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ErrorOut(_Body):
    """Any answer other than 2xx: what went wrong, in one sentence."""

    error: str


class PinOut(_Body):
    """A model held on one version by a person: no automatic promotion meanwhile."""

    version: str
    since: datetime
    until: datetime | None = Field(description="None: until `mlmaint retrain unpin`")
    by: str | None
    active: bool = Field(description="whether the pin still holds now")


class CheckOut(_Body):
    """The latest stored run of one check kind."""

    kind: CheckKind
    status: Status
    run_id: int
    window_start: datetime
    window_end: datetime
    rows: int
    model_version: str | None


class ModelOut(_Body):
    """A configured model at a glance."""

    name: str
    task: TaskKind
    serving_version: str | None = Field(description="the registered version serving now")
    alias: str = Field(description="the registry alias that marks the serving version")
    retrain_enabled: bool
    pin: PinOut | None
    checks: list[CheckKind] = Field(description="the check kinds the config enables")
    rows_sampled: int = Field(description="prediction rows sampled into the store, all time")
    rows_rejected: int = Field(description="prediction rows rejected by validation, all time")
    firing_alerts: int
    last_checks: list[CheckOut] = Field(description="the latest run of each kind")


class ModelsOut(_Body):
    models: list[ModelOut]


class MeasureOut(_Body):
    """One stored measure of one check run: a value about a subject (a column, a metric)."""

    run_id: int
    kind: CheckKind
    status: Status = Field(description="the run's status")
    window_start: datetime
    window_end: datetime
    model_version: str | None
    subject: str = Field(description='the column or aggregate ("age", "dataset", "roc_auc")')
    name: str = Field(description='what was measured ("wasserstein", "missing_share", ...)')
    value: float | None
    threshold: float | None
    alerting: bool
    detail: str | None
    basis: str | None = Field(description="where the threshold came from")


class RunOut(_Body):
    """One stored check run: a window's status, whether or not it stored measures."""

    run_id: int
    kind: CheckKind
    status: Status
    window_start: datetime
    window_end: datetime
    rows: int = Field(description="rows in the window")
    model_version: str | None
    reason: str | None = Field(
        description="why the run measured nothing, e.g. too few rows (insufficient_data)"
    )


class ChecksOut(_Body):
    """Stored measures over time, oldest first, and the runs they came from."""

    model: str
    segment: str | None = Field(
        default=None, description='the segment asked for ("region=A"); null: the whole windows'
    )
    measures: list[MeasureOut]
    runs: list[RunOut] = Field(
        description="every run of the windows asked for (kind, since, until), oldest first, "
        "with its status: a run with insufficient_data stores no measures, it is here"
    )
    limit: int
    truncated: bool = Field(
        description="more measures (or runs) matched: these are the newest `limit` of them"
    )


class AlertOut(_Body):
    id: int
    scope: str = Field(description="the model, or the framework environment")
    kind: str = Field(description="a check kind, or monitoring, retrain, framework")
    subject: str
    state: AlertState
    severity: str
    summary: str
    value: float | None
    threshold: float | None
    first_fired_at: datetime
    last_fired_at: datetime
    last_seen_at: datetime
    resolved_at: datetime | None
    fire_count: int
    acked: bool
    acked_until: datetime | None


class AlertsOut(_Body):
    alerts: list[AlertOut]
    limit: int
    truncated: bool


class JobOut(_Body):
    """A retrain job: what started it, where it ran, and what it decided."""

    job_uid: str
    model: str
    trigger: str
    state: JobState
    executor: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    registered_version: str | None
    promoted: bool
    metric: str | None
    challenger_score: float | None
    champion_score: float | None
    reason: str | None
    error: str | None


class JobsOut(_Body):
    jobs: list[JobOut]
    limit: int
    truncated: bool


class VersionOut(_Body):
    """A registered version of the model, as the MLflow registry last said."""

    version: str
    aliases: list[str] = Field(description="the registry aliases on it, e.g. champion")
    serving: bool = Field(description="whether it is the version serving now")
    registered_at: datetime | None
    run_id: str | None


class ModelDetail(ModelOut):
    """A model with the measures of its latest runs, its firing alerts, recent jobs
    and every registered version."""

    latest_measures: list[MeasureOut]
    alerts: list[AlertOut]
    recent_jobs: list[JobOut]
    versions: list[VersionOut] = Field(description="every registered version, newest first")


class FindingOut(_Body):
    """A framework finding of the latest scan of an environment."""

    environment: str
    package: str
    installed: str
    kind: str = Field(
        description="vulnerable, yanked, outdated, major_behind, minor_behind, stale, ..."
    )
    severity: str
    advisory_ids: list[str]
    score: float | None = Field(description="the highest CVSS base score of the advisories")
    fixed: str | None = Field(description="the first version that fixes the advisories")
    recommended: str | None
    detail: str
    scanned_at: datetime
    first_seen_at: datetime
    ignored_reason: str | None


class EnvironmentOut(_Body):
    name: str
    scanned_at: datetime | None = Field(description="None: never scanned")
    findings: int


NO_SCAN_YET = "no scan yet: `mlmaint frameworks` runs one, as the daemon does daily"


class FrameworksOut(_Body):
    scanned_at: datetime | None = Field(
        description="the latest scan of any environment; None: no scan yet (see note)"
    )
    note: str | None = Field(
        description="why there are no findings to read: no scan has run yet; None once one has"
    )
    environments: list[EnvironmentOut]
    findings: list[FindingOut]
    limit: int
    truncated: bool


class IngestedPredictions(_Body):
    accepted: int
    rejected: int
    sampled: int
    duplicates: int
    reasons: dict[str, int]


class IngestedLabels(_Body):
    accepted: int
    rejected: int
    joined: int
    pending: int
    reasons: dict[str, int]
