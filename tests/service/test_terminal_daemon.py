"""The running daemon answers `mlmaint check`, `status` and `alerts list` (issue 17).

A real `mlmaint run` on a SQLite store of 3,000 rows (half the numeric features
drifted, so the check alerts) listens where its config says. The console script,
run as a user runs it, asks the daemon first: its output and exit status are
those of the same command run alone (`--local`), and the daemon's log says it
answered. A CLI that reads another version of the config (edited since the daemon
loaded it) runs the command itself. In process, on SQLite and PostgreSQL: the
routes answer only the same config's digest, with the token when the server binds
beyond loopback, and refuse a bad format.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from daemon.api import ApiServer
from daemon.cli_remote import ask
from daemon.config import Secret, config_digest, load_config
from daemon.jobs import JobContext
from daemon.service_status import status_command
from daemon.store import migrate
from tests.benchmarks.bench_cli import setup
from tests.service.harness import MLMAINT, Daemon

TOKEN = "terminal-token-0123456789abcdef"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MLMAINT_LOCAL"}
    env["COLUMNS"] = "100"
    return subprocess.run(
        [MLMAINT, "--config", str(config), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    directory = tmp_path_factory.mktemp("terminal")
    setup(directory, rows=3_000, reference_rows=2_000, port=_free_port())
    running = Daemon(directory / "config.toml", None, log_level="INFO")
    try:
        running.wait_log(r"http api listening on", 30)
        # Its own first cycle first: the answers below are the CLI's alone.
        running.wait_log(r"job checks:bench (ok|failed)", 60)
        yield running
    finally:
        running.stop()


def _answered(daemon: Daemon, what: str) -> int:
    return len(re.findall(rf"answered `{re.escape(what)}` for the CLI", daemon.log()))


def _window_line(text: str) -> str:
    # "bench: 3000 rows, 2026-12-06 10:00 to 2026-12-07 10:00 UTC": the two runs end a
    # moment apart, so the minute may turn between them.
    return re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d", "T", text)


def test_check_is_answered_by_the_daemon_as_it_prints_alone(daemon: Daemon) -> None:
    before = _answered(daemon, "check bench")
    remote = _cli(daemon.config, "check", "bench")
    assert _answered(daemon, "check bench") == before + 1, daemon.log()
    local = _cli(daemon.config, "check", "bench", "--local")
    assert _answered(daemon, "check bench") == before + 1
    assert (remote.returncode, local.returncode) == (1, 1), remote.stderr + local.stderr
    assert "drift: alert" in remote.stdout
    assert "\x1b[" not in remote.stdout, "colours reach a pipe"
    assert _window_line(remote.stdout) == _window_line(local.stdout)
    assert remote.stderr == local.stderr
    # The JSON document too: the same runs, findings and window.
    remote_json = json.loads(_cli(daemon.config, "check", "bench", "--format", "json").stdout)
    local_json = json.loads(
        _cli(daemon.config, "check", "bench", "--format", "json", "--local").stdout
    )
    for document in (remote_json, local_json):
        assert document["stored"] is False  # a look now: printed, not stored
        for run in document["runs"]:
            for key in ("duration_s", "run_id", "replaced"):
                run.pop(key, None)
    assert remote_json["rows"] == local_json["rows"] == 3_000
    assert remote_json["runs"] == local_json["runs"]
    assert remote_json["findings"] == local_json["findings"]


def test_an_unknown_model_is_refused_in_the_same_words(daemon: Daemon) -> None:
    remote = _cli(daemon.config, "check", "nope")
    local = _cli(daemon.config, "check", "nope", "--local")
    assert remote.returncode == local.returncode == 2
    assert remote.stderr == local.stderr
    assert "nope" in remote.stderr and "bench" in remote.stderr


def test_status_and_alerts_list_are_answered_by_the_daemon(daemon: Daemon) -> None:
    # A firing alert to list: --alert is never handed to the daemon (it runs here).
    before = _answered(daemon, "check bench")
    assert _cli(daemon.config, "check", "bench", "--alert").returncode == 1
    assert _answered(daemon, "check bench") == before
    for args, what in ((("alerts", "list"), "alerts list"), (("status",), "status")):
        count = _answered(daemon, what)
        remote = _cli(daemon.config, *args, "--format", "json")
        local = _cli(daemon.config, *args, "--format", "json", "--local")
        assert remote.returncode == local.returncode == 0, remote.stderr + local.stderr
        assert _answered(daemon, what) == count + 1, daemon.log()
        if what == "alerts list":
            assert json.loads(remote.stdout) == json.loads(local.stdout)
            assert any(a["kind"] == "drift" for a in json.loads(remote.stdout))
            table = _cli(daemon.config, *args)
            assert table.stdout == _cli(daemon.config, *args, "--local").stdout
            assert "drift" in table.stdout
        else:
            assert json.loads(remote.stdout).keys() == json.loads(local.stdout).keys()
            assert "bench" in remote.stdout


def test_a_cli_reading_an_edited_config_runs_the_check_itself(daemon: Daemon) -> None:
    edited = daemon.config.with_name("edited.toml")
    edited.write_text(daemon.config.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    before = _answered(daemon, "check bench")
    done = _cli(edited, "check", "bench")
    assert done.returncode == 1, done.stderr
    assert "drift: alert" in done.stdout
    assert _answered(daemon, "check bench") == before


# ------------------------------------------------------------------ the routes in process


@pytest.fixture
def served(tmp_path: Path, store_url: str, engine: Engine) -> Iterator[tuple[Path, ApiServer]]:
    """An API server bound to every address (a token needed) on a migrated store, and
    the config file it was loaded from."""
    migrate.upgrade(engine)
    config = tmp_path / "config.toml"
    port = _free_port()
    config.write_text(
        f"""
