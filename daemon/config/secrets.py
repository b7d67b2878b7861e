"""Typed secret references: where a secret comes from, and its value once loaded.

A secret is never in the file: the file names an environment variable or a
file (a systemd credential), as a `SecretRef` on the settings object that uses
it (`store.password`, a Slack channel's `webhook_url`, ...). The field says
which commands need it with a `SecretField` mark. Loading resolves each
reference in place, so the settings object holds its own secret and hands it
out through a typed accessor (`StoreSettings.password_secret()`); nothing
looks a secret up by a key-path string.

A command resolves only the secrets it uses: the caller says what it `Needs`
(the daemon, the default, needs every secret of an enabled feature). A needed
secret that is not set fails the load with its key path; one that is not
needed is recorded on its reference, and the accessor raises `SecretNotSet`
if something asks for it anyway, so a command that forgot a need still fails
with the key named rather than running without it.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Self, TypeVar

from pydantic import BaseModel, PrivateAttr, model_validator
from pydantic.fields import FieldInfo

from daemon.config.common import ConfigError, Frozen


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


@dataclasses.dataclass(frozen=True)
class SecretField:
    """Marks a settings field as a secret: `Annotated[SecretRef | None, SecretField(...)]`.

    Every `SecretRef` field carries one; loading refuses a schema where one
    does not, so a new secret cannot be added without saying who needs it.
    """

    area: Needs
    # A set value shorter than this (bytes, whitespace stripped) is refused (tokens).
    min_bytes: int = 0


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Resolution:
    """What loading found for one reference."""

    key: str
    source: str
    secret: Secret | None
    # Why a required secret is unset, raised when something asks for it anyway.
    missing: str | None = None


class SecretRef(Frozen):
    """Where a secret comes from: an environment variable or a file, never the config.

    After loading it also holds what it resolved to (never printed nor dumped).
    """

    env: str | None = None
    file: Path | None = None
    _resolution: _Resolution | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of 'env' or 'file'")
        return self

    def describe(self) -> str:
        return f"env {self.env}" if self.env else f"file {self.file}"

    def resolve(self, environ: Mapping[str, str]) -> Secret | None:
        """Read the secret now: its value, or None when the variable or file is absent."""
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

    def loaded(
        self, *, key: str, source: str, secret: Secret | None, missing: str | None = None
    ) -> SecretRef:
        """A copy that holds what loading found at `key` (the loader's call)."""
        copy = self.model_copy()
        copy._resolution = _Resolution(key=key, source=source, secret=secret, missing=missing)
        return copy

    def value(self) -> Secret | None:
        """The secret resolved at load; None where it is optional and not set.

        Raises SecretNotSet, naming the key, for a required secret that the
        loading command did not declare it needs and that is not set.
        """
        found = self._resolution
        if found is None:
            return None
        if found.missing is not None:
            raise SecretNotSet(found.source, found.key, found.missing)
        return found.secret

    def missing(self) -> str | None:
        """Why this required secret is unset ("secret not set (env X is missing)"), or None."""
        return None if self._resolution is None else self._resolution.missing


def secret_of(ref: SecretRef | None) -> Secret | None:
    """The value of an optional reference: what each settings accessor returns."""
    return None if ref is None else ref.value()


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


# --------------------------------------------------------------------------- secret walk

Visit = Callable[[SecretUse], SecretRef]
M = TypeVar("M", bound=BaseModel)


@dataclasses.dataclass(frozen=True, kw_only=True)
class SecretScope:
    """Whose the secrets of a settings object are: an alert channel's, needed by that
    channel's commands and only when it is enabled."""

    channel: str
    required: bool


Scope = Callable[[BaseModel], SecretScope | None]


def replace_refs(node: M, prefix: str, visit: Visit, scope: Scope) -> M:
    """`node` with each secret reference in it replaced by `visit(its use)`, keys under
    `prefix`; `scope` says which settings objects belong to a channel."""
    updates: dict[str, object] = {}
    for name, info in type(node).model_fields.items():
        value = getattr(node, name)
        key = f"{prefix}.{info.alias or name}" if prefix else info.alias or name
        new = _value(value, key, node, info, visit, scope)
        if new is not value:
            updates[name] = new
    return node.model_copy(update=updates) if updates else node


def _value(
    value: object, key: str, holder: BaseModel, info: FieldInfo, visit: Visit, scope: Scope
) -> object:
    if isinstance(value, SecretRef):
        return visit(_use(value, key, holder, info, scope))
    if isinstance(value, BaseModel):
        return replace_refs(value, key, visit, scope)
    if isinstance(value, tuple):
        items = tuple(
            _value(v, f"{key}[{i}]", holder, info, visit, scope) for i, v in enumerate(value)
        )
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    if isinstance(value, Mapping):
        entries = {k: _value(v, f"{key}.{k}", holder, info, visit, scope) for k, v in value.items()}
        return value if all(entries[k] is v for k, v in value.items()) else entries
    return value


def _use(ref: SecretRef, key: str, holder: BaseModel, info: FieldInfo, scope: Scope) -> SecretUse:
    marks = [m for m in info.metadata if isinstance(m, SecretField)]
    if not marks:
        raise TypeError(f"{type(holder).__name__}: secret field {key} has no SecretField mark")
    mark = marks[0]
    owner = scope(holder)
    if owner is not None:
        return SecretUse(
            key=key,
            ref=ref,
            area=mark.area,
            channel=owner.channel,
            required=owner.required,
            min_bytes=mark.min_bytes,
        )
    return SecretUse(key=key, ref=ref, area=mark.area, min_bytes=mark.min_bytes)
