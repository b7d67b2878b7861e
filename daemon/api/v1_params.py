"""The /v1 reads declared: each endpoint and its query parameters, once; the router,
the parameter checks and the OpenAPI document are built from these declarations.

A parameter the endpoint does not take, a value that is not one of the choices,
a time that is not ISO 8601 or a limit out of range is a 400 whose message
names the parameter and what it accepts.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import BaseModel

TIME_FORMAT = "ISO 8601, e.g. 2026-11-30 or 2026-11-30T12:00:00Z (UTC when no offset is given)"
# A `+` in a query string arrives as a space: "12:00:00 01:00" was "12:00:00+01:00".
_SPACED_OFFSET = re.compile(r"(\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:?\d{2})$")


class BadParam(ValueError):
    """A query parameter the endpoint cannot take: answered 400 with this message."""


class ParamType(enum.Enum):
    TEXT = "text"
    TIME = "time"
    CHOICE = "choice"
    LIMIT = "limit"


@dataclass(frozen=True, kw_only=True)
class Param:
    name: str
    description: str
    type: ParamType = ParamType.TEXT
    # CHOICE: the accepted values, or what lists them when asked (an enum whose room
    # is too heavy to import at start-up).
    choices: tuple[str, ...] | Callable[[], tuple[str, ...]] = ()
    # CHOICE: the value when absent; LIMIT: the default count.
    default: str | int | None = None
    maximum: int = 0

    def options(self) -> tuple[str, ...]:
        return self.choices if isinstance(self.choices, tuple) else self.choices()

    def parse(self, text: str) -> str | datetime | int:
        match self.type:
            case ParamType.TEXT:
                return text
            case ParamType.TIME:
                return parse_time(self.name, text)
            case ParamType.CHOICE:
                options = self.options()
                if text not in options:
                    raise BadParam(f"{self.name}: {text!r} is not one of {', '.join(options)}")
                return text
            case ParamType.LIMIT:
                try:
                    value = int(text)
                except ValueError:
                    raise BadParam(f"{self.name}: {text!r} is not a whole number") from None
                if not 1 <= value <= self.maximum:
                    raise BadParam(f"{self.name}: {value} is out of range 1 to {self.maximum}")
                return value


def text(name: str, description: str) -> Param:
    return Param(name=name, description=description)


def time(name: str, description: str) -> Param:
    return Param(name=name, description=f"{description}; {TIME_FORMAT}", type=ParamType.TIME)


def choice(
    name: str,
    description: str,
    values: Sequence[str] | Callable[[], tuple[str, ...]],
    default: str | None = None,
) -> Param:
    return Param(
        name=name,
        description=description,
        type=ParamType.CHOICE,
        choices=values if callable(values) else tuple(values),
        default=default,
    )


def limit(default: int, maximum: int) -> Param:
    return Param(
        name="limit",
        description=f"at most this many items (default {default}, at most {maximum})",
        type=ParamType.LIMIT,
        default=default,
        maximum=maximum,
    )


def parse_time(name: str, value: str) -> datetime:
    """An ISO 8601 date or time; without an offset it is UTC."""
    try:
        parsed = datetime.fromisoformat(_SPACED_OFFSET.sub(r"\1+\2", value.strip()))
    except ValueError:
        raise BadParam(f"{name}: {value!r} is not a time: use {TIME_FORMAT}") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@dataclass(frozen=True)
class Query:
    """The parsed parameters of one request; absent ones hold their default."""

    values: Mapping[str, str | datetime | int | None]

    def text(self, name: str) -> str | None:
        value = self.values.get(name)
        return value if isinstance(value, str) else None

    def time(self, name: str) -> datetime | None:
        value = self.values.get(name)
        return value if isinstance(value, datetime) else None

    def number(self, name: str) -> int:
        value = self.values.get(name)
        if not isinstance(value, int):
            raise KeyError(name)
        return value


def parse_query(params: Sequence[Param], given: Mapping[str, list[str]]) -> Query:
    """Each declared parameter parsed; anything undeclared or repeated is a BadParam."""
    known = {p.name: p for p in params}
    for name, values in given.items():
        if name not in known:
            takes = ", ".join(known) or "no parameters"
            raise BadParam(f"unknown parameter {name!r}: this endpoint takes {takes}")
        if len(values) > 1:
            raise BadParam(f"{name}: given {len(values)} times, give it once")
    out: dict[str, str | datetime | int | None] = {}
    for name, param in known.items():
        found = given.get(name)
        out[name] = param.parse(found[0]) if found else param.default
    return Query(out)


@dataclass(frozen=True, kw_only=True)
class Endpoint:
    """One GET route: its path, what it answers and the parameters it takes."""

    path: str
    summary: str
    # None: a document of its own kind (the OpenAPI document).
    response: type[BaseModel] | None
    # (routes, request, query) -> the body: a response model, or a mapping as it is.
    handler: Callable[..., BaseModel | Mapping[str, object]]
    params: tuple[Param, ...] = ()
    # Answers besides 200 and 401: 400 for a bad parameter, 404 for an unknown model.
    errors: tuple[int, ...] = ()
