"""The daemon's HTTP server as the service starts it.

The API server (ingest, /v1) with the service's /healthz and /metrics, the
report pages and the page at / mounted on it: /healthz open, its detail and
the rest for readers.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from daemon.health import Handler, Probe, routes
from daemon.jobs import JobContext

if TYPE_CHECKING:
    from daemon.api import ApiServer
    from daemon.report.http import HttpResponse

log = logging.getLogger(__name__)


def start_http(ctx: JobContext, probe: Probe, *, config_digest: str | None = None) -> ApiServer:
    """The API server (ingest) with /healthz, /metrics, /reports and the page on it, started.
    `config_digest`: the config file's, for the CLI it answers (daemon/api/terminal.py)."""
    from daemon.api import Access, ApiServer, Request, Response

    server = ApiServer(ctx, config_digest=config_digest)

    def adapt(handler: Handler) -> Callable[[Request], Response]:
        def serve(_request: Request) -> Response:
            status, headers, body = handler()
            extra = {k: v for k, v in headers.items() if k.lower() != "content-type"}
            return Response(status, body, headers.get("Content-Type", "text/plain"), extra)

        return serve

    def healthz(handler: Handler) -> Callable[[Request], Response]:
        full = adapt(handler)

        def serve(request: Request) -> Response:
            # Open for systemd and load balancers; the detail (models, jobs, store
            # errors) only for a caller who may read /metrics too.
            answer = full(request)
            if server.authorized(request.headers, Access.READ):
                return answer
            status = json.loads(answer.body).get("status", "unhealthy")
            return Response.json(answer.status, {"status": status})

        return serve

    for (method, path), handler in routes(probe).items():
        if path == "/healthz":
            server.router.add(method, path, healthz(handler), access=Access.OPEN)
        else:
            server.router.add(method, path, adapt(handler), access=Access.READ)

    add_reports(server)
    add_page(server)
    server.start()
    log.info("health and metrics on http://%s:%d/healthz and /metrics", server.host, server.port)
    return server


def add_reports(server: ApiServer) -> None:
    """GET /reports (the weekly reports) and /reports/evidence/<run> (a run's evidence)."""
    from daemon.api import Access, Request, Response

    def reports(request: Request) -> Response:
        from daemon.report.http import handle

        found = handle(server.ctx, request.path)
        if found is None:
            return Response.json(404, {"error": "not found"})
        return Response(found.status, found.body, found.content_type, found.headers)

    for template in (
        "/reports",
        "/reports/",
        "/reports/{page}",
        "/reports/evidence/{run}",
        "/reports/evidence/{run}/evidently",
    ):
        server.router.add("GET", template, reports, access=Access.READ)


def add_page(server: ApiServer) -> None:
    """GET / (every model at a glance, with its charts) and GET /models/<name>."""
    from daemon.api import Access, Request, Response

    def respond(found: HttpResponse) -> Response:
        return Response(found.status, found.body, found.content_type, found.headers)

    def overview(_request: Request) -> Response:
        from daemon.api.page.http import overview

        return respond(overview(server.ctx, server.clock()))

    def model(request: Request) -> Response:
        from daemon.api.page.http import model_page

        return respond(model_page(server.ctx, request.params["name"], server.clock()))

    server.router.add("GET", "/", overview, access=Access.READ)
    server.router.add("GET", "/models/{name}", model, access=Access.READ)
