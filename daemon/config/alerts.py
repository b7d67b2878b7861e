"""[alerts]: the policy's intervals and the channels notifications go out on."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator

from daemon.config.common import Duration, Frozen, Severity
from daemon.config.secrets import Needs, Secret, SecretField, SecretRef, secret_of

# A channel's secrets are needed by the commands that send on channels.
ChannelSecret = Annotated[SecretRef | None, SecretField(Needs.CHANNELS)]


class ChannelBase(Frozen):
    """What every channel kind has; a disabled channel's secrets need not be set."""

    name: str
    enabled: bool = True
    min_severity: Severity = Severity.INFO
    # Empty means every model.
    models: tuple[str, ...] = ()


class FileChannel(ChannelBase):
    kind: Literal["file"]
    # Relative: under service.state_dir (Settings.state_path).
    path: Path = Path("outbox.jsonl")


class SlackChannel(ChannelBase):
    kind: Literal["slack"]
    webhook_url: Annotated[SecretRef, SecretField(Needs.CHANNELS)] = SecretRef(
        env="MLMAINT_SLACK_WEBHOOK_URL"
    )
    timeout: Duration = timedelta(seconds=10)

    def webhook_url_secret(self) -> Secret | None:
        return self.webhook_url.value()


class EmailTls(enum.StrEnum):
    STARTTLS = "starttls"
    TLS = "tls"
    NONE = "none"


class EmailChannel(ChannelBase):
    kind: Literal["email"]
    host: str = "localhost"
    port: int = Field(default=587, ge=1, le=65535)
    tls: EmailTls = EmailTls.STARTTLS
    username: str | None = None
    password: ChannelSecret = None
    sender: str = "mlmaint@localhost"
    recipients: tuple[str, ...] = ()
    timeout: Duration = timedelta(seconds=20)
    # A CA bundle for a relay with an internal or self-signed certificate.
    ca_file: Path | None = None

    def password_secret(self) -> Secret | None:
        return secret_of(self.password)


class WebhookChannel(ChannelBase):
    kind: Literal["webhook"]
    url: str
    token: ChannelSecret = None
    timeout: Duration = timedelta(seconds=10)

    def token_secret(self) -> Secret | None:
        return secret_of(self.token)


Channel = Annotated[
    FileChannel | SlackChannel | EmailChannel | WebhookChannel, Field(discriminator="kind")
]


class QuietHours(Frozen):
    start: str = Field(pattern=r"^\d\d:\d\d$")
    end: str = Field(pattern=r"^\d\d:\d\d$")
    timezone: str = "UTC"


class AlertSettings(Frozen):
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
    # A finding is critical when it is this far beyond its threshold, in the check's
    # own unit of excess (its "severity ratio", 1 at the threshold): value / threshold
    # for distances, latencies and error rates, decades below the threshold + 1 for
    # p-values, drop / allowed drop for performance, excess / allowance for quality.
    # Below it a finding is a warning; a dataset-level drift is always critical.
    critical_ratio: float = Field(default=2.0, gt=1.0)
    # A runbook per finding kind (drift, quality, performance, estimated_performance,
    # operations, monitoring, retrain, framework): every alert of that kind links it.
    runbooks: Mapping[str, str] = Field(default_factory=dict)
    channels: tuple[Channel, ...] = (FileChannel(kind="file", name="outbox"),)

    @field_validator("runbooks")
    @classmethod
    def _runbook_urls(cls, value: Mapping[str, str]) -> Mapping[str, str]:
        for kind, url in value.items():
            if not url.startswith(("https://", "http://")):
                raise ValueError(f"{kind}: a runbook is an http(s) URL, got {url!r}")
        return value

    @field_validator("channels")
    @classmethod
    def _unique_names(cls, value: tuple[Channel, ...]) -> tuple[Channel, ...]:
        names = [c.name for c in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"channel names must be unique, repeated: {', '.join(dupes)}")
        return value
