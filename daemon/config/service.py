"""[service] and [store]: how the daemon runs, serves HTTP and reaches its database."""

from __future__ import annotations

import enum
import ipaddress
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Self

from pydantic import Field, field_validator, model_validator

from daemon.config.common import Duration, Frozen, Schedule
from daemon.config.secrets import Needs, Secret, SecretField, SecretRef, secret_of

# An API token shorter than this (in bytes, after stripping whitespace) is refused:
# an empty or guessable token would let anyone who reaches the port write or read.
MIN_TOKEN_BYTES = 16

Token = Annotated[SecretRef | None, SecretField(Needs.API_TOKEN, min_bytes=MIN_TOKEN_BYTES)]


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


class ServiceSettings(Frozen):
    state_dir: Path = Path("var")
    log_level: LogLevel = LogLevel.INFO
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8787, ge=0, le=65535)
    api_token: Token = None
    # Bearer token for /metrics and /reports when bound beyond loopback (else api_token).
    read_token: Token = None
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
    # Every job run is kept this long (the weekly report's daemon health counts a
    # week's runs from it); the retention sweep deletes older ones.
    job_history: Duration = timedelta(days=35)
    retrain_poll_schedule: Schedule = Schedule(every=timedelta(minutes=1))

    @field_validator("job_history")
    @classmethod
    def _positive_history(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError(f"must be > 0, got {value}")
        return value

    @model_validator(mode="after")
    def _token_beyond_loopback(self) -> Self:
        if self.api_token is None and not is_loopback(self.http_host):
            raise ValueError(
                f"http_host {self.http_host!r} is beyond loopback: set api_token, or bind 127.0.0.1"
            )
        if self.http_timeout <= timedelta(0):
            raise ValueError(f"http_timeout must be > 0, got {self.http_timeout}")
        return self

    def api_token_secret(self) -> Secret | None:
        return secret_of(self.api_token)

    def read_token_secret(self) -> Secret | None:
        return secret_of(self.read_token)


class StoreSettings(Frozen):
    url: str = "sqlite:///var/mlmaint.db"
    password: Annotated[SecretRef | None, SecretField(Needs.STORE)] = None
    pool_size: int = Field(default=5, ge=1)

    @field_validator("url")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if not value.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:")):
            raise ValueError(f"expected a sqlite: or postgresql: URL, got {value!r}")
        if "@" in value and ":" in value.split("@")[0].split("//")[-1]:
            raise ValueError("the URL holds a password: use store.password = { env = ... }")
        return value

    def password_secret(self) -> Secret | None:
        return secret_of(self.password)
