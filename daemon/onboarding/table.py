"""The model's `[[models]]` table: built as data, written as TOML, validated in the file."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from checks.interface import TaskKind
from daemon.config import ConfigError, Needs, parse_config
from daemon.onboarding.registered import retrain_section
from daemon.onboarding.request import FIRST_WINDOW, OnboardError, OnboardRequest, Schema
from daemon.onboarding.schema import log_format


def model_table(
    request: OnboardRequest,
    task: TaskKind,
    schema: Schema,
    alias: str,
    positive: str | None,
    estimator: object | None,
    has_score: bool,
    now: datetime,
) -> dict[str, object]:
    """The `[[models]]` table as plain data, in the order config.toml documents it."""
    roles = dict(schema.roles)
    if not has_score:
        roles.pop("score", None)
    if request.logs is not None:
        # Absolute: the daemon's working directory (under systemd, its StateDirectory) is
        # not the one onboarding ran in.
        glob = request.logs if Path(request.logs).is_absolute() else str(Path.cwd() / request.logs)
        source: dict[str, object] = {
            "kind": "files",
            "glob": glob,
            "format": log_format(request.logs, request.log_format).value,
        }
    else:
        source = {"kind": "http"}
    table: dict[str, object] = {"name": request.name, "task": task.value, "source": source}
    if request.labels == "http":
        table["labels"] = {"kind": "http"}
    schema_table: dict[str, object] = {
        "id": roles["id"],
        "timestamp": roles["timestamp"],
        "numeric": list(schema.numeric),
        "categorical": list(schema.categorical),
        **({"boolean": list(schema.boolean)} if schema.boolean else {}),
        "prediction": roles["prediction"],
    }
    for role in ("score", "label", "latency", "error", "memory"):
        if role in roles:
            schema_table[role] = roles[role]
    if schema.ignore:
        schema_table["ignore"] = list(schema.ignore)
    table["schema"] = schema_table
    if request.reference == FIRST_WINDOW:
        start = request.reference_start or now.replace(minute=0, second=0, microsecond=0)
        end = request.reference_end or start + timedelta(days=1)
        if end <= start:
            raise OnboardError(f"--reference-end {end} is not after --reference-start {start}")
        table["reference"] = {
            "kind": "window",
            "start": start.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "end": end.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        }
    else:
        table["reference"] = {"kind": "snapshot"}
    if request.metric is not None:
        table["checks"] = {"performance": {"metric": request.metric}}
    retrain = retrain_section(estimator, positive)
    if alias != "champion":
        retrain["alias"] = alias
    table["retrain"] = retrain
    return table


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key)


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        # JSON's string escapes are TOML basic-string escapes.
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        inner = ", ".join(f"{_key(str(k))} = {_value(v)}" for k, v in value.items())
        return "{ " + inner + " }" if inner else "{}"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def render_model(table: Mapping[str, object], header: Sequence[str] = ()) -> str:
    """One `[[models]]` table: scalars first, then each sub-table as `[models.x.y]`."""
    lines = [f"# {h}" for h in header]
    lines.append("[[models]]")

    def emit(prefix: str, node: Mapping[str, object]) -> None:
        subs = []
        for key, value in node.items():
            if isinstance(value, Mapping) and not _inline(key):
                subs.append((key, value))
            else:
                lines.append(f"{_key(key)} = {_value(value)}")
        for key, value in subs:
            lines.append("")
            lines.append(f"[{prefix}.{_key(key)}]")
            emit(f"{prefix}.{_key(key)}", value)

    emit("models", table)
    return "\n".join(lines) + "\n"


def _inline(key: str) -> bool:
    return key in ("params", "schedule", "categories")


def validate_appended(config_path: Path | None, existing: str, table: str, name: str) -> str:
    """The config file's text with the table appended, validated as a whole."""
    text = existing.rstrip("\n") + ("\n\n" if existing.strip() else "") + table
    source = str(config_path) if config_path else "<config>"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise OnboardError(
            f"{source}: the file with the new table is not valid TOML: {exc}"
        ) from exc
    try:
        # Secrets are resolved by the commands that use them: here the shape is checked.
        parse_config(data, source, needs=Needs.NOTHING)
    except ConfigError as exc:
        raise OnboardError(f"the table for {name} does not validate: {exc}") from exc
    return text
