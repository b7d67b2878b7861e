"""The settings written back as TOML, as a person would write them (`mlmaint config check`).

Durations keep the text the file gave them ("30s", not PT30S); those the file
left to their defaults are written in their largest whole unit ("1h", "90s",
"7d"). Byte sizes likewise ("500MB" stays "500MB"; a default is written in the
unit that says it shortest, "16MiB"). Paths, enums and tuples become the strings
and arrays TOML has; unset options (None) are left out, as TOML has no null. A
secret is shown by its reference (`{ env = "..." }` or `{ file = "..." }`): the
settings never hold a value to show. By default only what differs from the defaults is written; the
whole effective config with `every=True`. Either loads back to equal settings.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path, PurePath

from daemon.config.common import SIZE_UNITS, ByteCount, parse_duration, parse_size
from daemon.config.settings import Settings

# Weeks are left out: "7d" and "14d" are how the reference config.toml says them.
_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def format_duration(value: timedelta) -> str:
    """A duration in its largest whole unit: 90 s is "90s", 3600 s "1h", 0.5 s "500ms"."""
    micros = round(value.total_seconds() * 1_000_000)
    for unit, seconds in _UNITS:
        if micros and micros % (seconds * 1_000_000) == 0:
            return f"{micros // (seconds * 1_000_000)}{unit}"
    if micros % 1000 == 0:
        return f"{micros // 1000}ms"
    return f"{value.total_seconds()}s"


def format_size(value: int) -> str:
    """A byte size in the unit that says it shortest: 500000000 is "500MB", 2**31 "2GiB"."""
    whole = [(value // size, unit) for unit, size in SIZE_UNITS.items() if value % size == 0]
    count, unit = min(whole) if value else (0, "B")
    return f"{count}{unit}"


def _same_size(raw: object, value: int) -> bool:
    try:
        return parse_size(raw) == value
    except ValueError:
        return False


def _same_duration(raw: object, value: timedelta) -> bool:
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        return False
    try:
        parsed = parse_duration(raw) if isinstance(raw, str) else timedelta(seconds=raw)
    except ValueError:
        return False
    return parsed == value


def _plain(value: object, raw: object) -> object:
    """`value` (a model_dump in Python mode) as TOML data, keeping `raw`'s spelling."""
    if isinstance(value, Mapping):
        raw_map = raw if isinstance(raw, Mapping) else {}
        return {
            str(k): _plain(v, raw_map.get(k))
            for k, v in value.items()
            if v is not None and not (isinstance(v, Mapping) and not v and k not in raw_map)
        }
    if isinstance(value, list | tuple):
        raw_list = raw if isinstance(raw, list) else []
        return [
            _plain(v, raw_list[i] if i < len(raw_list) else None)
            for i, v in enumerate(value)
            if v is not None
        ]
    if isinstance(value, timedelta):
        return raw if _same_duration(raw, value) else format_duration(value)
    if isinstance(value, ByteCount):
        return raw if _same_size(raw, value) else format_size(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, PurePath):
        return raw if isinstance(raw, str) and Path(raw) == value else str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def settings_data(
    settings: Settings, raw: Mapping[str, object] | None = None, *, every: bool = False
) -> dict[str, object]:
    """The settings as plain data, as the file wrote them: what differs from the defaults,
    or `every` option; durations as text ("30s"), secrets by reference. The TOML of
    `settings_toml` and `config check --format json` are this same data."""
    dumped = settings.model_dump(mode="python", by_alias=True, exclude_defaults=not every)
    data = _plain(dumped, raw or {})
    assert isinstance(data, dict)
    # Tables in the order a config file has them, models last.
    order = ["service", "store", "mlflow", "executor", "alerts", "report", "frameworks", "models"]
    ordered = {k: data[k] for k in order if k in data}
    ordered.update({k: v for k, v in data.items() if k not in ordered})
    return ordered


def settings_toml(
    settings: Settings, raw: Mapping[str, object] | None = None, *, every: bool = False
) -> str:
    """The settings as TOML text: what differs from the defaults, or `every` option."""
    ordered = settings_data(settings, raw, every=every)
    lines: list[str] = []
    for name, value in ordered.items():
        if isinstance(value, dict):
            _table(lines, [name], value, array=False)
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for item in value:
                _table(lines, [name], item, array=True)
        else:
            lines.append(f"{_key(name)} = {_value(value)}")
    return "\n".join(lines).lstrip("\n") + "\n"


# ---------------------------------------------------------------------------- TOML text
# A small writer rather than a dependency: small tables (secret references,
# schedules, a column's settings) go inline and arrays on one line, as people
# write them; a test loads the text back with tomllib into equal settings.

_BARE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_INLINE_KEYS = 4
_INLINE_WIDTH = 60


def _key(name: str) -> str:
    return name if name and set(name) <= _BARE else json.dumps(name, ensure_ascii=False)


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) and math.isfinite(value) else str(value)
    if isinstance(value, str):
        # A JSON string is a TOML basic string (the same escapes, \uXXXX included).
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items())
        return "{ " + inner + " }" if inner else "{}"
    raise TypeError(f"no TOML for {type(value).__name__}")


def _nested(value: object) -> bool:
    return isinstance(value, dict) or (
        isinstance(value, list) and any(isinstance(v, dict) for v in value)
    )


def _inline(value: object) -> bool:
    """A small table of plain values, written on one line."""
    return (
        isinstance(value, dict)
        and len(value) <= _INLINE_KEYS
        and not any(_nested(v) for v in value.values())
        and len(_value(value)) <= _INLINE_WIDTH
    )


def _table(lines: list[str], path: list[str], table: dict[str, object], *, array: bool) -> None:
    plain = {k: v for k, v in table.items() if not _nested(v) or _inline(v)}
    tables = {k: v for k, v in table.items() if k not in plain}
    header = ".".join(_key(p) for p in path)
    if array or plain:
        lines.append("")
        lines.append(f"[[{header}]]" if array else f"[{header}]")
        lines.extend(f"{_key(k)} = {_value(v)}" for k, v in plain.items())
    for name, value in tables.items():
        if isinstance(value, dict):
            _table(lines, [*path, name], value, array=False)
        else:
            assert isinstance(value, list)
            for item in value:
                _table(lines, [*path, name], item, array=True)
