"""What the frameworks stage writes to the store: each environment's findings.

The advisory mirror and the release cache are caches of outside sources and
are written by their own rooms (mirror.py, releases.py).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session, sessionmaker

from checks.frameworks.policy import EnvironmentReport, FindingKind, PackageFinding
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


def _alerted(data: object) -> bool:
    """Whether a stored finding was handed to the alert policy (rows before the flag were)."""
    return not isinstance(data, dict) or data.get("alerted", True) is not False


def _firing_keys(session: Session, environment: str) -> set[FindingKey]:
    """The environment's firing advisory alerts, as finding keys."""
    from daemon.alerts.finding import StageKind
    from daemon.store.tables import Alert, AlertState

    subjects = session.scalars(
        select(Alert.subject).where(
            Alert.scope == environment,
            Alert.kind == StageKind.FRAMEWORK.value,
            Alert.state == AlertState.FIRING,
        )
    )
    keys = set()
    for subject in subjects:
        package, _, ident = subject.rpartition(":")
        if package and ident:
            keys.add(finding_key(package, FindingKind.VULNERABLE.value, [ident]))
    return keys


def store_findings(
    sessions: sessionmaker[Session],
    report: EnvironmentReport,
    now: datetime,
    settings: Settings | None = None,
    *,
    alert: bool = True,
) -> tuple[list[PackageFinding], list[FindingKey]]:
    """Replace the environment's findings; returns (findings to alert, keys no longer found).

    With `settings` and `alert`, the alerts for new and gone vulnerabilities go to
    the alert policy in the same transaction: a crash can't store a finding as
    known while losing its alert. With `alert=False` (`mlmaint frameworks` without
    `--alert`) nothing is sent: a finding not alerted before is stored marked so,
    and the next run that alerts (the daemon's) still alerts it; what resolved is
    found then from the firing alerts themselves.
    """
    with transaction(sessions) as session:
        previous = {
            finding_key(row.package, row.kind, stored_ids(row.advisory_ids)): (
                row.first_seen_at,
                _alerted(row.advisory_ids),
            )
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
            first, was_alerted = previous.get(key, (None, False))
            if not was_alerted:
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
                        "alerted": alert or was_alerted,
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
        if not alert:
            return [], []
        gone = sorted((set(previous) | _firing_keys(session, report.environment)) - current)
        if settings is not None:
            from daemon.alerts.policy import apply_findings

            routing = settings.frameworks.routing
            verified = latest_verifications(session, {f.package for f in new})
            found = alerts_of(report.environment, new, gone, routing, verified)
            apply_findings(session, settings, found, now)
    return new, gone
