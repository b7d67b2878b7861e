"""Secrets as typed references: every secret field has an accessor, found by type.

The secret fields are discovered from the schema's annotations, so a new
`SecretRef` field without a `SecretField` mark, without a `<field>_secret()`
accessor, or missing from the fully-secreted config below fails here.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from daemon.config import (
    ConfigError,
    EmailChannel,
    Needs,
    Secret,
    SecretField,
    SecretNotSet,
    SecretRef,
    Settings,
    SlackChannel,
    SqlSource,
    WebhookChannel,
    masked_dump,
    parse_config,
    secret_uses,
)

TOKEN = "tok-0123456789abcdef-secret"


def _models_in(annotation: object) -> Iterator[type[BaseModel]]:
    """The settings classes an annotation can hold (through unions, tuples, mappings)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        yield from _models_in(typing.get_args(annotation)[0])
        return
    if origin is not None or isinstance(annotation, types.UnionType):
        for arg in typing.get_args(annotation):
            yield from _models_in(arg)


def _holds_secret(annotation: object) -> bool:
    return any(cls is SecretRef for cls in _models_in(annotation))


def secret_fields() -> set[tuple[type[BaseModel], str]]:
    """(settings class, field name) for every SecretRef field reachable from Settings."""
    found: set[tuple[type[BaseModel], str]] = set()
    seen: set[type[BaseModel]] = set()
    todo: list[type[BaseModel]] = [Settings]
    while todo:
        cls = todo.pop()
        if cls in seen or cls is SecretRef:
            continue
        seen.add(cls)
        for name, info in cls.model_fields.items():
            if _holds_secret(info.annotation):
                found.add((cls, name))
            todo.extend(_models_in(info.annotation))
    return found


FIELDS = sorted(secret_fields(), key=lambda f: (f[0].__name__, f[1]))
FIELD_IDS = [f"{cls.__name__}.{name}" for cls, name in FIELDS]


def _sql(table: str, env: str) -> dict[str, object]:
    return {
        "kind": "sql",
        "url": "postgresql+psycopg://reader@db/app",
        "password": {"env": env},
        "table": table,
        "cursor_column": "ts",
    }


def _every_secret(tmp_path: Path) -> tuple[dict[str, object], dict[str, str], dict[str, str]]:
    """A config that sets every secret field: (data, environ, key -> expected value)."""
    smtp = tmp_path / "smtp-password"
    smtp.write_text("smtp-file-secret\n")
    data: dict[str, object] = {
        "service": {"api_token": {"env": "T_API"}, "read_token": {"env": "T_READ"}},
        "store": {"password": {"env": "T_STORE"}},
        "alerts": {
            "channels": [
                {"name": "s", "kind": "slack", "webhook_url": {"env": "T_HOOK"}},
                {"name": "e", "kind": "email", "password": {"file": str(smtp)}},
                {"name": "w", "kind": "webhook", "url": "http://x/h", "token": {"env": "T_WH"}},
            ]
        },
        "models": [
            {
                "name": "m",
                "source": _sql("predictions", "T_SRC"),
                "labels": _sql("labels", "T_LAB"),
                "schema": {"numeric": ["a"]},
            }
        ],
    }
    environ = {
        "T_API": TOKEN,
        "T_READ": TOKEN + "-read",
        "T_STORE": "store-env-secret",
        "T_HOOK": "https://hooks.example/T0/B0/hook-env-secret",
        "T_WH": "webhook-env-secret",
        "T_SRC": "source-env-secret",
        "T_LAB": "labels-env-secret",
    }
    expected = {
        "service.api_token": TOKEN,
        "service.read_token": TOKEN + "-read",
        "store.password": "store-env-secret",
        "alerts.channels[0].webhook_url": environ["T_HOOK"],
        "alerts.channels[1].password": "smtp-file-secret",
        "alerts.channels[2].token": "webhook-env-secret",
        "models[0].source.password": "source-env-secret",
        "models[0].labels.password": "labels-env-secret",
    }
    return data, environ, expected


def _holders(node: object, key: str = "") -> Iterator[tuple[str, BaseModel, str]]:
    """(key path, holder, field name) for every SecretRef in a loaded settings tree."""
    if isinstance(node, BaseModel):
        for name, info in type(node).model_fields.items():
            value = getattr(node, name)
            path = f"{key}.{info.alias or name}" if key else info.alias or name
            if isinstance(value, SecretRef):
                yield path, node, name
            else:
                yield from _holders(value, path)
    elif isinstance(node, tuple):
        for i, item in enumerate(node):
            yield from _holders(item, f"{key}[{i}]")


def test_the_schema_has_secret_fields() -> None:
    # The discovery itself works: today's secrets are all found.
    assert len(FIELDS) >= 7, FIELD_IDS


@pytest.mark.parametrize(("cls", "name"), FIELDS, ids=FIELD_IDS)
def test_every_secret_field_is_marked_and_has_an_accessor(cls: type[BaseModel], name: str) -> None:
    marks = [m for m in cls.model_fields[name].metadata if isinstance(m, SecretField)]
    assert len(marks) == 1, f"{cls.__name__}.{name}: mark it Annotated[..., SecretField(area)]"
    assert marks[0].area in Needs.DAEMON and marks[0].area is not Needs.NOTHING
    accessor = getattr(cls, f"{name}_secret", None)
    assert callable(accessor), f"{cls.__name__}.{name}: add {name}_secret() -> Secret | None"


