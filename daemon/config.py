"""config.toml -> frozen, validated settings.

`load_config(path)` reads the file once, validates all of it up front and
returns a frozen `Settings`. Every problem is reported with its key path, what
was expected and what was found (`models[2].checks.drift.threshold: must be > 0,
got -1`). Secrets are never in the file: the file names an environment variable
or a file (a systemd credential) and the value is resolved at load time into a
`Secret`, which never prints its value.

A command resolves only the secrets it uses: the caller says what it `Needs`
(the daemon, the default, needs every secret of an enabled feature). A needed
secret that is not set fails the load with its key path; one that is not
needed is recorded, and `Settings.secret(key)` raises `SecretNotSet` if
something asks for it anyway, so a command that forgot a need still fails with
the key named rather than running without it.
"""

from __future__ import annotations

import dataclasses
import enum
import ipaddress
import os
import re
import tomllib
from collections.abc import Collection, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from checks.interface import TaskKind
from checks.methods import ColumnKind, Method, fits, kinds_of
from checks.thresholds import BandMode, Persistence, ThresholdMode
from retrain.interface import TrainerKind

EX_CONFIG = 78
# An API token shorter than this (in bytes, after stripping whitespace) is refused:
# an empty or guessable token would let anyone who reaches the port write or read.
MIN_TOKEN_BYTES = 16
DEFAULT_CONFIG_NAME = "config.toml"
CONFIG_ENV = "MLMAINT_CONFIG"


class ConfigError(Exception):
    """The configuration is invalid; `problems` lists each one with its key path."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = tuple(problems)
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"invalid configuration {source}:\n{lines}")


# --------------------------------------------------------------------------- types

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _parse_duration(value: object) -> object:
    """Accept "90s", "15m", "24h", "7d", "2w" or a number of seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like '15m' or '24h', got {value!r}")
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    if isinstance(value, str):
        match = _DURATION_RE.match(value)
        if match:
            return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    raise ValueError(f"expected a duration like '15m' or '24h', got {value!r}")


