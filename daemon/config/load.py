"""config.toml -> frozen, validated settings, with the secrets each command uses.

`load_config(path)` reads the file once, validates all of it up front and
returns a frozen `Settings`. Every problem is reported with its key path, what
was expected and what was found (`models[2].checks.drift.threshold: must be > 0,
got -1`). Secrets are resolved here, once, into the references that hold them
(see `daemon.config.secrets`).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel, ValidationError

from daemon.config.common import ConfigError
from daemon.config.secrets import Needs, SecretRef, SecretUse, Visit, replace_refs

if TYPE_CHECKING:
    from daemon.config.service import ServiceSettings, StoreSettings
    from daemon.config.settings import Settings

M = TypeVar("M", bound=BaseModel)

DEFAULT_CONFIG_NAME = "config.toml"
CONFIG_ENV = "MLMAINT_CONFIG"


def _key_path(loc: tuple[int | str, ...], data: object) -> str:
    """Turn a pydantic location into `models[2].checks.drift.threshold`.

    Discriminated unions add the tag ("files") to the location; it is not a key
    in the file, so it is dropped by walking the input alongside.
    """
    parts: list[str] = []
    node = data
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
            node = node[item] if isinstance(node, list | tuple) and item < len(node) else None
            continue
        if isinstance(node, dict) and item not in node and node.get("kind") == item:
            continue
        if item == "schema_":
            item = "schema"
        parts.append(f".{item}" if parts else item)
        node = node.get(item) if isinstance(node, dict) else None
    return "".join(parts) or "(top level)"


def _describe(error: Mapping[str, object]) -> str:
    kind = error.get("type")
    ctx = error.get("ctx")
    ctx = ctx if isinstance(ctx, dict) else {}
    found = error.get("input")
    bounds = {
        "greater_than": ">",
        "greater_than_equal": ">=",
        "less_than": "<",
        "less_than_equal": "<=",
    }
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    if kind in bounds:
        limit = next(iter(ctx.values()), "?")
        return f"must be {bounds[str(kind)]} {limit}, got {found!r}"
    if kind == "union_tag_invalid":
        return f"unknown kind {ctx.get('tag')!r}, expected one of {ctx.get('expected_tags')}"
    if kind == "union_tag_not_found":
        return "missing 'kind'"
    if kind in ("tuple_type", "list_type", "set_type", "frozen_set_type"):
        # TOML's words, not Python's: a list in brackets.
        example = f"[{found!r}]".replace("'", '"') if isinstance(found, str) else '["..."]'
        return f"expected a list, e.g. {example}, got {found!r}"
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    if kind == "value_error" or isinstance(found, dict):
        return message
    return f"{message[0].lower()}{message[1:]}, got {found!r}"


def _resolve_secrets(
    settings: M,
    source: str,
    environ: Mapping[str, str],
    needs: Needs,
    channels: Collection[str] | None,
    walk: Callable[[M, Visit], M],
) -> M:
    """Resolve every SecretRef in place; a needed one that is not set fails the load."""
    problems: list[str] = []

    def resolve(use: SecretUse) -> SecretRef:
        try:
            secret = use.ref.resolve(environ)
        except ValueError as exc:
            reason = str(exc)
        else:
            if secret is None:
                reason = f"secret not set ({use.ref.describe()} is missing)"
            elif len(secret.reveal().strip().encode()) < use.min_bytes:
                size = len(secret.reveal().strip().encode())
                reason = (
                    f"too short ({use.ref.describe()} holds {size} bytes, "
                    f"at least {use.min_bytes} needed)"
                )
            else:
                return use.ref.loaded(key=use.key, source=source, secret=secret)
        if use.needed(needs, channels):
            problems.append(f"{use.key}: {reason}")
        # Not needed: a required one raises SecretNotSet if asked for; an optional one is None.
        missing = reason if use.required else None
        return use.ref.loaded(key=use.key, source=source, secret=None, missing=missing)

    resolved = walk(settings, resolve)
    if problems:
        raise ConfigError(source, problems)
    return resolved


def parse_config(
    data: Mapping[str, object],
    source: str = "<config>",
    environ: Mapping[str, str] | None = None,
    *,
    needs: Needs = Needs.DAEMON,
    channels: Collection[str] | None = None,
) -> Settings:
    """Validate a parsed TOML document; raises ConfigError listing every problem.

    Only the secrets in `needs` must be set (`channels` narrows CHANNELS to the
    named channels); the others are resolved where they are set.
    """
    from daemon.config.settings import Settings, with_secrets

    settings = _validated(Settings, data, source)
    env = os.environ if environ is None else environ
    return _resolve_secrets(settings, source, env, needs, channels, with_secrets)


def _validated(model: type[M], data: Mapping[str, object], source: str, key: str = "") -> M:
    """`data` validated as `model`; ConfigError lists every problem under its key path."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        prefix = (key,) if key else ()
        problems = [
            f"{_key_path((*prefix, *err['loc']), {key: data} if key else data)}: {_describe(err)}"
            for err in exc.errors()
        ]
        raise ConfigError(source, problems) from exc


