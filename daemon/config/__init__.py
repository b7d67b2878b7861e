"""The daemon's configuration: config.toml -> frozen, validated settings.

One module per area (`service`, `alerts`, `report`, `frameworks`, `models`
with its `sources`, `model_checks` and `retraining`), the shared types in
`common`, the typed secret references in `secrets`, and loading in `load`.
Importers use this package's names: `from daemon.config import Settings`.
"""

from daemon.config.alerts import (
    AlertSettings,
    Channel,
    ChannelBase,
    EmailChannel,
    EmailTls,
    FileChannel,
    QuietHours,
    SlackChannel,
    WebhookChannel,
)
from daemon.config.checks import CheckingSettings
from daemon.config.common import (
    EX_CONFIG,
    ConfigError,
    Duration,
    Schedule,
    Severity,
    parse_duration,
)
from daemon.config.evidence import EvidenceSettings
from daemon.config.frameworks import (
    AdvisoryRoute,
    AdvisoryRouting,
    EnvironmentKind,
    EnvironmentSettings,
    FrameworkSettings,
    Ignore,
)
from daemon.config.load import (
    CONFIG_ENV,
    DEFAULT_CONFIG_NAME,
    default_config_path,
    load_config,
    masked_dump,
    parse_config,
)
from daemon.config.model_checks import (
    AUTO,
    ChecksSettings,
    ColumnDriftSettings,
    DriftSettings,
    MethodOrAuto,
    OperationsSettings,
    PerformanceSettings,
    PersistenceSettings,
    QualitySettings,
)
from daemon.config.models import (
    RESERVED_COLUMNS,
    ModelSettings,
    ReferenceKind,
    ReferenceSettings,
    SamplingSettings,
    SchemaSettings,
)
from daemon.config.report import ReportSettings
from daemon.config.retraining import (
    CelerySettings,
    ExecutorKind,
    ExecutorSettings,
    MlflowSettings,
    RetrainSettings,
)
from daemon.config.secrets import Needs, Secret, SecretField, SecretNotSet, SecretRef, SecretUse
from daemon.config.service import (
    MIN_TOKEN_BYTES,
    LogLevel,
    ServiceSettings,
    StoreSettings,
    is_loopback,
)
from daemon.config.settings import Settings, UnknownName, secret_uses
from daemon.config.sources import (
    CursorKind,
    FileFormat,
    FileSource,
    HttpSource,
    Source,
    SqlSource,
)

__all__ = [
    "AUTO",
    "CONFIG_ENV",
    "DEFAULT_CONFIG_NAME",
    "EX_CONFIG",
    "MIN_TOKEN_BYTES",
    "RESERVED_COLUMNS",
    "AdvisoryRoute",
    "AdvisoryRouting",
    "AlertSettings",
    "CelerySettings",
    "Channel",
    "ChannelBase",
    "CheckingSettings",
    "ChecksSettings",
    "ColumnDriftSettings",
    "ConfigError",
    "CursorKind",
    "DriftSettings",
    "Duration",
    "EmailChannel",
    "EmailTls",
    "EnvironmentKind",
    "EnvironmentSettings",
    "EvidenceSettings",
    "ExecutorKind",
    "ExecutorSettings",
    "FileChannel",
    "FileFormat",
    "FileSource",
    "FrameworkSettings",
    "HttpSource",
    "Ignore",
    "LogLevel",
    "MethodOrAuto",
    "MlflowSettings",
    "ModelSettings",
    "Needs",
    "OperationsSettings",
    "PerformanceSettings",
    "PersistenceSettings",
    "QualitySettings",
    "QuietHours",
    "ReferenceKind",
    "ReferenceSettings",
    "ReportSettings",
    "RetrainSettings",
    "SamplingSettings",
    "Schedule",
    "SchemaSettings",
    "Secret",
    "SecretField",
    "SecretNotSet",
    "SecretRef",
    "SecretUse",
    "ServiceSettings",
    "Settings",
    "Severity",
    "SlackChannel",
    "Source",
    "SqlSource",
    "StoreSettings",
    "UnknownName",
    "WebhookChannel",
    "default_config_path",
    "is_loopback",
    "load_config",
    "masked_dump",
    "parse_config",
    "parse_duration",
    "secret_uses",
]
