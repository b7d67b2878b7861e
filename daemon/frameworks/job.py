"""The frameworks stage's entry points: the daily scan and the demo's offline scan."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
from sqlalchemy.orm import Session, sessionmaker

from checks.frameworks import InventoryError
from checks.frameworks import inventory as inv
from checks.frameworks.policy import EnvironmentReport
from daemon.alerts.finding import Finding
from daemon.config import FrameworkSettings
from daemon.frameworks.findings import alerts_of
from daemon.frameworks.inventory import inventory_environment
from daemon.frameworks.mirror import (
    import_advisory_path,
    mirror_size,
    shipped_advisory_source,
    sync_advisories,
)
from daemon.frameworks.records import store_findings
from daemon.frameworks.scan import scan
from daemon.jobs import JobContext

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class ScanOutcome:
    reports: tuple[EnvironmentReport, ...]
    # New vulnerabilities routed to an alert; plus resolutions of vulnerabilities gone.
    # Already handed to the alert policy with the findings they come from.
    alerts: tuple[Finding, ...]
    # Environments that could not be inventoried (sources that failed are findings).
    errors: tuple[str, ...]
    duration_s: float

    @property
    def actionable(self) -> int:
        return sum(len(r.actionable) for r in self.reports)


def scan_frameworks(
    ctx: JobContext, now: datetime, *, http: httpx.Client | None = None, alert: bool = True
) -> ScanOutcome:
    """The daily job: every configured environment, findings stored, new vulnerabilities out.

    `alert=False` (`mlmaint frameworks` without `--alert`) stores the findings
    marked as not alerted and sends nothing: the daemon's next scan alerts them.
    """
    started = time.monotonic()
    settings = ctx.settings.frameworks
    if not settings.enabled or not settings.environments:
        return ScanOutcome(reports=(), alerts=(), errors=(), duration_s=0.0)
    own_client = http is None and settings.online
    client = httpx.Client(timeout=settings.http_timeout.total_seconds()) if own_client else http
    try:
        problems = sync_advisories(ctx.sessions, settings, client)
        inventories: list[inv.Inventory] = []
        errors: list[str] = []
        for env in settings.environments:
            try:
                inventories.append(inventory_environment(env, ctx.settings.mlflow.tracking_uri))
            except InventoryError as exc:
                errors.append(f"{env.name}: {exc}")
        reports = scan(
            ctx.sessions, settings, inventories, now, http=client, source_problems=problems
        )
    finally:
        if own_client and client is not None:
            client.close()
    alerts: list[Finding] = []
    for report in reports:
        # Findings and their alerts commit together (see store_findings).
        new, gone = store_findings(ctx.sessions, report, now, ctx.settings, alert=alert)
        alerts.extend(alerts_of(report.environment, new, gone, settings.routing))
    outcome = ScanOutcome(
        reports=tuple(reports),
        alerts=tuple(alerts),
        errors=tuple(errors),
        duration_s=time.monotonic() - started,
    )
    log.info(
        "frameworks scan: %d environment(s), %d finding(s), %d new alert(s), %d error(s) in %.1fs",
        len(reports),
        outcome.actionable,
        len(alerts),
        len(outcome.errors),
        outcome.duration_s,
    )
    return outcome


def demo_scan(
    sessions: sessionmaker[Session],
    now: datetime,
    *,
    interpreter: Path,
    mlflow_model_dir: Path | None = None,
    advisory_source: Path | None = None,
) -> list[EnvironmentReport]:
    """For `mlmaint demo`: this interpreter's environment and the demo model's logged
    requirements (a local MLflow model directory) against the shipped snapshot, offline.

    Render with checks.frameworks.output.render_table(reports).
    """
    source = advisory_source or shipped_advisory_source()
    if mirror_size(sessions, str(source)) == 0:
        import_advisory_path(sessions, source)
    inventories = [inv.from_interpreter("demo-venv", interpreter)]
    if mlflow_model_dir is not None:
        inventories.append(inv.from_mlflow_model("demo-model", mlflow_model_dir))
    settings = FrameworkSettings(online=False)
    return scan(sessions, settings, inventories, now)
