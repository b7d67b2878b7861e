"""Ask the running daemon to answer a terminal command (daemon/api/terminal.py).

`mlmaint check MODEL`, `status` and `alerts list` first ask the daemon where the
config says it listens ([service] http_host and http_port; loopback when it binds
every address), naming the config file's digest, with the API token when one is
set. The daemon has its imports and the reference's statistics in memory, so it
answers in a fraction of the time the command takes alone; this module imports
nothing heavy. When nothing listens there, or the daemon runs another config, or
it fails, the command runs here as it always did. `--local` (or MLMAINT_LOCAL=1)
skips the question.
"""

from __future__ import annotations

import http.client
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

import click

from daemon.config import ConfigError, config_digest, load_service

LOCAL_ENV = "MLMAINT_LOCAL"
CONFIG_HEADER = "X-Mlmaint-Config"
# A daemon that does not accept within this is taken as absent.
CONNECT_TIMEOUT_S = 0.5
# How long an answer may take: a check reads its whole window first.
ANSWER_TIMEOUT_S = {"check": 600.0, "status": 30.0, "alerts": 30.0}
_WILDCARD_HOSTS = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}
# The daemon's refusals worth a word on stderr (each makes the command slower).
_REFUSED = {
    401: "the running daemon refused this config's api_token (or its absence)",
    409: "the running daemon reads another config (this file edited since it "
    "loaded it: `systemctl reload mlmaint`; or a relative store from another directory)",
}


@dataclass(frozen=True)
class Answer:
    """The daemon's run of the command: what it printed, on which stream, and its status."""

    status: int
    output: tuple[tuple[str, str], ...]

    def print(self) -> None:
        # click.echo drops the colours when this process's output is not a terminal.
        for stream, text in self.output:
            click.echo(text, nl=False, err=stream == "err")


def _answer(body: bytes) -> Answer | None:
    try:
        data = json.loads(body)
        status = data["exit"]
        output = tuple((str(stream), str(text)) for stream, text in data["output"])
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(status, int) or any(s not in ("out", "err") for s, _ in output):
        return None
    return Answer(status, output)


def ask(config_path: Path, method: str, path: str, query: dict[str, str | int]) -> Answer | None:
    """The daemon's answer to `method path?query`, or None: run the command here."""
    if os.environ.get(LOCAL_ENV, "").strip() not in ("", "0"):
        return None
    digest = config_digest(config_path)
    if digest is None:
        return None
    try:
        service = load_service(config_path)
    except ConfigError:
        return None  # run here, which says what is wrong with the config
    host = _WILDCARD_HOSTS.get(service.http_host, service.http_host).strip("[]")
    if service.http_port == 0:
        return None  # a port picked at start: nothing to find it by
    headers = {CONFIG_HEADER: digest}
    try:
        token = service.api_token_secret()
    except ConfigError:
        token = None  # not set here (its variable, its file): asked without it
    if token is not None:
        headers["Authorization"] = f"Bearer {token.reveal().strip()}"
    conn = http.client.HTTPConnection(host, service.http_port, timeout=CONNECT_TIMEOUT_S)
    try:
        conn.connect()
        if conn.sock is not None:
            conn.sock.settimeout(ANSWER_TIMEOUT_S[path.split("/")[2]])
        conn.request(method, f"{path}?{urlencode(query)}", headers=headers)
        response = conn.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()
    if response.status in _REFUSED:
        # Said, so that a slow answer has a reason: the command still runs here.
        click.echo(f"mlmaint: {_REFUSED[response.status]}; running here", err=True)
    return _answer(body) if response.status == 200 else None


def answered(config_path: Path, method: str, path: str, fmt: str) -> Answer | None:
    """`ask` with the format and this terminal's width."""
    from daemon.tables import terminal_width

    return ask(config_path, method, path, {"format": fmt, "columns": terminal_width()})


def check_path(model: str) -> str:
    return f"/cli/check/{quote(model, safe='')}"


def print_and_exit(answer: Answer) -> None:
    answer.print()
    sys.exit(answer.status)
