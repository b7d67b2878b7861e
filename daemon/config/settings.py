"""The whole config as one frozen object, and the walk over its secret references."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Self

from pydantic import BaseModel, field_validator, model_validator

from daemon.config.alerts import AlertSettings, Channel, ChannelBase
from daemon.config.checks import CheckingSettings, RunOn
from daemon.config.common import Frozen
from daemon.config.evidence import EvidenceSettings
from daemon.config.frameworks import FrameworkSettings
from daemon.config.models import ModelSettings
from daemon.config.report import ReportSettings, with_base_url
from daemon.config.retraining import ExecutorSettings, MlflowSettings
from daemon.config.secrets import (
    Secret,
    SecretRef,
    SecretScope,
    SecretUse,
    Visit,
    replace_refs,
)
from daemon.config.service import ServiceSettings, StoreSettings


class UnknownName(KeyError):
    """A name the config does not hold: says which, and lists the configured ones.

    `str()` is the message itself (a bare KeyError's shows its repr, in quotes).
    """

    def __init__(self, what: str, name: str, known: Sequence[str], *, plural: str = "") -> None:
        listed = ", ".join(repr(k) for k in known) if known else "none"
        message = f"unknown {what} {name!r}; configured {plural or what + 's'}: {listed}"
        super().__init__(message)
        self.message = message
        self.name = name
        self.known = tuple(known)

    def __str__(self) -> str:
        return self.message


class Settings(Frozen):
    service: ServiceSettings = ServiceSettings()
    store: StoreSettings = StoreSettings()
    mlflow: MlflowSettings = MlflowSettings()
    executor: ExecutorSettings = ExecutorSettings()
    alerts: AlertSettings = AlertSettings()
    checks: CheckingSettings = CheckingSettings()
    report: ReportSettings = ReportSettings()
    evidence: EvidenceSettings = EvidenceSettings()
    frameworks: FrameworkSettings = FrameworkSettings()
    models: tuple[ModelSettings, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _derived_base_url(cls, data: object) -> object:
        """Links follow the HTTP server: `[report] base_url` unset is derived from
        `[service] http_host`/`http_port`."""
        if isinstance(data, Mapping) and all(isinstance(k, str) for k in data):
            return with_base_url(data)
        return data

    @field_validator("models")
    @classmethod
    def _unique_models(cls, value: tuple[ModelSettings, ...]) -> tuple[ModelSettings, ...]:
        names = [m.name for m in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"model names must be unique, repeated: {', '.join(dupes)}")
        return value

    @model_validator(mode="after")
    def _workers_share_the_store(self) -> Self:
        if self.checks.run_on is RunOn.CELERY and not self.store.url.startswith("postgresql"):
            raise ValueError(
                '[checks] run_on = "celery" needs [store] url to be a PostgreSQL URL that '
                f"the leader and every `mlmaint worker --queue checks` reach, got "
                f"{self.store.url!r}: a worker on a store of its own computes runs the "
                "leader never sees"
            )
        return self

    def state_path(self, path: Path) -> Path:
        """A state path of the config: a relative one lies under service.state_dir."""
        return self.service.state_dir / path

    @property
    def report_directory(self) -> Path:
        return self.state_path(self.report.directory)

    def model(self, name: str) -> ModelSettings:
        for model in self.models:
            if model.name == name:
                return model
        raise UnknownName("model", name, [m.name for m in self.models])

    def repeat_interval(self, kind: str) -> timedelta:
        return self.alerts.repeat_intervals.get(kind, self.alerts.repeat_interval)

    def channel(self, name: str) -> Channel:
        for channel in self.alerts.channels:
            if channel.name == name:
                return channel
        raise UnknownName(
            "alert channel", name, [c.name for c in self.alerts.channels], plural="channels"
        )

    # Views over the loaded references, for listing and redaction; a secret itself
    # is read through the accessor of the settings object that holds it.

    @property
    def secrets(self) -> Mapping[str, Secret]:
        """Every resolved secret, by its key path."""
        found = {}
        for use in secret_uses(self):
            secret = None if use.ref.missing() else use.ref.value()
            if secret is not None:
                found[use.key] = secret
        return found

    @property
    def unresolved(self) -> Mapping[str, str]:
        """Required secrets the loading command did not need and could not resolve: why."""
        return {use.key: why for use in secret_uses(self) if (why := use.ref.missing())}


# --------------------------------------------------------------------------- secret walk


def secret_uses(settings: Settings) -> tuple[SecretUse, ...]:
    """Every secret reference in the settings, with its key path and what needs it."""
    uses: list[SecretUse] = []

    def collect(use: SecretUse) -> SecretRef:
        uses.append(use)
        return use.ref

    with_secrets(settings, collect)
    return tuple(uses)


def _channel_scope(holder: BaseModel) -> SecretScope | None:
    # A channel's secret is needed by that channel's commands, when it is enabled.
    if isinstance(holder, ChannelBase):
        return SecretScope(channel=holder.name, required=holder.enabled)
    return None


def with_secrets(settings: Settings, visit: Visit) -> Settings:
    """The settings with each secret reference replaced by `visit(its use)`.

    Secret fields are found by type, so a new one needs no list kept here; its
    `SecretField` mark says who needs it.
    """
    return replace_refs(settings, "", visit, _channel_scope)
