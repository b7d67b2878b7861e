"""HTTP handlers for archived reports: /reports/, /reports/latest, /reports/<week>.

Plain functions from a request path to a response, so any HTTP server can route
to them. Reports are served from the store (any daemon of an HA pair has them),
falling back to the archived file. Evidence pages are served at
/reports/evidence/<check run id> (Evidently's report, where one was written, at
.../<id>/evidently); links to them are built by daemon/links.py.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from daemon.jobs import JobContext
from daemon.report import csp
from daemon.report.weeks import last_complete_week
from daemon.store.tables import CheckRun, Model, Report

PREFIX = "/reports"
_WEEK = re.compile(r"^\d{4}-W\d{2}$")
_EVIDENCE = re.compile(r"^evidence/(\d{1,18})(/evidently)?$")
# The report needs nothing but its own inline styles and data: images.
REPORT_CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
HTML = "text/html; charset=utf-8"


@dataclass(frozen=True, kw_only=True)
class HttpResponse:
    status: int
    content_type: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


def _page(status: int, title: str, body_html: str) -> HttpResponse:
    doc = (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head><body style='font-family:sans-serif'>"
        f"{body_html}</body></html>"
    )
    return HttpResponse(
        status=status,
        content_type=HTML,
        body=doc.encode("utf-8"),
        headers={"Content-Security-Policy": REPORT_CSP, "X-Content-Type-Options": "nosniff"},
    )


def not_found(what: str) -> HttpResponse:
    return _page(404, "not found", f"<p>{html.escape(what)}</p>")


def _report_bytes(row: Report) -> bytes | None:
    if row.html is not None:
        return bytes(row.html)
    path = Path(row.path)
    return path.read_bytes() if path.is_file() else None


def _serve(row: Report | None, what: str) -> HttpResponse:
    if row is None:
        return not_found(what)
    body = _report_bytes(row)
    if body is None:
        return not_found(f"the report of {row.week} is no longer archived")
    return HttpResponse(
        status=200,
        content_type=HTML,
        body=body,
        headers={
            "Content-Security-Policy": REPORT_CSP,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-cache",
        },
    )


def reports_index(ctx: JobContext) -> HttpResponse:
    with ctx.sessions() as session:
        rows = session.execute(
            select(Report.week, Report.created_at).order_by(Report.week.desc())
        ).all()
    if not rows:
        items = "<p>No report yet.</p>"
    else:
        items = (
            "<ul>"
            + "".join(
                f"<li><a href='{html.escape(week)}'>{html.escape(week)}</a> "
                f"<small>built {created.strftime('%Y-%m-%d %H:%M UTC')}</small></li>"
                for week, created in rows
            )
            + "</ul>"
        )
    return _page(
        200, "mlmaint reports", f"<h1>Weekly reports</h1><p><a href='latest'>latest</a></p>{items}"
    )


def report_page(ctx: JobContext, week: str) -> HttpResponse:
    with ctx.sessions() as session:
        row = session.execute(select(Report).where(Report.week == week)).scalar_one_or_none()
        return _serve(row, f"no report for week {week}")


def latest_report(ctx: JobContext, now: datetime | None = None) -> HttpResponse:
    """The report of the latest week that ended by `now`, not of a week still to come."""
    moment = now or datetime.now(UTC)
    ended = last_complete_week(moment, ctx.settings.report.schedule.timezone)
    with ctx.sessions() as session:
        row = session.execute(
            select(Report).where(Report.week <= ended.label).order_by(Report.week.desc()).limit(1)
        ).scalar_one_or_none()
        return _serve(row, "no report yet")


def gone(what: str) -> HttpResponse:
    return _page(410, "gone", f"<p>{html.escape(what)}</p>")


def evidence(ctx: JobContext, run_id: int, *, evidently: bool = False) -> HttpResponse:
    """A run's evidence page (or Evidently's report beside it): 404 when the run has
    none, 410 when retention removed it, with what to do in both cases."""
    from daemon.evidence.retention import SWEPT
    from daemon.evidence.write import evidently_path, rebuild_command

    with ctx.sessions() as session:
        found = session.execute(
            select(
                CheckRun.evidence_path,
                CheckRun.kind,
                CheckRun.window_end,
                CheckRun.summary,
                Model.name,
            )
            .join(Model, Model.id == CheckRun.model_id)
            .where(CheckRun.id == run_id)
        ).one_or_none()
    if found is None:
        return not_found(f"no check run {run_id}")
    stored, kind, window_end, summary, model = found
    rebuild = rebuild_command(model, window_end, evidently=evidently)
    if stored is None:
        if isinstance(summary, dict) and summary.get(SWEPT):
            return gone(
                f"the evidence of check run {run_id} ({model}, {kind}) was removed by the "
                f"evidence retention ([evidence] max_age / max_total) on {summary[SWEPT]}; "
                f"build it again with: {rebuild}"
            )
        return not_found(
            f"check run {run_id} ({model}, {kind}) has no evidence page: only alerting "
            f"drift windows have one; build one with: {rebuild}"
        )
    path = evidently_path(Path(stored)) if evidently else Path(stored)
    if not path.is_file() and evidently:
        return not_found(
            f"Evidently's report of check run {run_id} ({model}) was not written: it is "
            f"written on demand; build it with: {rebuild}"
        )
    if not path.is_file():
        return gone(
            f"the evidence page of check run {run_id} ({model}) is no longer on disk; "
            f"build it again with: {rebuild}"
        )
    body = path.read_bytes()
    # The page's own scripts by the hashes it was written with (csp.py); mlmaint's
    # own page has none. A page written without a policy (before mlmaint wrote it)
    # runs no script at all: its data was not escaped for a <script>.
    written = csp.written_policy(body.decode("utf-8", errors="replace"))
    policy = csp.header_policy(written or csp.evidence_policy(()))
    return HttpResponse(
        status=200,
        content_type=HTML,
        body=body,
        headers={
            # An opaque origin as well: the page cannot reach the API it is served from.
            "Content-Security-Policy": f"sandbox allow-scripts; {policy}",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-cache",
        },
    )


def handle(ctx: JobContext, path: str, now: datetime | None = None) -> HttpResponse | None:
    """Route a GET path under /reports; None for paths that are not ours."""
    if path == PREFIX:
        return HttpResponse(
            status=301, content_type=HTML, body=b"", headers={"Location": PREFIX + "/"}
        )
    if not path.startswith(PREFIX + "/"):
        return None
    rest = path[len(PREFIX) + 1 :].strip("/")
    if rest in ("", "index.html"):
        return reports_index(ctx)
    if rest == "latest":
        return latest_report(ctx, now)
    if _WEEK.match(rest):
        return report_page(ctx, rest)
    match = _EVIDENCE.match(rest)
    if match:
        return evidence(ctx, int(match.group(1)), evidently=match.group(2) is not None)
    return not_found(f"no such page: {path}")
