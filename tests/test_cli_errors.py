"""Errors at the terminal name what is wrong and the valid choices (a new user's trial).

Each case below printed a traceback, a bare "not found", or nothing at all.
"""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from daemon.cli import main


def _config(tmp_path: Path) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[service]\nstate_dir = "{tmp_path / "state"}"\n'
        f'[store]\nurl = "sqlite:///{tmp_path / "store.db"}"\n',
        encoding="utf-8",
    )
    done = CliRunner().invoke(main, ["--config", str(config), "db", "upgrade"])
    assert done.exit_code == 0, done.output
    return config


def test_a_bad_log_level_lists_the_levels(tmp_path: Path) -> None:
    config = _config(tmp_path)
    done = CliRunner().invoke(main, ["--config", str(config), "--log-level", "LOUD", "status"])
    assert done.exit_code == 2 and not isinstance(done.exception, ValueError)
    assert "'LOUD' is not one of" in done.output and "'warning'" in done.output.lower()
    fine = CliRunner().invoke(main, ["--config", str(config), "--log-level", "info", "status"])
    assert fine.exit_code == 0, fine.output


def test_an_ack_of_a_model_without_firing_alerts_names_those_with_some(tmp_path: Path) -> None:
    config = _config(tmp_path)
    done = CliRunner().invoke(main, ["--config", str(config), "alerts", "ack", "--model", "nope"])
    assert done.exit_code != 0
    assert "no firing alert of 'nope'; models with firing alerts: none" in done.output


def test_a_week_past_the_years_last_names_the_weeks_it_has(tmp_path: Path) -> None:
    config = _config(tmp_path)
    done = CliRunner().invoke(main, ["--config", str(config), "report", "--week", "2026-W99"])
    assert done.exit_code == 2
    assert "report: not an ISO week: '2026-W99' (2026 has weeks W01 to W53" in done.output


def test_frameworks_without_environments_says_nothing_was_scanned(tmp_path: Path) -> None:
    config = _config(tmp_path)
    done = CliRunner().invoke(main, ["--config", str(config), "frameworks"])
    assert done.exit_code == 0, done.output
    assert "no environment scanned: none is configured" in done.output


def test_a_list_written_as_a_string_is_told_in_tomls_words(tmp_path: Path) -> None:
    from daemon.config import ConfigError, parse_config

    data = {
        "store": {"url": f"sqlite:///{tmp_path / 'store.db'}"},
        "models": [
            {
                "name": "churn",
                "source": {"kind": "http"},
                "schema": {"numeric": ["age"], "categorical": ["region"]},
                "reference": {"kind": "file", "path": str(tmp_path / "ref.csv")},
                "checks": {"segments": "region"},
            }
        ],
    }
    try:
        parse_config(data, "config.toml")
    except ConfigError as exc:
        said = str(exc)
    else:
        raise AssertionError("segments = 'region' was accepted")
    assert "checks.segments: expected a list, e.g. [\"region\"], got 'region'" in said, said
