"""The one place that builds URLs to the daemon's pages, all under `report.base_url`.

Slack, email, the weekly report (archived file and attachment alike) and the
evidence pages link with these, so every link is absolute and a change of
address is one setting. Paths here match the routes of daemon/report/http.py.
"""

from __future__ import annotations

from urllib.parse import quote

REPORTS = "/reports"


def _base(base_url: str) -> str:
    return base_url.rstrip("/")


def report_url(base_url: str, week: str) -> str:
    """The weekly report of an ISO week, e.g. `.../reports/2026-W47`."""
    return f"{_base(base_url)}{REPORTS}/{quote(week, safe='')}"


def evidence_url(base_url: str, run_id: int) -> str:
    """mlmaint's evidence page of a stored check run."""
    return f"{_base(base_url)}{REPORTS}/evidence/{int(run_id)}"


def evidently_url(base_url: str, run_id: int) -> str:
    """Evidently's full report of a stored check run, where one was written."""
    return f"{evidence_url(base_url, run_id)}/evidently"
