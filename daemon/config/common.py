"""What every area of the config shares: the error, frozen models, durations, schedules.

Nothing here knows an area; the area modules and the loader build on it.
"""

from __future__ import annotations

import enum
import re
from datetime import timedelta
from typing import Annotated, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    field_validator,
    model_validator,
)

EX_CONFIG = 78


class ConfigError(Exception):
    """The configuration is invalid; `problems` lists each one with its key path."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = tuple(problems)
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"invalid configuration {source}:\n{lines}")


class Frozen(BaseModel):
    """A settings table: immutable, and a key the schema does not know is an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")


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


def parse_duration(text: str) -> timedelta:
    """A duration such as "90s", "15m", "24h", "7d" (for command-line options)."""
    value = _parse_duration(text)
    assert isinstance(value, timedelta)  # _parse_duration returns one or raises
    return value


_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?\s*$", re.IGNORECASE)
SIZE_UNITS = {
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "KiB": 2**10,
    "MiB": 2**20,
    "GiB": 2**30,
    "TiB": 2**40,
}
_UNIT_BYTES = {unit.lower(): size for unit, size in SIZE_UNITS.items()}


class ByteCount(int):
    """A number of bytes from the config: an int that `config check` writes as a size."""


def parse_size(value: object) -> int:
    """Accept "500MB", "2GiB", "800 KB" or a number of bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        match = _SIZE_RE.match(value)
        if match:
            unit = (match.group(2) or "B").lower()
            return int(float(match.group(1)) * _UNIT_BYTES[unit])
    raise ValueError(f"expected a size like '500MB' or '2GiB', got {value!r}")


# The int subclass survives validation, so the dump can tell a size from a count.
ByteSize = Annotated[int, BeforeValidator(parse_size), AfterValidator(ByteCount)]


class Schedule(Frozen):
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


def interval(text: str) -> Schedule:
    """A fixed-interval schedule, for defaults: `interval("15m")`."""
    return Schedule(every=parse_duration(text))


class Severity(enum.StrEnum):
    """How loud a finding is; channels and the report filter on it."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"
