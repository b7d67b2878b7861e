"""config.toml loading: the shipped default, key paths in errors, secrets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from datetime import timedelta
from pathlib import Path

import pytest

from checks.methods import Method
from daemon.config import (
    EX_CONFIG,
    ConfigError,
    EmailChannel,
    FileSource,
    Needs,
    Secret,
    SecretNotSet,
    SlackChannel,
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
    assert model.checks.drift.method is None  # auto
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


@pytest.mark.parametrize("name", ["auto", *(m.value for m in Method)])
def test_every_drift_method_name_parses_to_the_checks_method(name: str) -> None:
    # "a" is numeric and "b" categorical: every method fits one of them.
    drift = {"method": name}
    settings = parse_config({"models": [{**MINIMAL_MODEL, "checks": {"drift": drift}}]}, environ={})
    method = settings.models[0].checks.drift.method
    assert method is (None if name == "auto" else Method(name))
    assert masked_dump(settings)["models"][0]["checks"]["drift"]["method"] == name


def test_a_bad_drift_method_lists_the_valid_names() -> None:
    drift = {"columns": {"a": {"method": "kolmogorov"}}}
    with pytest.raises(ConfigError) as info:
        parse_config({"models": [{**MINIMAL_MODEL, "checks": {"drift": drift}}]}, environ={})
    (problem,) = info.value.problems
    assert problem.startswith("models[0].checks.drift.columns.a.method: expected one of auto, ")
    assert all(m.value in problem for m in Method) and problem.endswith("got 'kolmogorov'")


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
    slack, email = settings.alerts.channels
    assert isinstance(slack, SlackChannel) and isinstance(email, EmailChannel)
    hook = slack.webhook_url_secret()
    assert isinstance(hook, Secret) and hook.reveal().endswith("sekrit")
    assert email.password_secret() == Secret("hunter2-smtp", "x")
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
    with pytest.raises(ConfigError, match=r"file not found: /.*\(give the file with --config"):
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
    env = {"MLMAINT_API_TOKEN": "tok-very-secret-value", "PATH": "/usr/bin"}
    for form in ("toml", "json"):
        proc = subprocess.run(
            [sys.executable, "-m", "daemon.cli", "--config", str(path), "config", "check"]
            + (["--format", "json"] if form == "json" else []),
            capture_output=True,
            text=True,
            check=False,
            env=env,
        )
        assert proc.returncode == 0, proc.stderr
        if form == "json":
            assert '"service.api_token": "***"' in proc.stdout
        else:
            # TOML names the secret by where it lives, never its value.
            shown = tomllib.loads(proc.stdout)
            assert shown["service"]["api_token"] == {"env": "MLMAINT_API_TOKEN"}
        assert "tok-very-secret-value" not in proc.stdout + proc.stderr


def test_config_check_shows_byte_sizes_as_written(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from daemon.cli import main

    path = tmp_path / "sizes.toml"
    path.write_text(
        f"""
[store]
url = "sqlite:///{tmp_path / "store.db"}"
[evidence]
max_total = "2GiB"
max_age = "14d"
[[models]]
name = "churn"
source = {{ kind = "http", max_body_bytes = "8MiB" }}
labels = {{ kind = "http", max_body_bytes = 4096 }}
[models.schema]
numeric = ["age"]
"""
    )

    def check(*args: str) -> str:
        result = CliRunner().invoke(main, ["--config", str(path), "config", "check", *args])
        assert result.exit_code == 0, result.output
        return result.stdout

    text = check()
    assert 'max_total = "2GiB"' in text and 'max_age = "14d"' in text
    assert 'max_body_bytes = "8MiB"' in text and "max_body_bytes = 4096" in text
    assert "2147483648" not in text and "8388608" not in text
    shown = json.loads(check("--format", "json"))
    assert shown["evidence"]["max_total"] == "2GiB"
    assert shown["models"][0]["source"]["max_body_bytes"] == "8MiB"
    # A default is written in the unit that says it shortest; all of it loads back.
    every = check("--all")
    assert 'max_body_bytes = "16MiB"' not in text and 'max_body_bytes = "8MiB"' in every
    path.write_text(path.read_text().replace('max_total = "2GiB"\n', ""))
    assert 'max_total = "500MB"' in check("--all")
    original = load_config(path, needs=Needs.NOTHING)
    for shown_text in (check(), check("--all")):
        back = parse_config(tomllib.loads(shown_text), needs=Needs.NOTHING)
        assert back.model_dump() == original.model_dump()


# --------------------------------------------------------------------------- per-command secrets


def _secrets_config(tmp_path: Path, store_url: str) -> Path:
    """A store behind a password, an outbox, and Slack and a webhook enabled."""
    path = tmp_path / "secrets.toml"
    path.write_text(
        f"""
[store]
url = "{store_url}"
password = {{ env = "T_DB_PASSWORD" }}

[[alerts.channels]]
name = "outbox"
kind = "file"
path = "{tmp_path / "outbox.jsonl"}"

[[alerts.channels]]
name = "slack"
kind = "slack"
webhook_url = {{ env = "T_SLACK_HOOK" }}

