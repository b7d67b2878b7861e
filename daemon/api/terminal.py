"""The CLI's terminal commands answered by the running daemon: `check`, `status`,
`alerts list` (daemon/cli_remote.py asks).

A `mlmaint` process pays about a second of imports (pandas, SQLAlchemy, the
config's models) before it reads a window, and reads its reference's statistics
back from the state directory; the daemon has done both already. So these
commands ask the daemon first: it runs the command's own code on its own context
(the engine's pool, the check cache), lays the tables out for the asking
terminal's width, and answers the output and the exit status, which the CLI
prints as if it had run the command itself.

The daemon answers only a CLI that reads the config it runs: the request names
the SHA-256 of the config file's bytes (`X-Mlmaint-Config`), and another digest
(the file edited since the daemon loaded it, another daemon on the port) is a
409, on which the CLI runs the command itself. What differs is where the log
lines of a check go: to the daemon's log.

Routes (beside /v1, the stable read API, not in its OpenAPI document):
  POST /cli/check/{name}?format=&columns=   runs the checks, stores nothing (a look)
  GET  /cli/status?format=&columns=
  GET  /cli/alerts?format=&columns=
Answer: {"exit": N, "output": [["out" | "err", text], ...]}, each text as echoed.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Protocol

from daemon.api.router import Access, Request, Response, Router
from daemon.tables import for_terminal

if TYPE_CHECKING:
    from daemon.jobs import JobContext

log = logging.getLogger(__name__)

CONFIG_HEADER = "x-mlmaint-config"
FORMATS = ("table", "json")
# A terminal narrower than this or wider than that is taken as this or that.
MIN_COLUMNS, MAX_COLUMNS = 20, 1000


class Serving(Protocol):
    """What the routes read of the server: its context (swapped on a reload) and the
    digest of the config file it was loaded from."""

    @property
    def ctx(self) -> JobContext: ...

    @property
    def config_digest(self) -> str | None: ...


class Collected:
    """What a command echoes, in order, each part on its stream: called as click.echo."""

    def __init__(self) -> None:
        self.parts: list[tuple[str, str]] = []

    def __call__(
        self,
        message: object = None,
        file: object = None,
        nl: bool = True,
        err: bool = False,
        color: bool | None = None,
    ) -> None:
        text = "" if message is None else str(message)
        self.parts.append(("err" if err else "out", text + "\n" if nl else text))


class _Asked:
    def __init__(self, query: Mapping[str, list[str]]) -> None:
        self.fmt = query.get("format", ["table"])[-1]
        raw = query.get("columns", ["80"])[-1]
        self.columns = min(MAX_COLUMNS, max(MIN_COLUMNS, int(raw))) if raw.isdigit() else None

    def problem(self) -> str | None:
        if self.fmt not in FORMATS:
            return f"format must be one of {', '.join(FORMATS)}, got {self.fmt!r}"
        if self.columns is None:
            return "columns must be a whole number of terminal columns"
        return None


class TerminalRoutes:
    def __init__(self, server: Serving) -> None:
        self.server = server

    def add_to(self, router: Router) -> None:
        # A read as `status` is: a look now stores nothing (daemon/checking/cli.py LOOK).
        router.add("POST", "/cli/check/{name}", self._check, access=Access.READ)
        router.add("GET", "/cli/status", self._status, access=Access.READ)
        router.add("GET", "/cli/alerts", self._alerts, access=Access.READ)

    def _answer(
        self, request: Request, what: str, command: Callable[[Collected, str], int]
    ) -> Response:
        digest = self.server.config_digest
        given = request.headers.get(CONFIG_HEADER, "")
        if digest is None or not hmac.compare_digest(given.encode(), digest.encode()):
            return Response.json(
                409,
                {
                    "error": "this daemon runs another config than the one the CLI read "
                    "(edited since the daemon loaded it? `systemctl reload mlmaint`)"
                },
            )
        asked = _Asked(request.query)
        problem = asked.problem()
        if problem is not None or asked.columns is None:
            return Response.json(400, {"error": problem})
        out = Collected()
        with for_terminal(asked.columns):
            status = command(out, asked.fmt)
        log.info("answered `%s` for the CLI (exit %d)", what, status)
        return Response.json(200, {"exit": status, "output": out.parts})

    def _check(self, request: Request) -> Response:
        from daemon.checking.cli import print_check

        name = request.params["name"]
        ctx = self.server.ctx

        def run(out: Collected, fmt: str) -> int:
            return print_check(ctx.settings, name, fmt=fmt, echo=out, ctx=ctx)

        return self._answer(request, f"check {name}", run)

    def _status(self, request: Request) -> Response:
        from daemon.service_status import status_command

        engine = self.server.ctx.engine
        return self._answer(
            request, "status", lambda out, fmt: status_command(engine, echo=out, fmt=fmt)
        )

    def _alerts(self, request: Request) -> Response:
        from daemon.alerts.cli import list_command

        engine = self.server.ctx.engine
        return self._answer(
            request, "alerts list", lambda out, fmt: list_command(engine, fmt=fmt, echo=out)
        )
