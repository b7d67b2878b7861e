"""The daemon's HTTP server: a small router served by waitress.

Routes are registered on a `Router` (`server.router.add("GET", "/healthz", fn)`),
so the service adds /healthz and /metrics and the report adds /reports next to
the ingest routes defined here:

    POST /v1/models/{name}/predictions   JSON array or JSON Lines, gzip accepted
    POST /v1/models/{name}/labels

Ingest answers 202 with the counts of accepted and rejected rows; 400 for a body
that cannot be read whole (truncated or corrupt gzip, nesting past the limit),
401 without a valid bearer token, 403 for a foreign Origin, 404 for an unknown
model, 413 over the size limit, 415 for a type other than JSON or JSON Lines,
421 for a Host that is not this server's (DNS rebinding), 503 with Retry-After
when the store cannot take the write (retry the same batch).

Who may call what (`Access`): /healthz is open (systemd and load balancers probe
it); /metrics and /reports are open on loopback and need the read token or the
API token beyond it; ingest needs the API token, or nothing on loopback when no
token is configured. Binding beyond loopback without a token is refused.

waitress, not the standard library's ThreadingHTTPServer: a fixed pool of worker
threads, one poll loop for every connection (so thousands of idle sockets cost
file descriptors, not threads), a limit on open connections, an inactivity
timeout for headers and bodies, and a whole body received before a handler runs.
"""

from __future__ import annotations

import enum
import errno
import hmac
import ipaddress
import json
import logging
import re
import socket
import sqlite3
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Protocol
from urllib.parse import parse_qs

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from daemon.config import HttpSource, ModelSettings, Secret, is_loopback
from daemon.http_body import (
    BadBody,
    BodyError,
    BodyTooLarge,
    decode,
    documents,
    require_ingest_type,
)
from daemon.jobs import JobContext
from daemon.store.engine import StoreUnavailable

if TYPE_CHECKING:
    from waitress.server import BaseWSGIServer

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY = 16 * 1024 * 1024
MAX_HEADER_BYTES = 64 * 1024
# How long a client is asked to wait before it sends the same batch again.
RETRY_AFTER_S = 30
# Disk full, quota, read-only file system, I/O error: the store's disk, not a bug.
_STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO})
_WILDCARDS = frozenset({"", "0.0.0.0", "::"})


class Access(enum.Enum):
    """Who may call a route."""

    # Anyone who reaches the port: /healthz.
    OPEN = "open"
    # Reads (/metrics, /reports): open on loopback; beyond it the read or API token.
    READ = "read"
    # Writes (ingest): the API token; on loopback with no token configured, anyone.
    WRITE = "write"


class ApiError(Exception):
    """Root of the HTTP server's errors."""


class InsecureBind(ApiError):
    """Binding beyond loopback with no API token would open ingest to the network."""

    def __init__(self, host: str) -> None:
        self.host = host
        super().__init__(f"refusing to serve on {host}, beyond loopback, without service.api_token")


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    params: Mapping[str, str]
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes = b""


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, data: object, headers: Mapping[str, str] | None = None) -> Response:
        return cls(status, json.dumps(data).encode(), "application/json", headers or {})


Handler = Callable[[Request], Response]
# Reads the body: the route decides how much it accepts before anything is read.
BodyLimit = Callable[[Mapping[str, str]], int]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    # The request body is read (up to this many bytes) only for routes that take one.
    body_limit: BodyLimit | None = None
    access: Access = Access.OPEN
    # Routes that take a body accept only JSON or JSON Lines (see http_body).
    ingest: bool = False


class Router:
    """Routes by method and path template; `{name}` matches one path segment."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(
        self,
        method: str,
        template: str,
        handler: Handler,
        *,
        body_limit: BodyLimit | None = None,
        access: Access = Access.OPEN,
    ) -> None:
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
        self.routes.append(
            Route(
                method.upper(),
                re.compile(f"^{regex}$"),
                handler,
                body_limit,
                access,
                ingest=body_limit is not None,
            )
        )

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | int:
        allowed = False
        for route in self.routes:
            found = route.pattern.match(path)
            if found is None:
                continue
            if route.method == method:
                return route, found.groupdict()
            allowed = True
        return HTTPStatus.METHOD_NOT_ALLOWED if allowed else HTTPStatus.NOT_FOUND


def store_unavailable(exc: BaseException) -> bool:
    """True when `exc`, or anything it was raised from, says the store cannot write now.

    SQLAlchemy wraps most driver errors, but a bulk insert can let the raw
    sqlite3 or psycopg error through, and other layers chain them: every link
    of the chain is looked at, so the layer that raised does not matter.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, StoreUnavailable | OperationalError | InterfaceError | PoolTimeout):
            return True
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, sqlite3.OperationalError | sqlite3.InterfaceError):
            return True
        if _psycopg_operational(current):
            return True
        if isinstance(current, OSError) and current.errno in _STORAGE_ERRNOS:
            return True
        current = current.__cause__ or current.__context__
    return False


