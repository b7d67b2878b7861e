"""Findings per (environment, package) and the version to upgrade to.

Kinds: vulnerable (ids, severity, fix), yanked, outdated (a framework past
its cadence, below), major_behind, minor_behind, stale (installed release older
than the configured maximum; for frameworks the security cadence says it),
Python or torch CUDA / Python out of support, unpinned (a requirement without
an exact pin, which cannot be checked) and source_unavailable (an index or OSV
outage: the run goes on with what the cache holds). Libyears: the time between
the installed release and the newest stable one, summed per environment over
the packages whose releases are known; unknown (None) when none is.

The cadence policy follows the usual advice for ML stacks: take a framework's
new release within the security cadence (12 months), and do not stay on an old
major once a newer one has been out for the major cadence (3 years). Each
outdated finding names the rule that fired.

The recommended target is the smallest stable release that clears every
advisory not ignored (when the package is vulnerable; the newest such release
otherwise), honouring the environment's Python via requires-python.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from checks.frameworks.inventory import Inventory, Package
from checks.frameworks.kinds import ACTIONABLE as ACTIONABLE
from checks.frameworks.kinds import KIND_RULE as KIND_RULE
from checks.frameworks.kinds import FindingKind as FindingKind
from checks.frameworks.kinds import Rule as Rule
from checks.frameworks.matching import AdvisoryIndex, Match, parse_version
from checks.frameworks.releases import ReleaseInfo
from checks.frameworks.support import SupportData, python_problems, torch_problems

_YEAR_S = 365.25 * 86400
_MONTH_DAYS = 30.44

# The frameworks the cadence policy watches; a config adds its own to these.
FRAMEWORKS = frozenset(
    {
        "torch",
        "tensorflow",
        "jax",
        "scikit-learn",
        "xgboost",
        "lightgbm",
        "onnx",
        "onnxruntime",
        "transformers",
        "mlflow",
        "numpy",
        "pandas",
    }
)


@dataclass(frozen=True, kw_only=True)
class IgnoreRule:
    """Silence an advisory id/alias or a finding kind, optionally for one package, until a date."""

    id: str
    reason: str
    until: date | None = None
    package: str | None = None

    def applies(self, ids: Sequence[str], package: str, today: date) -> bool:
        if self.until is not None and today > self.until:
            return False
        if self.package is not None and self.package != package:
            return False
        return self.id in ids


@dataclass(frozen=True, kw_only=True)
class Policy:
    max_release_age_days: int = 365
    frameworks: frozenset[str] = FRAMEWORKS
    security_cadence_months: int = 12
    major_cadence_years: int = 3
    ignores: tuple[IgnoreRule, ...] = ()

    def ignored(self, ids: Sequence[str], package: str, today: date) -> str | None:
        for rule in self.ignores:
            if rule.applies(ids, package, today):
                until = f" (until {rule.until.isoformat()})" if rule.until else ""
                return f"{rule.reason}{until}"
        return None


@dataclass(frozen=True, kw_only=True)
class PackageFinding:
    environment: str
    package: str
    installed: str
    kind: FindingKind
    # Vulnerable: the advisory's severity (checks/frameworks/severity.py's words:
    # "critical" ... "low", "none", "unknown"); otherwise "warning" or "info".
    severity: str
    detail: str
    advisory_ids: tuple[str, ...] = ()
    # The CVSS base score and the vector it comes from; None when none scored.
    score: float | None = None
    vector: str | None = None
    fixed: str | None = None
    recommended: str | None = None
    ignored_reason: str | None = None
    # The cadence an OUTDATED finding breaks; other kinds have one rule each (KIND_RULE).
    cadence: Rule | None = None

    @property
    def rule(self) -> Rule:
        """Which rule fired: the finding's cadence, else its kind's rule."""
        if self.cadence is not None:
            return self.cadence
        rule = KIND_RULE.get(self.kind)
        if rule is None:
            raise ValueError(f"a {self.kind.value} finding names no cadence rule")
        return rule

    @property
    def subject(self) -> str:
        """What an alert is about: one advisory of one package, or a package's kind."""
        if self.kind is FindingKind.VULNERABLE and self.advisory_ids:
            return f"{self.package}:{self.advisory_ids[0]}"
        return f"{self.package}:{self.kind.value}"

    @property
    def actionable(self) -> bool:
        return self.ignored_reason is None and self.kind in ACTIONABLE


@dataclass(frozen=True, kw_only=True)
class PackageStatus:
    name: str
    installed: str | None
    latest: str | None
    recommended: str | None
    uploaded: datetime | None
    libyears: float | None
    vulnerabilities: int


