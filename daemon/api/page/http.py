"""The page's HTTP handlers: GET / (every model) and GET /models/<name> (one model).

Plain functions from the daemon's context and a time to a response, like the
report's (daemon/report/http.py), whose policy they share: nothing but inline
styles, no script, no request to anywhere.
"""

from __future__ import annotations

from datetime import datetime

from daemon.api.page.reads import MODEL_POINTS, OVERVIEW_BUDGET, read_page
from daemon.api.page.render import render_model, render_overview
from daemon.jobs import JobContext
from daemon.report.http import HTML, REPORT_CSP, HttpResponse, not_found

_HEADERS = {
    "Content-Security-Policy": REPORT_CSP,
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


def overview(ctx: JobContext, now: datetime) -> HttpResponse:
    with ctx.sessions() as session:
        data = read_page(session, ctx.settings, now, budget=OVERVIEW_BUDGET)
    body = render_overview(data).encode("utf-8")
    return HttpResponse(status=200, content_type=HTML, body=body, headers=_HEADERS)


def model_page(ctx: JobContext, name: str, now: datetime) -> HttpResponse:
    with ctx.sessions() as session:
        data = read_page(session, ctx.settings, now, model=name, points=MODEL_POINTS)
    if not data.models:
        return not_found(f"no model named '{name}' in the store or the config")
    body = render_model(data).encode("utf-8")
    return HttpResponse(status=200, content_type=HTML, body=body, headers=_HEADERS)