def test_every_secret_resolves_from_env_or_file_through_its_accessor(tmp_path: Path) -> None:
    data, environ, expected = _every_secret(tmp_path)
    settings = parse_config(data, "c.toml", environ=environ)
    reached: dict[str, Secret | None] = {}
    covered: set[tuple[type[BaseModel], str]] = set()
    for key, holder, name in _holders(settings):
        reached[key] = getattr(holder, f"{name}_secret")()
        covered.add((type(holder), name))
    # Every secret field of the schema is set in this config, so none escapes the checks.
    missing = {f"{cls.__name__}.{name}" for cls, name in set(FIELDS) - covered}
    assert not missing, f"set these in _every_secret: {sorted(missing)}"
    assert {k: s.reveal() if s else None for k, s in reached.items()} == expected
    assert {use.key for use in secret_uses(settings)} == set(expected)
    assert reached["alerts.channels[1].password"] == Secret("smtp-file-secret", "x")
    origin = reached["alerts.channels[1].password"]
    assert origin is not None and origin.origin.startswith("file ")
    assert reached["store.password"] == Secret("store-env-secret", "env T_STORE")


def test_the_typed_accessors_by_name(tmp_path: Path) -> None:
    data, environ, _ = _every_secret(tmp_path)
    settings = parse_config(data, environ=environ)
    slack, email, webhook = settings.alerts.channels
    assert isinstance(slack, SlackChannel) and isinstance(email, EmailChannel)
    assert isinstance(webhook, WebhookChannel)
    source, labels = settings.models[0].source, settings.models[0].labels
    assert isinstance(source, SqlSource) and isinstance(labels, SqlSource)
    found = {
        "api": settings.service.api_token_secret(),
        "read": settings.service.read_token_secret(),
        "store": settings.store.password_secret(),
        "slack": slack.webhook_url_secret(),
        "email": email.password_secret(),
        "webhook": webhook.token_secret(),
        "source": source.password_secret(),
        "labels": labels.password_secret(),
    }
    assert all(isinstance(s, Secret) for s in found.values()), found


def test_a_required_secret_not_loaded_raises_naming_its_key(tmp_path: Path) -> None:
    data, _, expected = _every_secret(tmp_path)
    (tmp_path / "smtp-password").unlink()
    settings = parse_config(data, "c.toml", environ={}, needs=Needs.NOTHING)
    assert set(settings.unresolved) == set(expected)
    for key, holder, name in _holders(settings):
        with pytest.raises(SecretNotSet) as info:
            getattr(holder, f"{name}_secret")()
        assert info.value.key == key
        assert info.value.source == "c.toml"
        assert info.value.problems[0].startswith(f"{key}: secret not set (")


def test_unset_optional_secrets_and_unloaded_settings_give_none(tmp_path: Path) -> None:
    slack = {"name": "s", "kind": "slack", "webhook_url": {"env": "HOOK"}, "enabled": False}
    settings = parse_config({"alerts": {"channels": [slack]}}, environ={})
    channel = settings.channel("s")
    assert isinstance(channel, SlackChannel)
    assert channel.webhook_url_secret() is None
    assert not settings.unresolved and not settings.secrets
    # Built without loading, nothing is resolved.
    bare = Settings.model_validate({"store": {"password": {"env": "PW"}}})
    assert bare.store.password_secret() is None


def test_a_short_token_is_refused_where_needed(tmp_path: Path) -> None:
    data = {"service": {"api_token": {"env": "T"}}}
    with pytest.raises(ConfigError, match=r"service.api_token: too short"):
        parse_config(data, environ={"T": "short"})
    settings = parse_config(data, environ={"T": "short"}, needs=Needs.STORE)
    with pytest.raises(SecretNotSet, match="too short"):
        settings.service.api_token_secret()


def test_secret_values_never_show_in_repr_or_dumps(tmp_path: Path) -> None:
    data, environ, expected = _every_secret(tmp_path)
    settings = parse_config(data, environ=environ)
    dump = masked_dump(settings)
    assert dump["secrets"] == dict.fromkeys(sorted(expected), "***")
    rendered = [
        repr(settings),
        str(settings),
        str(dump),
        settings.model_dump_json(),
        str(settings.secrets),
        *(repr(use.ref) for use in secret_uses(settings)),
    ]
    for value in expected.values():
        for text in rendered:
            assert value not in text
    # The references themselves are kept in the dump: where each secret comes from.
    assert dump["store"] == {
        "url": "sqlite:///var/mlmaint.db",
        "password": {"env": "T_STORE", "file": None},
        "pool_size": 5,
    }


def test_loading_leaves_equal_references_equal_and_the_defaults_untouched(tmp_path: Path) -> None:
    data, environ, _ = _every_secret(tmp_path)
    before = SecretRef(env="MLMAINT_SLACK_WEBHOOK_URL")
    parse_config(
        {"alerts": {"channels": [{"name": "s", "kind": "slack"}]}},
        environ={"MLMAINT_SLACK_WEBHOOK_URL": "https://hooks.example/x/y/default-secret"},
    )
    # The field's default instance is shared; loading copies, never writes into it.
    default = SlackChannel.model_fields["webhook_url"].default
    assert default == before and default.value() is None
    one = parse_config(data, environ=environ)
    two = parse_config(data, environ=environ)
    assert one == two