[service]
state_dir = "{tmp_path / "state"}"
http_host = "0.0.0.0"
http_port = {port}
api_token = {{ env = "TERMINAL_TEST_TOKEN" }}
[store]
url = "{store_url}"
""",
        encoding="utf-8",
    )
    os.environ["TERMINAL_TEST_TOKEN"] = TOKEN
    try:
        settings = load_config(config)
        ctx = JobContext.from_settings(settings)
        server = ApiServer(
            ctx,
            host="0.0.0.0",
            port=port,
            token=Secret(TOKEN, "test"),
            config_digest=config_digest(config),
        )
        with server:
            yield config, server
        ctx.close()
    finally:
        del os.environ["TERMINAL_TEST_TOKEN"]


def test_the_routes_answer_the_same_config_with_its_token(
    served: tuple[Path, ApiServer], engine: Engine
) -> None:
    config, server = served
    answer = ask(config, "GET", "/cli/status", {"format": "json", "columns": 100})
    assert answer is not None and answer.status == 0
    printed: list[str] = []
    status_command(engine, echo=lambda text, **_: printed.append(text), fmt="json")
    assert json.loads("".join(t for _, t in answer.output)).keys() == json.loads(printed[0]).keys()
    # Another digest: the CLI is told the daemon runs another config, and runs alone.
    config.write_text(config.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    assert ask(config, "GET", "/cli/status", {"format": "json", "columns": 100}) is None
    server.config_digest = config_digest(config)
    assert ask(config, "GET", "/cli/alerts", {"format": "table", "columns": 100}) is not None


def test_the_routes_refuse_a_missing_token_another_config_and_a_bad_format(
    served: tuple[Path, ApiServer],
) -> None:
    import httpx

    config, server = served
    base = f"http://127.0.0.1:{server.port}"
    digest = {"X-Mlmaint-Config": str(config_digest(config))}
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    assert httpx.get(f"{base}/cli/status", headers=digest).status_code == 401
    assert httpx.post(f"{base}/cli/check/m", headers=digest).status_code == 401
    other = httpx.get(f"{base}/cli/status", headers={**bearer, "X-Mlmaint-Config": "0" * 64})
    assert other.status_code == 409
    assert "another config" in other.json()["error"]
    bad = httpx.get(f"{base}/cli/alerts?format=xml", headers={**digest, **bearer})
    assert bad.status_code == 400
    assert "table, json" in bad.json()["error"]
    unknown = httpx.post(f"{base}/cli/check/nope?format=table", headers={**digest, **bearer})
    assert unknown.status_code == 200
    assert unknown.json()["exit"] == 2
    assert unknown.json()["output"][0][0] == "err"


def test_the_same_bytes_name_another_store_from_another_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative store or state directory lies under the working directory: a CLI in
    another directory than the daemon's reads another store, and is not answered."""
    relative = tmp_path / "relative.toml"
    relative.write_text('[store]\nurl = "sqlite:///var/mlmaint.db"\n', encoding="utf-8")
    default = tmp_path / "default.toml"  # state_dir "var" and the store under it
    default.write_text("", encoding="utf-8")
    absolute = tmp_path / "absolute.toml"
    absolute.write_text(
        f'[service]\nstate_dir = "{tmp_path / "var"}"\n'
        f'[store]\nurl = "sqlite:///{tmp_path / "mlmaint.db"}"\n',
        encoding="utf-8",
    )
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    here = {p.name: config_digest(p) for p in (relative, default, absolute)}
    monkeypatch.chdir(tmp_path / "b")
    there = {p.name: config_digest(p) for p in (relative, default, absolute)}
    assert here["relative.toml"] != there["relative.toml"]
    assert here["default.toml"] != there["default.toml"]
    assert here["absolute.toml"] == there["absolute.toml"]
    assert config_digest(tmp_path / "missing.toml") is None


def test_a_token_not_set_here_is_refused_and_said_and_the_command_runs_alone(
    served: tuple[Path, ApiServer],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config, _server = served
    monkeypatch.delenv("TERMINAL_TEST_TOKEN")
    assert ask(config, "GET", "/cli/status", {"format": "table", "columns": 100}) is None
    assert "refused this config's api_token" in capsys.readouterr().err
    monkeypatch.setenv("TERMINAL_TEST_TOKEN", "wrong-token-0123456789abcdef")
    assert ask(config, "GET", "/cli/status", {"format": "table", "columns": 100}) is None
    assert "running here" in capsys.readouterr().err
