"""The HTTP server: waitress underneath, and the doors every request passes.

Before a route's handler runs, the request must name this server's Host (DNS
rebinding), carry the token its route's `Access` asks for, come from no foreign
Origin if it writes, and send a body of a type and size the route accepts.
A failing handler answers 500, a store that cannot write 503 with Retry-After;
the server and the daemon keep running.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import socket
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Protocol
from urllib.parse import parse_qs

from daemon.api.body import DEFAULT_MAX_BODY, headers_of, read_body
from daemon.api.failures import InsecureBind, first_line, store_unavailable
from daemon.api.ingest import IngestRoutes
from daemon.api.router import Access, Request, Response, Router
from daemon.api.terminal import TerminalRoutes
from daemon.api.v1 import V1Routes
from daemon.config import HttpSource, Secret, is_loopback
from daemon.http_body import BodyError, require_ingest_type
from daemon.jobs import JobContext

if TYPE_CHECKING:
    from waitress.server import BaseWSGIServer

log = logging.getLogger(__name__)

MAX_HEADER_BYTES = 64 * 1024
# How long a client is asked to wait before it sends the same batch again.
RETRY_AFTER_S = 30
_WILDCARDS = frozenset({"", "0.0.0.0", "::"})


def _split_host(value: str) -> tuple[str, int | None]:
    """`[::1]:8787` -> ("[::1]", 8787); `Example.org` -> ("example.org", None)."""
    value = value.strip().lower()
    if value.startswith("["):
        name, _, rest = value.partition("]")
        name += "]"
        port_text = rest.removeprefix(":") if rest.startswith(":") else ""
    elif value.count(":") == 1:
        name, _, port_text = value.partition(":")
    else:
        name, port_text = value, ""
    if not port_text:
        return name, None
    return name, int(port_text) if port_text.isdigit() else -1


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


class _StartResponse(Protocol):
    def __call__(self, status: str, headers: list[tuple[str, str]], /) -> object: ...


class ApiServer:
    """The HTTP server; start on port 0 in tests and read `.port`."""

    def __init__(
        self,
        ctx: JobContext,
        *,
        host: str | None = None,
        port: int | None = None,
        token: Secret | None = None,
        read_token: Secret | None = None,
        clock: Callable[[], datetime] | None = None,
        config_digest: str | None = None,
    ) -> None:
        service = ctx.settings.service
        self.ctx = ctx
        self.host = service.http_host if host is None else host
        self._port = service.http_port if port is None else port
        self.token = token if token is not None else service.api_token_secret()
        self.read_token = read_token if read_token is not None else service.read_token_secret()
        for secret in (self.token, self.read_token):
            if secret is not None and not secret.reveal().strip():
                raise ValueError(f"an empty token ({secret.origin}) would let anyone in")
        self.clock = clock or (lambda: datetime.now(UTC))
        self.router = Router()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        # waitress's map of the listening socket and every open connection.
        self._connections: dict[int, socket.socket] = {}
        self._stopping = threading.Event()
        self._closing = threading.Lock()
        self._closed = False
        # The SHA-256 of the config file's bytes the context was loaded from: the CLI
        # is answered only when it read the same (daemon/api/terminal.py).
        self.config_digest = config_digest
        IngestRoutes(ctx, lambda: self.clock()).add_to(self.router)
        V1Routes(ctx, lambda: self.clock()).add_to(self.router)
        TerminalRoutes(self).add_to(self.router)

    # ------------------------------------------------------------------ lifecycle

    @property
    def port(self) -> int:
        if self._sock is not None:
            return int(self._sock.getsockname()[1])
        return self._port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    def start(self) -> ApiServer:
        from waitress.server import BaseWSGIServer, create_server

        if self._server is not None:
            return self
        if self.token is None and not self.loopback:
            raise InsecureBind(self.host)
        service = self.ctx.settings.service
        timeout = max(1, round(service.http_timeout.total_seconds()))
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self._port))
        except OSError:
            sock.close()
            raise
        self._stopping.clear()
        self._closed = False
        self._connections = {}
        server = create_server(
            self._wsgi,
            map=self._connections,
            sockets=[sock],
            threads=service.http_threads,
            connection_limit=service.http_connection_limit,
            channel_timeout=timeout,
            cleanup_interval=max(1, min(30, timeout // 2)),
            # poll(2), not select(2): select cannot watch a descriptor above 1023.
            asyncore_use_poll=True,
            asyncore_loop_timeout=1,
            max_request_header_size=MAX_HEADER_BYTES,
            max_request_body_size=self._max_body(),
            expose_tracebacks=False,
            ident="mlmaint",
        )
        if not isinstance(server, BaseWSGIServer):  # one socket: never a MultiSocketServer
            raise TypeError(f"unexpected waitress server {type(server).__name__}")
        self._server, self._sock = server, sock
        self._thread = threading.Thread(target=self._serve, name="mlmaint-api", daemon=True)
        self._thread.start()
        log.info("http api listening on %s", self.url)
        return self

    def _serve(self) -> None:
        from waitress import wasyncore

        server = self._server
        assert server is not None
        connections = self._connections
        while not self._stopping.is_set():
            wasyncore.loop(timeout=1, map=connections, use_poll=True, count=1)
        # Stop accepting; let the requests in progress answer for a moment, then close
        # the rest (the trigger with them, once no worker needs it).
        wasyncore.dispatcher.close(server)
        for _ in range(50):
            busy = [c for c in connections.values() if getattr(c, "requests", None)]
            if not busy:
                break
            wasyncore.loop(timeout=0.1, map=connections, use_poll=True, count=1)
        with self._closing:
            # Under the lock: stop() must not pull a trigger whose pipe is closed.
            self._closed = True
            wasyncore.close_all(connections)
        server.task_dispatcher.shutdown(timeout=5)

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()
        with self._closing:
            if not self._closed:
                server.pull_trigger()
        if thread is not None:
            thread.join(timeout=15)
        self._server = None
        self._thread = None
        self._sock = None

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ doors

    def _max_body(self) -> int:
        """waitress refuses bodies past this before any route sees them."""
        limits = [DEFAULT_MAX_BODY]
        for model in self.ctx.settings.models:
            for source in (model.source, model.labels):
                if isinstance(source, HttpSource):
                    limits.append(source.max_body_bytes)
        return max(limits)

    def _bearer(self, headers: Mapping[str, str]) -> str | None:
        scheme, _, value = headers.get("authorization", "").partition(" ")
        value = value.strip()
        return value if scheme.lower() == "bearer" and value else None

    def authorized(self, headers: Mapping[str, str], access: Access = Access.WRITE) -> bool:
        if access is Access.OPEN:
            return True
        if access is Access.READ:
            if self.loopback:
                return True
            accepted = [t for t in (self.read_token, self.token) if t is not None]
        else:
            if self.token is None:
                return self.loopback
            accepted = [self.token]
        given = self._bearer(headers)
        if given is None or not accepted:
            return False
        return any(
            hmac.compare_digest(given.encode(), t.reveal().strip().encode()) for t in accepted
        )

    def host_allowed(self, host_header: str | None) -> bool:
        """The Host a request names must be this server's: a rebound DNS name is not."""
        if not host_header:
            # HTTP/1.0 clients may omit it; a browser never does.
            return True
        name, port = _split_host(host_header)
        configured = {h.strip().lower() for h in self.ctx.settings.service.allowed_hosts}
        if name in configured or (port is not None and f"{name}:{port}" in configured):
            return True
        if port is not None and port != self.port:
            return False
        bound = self.host.lower()
        if name in (bound, f"[{bound}]"):
            return True
        if self.loopback:
            return name in ("localhost", "127.0.0.1", "[::1]")
        if bound in _WILDCARDS:
            # Bound to every address: an IP literal cannot be rebound, a name must be
            # this machine's or configured.
            return _is_ip(name) or name == socket.gethostname().lower()
        return False

    def origin_allowed(self, origin: str | None, host_header: str | None) -> bool:
        """A browser names the page that sent a request: only ours, or configured ones."""
        if origin is None:
            return True
        origin = origin.strip().lower().rstrip("/")
        allowed = {o.strip().lower().rstrip("/") for o in self.ctx.settings.service.allowed_origins}
        if origin in allowed:
            return True
        if host_header:
            host = host_header.strip().lower()
            return origin in (f"http://{host}", f"https://{host}")
        return False

    # ------------------------------------------------------------------ WSGI

    def _wsgi(
        self, environ: Mapping[str, object], start_response: _StartResponse
    ) -> Iterable[bytes]:
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        try:
            response = self._respond(method, environ)
        except Exception:
            # A bug in the doors themselves: answer 500, keep serving, no traceback out.
            log.exception("http %s failed", method)
            response = Response.json(500, {"error": "internal error"})
        try:
            phrase = HTTPStatus(response.status).phrase
        except ValueError:
            phrase = "Unknown"
        headers = [
            ("Content-Type", response.content_type),
            ("Content-Length", str(len(response.body))),
            *response.headers.items(),
        ]
        start_response(f"{response.status} {phrase}", headers)
        return [] if method == "HEAD" else [response.body]

    def _respond(self, method: str, environ: Mapping[str, object]) -> Response:
        raw_path = str(environ.get("PATH_INFO", "/"))
        try:
            path = raw_path.encode("latin-1").decode("utf-8")
        except UnicodeError:
            path = raw_path
        headers = headers_of(environ)
        if not self.host_allowed(headers.get("host")):
            return Response.json(421, {"error": "this server does not answer for that Host"})
        found = self.router.match(method, path)
        if isinstance(found, int):
            return Response.json(found, {"error": HTTPStatus(found).phrase})
        route, params = found
        if not self.authorized(headers, route.access):
            return Response.json(
                401,
                {"error": "missing or invalid bearer token"},
                {"WWW-Authenticate": 'Bearer realm="mlmaint"'},
            )
        if method not in ("GET", "HEAD") and not self.origin_allowed(
            headers.get("origin"), headers.get("host")
        ):
            return Response.json(403, {"error": "cross-origin requests are refused"})
        body = b""
        if route.body_limit is not None:
            try:
                if route.ingest:
                    require_ingest_type(headers.get("content-type"))
                body = read_body(environ, headers, route.body_limit(params))
            except BodyError as exc:
                return Response.json(exc.status, {"error": str(exc)})
        request = Request(
            method=method,
            path=path,
            params=params,
            query=parse_qs(str(environ.get("QUERY_STRING", ""))),
            headers=headers,
            body=body,
        )
        try:
            return route.handler(request)
        except BodyError as exc:
            return Response.json(exc.status, {"error": str(exc)})
        except Exception as exc:
            if not store_unavailable(exc):
                # A failing handler answers 500; the server and the daemon keep running.
                log.exception("http %s %s failed", method, path)
                return Response.json(500, {"error": "internal error"})
            # The store cannot take it now: nothing was stored, send the same batch again.
            log.warning("http %s %s: store unavailable: %s", method, path, first_line(exc))
            return Response.json(
                503,
                {"error": "store unavailable, retry later"},
                {"Retry-After": str(RETRY_AFTER_S)},
            )
