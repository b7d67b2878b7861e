"""What the frameworks stage writes to the store: each environment's findings.

The advisory mirror and the release cache are caches of outside sources and
are written by their own rooms (mirror.py, releases.py).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session, sessionmaker

from checks.frameworks.policy import EnvironmentReport, PackageFinding
from daemon.config import Settings
from daemon.frameworks.findings import FindingKey, alerts_of, finding_key, stored_ids
from daemon.store.engine import transaction
from daemon.store.tables import FrameworkFinding, FrameworkVerification


def latest_verifications(session: Session, packages: set[str]) -> dict[tuple[str, str], str]:
    """The latest `frameworks verify` line per (package, target) of these packages."""
    if not packages:
        return {}
    rows = session.execute(
        select(
            FrameworkVerification.package,
            FrameworkVerification.target,
            FrameworkVerification.summary,
        )
        .where(FrameworkVerification.package.in_(sorted(packages)))
        .order_by(FrameworkVerification.created_at)
    )
    return {(package, target): summary for package, target, summary in rows}


def store_findings(
    sessions: sessionmaker[Session],
    report: EnvironmentReport,
    now: datetime,
    settings: Settings | None = None,
) -> tuple[list[PackageFinding], list[FindingKey]]:
    """Replace the environment's findings; returns (new findings, keys no longer found).

    With `settings`, the alerts for new and gone vulnerabilities go to the alert
    policy in the same transaction: a crash can't store a finding as known while
    losing its alert.
    """
    with transaction(sessions) as session:
        previous = {
            finding_key(row.package, row.kind, stored_ids(row.advisory_ids)): row.first_seen_at
            for row in session.scalars(
                select(FrameworkFinding).where(FrameworkFinding.environment == report.environment)
            )
        }
        session.execute(
            delete(FrameworkFinding).where(FrameworkFinding.environment == report.environment)
        )
        new: list[PackageFinding] = []
        rows = []
        current = set()
        for f in report.findings:
            key = finding_key(f.package, f.kind.value, f.advisory_ids)
            current.add(key)
            first = previous.get(key)
            if first is None:
                new.append(f)
            rows.append(
                {
                    "environment": f.environment[:200],
                    "package": f.package[:200],
                    "installed": f.installed[:100],
                    "kind": f.kind.value,
                    "severity": f.severity,
                    "advisory_ids": {
                        "ids": list(f.advisory_ids),
                        "score": f.score,
                        "vector": f.vector,
                        "fixed": f.fixed,
                    },
                    "recommended": f.recommended,
                    "detail": f.detail,
                    "scanned_at": now,
                    "first_seen_at": first or now,
                    "ignored_reason": f.ignored_reason,
                }
            )
        if rows:
            session.execute(insert(FrameworkFinding), rows)
        gone = [k for k in previous if k not in current]
        if settings is not None:
            from daemon.alerts.policy import apply_findings

            routing = settings.frameworks.routing
            verified = latest_verifications(session, {f.package for f in new})
            found = alerts_of(report.environment, new, gone, routing, verified)
            apply_findings(session, settings, found, now)
    return new, gone