Duration = Annotated[timedelta, BeforeValidator(_parse_duration)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Secret:
    """A resolved secret. Its repr and str never show the value."""

    __slots__ = ("_value", "origin")

    def __init__(self, value: str, origin: str) -> None:
        self._value = value
        self.origin = origin

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret(<from {self.origin}>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class SecretNotSet(ConfigError):
    """A secret was asked for that the command did not resolve at load time."""

    def __init__(self, source: str, key: str, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(source, [f"{key}: {reason}"])


class Needs(enum.Flag):
    """The secrets a command resolves when it loads the config, by area."""

    NOTHING = 0
    # store.password: every command that opens the store.
    STORE = enum.auto()
    # service.api_token: the HTTP API the daemon serves.
    API_TOKEN = enum.auto()
    # models[i].source/labels.password: the SQL sources the sampler reads.
    SOURCES = enum.auto()
    # alerts.channels[i].*: the enabled channels (narrowed by `channels=`).
    CHANNELS = enum.auto()
    DAEMON = STORE | API_TOKEN | SOURCES | CHANNELS


@dataclasses.dataclass(frozen=True, kw_only=True)
class SecretUse:
    """One secret reference in the config: where it is, what needs it, if it must be set."""

    key: str
    ref: SecretRef
    area: Needs
    # The alert channel it belongs to (area CHANNELS), for a command that names one.
    channel: str | None = None
    # False where its feature is switched off: then an unset secret is no problem.
    required: bool = True
    # A set value shorter than this (bytes, whitespace stripped) is refused (tokens).
    min_bytes: int = 0

    def needed(self, needs: Needs, channels: Collection[str] | None) -> bool:
        if not self.required or not (self.area & needs):
            return False
        return self.area is not Needs.CHANNELS or channels is None or self.channel in channels


class SecretRef(_Frozen):
    """Where a secret comes from: an environment variable or a file, never the config."""

    env: str | None = None
    file: Path | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of 'env' or 'file'")
        return self

    def describe(self) -> str:
        return f"env {self.env}" if self.env else f"file {self.file}"

    def resolve(self, environ: Mapping[str, str]) -> Secret | None:
        """The secret's value, or None when the variable or file is absent."""
        if self.env is not None:
            value = environ.get(self.env)
            return None if value is None else Secret(value, self.describe())
        assert self.file is not None  # guaranteed by _one_source
        try:
            text = self.file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ValueError(f"cannot read secret file {self.file}: {exc.strerror}") from exc
        return Secret(text.rstrip("\n"), self.describe())


class Schedule(_Frozen):
    """A job cadence: a fixed interval or a crontab line in a time zone."""

    every: Duration | None = None
    cron: str | None = None
    timezone: str = "UTC"

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if (self.every is None) == (self.cron is None):
            raise ValueError("give exactly one of 'every' or 'cron'")
        if self.every is not None and self.every <= timedelta(0):
            raise ValueError(f"'every' must be > 0, got {self.every}")
        if self.cron is not None and len(self.cron.split()) != 5:
            raise ValueError(f"'cron' must have 5 fields, got {self.cron!r}")
        return self

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


def parse_duration(text: str) -> timedelta:
    """A duration such as "90s", "15m", "24h", "7d" (for command-line options)."""
    value = _parse_duration(text)
    assert isinstance(value, timedelta)  # _parse_duration returns one or raises
    return value


def _every(text: str) -> Schedule:
    return Schedule(every=_parse_duration(text))


# --------------------------------------------------------------------------- service


class LogLevel(enum.StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses: only this machine can connect."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class ServiceSettings(_Frozen):
    state_dir: Path = Path("var")
    log_level: LogLevel = LogLevel.INFO
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8787, ge=0, le=65535)
    api_token: SecretRef | None = None
    # Bearer token for /metrics and /reports when bound beyond loopback (else api_token).
    read_token: SecretRef | None = None
    # Host header names accepted besides the bound address ("name" or "name:port").
    allowed_hosts: tuple[str, ...] = ()
    # Origins ("https://ops.example.org") allowed to POST; the API's own origin always is.
    allowed_origins: tuple[str, ...] = ()
    # Requests served at once; further ones wait their turn.
    http_threads: int = Field(default=8, ge=1, le=64)
    # Open connections; past it new ones wait in the listen backlog.
    http_connection_limit: int = Field(default=4096, ge=16, le=60000)
    # A connection silent this long (headers or body unfinished, or idle) is closed.
    http_timeout: Duration = timedelta(seconds=30)
    shutdown_grace: Duration = timedelta(seconds=30)
    # A wedged scheduler stops the watchdog pings after this long without progress.
    watchdog_stall: Duration = timedelta(minutes=5)
    # Standby daemons on a shared PostgreSQL retry the leader lock this often.
    leader_retry: Duration = timedelta(seconds=5)
    workers: int = Field(default=4, ge=1, le=64)
    retention_schedule: Schedule = Schedule(cron="15 3 * * *", timezone="UTC")
    retrain_poll_schedule: Schedule = Schedule(every=timedelta(minutes=1))

    @model_validator(mode="after")
    def _token_beyond_loopback(self) -> Self:
        if self.api_token is None and not is_loopback(self.http_host):
            raise ValueError(
                f"http_host {self.http_host!r} is beyond loopback: set api_token, or bind 127.0.0.1"
            )
        if self.http_timeout <= timedelta(0):
            raise ValueError(f"http_timeout must be > 0, got {self.http_timeout}")
        return self


class StoreSettings(_Frozen):
    url: str = "sqlite:///var/mlmaint.db"
    password: SecretRef | None = None
    pool_size: int = Field(default=5, ge=1)

    @field_validator("url")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if not value.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:")):
            raise ValueError(f"expected a sqlite: or postgresql: URL, got {value!r}")
        if "@" in value and ":" in value.split("@")[0].split("//")[-1]:
            raise ValueError("the URL holds a password: use store.password = { env = ... }")
        return value


class MlflowSettings(_Frozen):
    tracking_uri: str = "sqlite:///var/mlflow.db"
    artifact_root: Path = Path("var/mlflow-artifacts")
    experiment_prefix: str = "mlmaint"


class ExecutorKind(enum.StrEnum):
    LOCAL = "local"
    CELERY = "celery"


class CelerySettings(_Frozen):
    broker_url: str = "redis://127.0.0.1:6379/0"
    result_backend: str = "redis://127.0.0.1:6379/1"
    queue: str = "gpu"
    # Above the task hard limit, or Redis re-delivers a task that is still running.
    visibility_timeout: Duration = timedelta(hours=7)


class ExecutorSettings(_Frozen):
    kind: ExecutorKind = ExecutorKind.LOCAL
    timeout: Duration = timedelta(hours=6)
    max_concurrent: int = Field(default=1, ge=1)
    # The interpreter the local executor runs jobs with (default: the daemon's own).
    python: Path | None = None
    celery: CelerySettings = CelerySettings()


# --------------------------------------------------------------------------- alerts


class Severity(enum.StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class _ChannelBase(_Frozen):
    name: str
    enabled: bool = True
    min_severity: Severity = Severity.INFO
    # Empty means every model.
    models: tuple[str, ...] = ()


class FileChannel(_ChannelBase):
    kind: Literal["file"]
    path: Path = Path("var/outbox.jsonl")


class SlackChannel(_ChannelBase):
    kind: Literal["slack"]
    webhook_url: SecretRef = SecretRef(env="MLMAINT_SLACK_WEBHOOK_URL")
    timeout: Duration = timedelta(seconds=10)


class EmailTls(enum.StrEnum):
    STARTTLS = "starttls"
    TLS = "tls"
    NONE = "none"


class EmailChannel(_ChannelBase):
    kind: Literal["email"]
    host: str = "localhost"
    port: int = Field(default=587, ge=1, le=65535)
    tls: EmailTls = EmailTls.STARTTLS
    username: str | None = None
    password: SecretRef | None = None
    sender: str = "mlmaint@localhost"
    recipients: tuple[str, ...] = ()
    timeout: Duration = timedelta(seconds=20)
    # A CA bundle for a relay with an internal or self-signed certificate.
    ca_file: Path | None = None


class WebhookChannel(_ChannelBase):
    kind: Literal["webhook"]
    url: str
    token: SecretRef | None = None
    timeout: Duration = timedelta(seconds=10)


Channel = Annotated[
    FileChannel | SlackChannel | EmailChannel | WebhookChannel, Field(discriminator="kind")
]


class QuietHours(_Frozen):
    start: str = Field(pattern=r"^\d\d:\d\d$")
    end: str = Field(pattern=r"^\d\d:\d\d$")
    timezone: str = "UTC"


class AlertSettings(_Frozen):
    repeat_interval: Duration = timedelta(hours=24)
    # Per finding kind ("framework", "drift", ...): known advisories are weekly-report
    # material, so by default they repeat once a week rather than every day.
    repeat_intervals: Mapping[str, Duration] = Field(
        default_factory=lambda: {"framework": timedelta(days=7)}
    )
    # A resolved alert that fires again within this is not re-notified.
    cooldown: Duration = timedelta(hours=1)
    delivery_max_age: Duration = timedelta(days=2)
    delivery_every: Duration = timedelta(seconds=30)
    # Exponential backoff between failed deliveries (with jitter), capped.
    retry_initial: Duration = timedelta(seconds=30)
    retry_max: Duration = timedelta(minutes=30)
    quiet_hours: QuietHours | None = None
    channels: tuple[Channel, ...] = (FileChannel(kind="file", name="outbox"),)

    @field_validator("channels")
    @classmethod
    def _unique_names(cls, value: tuple[Channel, ...]) -> tuple[Channel, ...]:
        names = [c.name for c in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"channel names must be unique, repeated: {', '.join(dupes)}")
        return value


# --------------------------------------------------------------------------- report


class ReportSettings(_Frozen):
    enabled: bool = True
    schedule: Schedule = Schedule(cron="0 8 * * mon", timezone="UTC")
    directory: Path = Path("var/reports")
    email_channel: str | None = None
    slack_channel: str | None = None
    base_url: str = "http://127.0.0.1:8787"


# --------------------------------------------------------------------------- frameworks


class EnvironmentKind(enum.StrEnum):
    PYTHON = "python"
    REQUIREMENTS = "requirements"
    LOCK = "lock"
    MLFLOW_MODEL = "mlflow_model"


class EnvironmentSettings(_Frozen):
    name: str
    kind: EnvironmentKind
    # PYTHON: interpreter path; REQUIREMENTS / LOCK: the file.
    path: Path | None = None
    # MLFLOW_MODEL: registered model name and alias.
    model: str | None = None
    alias: str = "champion"

    @model_validator(mode="after")
    def _needs_target(self) -> Self:
        if self.kind is EnvironmentKind.MLFLOW_MODEL:
            if self.model is None:
                raise ValueError("an mlflow_model environment needs 'model'")
        elif self.path is None:
            raise ValueError(f"a {self.kind.value} environment needs 'path'")
        return self


class Ignore(_Frozen):
    id: str
    reason: str = Field(min_length=1)
    until: str | None = Field(default=None, pattern=r"^\d{4}-\d\d-\d\d$")
    package: str | None = None


class FrameworkSettings(_Frozen):
    enabled: bool = True
    schedule: Schedule = Schedule(cron="30 6 * * *", timezone="UTC")
    index_url: str = "https://pypi.org"
    osv_url: str = "https://api.osv.dev"
    # "json": {index_url}/pypi/<name>/json; "simple": the PEP 691 JSON Simple API
    # ({index_url}/simple/<name>/), what private mirrors serve.
    index_api: Literal["json", "simple"] = "json"
    # Online: fetch releases, sync the OSV export and query OSV's API. Offline, the
    # release cache and the imported advisory mirror are all there is.
    online: bool = False
    # An OSV export ecosystem folder (".../PyPI") holding all.zip and modified_id.csv.
    osv_export_url: str | None = None
    # Query {osv_url}/v1/querybatch for the inventoried versions (online only).
    osv_query: bool = False
    # A directory or zip of OSV records (JSON, or PyPA advisory-db YAML) imported
    # into the store's mirror when the mirror holds nothing from it yet.
    advisory_db: Path | None = None
    # Overrides the shipped Python EOL / torch compatibility data (same JSON shape).
    support_data: Path | None = None
    http_timeout: Duration = timedelta(seconds=10)
    release_cache_ttl: Duration = timedelta(hours=24)
    max_release_age_days: int = Field(default=365, gt=0)
    environments: tuple[EnvironmentSettings, ...] = ()
    ignores: tuple[Ignore, ...] = ()


# --------------------------------------------------------------------------- models


class FileFormat(enum.StrEnum):
    CSV = "csv"
    JSONL = "jsonl"
    PARQUET = "parquet"


class FileSource(_Frozen):
    kind: Literal["files"]
    glob: str
    format: FileFormat = FileFormat.JSONL
    batch_size: int = Field(default=50_000, gt=0)
    # A last line without its newline is waited for this long before it counts as cut short.
    partial_line_grace: Duration = timedelta(minutes=5)


class CursorKind(enum.StrEnum):
    TIMESTAMP = "timestamp"
    ID = "id"


class SqlSource(_Frozen):
    kind: Literal["sql"]
    url: str
    password: SecretRef | None = None
    table: str | None = None
    query: str | None = None
    cursor_column: str
    cursor_kind: CursorKind = CursorKind.TIMESTAMP
    # Rows that arrive late by up to this much are still picked up.
    lag: Duration = timedelta(minutes=5)
    batch_size: int = Field(default=10_000, gt=0)

    @model_validator(mode="after")
    def _table_or_query(self) -> Self:
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of 'table' or 'query'")
        return self


class HttpSource(_Frozen):
    kind: Literal["http"]
    max_body_bytes: int = Field(default=16 * 1024 * 1024, gt=0)


Source = Annotated[FileSource | SqlSource | HttpSource, Field(discriminator="kind")]


# The columns a window DataFrame holds besides the features (daemon/store/windows.py).
RESERVED_COLUMNS = (
    "prediction_id",
    "timestamp",
    "prediction",
    "score",
    "label",
    "latency_ms",
    "error",
    "memory_mb",
)


class SchemaSettings(_Frozen):
    id: str = "prediction_id"
    timestamp: str = "timestamp"
    numeric: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    prediction: str = "prediction"
    score: str | None = None
    label: str = "label"
    latency: str | None = None
    error: str | None = None
    memory: str | None = None
    model_version: str | None = None
    max_string_length: int = Field(default=1024, gt=0)
    # Known values of categorical features: others are kept and counted as new categories.
    categories: Mapping[str, tuple[str, ...]] = Field(default_factory=dict)
    # Source columns dropped without counting a row as having an extra column.
    ignore: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _columns(self) -> Self:
        if not self.numeric and not self.categorical:
            raise ValueError("a schema needs at least one numeric or categorical feature")
        features = [*self.numeric, *self.categorical]
        dupes = sorted({c for c in features if features.count(c) > 1})
        if dupes:
            raise ValueError(f"features listed twice: {', '.join(dupes)}")
        clash = sorted(set(features) & set(RESERVED_COLUMNS))
        if clash:
            raise ValueError(
                f"feature names clash with the window's reserved columns: {', '.join(clash)}"
            )
        unknown = sorted(set(self.categories) - set(self.categorical))
        if unknown:
            raise ValueError(f"categories given for non-categorical columns: {', '.join(unknown)}")
        return self

    @property
    def features(self) -> tuple[str, ...]:
        return (*self.numeric, *self.categorical)


class SamplingSettings(_Frozen):
    rate: float = Field(default=1.0, gt=0, le=1)
    # Reservoir cap of rows kept per window, so a traffic spike can't flood the store.
    max_rows_per_window: int | None = Field(default=None, gt=0)
    window: Duration = timedelta(hours=1)
    schedule: Schedule = _every("5m")
    retention: Duration = timedelta(days=90)
    max_rejected_kept: int = Field(default=1000, ge=0)
    # The plausible-time window: a row stamped more than `max_ahead` after now, or
    # more than `max_age` (default: `retention`) before it, is rejected as
    # implausible_timestamp on every path.
    max_ahead: Duration = timedelta(days=1)
    max_age: Duration | None = None

    @property
    def oldest_age(self) -> timedelta:
        return self.retention if self.max_age is None else self.max_age


class ReferenceKind(enum.StrEnum):
    SNAPSHOT = "snapshot"
    FILE = "file"
    WINDOW = "window"


class ReferenceSettings(_Frozen):
    kind: ReferenceKind = ReferenceKind.SNAPSHOT
    path: Path | None = None
    start: str | None = None
    end: str | None = None

    @model_validator(mode="after")
    def _needs(self) -> Self:
        if self.kind is ReferenceKind.FILE and self.path is None:
            raise ValueError("a file reference needs 'path'")
        if self.kind is ReferenceKind.WINDOW and (self.start is None or self.end is None):
            raise ValueError("a window reference needs 'start' and 'end'")
        return self


class DriftMethod(enum.StrEnum):
    AUTO = "auto"
    KS = "ks"
    WASSERSTEIN = "wasserstein"
    PSI = "psi"
    JENSENSHANNON = "jensenshannon"
    CHISQUARE = "chisquare"
    Z = "z"
    KL_DIV = "kl_div"
    HELLINGER = "hellinger"
    ANDERSON = "anderson"
    CRAMER_VON_MISES = "cramer_von_mises"
    MANNW = "mannw"
    ENERGY = "energy"


class ColumnDriftSettings(_Frozen):
    method: DriftMethod = DriftMethod.AUTO
    threshold: float | None = Field(default=None, gt=0)
    weight: float = Field(default=1.0, ge=0)


class PersistenceSettings(_Frozen):
    failing: int = Field(gt=0)
    windows: int = Field(gt=0)

    @model_validator(mode="after")
    def _within(self) -> PersistenceSettings:
        if self.failing > self.windows:
            raise ValueError(f"failing ({self.failing}) cannot exceed windows ({self.windows})")
        return self

    def rule(self) -> Persistence:
        return Persistence(failing=self.failing, windows=self.windows)


class DriftSettings(_Frozen):
    enabled: bool = True
    method: DriftMethod = DriftMethod.AUTO
    # "calibrated": each column's threshold from the reference at the window's size,
    # for `false_alarm_rate` per check run; "evidently": Evidently's fixed defaults.
    thresholds: ThresholdMode = ThresholdMode.CALIBRATED
    false_alarm_rate: float = Field(default=0.01, gt=0, lt=1)
    # A threshold for every column (wins over both modes), as Evidently's.
    threshold: float | None = Field(default=None, gt=0)
    drift_share: float = Field(default=0.5, gt=0, le=1)
    # Alert on a column only when it is beyond its threshold in `failing` of the
    # last `windows` check windows.
    persistence: PersistenceSettings | None = None
    columns: Mapping[str, ColumnDriftSettings] = Field(default_factory=dict)
    # The evidence report is rendered for alerting windows only.
    evidence: bool = True


class QualitySettings(_Frozen):
    enabled: bool = True
    max_missing_share: float = Field(default=0.05, ge=0, le=1)
    max_new_category_share: float = Field(default=0.02, ge=0, le=1)
    max_out_of_range_share: float = Field(default=0.05, ge=0, le=1)


class PerformanceSettings(_Frozen):
    enabled: bool = True
    metric: str | None = None
    max_absolute_drop: float | None = Field(default=None, gt=0)
    max_relative_drop: float | None = Field(default=0.05, gt=0, lt=1)
    # "band": outside the reference chunks' band at the window's size (NannyML);
    # "margin": a drop beyond max_absolute_drop / max_relative_drop off the baseline.
    thresholds: BandMode = BandMode.BAND
    band_sigmas: float = Field(default=3.0, gt=0)
    # Instead of sigmas: the band's edge at this quantile of the chunks (e.g. 0.001).
    band_quantile: float | None = Field(default=None, gt=0, lt=0.5)
    min_labelled: int = Field(default=200, gt=0)
    bootstrap: int = Field(default=200, ge=0)
    confidence: float = Field(default=0.95, gt=0, lt=1)
    estimate: bool = True


class OperationsSettings(_Frozen):
    enabled: bool = True
    max_latency_p95_ms: float | None = Field(default=None, gt=0)
    max_latency_p99_ms: float | None = Field(default=None, gt=0)
    max_error_rate: float | None = Field(default=0.05, ge=0, le=1)
    max_memory_mb: float | None = Field(default=None, gt=0)


class ChecksSettings(_Frozen):
    schedule: Schedule = _every("1h")
    window: Duration = timedelta(days=1)
    min_rows: int = Field(default=100, gt=0)
    drift: DriftSettings = DriftSettings()
    quality: QualitySettings = QualitySettings()
    performance: PerformanceSettings = PerformanceSettings()
    operations: OperationsSettings = OperationsSettings()


class RetrainSettings(_Frozen):
    enabled: bool = True
    trainer: TrainerKind = TrainerKind.SKLEARN
    # sklearn: dotted estimator class; entrypoint: package.module:function.
    target: str | None = None
    params: Mapping[str, str | int | float | bool] = Field(default_factory=dict)
    failing_runs: int = Field(default=3, gt=0)
    # The check kinds whose failing streaks call for a retrain. Quality and
    # operations problems are not fixed by retraining: they alert only.
    on_failing: tuple[Literal["drift", "performance", "estimated_performance"], ...] = (
        "drift",
        "performance",
        "estimated_performance",
    )
    every: Duration | None = None
    min_interval: Duration = timedelta(days=1)
    recent_labelled: Duration = timedelta(days=14)
    # Train on the current reference plus the recent labelled rows; false: recent rows only
    # (after a concept change the old reference teaches the old concept).
    include_reference: bool = True
    holdout_share: float = Field(default=0.2, gt=0, lt=1)
    promote_margin: float = Field(default=0.0, ge=0)
    # The registry alias that marks the serving version.
    alias: str = Field(default="champion", pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
    seed: int = 0
    gpus: int = Field(default=0, ge=0)
    memory_gb: float = Field(default=4, gt=0)
    schedule: Schedule = _every("15m")
    # Directories put first on the job's import path, on the local and the Celery
    # executor alike: where an entrypoint's module is found. Absolute paths (or ~) on
    # the machine that runs the job.
    python_path: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _target(self) -> Self:
        if self.trainer is TrainerKind.ENTRYPOINT and (
            self.target is None or ":" not in self.target
        ):
            raise ValueError("an entrypoint trainer needs target = 'package.module:function'")
        return self

    @field_validator("python_path")
    @classmethod
    def _absolute(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        relative = [p for p in value if not Path(p).expanduser().is_absolute()]
        if relative:
            # A job runs in its own directory, maybe on another machine: relative to what?
            raise ValueError(
                f"python_path entries must be absolute directories, got {', '.join(relative)}"
            )
        return value


class ModelSettings(_Frozen):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
    task: TaskKind = TaskKind.BINARY
    source: Source
    labels: Source | None = None
    schema_: SchemaSettings = Field(alias="schema")
    sampling: SamplingSettings = SamplingSettings()
    reference: ReferenceSettings = ReferenceSettings()
    checks: ChecksSettings = ChecksSettings()
    retrain: RetrainSettings = RetrainSettings()

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    @model_validator(mode="after")
    def _drift_columns_known(self) -> Self:
        known = {*self.schema_.features, self.schema_.prediction, self.schema_.label}
        if self.schema_.score:
            known.add(self.schema_.score)
        unknown = sorted(set(self.checks.drift.columns) - known)
        if unknown:
            raise ValueError(
                f"checks.drift.columns names columns not in the schema: {', '.join(unknown)}"
            )
        return self

    def drift_kinds(self) -> dict[str, ColumnKind]:
        """Each column the drift check compares, by its schema name, and its kind.

        Prediction and label are categorical for a multiclass model (class
        names), numeric otherwise; the score is numeric.
        """
        schema = self.schema_
        target = ColumnKind.CATEGORICAL if self.task is TaskKind.MULTICLASS else ColumnKind.NUMERIC
        kinds = dict.fromkeys(schema.numeric, ColumnKind.NUMERIC)
        kinds.update(dict.fromkeys(schema.categorical, ColumnKind.CATEGORICAL))
        kinds[schema.prediction] = target
        if schema.score:
            kinds[schema.score] = ColumnKind.NUMERIC
        kinds[schema.label] = target
        return kinds

    @model_validator(mode="after")
    def _drift_methods_fit(self) -> Self:
        # A global method applies to the columns it fits (the rest keep auto), so it
        # must fit one at least; a column's own method must fit that column.
        kinds = self.drift_kinds()
        drift = self.checks.drift
        problems = []
        for name, own in sorted(drift.columns.items()):
            kind = kinds.get(name)
            if own.method is DriftMethod.AUTO or kind is None:
                continue
            method = Method(own.method.value)
            if not fits(method, kind):
                problems.append(
                    f"checks.drift.columns.{name}.method: {method.value!r} does not apply to "
                    f"the {kind.value} column {name!r} (it applies to "
                    f"{' and '.join(k.value for k in kinds_of(method))} columns only)"
                )
        if drift.method is not DriftMethod.AUTO:
            method = Method(drift.method.value)
            if not any(fits(method, kind) for kind in kinds.values()):
                problems.append(
                    f"checks.drift.method: {method.value!r} applies to "
                    f"{' and '.join(k.value for k in kinds_of(method))} columns only, "
                    f"and this model has none"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self


class Settings(_Frozen):
    service: ServiceSettings = ServiceSettings()
    store: StoreSettings = StoreSettings()
    mlflow: MlflowSettings = MlflowSettings()
    executor: ExecutorSettings = ExecutorSettings()
    alerts: AlertSettings = AlertSettings()
    report: ReportSettings = ReportSettings()
    frameworks: FrameworkSettings = FrameworkSettings()
    models: tuple[ModelSettings, ...] = ()
    # Resolved secrets by key path; filled by load_config, never from the file.
    secrets: Mapping[str, Secret] = Field(default_factory=dict, exclude=True)
    # Required secrets the loading command did not need and could not resolve:
    # key path -> why ("secret not set (env X is missing)").
    unresolved: Mapping[str, str] = Field(default_factory=dict, exclude=True)
    # Where the settings came from, for errors raised after loading.
    loaded_from: str = Field(default="<config>", exclude=True)

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    @field_validator("models")
    @classmethod
    def _unique_models(cls, value: tuple[ModelSettings, ...]) -> tuple[ModelSettings, ...]:
        names = [m.name for m in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"model names must be unique, repeated: {', '.join(dupes)}")
        return value

    def model(self, name: str) -> ModelSettings:
        for model in self.models:
            if model.name == name:
                return model
        known = ", ".join(m.name for m in self.models) or "none"
        raise KeyError(f"unknown model {name!r} (configured: {known})")

    def secret(self, key: str) -> Secret | None:
        """The resolved secret at `key`; None when it is optional and not set.

        Raises SecretNotSet for a required secret the loading command did not
        declare it needs and that is not set, naming the key.
        """
        reason = self.unresolved.get(key)
        if reason is not None:
            raise SecretNotSet(self.loaded_from, key, reason)
        return self.secrets.get(key)

    def repeat_interval(self, kind: str) -> timedelta:
        return self.alerts.repeat_intervals.get(kind, self.alerts.repeat_interval)

    def channel(self, name: str) -> Channel:
        for channel in self.alerts.channels:
            if channel.name == name:
                return channel
        raise KeyError(f"unknown alert channel {name!r}")


# --------------------------------------------------------------------------- loading


def _key_path(loc: tuple[int | str, ...], data: object) -> str:
    """Turn a pydantic location into `models[2].checks.drift.threshold`.

    Discriminated unions add the tag ("files") to the location; it is not a key
    in the file, so it is dropped by walking the input alongside.
    """
    parts: list[str] = []
    node = data
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
            node = node[item] if isinstance(node, list | tuple) and item < len(node) else None
            continue
        if isinstance(node, dict) and item not in node and node.get("kind") == item:
            continue
        if item == "schema_":
            item = "schema"
        parts.append(f".{item}" if parts else item)
        node = node.get(item) if isinstance(node, dict) else None
    return "".join(parts) or "(top level)"


def _describe(error: Mapping[str, object]) -> str:
    kind = error.get("type")
    ctx = error.get("ctx")
    ctx = ctx if isinstance(ctx, dict) else {}
    found = error.get("input")
    bounds = {
        "greater_than": ">",
        "greater_than_equal": ">=",
        "less_than": "<",
        "less_than_equal": "<=",
    }
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    if kind in bounds:
        limit = next(iter(ctx.values()), "?")
        return f"must be {bounds[str(kind)]} {limit}, got {found!r}"
    if kind == "union_tag_invalid":
        return f"unknown kind {ctx.get('tag')!r}, expected one of {ctx.get('expected_tags')}"
    if kind == "union_tag_not_found":
        return "missing 'kind'"
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    if kind == "value_error" or isinstance(found, dict):
        return message
    return f"{message[0].lower()}{message[1:]}, got {found!r}"


def secret_uses(settings: Settings) -> tuple[SecretUse, ...]:
    """Every secret reference in the settings, with its key path and what needs it."""
    uses: list[SecretUse] = []
    for name, token in (
        ("api_token", settings.service.api_token),
        ("read_token", settings.service.read_token),
    ):
        if token is not None:
            uses.append(
                SecretUse(
                    key=f"service.{name}",
                    ref=token,
                    area=Needs.API_TOKEN,
                    min_bytes=MIN_TOKEN_BYTES,
                )
            )
    if settings.store.password is not None:
        uses.append(SecretUse(key="store.password", ref=settings.store.password, area=Needs.STORE))
    for i, channel in enumerate(settings.alerts.channels):
        refs: dict[str, SecretRef | None] = {}
        if isinstance(channel, SlackChannel):
            refs["webhook_url"] = channel.webhook_url
        elif isinstance(channel, EmailChannel):
            refs["password"] = channel.password
        elif isinstance(channel, WebhookChannel):
            refs["token"] = channel.token
        for name, ref in refs.items():
            if ref is not None:
                uses.append(
                    SecretUse(
                        key=f"alerts.channels[{i}].{name}",
                        ref=ref,
                        area=Needs.CHANNELS,
                        channel=channel.name,
                        required=channel.enabled,
                    )
                )
    for i, model in enumerate(settings.models):
        for part, source in (("source", model.source), ("labels", model.labels)):
            if isinstance(source, SqlSource) and source.password is not None:
                uses.append(
                    SecretUse(
                        key=f"models[{i}].{part}.password", ref=source.password, area=Needs.SOURCES
                    )
                )
    return tuple(uses)


def _resolve_secrets(
    settings: Settings,
    environ: Mapping[str, str],
    needs: Needs,
    channels: Collection[str] | None,
) -> tuple[dict[str, Secret], dict[str, str], list[str]]:
    """Resolve every SecretRef: (found, unresolved but not needed, problems of needed ones)."""
    found: dict[str, Secret] = {}
    unresolved: dict[str, str] = {}
    problems: list[str] = []
    for use in secret_uses(settings):
        try:
            secret = use.ref.resolve(environ)
        except ValueError as exc:
            reason = str(exc)
        else:
            if secret is None:
                reason = f"secret not set ({use.ref.describe()} is missing)"
            elif len(secret.reveal().strip().encode()) < use.min_bytes:
                size = len(secret.reveal().strip().encode())
                reason = (
                    f"too short ({use.ref.describe()} holds {size} bytes, "
                    f"at least {use.min_bytes} needed)"
                )
            else:
                found[use.key] = secret
                continue
        if use.needed(needs, channels):
            problems.append(f"{use.key}: {reason}")
        elif use.required:
            unresolved[use.key] = reason
    return found, unresolved, problems


def parse_config(
    data: Mapping[str, object],
    source: str = "<config>",
    environ: Mapping[str, str] | None = None,
    *,
    needs: Needs = Needs.DAEMON,
    channels: Collection[str] | None = None,
) -> Settings:
    """Validate a parsed TOML document; raises ConfigError listing every problem.

    Only the secrets in `needs` must be set (`channels` narrows CHANNELS to the
    named channels); the others are resolved where they are set.
    """
    # These are filled by loading, never read from the file.
    loaded_only = sorted(set(data) & {"secrets", "unresolved", "loaded_from"})
    if loaded_only:
        raise ConfigError(source, [f"{key}: unknown key" for key in loaded_only])
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        problems = [
            f"{_key_path(tuple(err['loc']), data)}: {_describe(err)}" for err in exc.errors()
        ]
        raise ConfigError(source, problems) from exc
    env = os.environ if environ is None else environ
    secrets, unresolved, problems = _resolve_secrets(settings, env, needs, channels)
    if problems:
        raise ConfigError(source, problems)
    return settings.model_copy(
        update={"secrets": secrets, "unresolved": unresolved, "loaded_from": source}
    )


def load_config(
    path: Path,
    environ: Mapping[str, str] | None = None,
    *,
    needs: Needs = Needs.DAEMON,
    channels: Collection[str] | None = None,
) -> Settings:
    """Read and validate config.toml; relative paths in it stay relative to the cwd.

    `needs` names the secrets the caller uses (default: all the daemon's).
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError(str(path), ["file not found"]) from exc
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read: {exc.strerror}"]) from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), [f"not valid TOML: {exc}"]) from exc
    return parse_config(data, str(path), environ, needs=needs, channels=channels)


def default_config_path(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(env.get(CONFIG_ENV, DEFAULT_CONFIG_NAME))


def masked_dump(settings: Settings) -> dict[str, object]:
    """The resolved settings as plain data, with secret references, never values."""
    data = settings.model_dump(mode="json", by_alias=True)
    data["secrets"] = dict.fromkeys(sorted(settings.secrets), "***")
    return data
