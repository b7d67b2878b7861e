"""The daemon's configuration: config.toml -> frozen, validated settings.

One module per area (`service`, `alerts`, `report`, `frameworks`, `models`
with its `sources`, `model_checks` and `retraining`), the shared types in
`common`, the typed secret references in `secrets`, and loading in `load`.
Importers use this package's names: `from daemon.config import Settings`.

The names load on first use (PEP 562): a command that reads only the [store]
table (`mlmaint status`, `alerts list`) imports the few areas it validates, not
every area's models (a tenth of a second at the terminal).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
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
    from daemon.config.checks import CheckingSettings, CheckWorkerSettings, RunOn
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
        config_digest,
        default_config_path,
        load_config,
        load_service,
        load_store,
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

# Each name and the module that defines it.
_SOURCES = {
    "AlertSettings": "daemon.config.alerts",
    "Channel": "daemon.config.alerts",
    "ChannelBase": "daemon.config.alerts",
    "EmailChannel": "daemon.config.alerts",
    "EmailTls": "daemon.config.alerts",
    "FileChannel": "daemon.config.alerts",
    "QuietHours": "daemon.config.alerts",
    "SlackChannel": "daemon.config.alerts",
    "WebhookChannel": "daemon.config.alerts",
    "CheckingSettings": "daemon.config.checks",
    "CheckWorkerSettings": "daemon.config.checks",
    "RunOn": "daemon.config.checks",
    "EX_CONFIG": "daemon.config.common",
    "ConfigError": "daemon.config.common",
    "Duration": "daemon.config.common",
    "Schedule": "daemon.config.common",
    "Severity": "daemon.config.common",
    "parse_duration": "daemon.config.common",
    "EvidenceSettings": "daemon.config.evidence",
    "AdvisoryRoute": "daemon.config.frameworks",
    "AdvisoryRouting": "daemon.config.frameworks",
    "EnvironmentKind": "daemon.config.frameworks",
    "EnvironmentSettings": "daemon.config.frameworks",
    "FrameworkSettings": "daemon.config.frameworks",
    "Ignore": "daemon.config.frameworks",
    "CONFIG_ENV": "daemon.config.load",
    "DEFAULT_CONFIG_NAME": "daemon.config.load",
    "default_config_path": "daemon.config.load",
    "load_config": "daemon.config.load",
    "config_digest": "daemon.config.load",
    "load_service": "daemon.config.load",
    "load_store": "daemon.config.load",
    "masked_dump": "daemon.config.load",
    "parse_config": "daemon.config.load",
    "AUTO": "daemon.config.model_checks",
    "ChecksSettings": "daemon.config.model_checks",
    "ColumnDriftSettings": "daemon.config.model_checks",
    "DriftSettings": "daemon.config.model_checks",
    "MethodOrAuto": "daemon.config.model_checks",
    "OperationsSettings": "daemon.config.model_checks",
    "PerformanceSettings": "daemon.config.model_checks",
    "PersistenceSettings": "daemon.config.model_checks",
    "QualitySettings": "daemon.config.model_checks",
    "RESERVED_COLUMNS": "daemon.config.models",
    "ModelSettings": "daemon.config.models",
    "ReferenceKind": "daemon.config.models",
    "ReferenceSettings": "daemon.config.models",
    "SamplingSettings": "daemon.config.models",
    "SchemaSettings": "daemon.config.models",
    "ReportSettings": "daemon.config.report",
    "CelerySettings": "daemon.config.retraining",
    "ExecutorKind": "daemon.config.retraining",
    "ExecutorSettings": "daemon.config.retraining",
    "MlflowSettings": "daemon.config.retraining",
    "RetrainSettings": "daemon.config.retraining",
    "Needs": "daemon.config.secrets",
    "Secret": "daemon.config.secrets",
    "SecretField": "daemon.config.secrets",
    "SecretNotSet": "daemon.config.secrets",
    "SecretRef": "daemon.config.secrets",
    "SecretUse": "daemon.config.secrets",
    "MIN_TOKEN_BYTES": "daemon.config.service",
    "LogLevel": "daemon.config.service",
    "ServiceSettings": "daemon.config.service",
    "StoreSettings": "daemon.config.service",
    "is_loopback": "daemon.config.service",
    "Settings": "daemon.config.settings",
    "UnknownName": "daemon.config.settings",
    "secret_uses": "daemon.config.settings",
    "CursorKind": "daemon.config.sources",
    "FileFormat": "daemon.config.sources",
    "FileSource": "daemon.config.sources",
    "HttpSource": "daemon.config.sources",
    "Source": "daemon.config.sources",
    "SqlSource": "daemon.config.sources",
}


def __getattr__(name: str) -> object:
    try:
        module = _SOURCES[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


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
    "CheckWorkerSettings",
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
    "RunOn",
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
    "config_digest",
    "default_config_path",
    "is_loopback",
    "load_config",
    "load_service",
    "load_store",
    "masked_dump",
    "parse_config",
    "parse_duration",
    "secret_uses",
]
