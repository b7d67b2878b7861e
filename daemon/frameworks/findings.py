"""Findings -> alerts: new vulnerabilities are routed by severity, ones no longer found resolve.

`[frameworks.routing]` gives each advisory severity a route: `page` (a critical
alert, never held by quiet hours), `alert` (a warning, sent now) or `report` (no
alert: the weekly report lists it). By default critical advisories page, high,
medium and unknown ones alert, low ones wait for the report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from checks.frameworks.policy import FindingKind, PackageFinding
from checks.frameworks.severity import AdvisorySeverity
from daemon.alerts.finding import Finding, StageKind
from daemon.config import AdvisoryRoute, AdvisoryRouting, Severity

_ALERT_SEVERITY = {AdvisoryRoute.PAGE: Severity.CRITICAL, AdvisoryRoute.ALERT: Severity.WARNING}

# A stored finding's identity across scans: (package, kind, first advisory id).
FindingKey = tuple[str, str, str]


def finding_key(package: str, kind: str, ids: Sequence[str]) -> FindingKey:
    return package, kind, ids[0] if ids else ""


def stored_ids(data: Mapping[str, object]) -> list[str]:
    """The advisory ids of a stored finding's `advisory_ids` JSON."""
    ids = data.get("ids")
    return [str(i) for i in ids] if isinstance(ids, list) else []


def route_of(f: PackageFinding, routing: AdvisoryRouting) -> AdvisoryRoute:
    try:
        severity = AdvisorySeverity(f.severity)
    except ValueError:
        severity = AdvisorySeverity.UNKNOWN
    return routing.route(severity)


def alerts_of(
    environment: str,
    new: Sequence[PackageFinding],
    gone: Sequence[FindingKey],
    routing: AdvisoryRouting | None = None,
    verified: Mapping[tuple[str, str], str] | None = None,
) -> list[Finding]:
    """New vulnerabilities routed to page or alert fire at once; ones no longer found resolve.

    A vulnerability routed to the report raises no alert (its resolution then finds
    no alert to resolve, and sends nothing). `verified`: the latest `frameworks
    verify` line per (package, target), added to the alert of a finding whose
    recommended upgrade it proved.
    """
    routing = routing or AdvisoryRouting()
    known = verified or {}
    alerts = []
    for f in new:
        if f.kind is not FindingKind.VULNERABLE or f.ignored_reason is not None:
            continue
        severity = _ALERT_SEVERITY.get(route_of(f, routing))
        if severity is not None:
            proved = known.get((f.package, f.recommended or ""))
            alerts.append(alert_for(f, severity, verified=proved))
    alerts.extend(_resolved(environment, k) for k in gone if k[1] == FindingKind.VULNERABLE.value)
    return alerts


def alert_for(f: PackageFinding, severity: Severity, *, verified: str | None = None) -> Finding:
    """The advisory's alert; `verified` is what `frameworks verify` found of the upgrade."""
    fix = f.recommended or f.fixed
    rating = f.severity if f.score is None else f"{f.severity} {f.score}"
    return Finding(
        scope=f.environment,
        kind=StageKind.FRAMEWORK,
        subject=f.subject,
        firing=True,
        severity=severity,
        summary=(
            f"{f.package} {f.installed} in {f.environment}: {', '.join(f.advisory_ids)} "
            f"({rating})"
            + (f", upgrade to {fix}" if fix else ", no fixed release known")
            + (f". Verified: {verified}" if verified else "")
        ),
        value=f.score,
        details={
            "package": f.package,
            "installed": f.installed,
            "ids": list(f.advisory_ids),
            "severity": f.severity,
            "vector": f.vector,
            "fixed": f.fixed,
            "recommended": f.recommended,
            "detail": f.detail,
            **({"verified": verified} if verified else {}),
        },
    )


def _resolved(environment: str, key: FindingKey) -> Finding:
    package, _, ident = key
    return Finding(
        scope=environment,
        kind=StageKind.FRAMEWORK,
        subject=f"{package}:{ident}",
        firing=False,
        severity=Severity.INFO,
        summary=f"{package} in {environment}: {ident} no longer applies",
    )