def load_config(
    path: Path,
    environ: Mapping[str, str] | None = None,
    *,
    needs: Needs = Needs.DAEMON,
    channels: Collection[str] | None = None,
) -> Settings:
    """Read and validate config.toml; relative paths in it stay relative to the cwd.

    `needs` names the secrets the caller uses (default: all the daemon's).
    """
    data = _read(path)
    return parse_config(data, str(path), environ, needs=needs, channels=channels)


def _load_table(
    path: Path, key: str, cls: type[M], environ: Mapping[str, str] | None, needs: Needs
) -> M:
    """One table of config.toml alone, validated as `cls`, its secrets resolved."""
    data = _read(path)
    table = data.get(key, {})
    if not isinstance(table, dict):
        raise ConfigError(str(path), [f"{key}: expected a table, got {table!r}"])
    settings = _validated(cls, table, str(path), key=key)
    env = os.environ if environ is None else environ

    def walk(node: M, visit: Visit) -> M:
        return replace_refs(node, key, visit, lambda holder: None)

    return _resolve_secrets(settings, str(path), env, needs, None, walk)


def load_store(path: Path, environ: Mapping[str, str] | None = None) -> StoreSettings:
    """The [store] table of config.toml alone, validated, its password resolved.

    For the commands that read the store and nothing else of the config (`mlmaint
    status`, `alerts list`): they answer in a fraction of the time a whole load takes
    (every area's models), and they answer while another table of the file is being
    fixed. Problems read as `load_config` words them (`store.url: ...`).
    """
    from daemon.config.service import StoreSettings

    return _load_table(path, "store", StoreSettings, environ, Needs.STORE)


def load_service(path: Path, environ: Mapping[str, str] | None = None) -> ServiceSettings:
    """The [service] table of config.toml alone, validated, its tokens resolved when set.

    For a command that asks the running daemon first (daemon/cli_remote.py): where
    it listens and the token it takes, without the whole config's models. A token
    that cannot be resolved is left unset: the command then works without the daemon.
    """
    from daemon.config.service import ServiceSettings

    return _load_table(path, "service", ServiceSettings, environ, Needs.NOTHING)


def config_digest(path: Path) -> str | None:
    """What a daemon and a CLI compare to tell they read the same config (None when the
    file cannot be read): the SHA-256 of the file's bytes, and of the working directory
    too when the store or the state directory is a relative path (the same bytes then
    name another store from another directory). daemon/api/terminal.py."""
    import hashlib

    from daemon.config.service import ServiceSettings, StoreSettings

    try:
        raw = path.read_bytes()
    except OSError:
        return None
    digest = hashlib.sha256(raw)
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return digest.hexdigest()
    service, store = data.get("service", {}), data.get("store", {})
    state = service.get("state_dir") if isinstance(service, dict) else None
    url = store.get("url") if isinstance(store, dict) else None
    state = str(state or ServiceSettings.model_fields["state_dir"].default)
    url = str(url or StoreSettings.model_fields["url"].default)
    relative_store = url.startswith("sqlite:///") and not url.startswith("sqlite:////")
    if relative_store or not Path(state).expanduser().is_absolute():
        digest.update(b"\0" + str(Path.cwd()).encode())
    return digest.hexdigest()


def _read(path: Path) -> dict[str, object]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError(
            str(path),
            [
                f"file not found: {path.resolve()} (give the file with --config PATH or "
                f"{CONFIG_ENV}=PATH)"
            ],
        ) from exc
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read: {exc.strerror}"]) from exc
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), [f"not valid TOML: {exc}"]) from exc


def default_config_path(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(env.get(CONFIG_ENV, DEFAULT_CONFIG_NAME))


def masked_dump(settings: Settings) -> dict[str, object]:
    """The resolved settings as plain data, with secret references, never values."""
    data = settings.model_dump(mode="json", by_alias=True)
    data["secrets"] = dict.fromkeys(sorted(settings.secrets), "***")
    return data
