"""A command that uses the store never creates one, and says what is wrong in a line.

A new user ran `mlmaint alerts list` and `check` from another directory than the
daemon's, with the config's relative store (`sqlite:///state/mlmaint.db`): both
ended in a traceback, and each left an empty database (and its lock file) in that
directory. Now `status`, `alerts list`, `check` and `db current` say where the
store was looked for (the path, resolved from which working directory) and exit
69; an empty store says which command migrates it. `db upgrade` still creates it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from daemon.cli import main

CONFIG = """
[service]
state_dir = "state"
[store]
url = "sqlite:///state/mlmaint.db"
[[models]]
name = "churn"
[models.source]
kind = "http"
[models.schema]
numeric = ["age"]
[models.reference]
kind = "file"
path = "reference.csv"
"""

COMMANDS = (["status"], ["alerts", "list"], ["check", "churn", "--local"], ["db", "current"])


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The config in the daemon's directory; the shell in another."""
    (tmp_path / "daemon").mkdir()
    (tmp_path / "daemon" / "config.toml").write_text(CONFIG, encoding="utf-8")
    (tmp_path / "home").mkdir()
    monkeypatch.chdir(tmp_path / "home")
    return tmp_path


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a))
def test_a_store_not_there_is_said_and_not_created(elsewhere: Path, args: list[str]) -> None:
    config = str(elsewhere / "daemon" / "config.toml")
    done = CliRunner().invoke(main, ["--config", config, *args])
    assert done.exit_code == 69, done.output
    assert done.exception is None or isinstance(done.exception, SystemExit), done.exception
    home = elsewhere / "home"
    assert f"does not exist: {home / 'state' / 'mlmaint.db'}" in done.output
    assert f"from the working directory {home}" in done.output
    assert "mlmaint db upgrade" in done.output
    assert not (home / "state" / "mlmaint.db").exists()
    assert not list(home.rglob("*.lock"))


@pytest.mark.parametrize("args", COMMANDS[1:3], ids=lambda a: " ".join(a))
def test_an_empty_store_names_the_command_that_migrates_it(
    elsewhere: Path, args: list[str]
) -> None:
    home = elsewhere / "home"
    (home / "state").mkdir()
    (home / "state" / "mlmaint.db").write_bytes(b"")
    config = str(elsewhere / "daemon" / "config.toml")
    done = CliRunner().invoke(main, ["--config", config, *args])
    assert done.exit_code == 69, done.output
    assert "empty database" in done.output and "run `mlmaint db upgrade`" in done.output
    assert "Traceback" not in done.output


def test_db_upgrade_still_creates_the_store(elsewhere: Path) -> None:
    config = str(elsewhere / "daemon" / "config.toml")
    done = CliRunner().invoke(main, ["--config", config, "db", "upgrade"])
    assert done.exit_code == 0, done.output
    assert (elsewhere / "home" / "state" / "mlmaint.db").exists()
    listed = CliRunner().invoke(main, ["--config", config, "alerts", "list"])
    assert listed.exit_code == 0 and "no firing alerts" in listed.output
