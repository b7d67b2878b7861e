"""Reports as text: a table for people, JSON for scripts, CycloneDX 1.5 for SBOM tools.

The CycloneDX document lists every pinned package as a component (purl
`pkg:pypi/name@version`) and every live vulnerability with its ratings, the
affected component and the recommended upgrade.

Findings are listed by kind, and vulnerabilities most severe first. A severity
without a CVSS score is printed as its word alone ("unknown", "high"): a missing
score is never shown as 0.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from checks.frameworks.policy import EnvironmentReport, FindingKind, PackageFinding
from checks.frameworks.severity import cvss_method, severity_rank

TOOL_NAME = "mlmaint"


def _finding_json(f: PackageFinding) -> dict[str, object]:
    data = asdict(f)
    data["kind"] = f.kind.value
    # Which rule fired: "advisory", "security_cadence", "major_cadence", "yanked", ...
    data["rule"] = f.rule.value
    del data["cadence"]
    data["advisory_ids"] = list(f.advisory_ids)
    data["actionable"] = f.actionable
    return data


def to_json(reports: Sequence[EnvironmentReport]) -> dict[str, object]:
    return {
        "environments": [
            {
                "environment": r.environment,
                "source": r.source,
                "target": r.target,
                "python": r.python_version,
                "scanned_at": r.scanned_at.isoformat(),
                "libyears": r.libyears,
                "libyears_packages": r.libyears_known,
                "release_data": r.release_data,
                "support": r.support,
                "advisories": r.advisories,
                "packages": [
                    {
                        **asdict(p),
                        "uploaded": p.uploaded.isoformat() if p.uploaded else None,
                    }
                    for p in r.packages
                ],
                "findings": [_finding_json(f) for f in r.findings],
            }
            for r in reports
        ]
    }


def _purl(name: str, version: str) -> str:
    return f"pkg:pypi/{name}@{version}"


_KINDS = list(FindingKind)


def finding_order(f: PackageFinding) -> tuple[int, int, float, str, str]:
    """Sort key: by kind, then most severe first (rating, score), then package and id."""
    score = f.score if f.score is not None else -1.0
    first = f.advisory_ids[0] if f.advisory_ids else ""
    return _KINDS.index(f.kind), severity_rank(f.severity), -score, f.package, first


def severity_text(f: PackageFinding) -> str:
    """ "critical 9.8" where a vector scored, else the word alone ("unknown")."""
    return f.severity if f.score is None else f"{f.severity} {f.score}"


def _rating(f: PackageFinding) -> dict[str, object]:
    # CycloneDX 1.5 severities include "none" and "unknown", our words as they are.
    rating: dict[str, object] = {"severity": f.severity}
    if f.score is not None and f.vector is not None:
        rating["score"] = f.score
        rating["method"] = cvss_method(f.vector)
        rating["vector"] = f.vector
    return rating


@dataclass(kw_only=True)
class _Vulnerability:
    """One advisory of one component, gathered over the environments that hold it."""

    finding: PackageFinding
    ids: list[str]
    environments: list[str]

    def entry(self) -> dict[str, object]:
        f = self.finding
        ref = _purl(f.package, f.installed)
        first = self.ids[0]
        entry: dict[str, object] = {
            "bom-ref": f"{first}:{ref}",
            "id": first,
            "source": {"name": "OSV", "url": f"https://osv.dev/vulnerability/{first}"},
            # The aliases: the other ids of the same advisory group.
            "references": [{"id": i, "source": {"name": "OSV"}} for i in self.ids[1:]],
            "ratings": [_rating(f)],
            "description": f.detail,
            "affects": [{"ref": ref}],
            "properties": [{"name": "mlmaint:environment", "value": e} for e in self.environments],
        }
        if f.recommended or f.fixed:
            entry["recommendation"] = f"upgrade {f.package} to {f.recommended or f.fixed}"
        return entry


def _add_vulnerability(
    found: dict[str, list[_Vulnerability]], f: PackageFinding, environment: str
) -> None:
    """Once per component: a finding sharing any id with one already listed is that one."""
    held = found.setdefault(_purl(f.package, f.installed), [])
    same = next((v for v in held if set(v.ids) & set(f.advisory_ids)), None)
    if same is None:
        held.append(_Vulnerability(finding=f, ids=list(f.advisory_ids), environments=[environment]))
        return
    same.ids.extend(i for i in f.advisory_ids if i not in same.ids)
    if environment not in same.environments:
        same.environments.append(environment)


def to_cyclonedx(
    reports: Sequence[EnvironmentReport], version: str, serial: uuid.UUID | None = None
) -> dict[str, object]:
    components: dict[str, dict[str, object]] = {}
    environments: dict[str, list[str]] = {}
    vulnerabilities: dict[str, list[_Vulnerability]] = {}
    when = max((r.scanned_at for r in reports), default=None)
    for report in reports:
        for package in report.packages:
            if package.installed is None:
                continue
            ref = _purl(package.name, package.installed)
            if ref not in components:
                components[ref] = {
                    "type": "library",
                    "bom-ref": ref,
                    "name": package.name,
                    "version": package.installed,
                    "purl": ref,
                }
                environments[ref] = []
            environments[ref].append(report.environment)
        for f in report.findings:
            if f.kind is not FindingKind.VULNERABLE or f.ignored_reason is not None:
                continue
            _add_vulnerability(vulnerabilities, f, report.environment)
    metadata: dict[str, object] = {
        "tools": {"components": [{"type": "application", "name": TOOL_NAME, "version": version}]}
    }
    if when is not None:
        metadata["timestamp"] = when.isoformat()
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": f"urn:uuid:{serial or uuid.uuid4()}",
        "version": 1,
        "metadata": metadata,
        "components": [
            {
                **c,
                "properties": [
                    {"name": "mlmaint:environment", "value": e} for e in environments[ref]
                ],
            }
            for ref, c in components.items()
        ],
        "vulnerabilities": [v.entry() for found in vulnerabilities.values() for v in found],
    }


def render_table(reports: Sequence[EnvironmentReport]) -> str:
    """Plain text: one block per environment, findings sorted by kind and package."""
    lines: list[str] = []
    for report in reports:
        python = f", Python {report.python_version}" if report.python_version else ""
        lines.append(
            f"== {report.environment} ({report.source}: {report.target}{python}) "
            f"{len(report.packages)} packages, {libyears_text(report)}"
        )
        rows = sorted(report.findings, key=finding_order)
        if not rows:
            lines.append("   no findings")
        header = ("package", "installed", "finding", "severity", "ids / detail", "upgrade to")
        table = [header]
        for f in rows:
            what = ", ".join(f.advisory_ids) if f.advisory_ids else f.detail
            if f.ignored_reason:
                what = f"{what} [ignored: {f.ignored_reason}]"
            table.append(
                (
                    f.package,
                    f.installed,
                    f.kind.value,
                    severity_text(f),
                    what if len(what) <= 90 else what[:87] + "...",
                    f.recommended or f.fixed or "",
                )
            )
        if rows:
            widths = [max(len(r[i]) for r in table) for i in range(len(header))]
            for row in table:
                lines.append(
                    "   " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                )
        if report.release_data:
            lines.append(f"   {report.release_data}")
        lines.append(f"   {report.support}")
        if report.advisories:
            lines.append(f"   advisories: {report.advisories}")
        lines.append("")
    return "\n".join(lines)


def libyears_text(report: EnvironmentReport) -> str:
    """Unknown is said as unknown, never as 0; a partial total says what it covers."""
    if report.libyears is None:
        return "libyears unknown (no release data)"
    if report.libyears_known < report.pinned:
        return f"{report.libyears} libyears ({report.libyears_known} of {report.pinned} packages)"
    return f"{report.libyears} libyears"


def dumps(data: dict[str, object]) -> str:
    return json.dumps(data, indent=2, sort_keys=False)
