"""The daemon's HTTP server: a small router on the standard library's ThreadingHTTPServer.

Routes are registered on a `Router` (`server.router.add("GET", "/healthz", fn)`),
so the service adds /healthz and /metrics and the report adds /reports next to
the ingest routes defined here:

    POST /v1/models/{name}/predictions   JSON array or JSON Lines, gzip accepted
    POST /v1/models/{name}/labels

Ingest answers 202 with the counts of accepted and rejected rows, 401 without
a valid bearer token, 413 over the size limit, 404 for an unknown model. The
server binds the configured address (127.0.0.1 by default); with no token
configured, ingest is refused unless that address is a loopback one.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import re
import threading
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from sqlalchemy.exc import OperationalError

from daemon.config import HttpSource, ModelSettings, Secret
from daemon.jobs import JobContext

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY = 16 * 1024 * 1024
DRAIN_MAX = 256 * 1024 * 1024


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
    authenticated: bool = True


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
        authenticated: bool = False,
    ) -> None:
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
        self.routes.append(
            Route(method.upper(), re.compile(f"^{regex}$"), handler, body_limit, authenticated)
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


class _BodyTooLarge(Exception):
    pass


def _decompress(body: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = inflater.decompress(body, limit + 1)
    if len(out) > limit or inflater.unconsumed_tail:
        raise _BodyTooLarge
    return out


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ApiServer:
    """The HTTP server; start on port 0 in tests and read `.port`."""

    def __init__(
        self,
        ctx: JobContext,
        *,
        host: str | None = None,
        port: int | None = None,
        token: Secret | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        service = ctx.settings.service
        self.ctx = ctx
        self.host = service.http_host if host is None else host
        self._port = service.http_port if port is None else port
        self.token = token if token is not None else ctx.settings.secret("service.api_token")
        self.clock = clock or (lambda: datetime.now(UTC))
        self.router = Router()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._add_ingest_routes()

    # ------------------------------------------------------------------ lifecycle

    @property
    def port(self) -> int:
        if self._server is not None:
            return int(self._server.server_address[1])
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> ApiServer:
        if self._server is not None:
            return self
        handler = type("BoundHandler", (_RequestHandler,), {"api": self})
        server = ThreadingHTTPServer((self.host, self._port), handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name="mlmaint-api", daemon=True
        )
        self._thread.start()
        if self.token is None and not _is_loopback(self.host):
            log.warning("no service.api_token configured: ingest on %s is refused", self.host)
        log.info("http api listening on %s", self.url)
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ auth

    def authorized(self, headers: Mapping[str, str]) -> bool:
        if self.token is None:
            return _is_loopback(self.host)
        given = headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(value.strip().encode(), self.token.reveal().encode())

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
            authenticated=True,
        )
        self.router.add(
            "POST",
            "/v1/models/{name}/labels",
            self._ingest_labels,
            body_limit=self._limit_for("labels"),
            authenticated=True,
        )

    def _ingest_predictions(self, request: Request) -> Response:
        from daemon.sampling.sampler import ingest_records, ingest_validated
        from daemon.sampling.validation import RowValidator

        model = self._model(request.params["name"])
        if model is None:
            return Response.json(404, {"error": f"unknown model {request.params['name']!r}"})
        body = request.body.strip()
        now = self.clock()
        if body.startswith(b"["):
            try:
                records = json.loads(body)
            except ValueError as exc:
                return Response.json(400, {"error": f"not a JSON array: {exc}"})
            outcome = ingest_records(self.ctx, model, records, now)
        else:
            lines = [ln.strip() for ln in body.split(b"\n") if ln.strip()]
            outcome = ingest_validated(
                self.ctx, model, [RowValidator(model).from_jsonl(lines)], now
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
        from daemon.sampling.sampler import ingest_label_records
        from daemon.sampling.validation import Reason, Reject, excerpt

        model = self._model(request.params["name"])
        if model is None:
            return Response.json(404, {"error": f"unknown model {request.params['name']!r}"})
        body = request.body.strip()
        records: list[object] = []
        rejects: list[Reject] = []
        if body.startswith(b"["):
            try:
                loaded = json.loads(body)
            except ValueError as exc:
                return Response.json(400, {"error": f"not a JSON array: {exc}"})
            records = list(loaded)
        else:
            for line in body.split(b"\n"):
                if not line.strip():
                    continue
                try:
                    records.append(json.loads(line))
                except ValueError as exc:
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


class _RequestHandler(BaseHTTPRequestHandler):
    api: ApiServer
    protocol_version = "HTTP/1.1"
    server_version = "mlmaint"

    def log_message(self, format: str, *args: object) -> None:
        # Per-request lines at DEBUG only (the standard handler writes them to stderr).
        if log.isEnabledFor(logging.DEBUG):
            log.debug("http %s %s", self.client_address[0], format % args)

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for key, value in response.headers.items():
            self.send_header(key, value)
        if self.close_connection:
            # Tell the client, or it reuses a connection this side is closing.
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def _handle(self) -> None:
        url = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        found = self.api.router.match(self.command, url.path)
        if isinstance(found, int):
            self.close_connection = True
            self._send(Response.json(found, {"error": HTTPStatus(found).phrase}))
            return
        route, params = found
        if route.authenticated and not self.api.authorized(headers):
            self.close_connection = True
            self._send(
                Response.json(
                    401,
                    {"error": "missing or invalid bearer token"},
                    {"WWW-Authenticate": 'Bearer realm="mlmaint"'},
                )
            )
            return
        body = b""
        if route.body_limit is not None:
            try:
                body = self._read_body(headers, route.body_limit(params))
            except _BodyTooLarge:
                self.close_connection = True
                self._send(Response.json(413, {"error": "request body too large"}))
                return
            except (OSError, EOFError, ValueError, zlib.error) as exc:
                self.close_connection = True
                self._send(Response.json(400, {"error": f"unreadable body: {exc}"}))
                return
        request = Request(
            method=self.command,
            path=url.path,
            params=params,
            query=parse_qs(url.query),
            headers=headers,
            body=body,
        )
        try:
            response = route.handler(request)
        except OperationalError as exc:
            # The store is down or unreachable: say so, and ask the client to come back.
            log.error("http %s %s: store unavailable: %s", self.command, url.path, exc.orig)
            response = Response.json(
                503, {"error": "store unavailable, retry later"}, {"Retry-After": "30"}
            )
        except Exception:
            # A failing handler answers 500; the server and the daemon keep running.
            log.exception("http %s %s failed", self.command, url.path)
            response = Response.json(500, {"error": "internal error"})
        self._send(response)

    def _read_body(self, headers: Mapping[str, str], limit: int) -> bytes:
        length_text = headers.get("content-length")
        if length_text is None:
            raise (
                _BodyTooLarge if headers.get("transfer-encoding") else EOFError("no Content-Length")
            )
        length = int(length_text)
        if length < 0:
            raise ValueError(f"negative Content-Length {length}")
        if length > limit:
            # Read and drop a moderately large body, so the client gets the 413 rather
            # than a reset connection in the middle of its upload.
            left = length if length <= DRAIN_MAX else 0
            while left > 0:
                chunk = self.rfile.read(min(left, 1 << 20))
                if not chunk:
                    break
                left -= len(chunk)
            raise _BodyTooLarge
        body = self.rfile.read(length)
        if len(body) < length:
            raise EOFError("body cut short")
        if headers.get("content-encoding", "").lower() == "gzip":
            body = _decompress(body, limit)
        return body

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle  # noqa: N815
