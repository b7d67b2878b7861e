"""Findings -> alerts: new vulnerabilities fire, vulnerabilities no longer found resolve."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from checks.frameworks.policy import FindingKind, PackageFinding
from daemon.alerts.finding import Finding, StageKind
from daemon.config import Severity

# High CVSS (>= 7.0, "high" or "critical") alerts as critical.
_CRITICAL_LABELS = frozenset({"high", "critical"})
_CRITICAL_SCORE = 7.0

# A stored finding's identity across scans: (package, kind, first advisory id).
FindingKey = tuple[str, str, str]


def finding_key(package: str, kind: str, ids: Sequence[str]) -> FindingKey:
    return package, kind, ids[0] if ids else ""


def stored_ids(data: Mapping[str, object]) -> list[str]:
    """The advisory ids of a stored finding's `advisory_ids` JSON."""
    ids = data.get("ids")
    return [str(i) for i in ids] if isinstance(ids, list) else []


def alerts_of(
    environment: str,
    new: Sequence[PackageFinding],
    gone: Sequence[FindingKey],
    verified: Mapping[tuple[str, str], str] | None = None,
) -> list[Finding]:
    """New vulnerabilities fire at once; vulnerabilities no longer found resolve.

    `verified`: the latest `frameworks verify` line per (package, target), added
    to the alert of a finding whose recommended upgrade it proved.
    """
    known = verified or {}
    alerts = [
        alert_for(f, verified=known.get((f.package, f.recommended or "")))
        for f in new
        if f.kind is FindingKind.VULNERABLE and f.ignored_reason is None
    ]
    alerts.extend(_resolved(environment, k) for k in gone if k[1] == FindingKind.VULNERABLE.value)
    return alerts


def alert_for(f: PackageFinding, *, verified: str | None = None) -> Finding:
    """The advisory's alert; `verified` is what `frameworks verify` found of the upgrade."""
    scored_high = f.score is not None and f.score >= _CRITICAL_SCORE
    critical = f.severity in _CRITICAL_LABELS or scored_high
    fix = f.recommended or f.fixed
    return Finding(
        scope=f.environment,
        kind=StageKind.FRAMEWORK,
        subject=f.subject,
        firing=True,
        severity=Severity.CRITICAL if critical else Severity.WARNING,
        summary=(
            f"{f.package} {f.installed} in {f.environment}: {', '.join(f.advisory_ids)} "
            f"({f.severity}{'' if f.score is None else f' {f.score}'})"
            + (f", upgrade to {fix}" if fix else ", no fixed release known")
            + (f". Verified: {verified}" if verified else "")
        ),
        value=f.score,
        threshold=_CRITICAL_SCORE,
        details={
            "package": f.package,
            "installed": f.installed,
            "ids": list(f.advisory_ids),
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
