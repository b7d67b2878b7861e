"""config.toml loading: the shipped default, key paths in errors, secrets."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from datetime import timedelta
from pathlib import Path

import pytest

from daemon.config import (
    EX_CONFIG,
    ConfigError,
    DriftMethod,
    FileSource,
    Secret,
    load_config,
    masked_dump,
    parse_config,
)

ROOT = Path(__file__).resolve().parents[1]
MINIMAL_MODEL = {
    "name": "m",
    "source": {"kind": "http"},
    "schema": {"numeric": ["a"], "categorical": ["b"]},
}


def test_shipped_config_is_valid_and_documents_the_demo_model() -> None:
    settings = load_config(ROOT / "config.toml", environ={})
    assert settings.store.url.startswith("sqlite:")
    assert settings.mlflow.tracking_uri.startswith("sqlite:")
    model = settings.model("churn")
    assert isinstance(model.source, FileSource)
    assert model.checks.drift.method is DriftMethod.AUTO
    assert settings.alerts.repeat_interval == timedelta(hours=24)
    # Slack and email are configured but disabled until someone sets the secrets.
    assert {c.name: c.enabled for c in settings.alerts.channels} == {
        "outbox": True,
        "slack": False,
        "email": False,
    }


def test_every_option_in_the_shipped_config_has_a_comment() -> None:
    lines = (ROOT / "config.toml").read_text().splitlines()
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", "[")):
            continue
        window = lines[max(0, i - 12) : i]
        assert any(w.strip().startswith("#") for w in window), f"line {i + 1} undocumented"


def test_errors_name_the_key_path_the_expectation_and_the_value() -> None:
    data = {
        "store": {"url": 5, "bogus": True},
        "models": [
            MINIMAL_MODEL,
            {"name": "x", "schema": {"numeric": ["a"]}, "checks": {"drift": {"threshold": -1}}},
            {**MINIMAL_MODEL, "name": "y", "source": {"kind": "files"}},
        ],
    }
    with pytest.raises(ConfigError) as info:
        parse_config(data, environ={})
    problems = info.value.problems
    assert "store.url: input should be a valid string, got 5" in problems
    assert "store.bogus: unknown key" in problems
    assert "models[1].source: required key is missing" in problems
    assert "models[1].checks.drift.threshold: must be > 0.0, got -1" in problems
    assert "models[2].source.glob: required key is missing" in problems


def test_semantic_errors() -> None:
    bad = {**MINIMAL_MODEL, "checks": {"drift": {"columns": {"nope": {"method": "psi"}}}}}
    with pytest.raises(ConfigError, match=r"models\[0\]: checks.drift.columns names .*nope"):
        parse_config({"models": [bad]}, environ={})
    with pytest.raises(ConfigError, match="model names must be unique"):
        parse_config({"models": [MINIMAL_MODEL, MINIMAL_MODEL]}, environ={})
    with pytest.raises(ConfigError, match=r"checks.schedule.every: .*duration"):
        parse_config({"models": [{**MINIMAL_MODEL, "checks": {"schedule": {"every": "soon"}}}]})
    with pytest.raises(ConfigError, match="unknown time zone"):
        parse_config({"report": {"schedule": {"cron": "0 8 * * mon", "timezone": "Mars/Base"}}})


def test_secrets_come_from_env_or_file_and_never_print(tmp_path: Path) -> None:
    cred = tmp_path / "smtp"
    cred.write_text("hunter2-smtp\n")
    data = {
        "alerts": {
            "channels": [
                {"name": "s", "kind": "slack", "webhook_url": {"env": "HOOK"}},
                {"name": "e", "kind": "email", "password": {"file": str(cred)}},
            ]
        }
    }
    settings = parse_config(data, environ={"HOOK": "https://hooks.example/T0/B0/sekrit"})
    hook = settings.secret("alerts.channels[0].webhook_url")
    assert isinstance(hook, Secret) and hook.reveal().endswith("sekrit")
    assert settings.secret("alerts.channels[1].password") == Secret("hunter2-smtp", "x")
    rendered = repr(settings) + str(masked_dump(settings))
    assert "sekrit" not in rendered and "hunter2" not in rendered


def test_a_missing_secret_is_an_error_only_where_it_is_needed() -> None:
    slack = {"name": "s", "kind": "slack", "webhook_url": {"env": "HOOK"}}
    parse_config({"alerts": {"channels": [{**slack, "enabled": False}]}}, environ={})
    with pytest.raises(ConfigError, match=r"alerts.channels\[0\].webhook_url: secret not set"):
        parse_config({"alerts": {"channels": [slack]}}, environ={})


def test_passwords_in_urls_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"store\.password"):
        parse_config({"store": {"url": "postgresql://u:pw@h/db"}}, environ={})


def test_broken_toml_and_missing_file(tmp_path: Path) -> None:
    broken = tmp_path / "c.toml"
    broken.write_text("[store\nurl=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(broken)
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "absent.toml")


def test_config_check_cli_exits_78_and_lists_every_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[store]\nurl = 5\n[[models]]\nname = "x"\ntypo = 1\n[models.schema]\nnumeric = ["a"]\n'
    )
    proc = subprocess.run(
        [sys.executable, "-m", "daemon.cli", "--config", str(bad), "config", "check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == EX_CONFIG
    assert "store.url: input should be a valid string, got 5" in proc.stderr
    assert "models[0].typo: unknown key" in proc.stderr
    assert "models[0].source: required key is missing" in proc.stderr


def test_config_check_prints_resolved_settings_with_secrets_masked(tmp_path: Path) -> None:
    text = (ROOT / "config.toml").read_text().replace("# api_token = { env", "api_token = { env")
    path = tmp_path / "c.toml"
    path.write_text(text)
    assert tomllib.loads(text)["service"]["api_token"] == {"env": "MLMAINT_API_TOKEN"}
    env = {"MLMAINT_API_TOKEN": "tok-very-secret", "PATH": "/usr/bin"}
    proc = subprocess.run(
        [sys.executable, "-m", "daemon.cli", "--config", str(path), "config", "check"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert '"service.api_token": "***"' in proc.stdout
    assert "tok-very-secret" not in proc.stdout + proc.stderr