def _psycopg_operational(exc: BaseException) -> bool:
    try:
        import psycopg
    except ImportError:  # the postgres extra is not installed: no such errors either
        return False
    return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)


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
    ) -> None:
        service = ctx.settings.service
        self.ctx = ctx
        self.host = service.http_host if host is None else host
        self._port = service.http_port if port is None else port
        self.token = token if token is not None else ctx.settings.secret("service.api_token")
        self.read_token = (
            read_token if read_token is not None else ctx.settings.secret("service.read_token")
        )
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
        self._add_ingest_routes()

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
        headers = _headers(environ)
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
                body = self._read_body(environ, headers, route.body_limit(params))
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
            log.warning("http %s %s: store unavailable: %s", method, path, _first_line(exc))
            return Response.json(
                503,
                {"error": "store unavailable, retry later"},
                {"Retry-After": str(RETRY_AFTER_S)},
            )

    def _read_body(
        self, environ: Mapping[str, object], headers: Mapping[str, str], limit: int
    ) -> bytes:
        length_text = headers.get("content-length", "0").strip()
        if not length_text.isdigit():
            raise BadBody(f"invalid Content-Length {length_text!r}")
        if int(length_text) > limit:
            raise BodyTooLarge(limit)
        stream = environ.get("wsgi.input")
        raw = b""
        if stream is not None and hasattr(stream, "read"):
            raw = bytes(stream.read(limit + 1))
        if len(raw) > limit:
            raise BodyTooLarge(limit)
        if len(raw) < int(length_text):
            raise BadBody("body cut short")
        return decode(raw, headers.get("content-encoding"), limit)

    # ------------------------------------------------------------------ ingest

    def _model(self, name: str) -> ModelSettings | None:
        for model in self.ctx.settings.models:
            if model.name == name:
                return model
        return None

    def _limit_for(self, stream: str) -> BodyLimit:
        def limit(params: Mapping[str, str]) -> int:
            model = self._model(params.get("name", ""))
            if model is None:
                return DEFAULT_MAX_BODY
            source = model.source if stream == "predictions" else model.labels
            return source.max_body_bytes if isinstance(source, HttpSource) else DEFAULT_MAX_BODY

        return limit

    def _add_ingest_routes(self) -> None:
        self.router.add(
            "POST",
            "/v1/models/{name}/predictions",
            self._ingest_predictions,
            body_limit=self._limit_for("predictions"),
            access=Access.WRITE,
        )
        self.router.add(
            "POST",
            "/v1/models/{name}/labels",
            self._ingest_labels,
            body_limit=self._limit_for("labels"),
            access=Access.WRITE,
        )

    def _ingest_predictions(self, request: Request) -> Response:
        from daemon.sampling.push import ingest_records, ingest_validated
        from daemon.sampling.specs import spec_of
        from daemon.sampling.validation import RowValidator

        model = self._model(request.params["name"])
        if model is None:
            return Response.json(404, {"error": f"unknown model {request.params['name']!r}"})
        docs = documents(request.body)
        now = self.clock()
        if docs.records is not None:
            outcome = ingest_records(self.ctx, model, docs.records, now)
        else:
            outcome = ingest_validated(
                self.ctx, model, [RowValidator(spec_of(model)).from_jsonl(docs.lines)], now
            )
        accepted = outcome.sampled + outcome.skipped + outcome.duplicates + outcome.capped
        return Response.json(
            202,
            {
                "accepted": accepted,
                "rejected": outcome.rejected_total,
                "sampled": outcome.sampled,
                "duplicates": outcome.duplicates,
                "reasons": dict(outcome.rejected),
            },
        )

    def _ingest_labels(self, request: Request) -> Response:
        from daemon.sampling.push import ingest_label_records
        from daemon.sampling.rows import Reason, Reject, excerpt

        model = self._model(request.params["name"])
        if model is None:
            return Response.json(404, {"error": f"unknown model {request.params['name']!r}"})
        docs = documents(request.body)
        records: list[object] = []
        rejects: list[Reject] = []
        if docs.records is not None:
            records = docs.records
        else:
            for line in docs.lines:
                try:
                    records.append(json.loads(line))
                except (ValueError, RecursionError) as exc:
                    rejects.append(Reject(Reason.MALFORMED, f"not JSON: {exc}", excerpt(line)))
        outcome = ingest_label_records(self.ctx, model, records, self.clock(), rejects)
        return Response.json(
            202,
            {
                "accepted": outcome.joined + outcome.pending + outcome.skipped,
                "rejected": outcome.rejected_total,
                "joined": outcome.joined,
                "pending": outcome.pending,
                "reasons": dict(outcome.rejected),
            },
        )


def _headers(environ: Mapping[str, object]) -> dict[str, str]:
    """WSGI's HTTP_X_Y keys back to lower-case `x-y` header names."""
    headers: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers[key[5:].replace("_", "-").lower()] = str(value)
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = str(environ[key])
    return headers


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