[[alerts.channels]]
name = "pager"
kind = "webhook"
url = "http://127.0.0.1:9/hook"
token = {{ env = "T_PAGER_TOKEN" }}
"""
    )
    return path


def test_each_command_resolves_only_the_secrets_it_uses(tmp_path: Path) -> None:
    import uuid

    from click.testing import CliRunner
    from sqlalchemy import text

    from daemon.cli import main
    from tests.conftest import _pg_admin, drop_pg_database, pg_url

    name = f"mlmaint_t_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    try:
        config = _secrets_config(tmp_path, pg_url(name))
        # The Slack and webhook secrets are unset; only the store's password is there.
        env = {"T_DB_PASSWORD": "pw", "T_SLACK_HOOK": None, "T_PAGER_TOKEN": None}
        runner = CliRunner()

        def cli(*args: str, **extra: str | None) -> tuple[int, str]:
            result = runner.invoke(main, ["--config", str(config), *args], env={**env, **extra})
            return result.exit_code, result.output

        code, out = cli("db", "upgrade")
        assert code == 0, out
        code, out = cli("db", "current")
        assert code == 0 and "up to date" in out, out
        code, out = cli("db", "check")
        assert code == 0, out
        code, out = cli("status")
        assert code == 0 and "no daemon holds the leader lock" in out, out
        code, out = cli("alerts", "list")
        assert code == 0 and "no firing alerts" in out, out
        # A channel test needs that channel's secret, not the others'.
        code, out = cli("alerts", "test", "--channel", "outbox")
        assert code == 0 and "sent" in out, out
        sent = (tmp_path / "outbox.jsonl").read_text().splitlines()
        assert len(sent) == 1 and '"kind": "test"' in sent[0]
        code, out = cli("alerts", "test", "--channel", "slack")
        assert code == EX_CONFIG
        assert "alerts.channels[1].webhook_url: secret not set (env T_SLACK_HOOK" in out
        assert "channels[2]" not in out
        # The store's password is what the store commands need.
        code, out = cli("db", "current", T_DB_PASSWORD=None)
        assert code == EX_CONFIG
        assert "store.password: secret not set (env T_DB_PASSWORD is missing)" in out
    finally:
        drop_pg_database(name)


def test_the_daemon_still_refuses_to_start_naming_each_missing_secret(tmp_path: Path) -> None:
    config = _secrets_config(tmp_path, f"sqlite:///{tmp_path / 'store.db'}")
    env = {k: v for k, v in os.environ.items() if k not in {"T_SLACK_HOOK", "T_PAGER_TOKEN"}} | {
        "T_DB_PASSWORD": "pw"
    }
    mlmaint = str(Path(sys.executable).with_name("mlmaint"))
    proc = subprocess.run(
        [mlmaint, "--config", str(config), "run"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == EX_CONFIG, proc.stderr
    assert "alerts.channels[1].webhook_url: secret not set (env T_SLACK_HOOK" in proc.stderr
    assert "alerts.channels[2].token: secret not set (env T_PAGER_TOKEN" in proc.stderr
    assert "store.password" not in proc.stderr

    # config check checks the file for the daemon, and says who needs what.
    check = subprocess.run(
        [mlmaint, "--config", str(config), "config", "check"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert check.returncode == EX_CONFIG
    lines = check.stderr.splitlines()
    slack = next(line for line in lines if "alerts.channels[1].webhook_url" in line)
    assert slack.endswith("needed by mlmaint alerts test --channel slack, mlmaint run"), slack
    pager = next(line for line in lines if "alerts.channels[2].token" in line)
    assert pager.endswith("needed by mlmaint alerts test --channel pager, mlmaint run"), pager
    assert "store.password" not in check.stderr


def test_every_command_declares_the_secrets_it_needs() -> None:
    from daemon.cli import commands
    from daemon.cli_context import declared

    found = commands()
    assert len(found) >= 15, [path for path, _ in found]
    undeclared = [" ".join(path) for path, command in found if declared(command) is None]
    assert not undeclared, f"declare @needs(...) on: {', '.join(undeclared)}"


def test_a_secret_asked_for_but_not_loaded_names_its_key() -> None:
    slack = {"name": "s", "kind": "slack", "webhook_url": {"env": "HOOK"}}
    data = {"alerts": {"channels": [slack]}, "store": {"password": {"env": "PW"}}}
    settings = parse_config(data, "c.toml", environ={"PW": "x"}, needs=Needs.STORE)
    assert settings.store.password_secret() == Secret("x", "env PW")
    slack_channel = settings.channel("s")
    assert isinstance(slack_channel, SlackChannel)
    with pytest.raises(SecretNotSet) as info:
        slack_channel.webhook_url_secret()
    assert isinstance(info.value, ConfigError)
    assert info.value.problems == (
        "alerts.channels[0].webhook_url: secret not set (env HOOK is missing)",
    )
    # Narrowed to another channel, this one is not needed either.
    parse_config(data, environ={"PW": "x"}, needs=Needs.DAEMON, channels=("other",))
    with pytest.raises(ConfigError, match=r"alerts.channels\[0\].webhook_url"):
        parse_config(data, environ={"PW": "x"}, needs=Needs.DAEMON, channels=("s",))
    # What loading fills in cannot come from the file.
    with pytest.raises(ConfigError, match="unresolved: unknown key"):
        parse_config({"unresolved": {"store.password": "no"}}, environ={})