@dataclass(frozen=True, kw_only=True)
class EnvironmentReport:
    environment: str
    source: str
    target: str
    python_version: str | None
    scanned_at: datetime
    packages: tuple[PackageStatus, ...]
    findings: tuple[PackageFinding, ...]
    # Summed over the packages whose libyears are known; None when none is.
    libyears: float | None
    support: str
    advisories: str
    # Where the release data came from and how old it is ("" when not said).
    release_data: str = ""

    @property
    def libyears_known(self) -> int:
        """How many pinned packages the libyears total covers."""
        return sum(1 for p in self.packages if p.libyears is not None)

    @property
    def pinned(self) -> int:
        return sum(1 for p in self.packages if p.installed is not None)

    @property
    def actionable(self) -> tuple[PackageFinding, ...]:
        return tuple(f for f in self.findings if f.actionable)


def _python_ok(spec: str | None, python: str | None) -> bool:
    if not spec or not python:
        return True
    try:
        return Version(python) in SpecifierSet(spec)
    except (InvalidSpecifier, InvalidVersion):
        return True


def recommend(
    package: str,
    installed: Version,
    index: AdvisoryIndex,
    info: ReleaseInfo | None,
    python: str | None,
    ignored_ids: frozenset[str],
    *,
    smallest: bool,
) -> str | None:
    """The first (or last) release above `installed` that no live advisory affects.

    Without index data the advisories' own fixed versions are the candidates.
    """

    def clears(version: str) -> bool:
        return all(set(m.vulnerability.ids) & ignored_ids for m in index.match(package, version))

    if info is not None:
        candidates = [
            str(v)
            for v, r in info.stable()
            if v >= installed and _python_ok(r.requires_python, python)
        ]
    else:
        candidates = [v for v in index.fix_candidates(package) if Version(v) > installed]
    ordered = candidates if smallest else list(reversed(candidates))
    return next((c for c in ordered if clears(c)), None)


def evaluate(
    inventory: Inventory,
    index: AdvisoryIndex,
    releases: Mapping[str, ReleaseInfo],
    support: SupportData,
    policy: Policy,
    now: datetime,
    *,
    unavailable: Sequence[str] = (),
    advisories_note: str = "",
    release_note: str = "",
) -> EnvironmentReport:
    """All findings for one environment. `releases` holds what the index (or cache) gave."""
    env = inventory.environment
    today = now.date()
    findings: list[PackageFinding] = [
        PackageFinding(
            environment=env,
            package="*",
            installed="",
            kind=FindingKind.SOURCE_UNAVAILABLE,
            severity="warning",
            detail=reason,
        )
        for reason in unavailable
    ]
    statuses: list[PackageStatus] = []
    for package in inventory.packages:
        status, found = _package(inventory, package, index, releases.get(package.name), policy, now)
        statuses.append(status)
        findings.extend(found)
    support_found: list[tuple[str, str, str, bool]] = []
    if inventory.python_version:
        for p in python_problems(inventory.python_version, support, today):
            support_found.append((p.kind, p.subject, p.detail, p.warning))
    torch = next((p for p in inventory.packages if p.name == "torch" and p.version), None)
    if torch is not None and torch.version is not None:
        for p in torch_problems(torch.version, torch.local, inventory.python_version, support):
            support_found.append((p.kind, p.subject, p.detail, p.warning))
    for kind, subject, detail, warning in support_found:
        installed = (
            inventory.python_version if subject == "python" else (torch.version if torch else "")
        )
        findings.append(
            PackageFinding(
                environment=env,
                package=subject,
                installed=installed or "",
                kind=FindingKind(kind),
                severity="warning" if warning else "info",
                detail=detail,
                ignored_reason=policy.ignored([kind], subject, today),
            )
        )
    return EnvironmentReport(
        environment=env,
        source=inventory.source.value,
        target=inventory.target,
        python_version=inventory.python_version,
        scanned_at=now,
        packages=tuple(statuses),
        findings=tuple(findings),
        libyears=_total_libyears(statuses),
        support=support.describe(today),
        advisories=advisories_note,
        release_data=release_note,
    )


def _total_libyears(statuses: Sequence[PackageStatus]) -> float | None:
    known = [s.libyears for s in statuses if s.libyears is not None]
    return round(sum(known), 2) if known else None


def _age(days: float) -> str:
    if days >= 365.25:
        return f"{days / 365.25:.1f} years"
    return f"{days / _MONTH_DAYS:.0f} months"


def cadence_rules(
    installed: Version, info: ReleaseInfo, policy: Policy, now: datetime
) -> list[tuple[Rule, str]]:
    """The cadence rules an installed framework release breaks, each said with its dates."""
    release = info.get(str(installed))
    stable = info.stable()
    rules = []
    newer = [r for v, r in stable if v > installed]
    if release is not None and release.uploaded is not None and newer:
        age = (now - release.uploaded).total_seconds() / 86400
        if age > policy.security_cadence_months * _MONTH_DAYS:
            rules.append(
                (
                    Rule.SECURITY_CADENCE,
                    f"security cadence: released {release.uploaded.date().isoformat()}, "
                    f"{_age(age)} old > {policy.security_cadence_months} months",
                )
            )
    # The first release of any newer major: how long the installed major has been behind.
    majors = [
        (r.uploaded, v) for v, r in stable if v.major > installed.major and r.uploaded is not None
    ]
    if majors:
        since, first = min(majors)
        behind = (now - since).total_seconds() / 86400
        if behind > policy.major_cadence_years * 365.25:
            rules.append(
                (
                    Rule.MAJOR_CADENCE,
                    f"major cadence: {first.major}.x out since {since.date().isoformat()} "
                    f"({first}), {_age(behind)} ago > {policy.major_cadence_years} years",
                )
            )
    return rules


def _package(
    inventory: Inventory,
    package: Package,
    index: AdvisoryIndex,
    info: ReleaseInfo | None,
    policy: Policy,
    now: datetime,
) -> tuple[PackageStatus, list[PackageFinding]]:
    env, name, today = inventory.environment, package.name, now.date()
    if package.version is None:
        finding = PackageFinding(
            environment=env,
            package=name,
            installed="",
            kind=FindingKind.UNPINNED,
            severity="info",
            detail=f"not pinned ({package.spec}): cannot be checked against advisories",
            ignored_reason=policy.ignored([FindingKind.UNPINNED.value], name, today),
        )
        status = PackageStatus(
            name=name,
            installed=None,
            latest=None,
            recommended=None,
            uploaded=None,
            libyears=None,
            vulnerabilities=0,
        )
        return status, [finding]
    installed = package.version
    parsed = parse_version(installed)
    matches: list[Match] = index.match(name, installed)
    ignored: dict[str, str] = {}
    for m in matches:
        reason = policy.ignored(m.vulnerability.ids, name, today)
        if reason is not None:
            ignored[m.vulnerability.id] = reason
    ignored_ids = frozenset(
        i for m in matches if m.vulnerability.id in ignored for i in m.vulnerability.ids
    )
    live = [m for m in matches if m.vulnerability.id not in ignored]
    latest = info.latest() if info else None
    release = info.get(installed) if info else None
    recommended = None
    if parsed is not None and (live or (latest and latest[0] > parsed)):
        recommended = recommend(
            name, parsed, index, info, inventory.python_version, ignored_ids, smallest=bool(live)
        )
    findings = [
        PackageFinding(
            environment=env,
            package=name,
            installed=installed,
            kind=FindingKind.VULNERABLE,
            severity=m.vulnerability.severity,
            score=m.vulnerability.score,
            vector=m.vulnerability.vector,
            detail=m.vulnerability.summary or m.vulnerability.id,
            advisory_ids=(
                m.vulnerability.id,
                *(i for i in m.vulnerability.ids if i != m.vulnerability.id),
            ),
            fixed=m.fixed,
            recommended=recommended,
            ignored_reason=ignored.get(m.vulnerability.id),
        )
        for m in matches
    ]

    def other(
        kind: FindingKind, severity: str, detail: str, cadence: Rule | None = None
    ) -> PackageFinding:
        return PackageFinding(
            environment=env,
            package=name,
            installed=installed,
            kind=kind,
            severity=severity,
            detail=detail,
            recommended=recommended,
            ignored_reason=policy.ignored([kind.value], name, today),
            cadence=cadence,
        )

    libyears = None
    framework = name in policy.frameworks
    if framework and parsed is not None and info is not None:
        # One finding per rule fired, each saying which rule it is.
        findings.extend(
            other(FindingKind.OUTDATED, "warning", text, rule)
            for rule, text in cadence_rules(parsed, info, policy, now)
        )
    if release is not None and release.yanked:
        reason = f": {release.yanked_reason}" if release.yanked_reason else ""
        findings.append(other(FindingKind.YANKED, "warning", f"{installed} was yanked{reason}"))
    if parsed is not None and latest is not None and latest[0] > parsed:
        newest, newest_release = latest
        if newest.major > parsed.major:
            findings.append(
                other(
                    FindingKind.MAJOR_BEHIND,
                    "warning",
                    f"{newest.major - parsed.major} major version(s) behind {newest}",
                )
            )
        elif newest.minor > parsed.minor:
            findings.append(
                other(
                    FindingKind.MINOR_BEHIND,
                    "info",
                    f"{newest.minor - parsed.minor} minor version(s) behind {newest}",
                )
            )
        if release is not None and release.uploaded and newest_release.uploaded:
            delta = (newest_release.uploaded - release.uploaded).total_seconds()
            libyears = round(max(delta, 0.0) / _YEAR_S, 2)
    elif latest is not None:
        libyears = 0.0
    # For a framework the security cadence is this rule, said with its dates.
    if not framework and release is not None and release.uploaded is not None:
        age = (now - release.uploaded).days
        if age > policy.max_release_age_days:
            findings.append(
                other(
                    FindingKind.STALE,
                    "info",
                    f"installed release is {age} days old (max {policy.max_release_age_days})",
                )
            )
    status = PackageStatus(
        name=name,
        installed=installed,
        latest=str(latest[0]) if latest else None,
        recommended=recommended,
        uploaded=release.uploaded if release else None,
        libyears=libyears,
        vulnerabilities=len(live),
    )
    return status, findings
