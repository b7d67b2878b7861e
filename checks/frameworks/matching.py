"""Which advisories affect an installed version: the OSV schema's algorithm, locally.

A version is affected by an `affected[]` entry when it is in its explicit
`versions` list or inside one of its ECOSYSTEM ranges. A range is evaluated as
the OSV spec's pseudocode does: events sorted by PEP 440 version ("0" first),
`introduced` turns affected on at its version, `fixed` off at its version,
`last_affected` off just above it; a `limit` bounds the range from above. GIT
ranges (commit hashes) cannot be compared with a release version and are left to
the `versions` list, which the databases fill from them.

Records that are aliases of one another (PYSEC, GHSA, CVE) become one
`Vulnerability`; withdrawn records are ignored.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from checks.frameworks.advisories import ECOSYSTEM, Advisory, Affected

_ZERO = Version("0")


@lru_cache(maxsize=65536)
def parse_version(text: str) -> Version | None:
    """A PEP 440 version, local label dropped for matching; None when not PEP 440."""
    try:
        version = Version(text)
    except InvalidVersion:
        return None
    return Version(version.public) if version.local else version


@dataclass(frozen=True, slots=True)
class _Event:
    kind: str
    version: Version


@dataclass(frozen=True, slots=True)
class _CompiledRange:
    events: tuple[_Event, ...]
    limits: tuple[Version, ...]

    def affects(self, version: Version) -> bool:
        if any(version >= limit for limit in self.limits):
            return False
        affected = False
        for event in self.events:
            if event.kind == "introduced":
                if version >= event.version:
                    affected = True
            elif event.kind == "fixed":
                if version >= event.version:
                    affected = False
            elif event.kind == "last_affected" and version > event.version:
                affected = False
        return affected

    def fix_for(self, version: Version) -> Version | None:
        """The first `fixed` event above an affected version: where this range ends."""
        for event in self.events:
            if event.kind == "fixed" and event.version > version:
                return event.version
        return None


@dataclass(frozen=True, slots=True)
class _CompiledAffected:
    ranges: tuple[_CompiledRange, ...]
    versions: frozenset[str]
    # Ranges with a version that is not PEP 440 are skipped; counted for the report.
    skipped_ranges: int

    def affects(self, version: Version, raw: str) -> bool:
        if raw in self.versions or str(version) in self.versions:
            return True
        return self.affects_by_ranges(version)

    def affects_by_ranges(self, version: Version) -> bool:
        return any(r.affects(version) for r in self.ranges)

    def fix_for(self, version: Version) -> Version | None:
        fixes = [
            fix
            for r in self.ranges
            if r.affects(version) and (fix := r.fix_for(version)) is not None
        ]
        return min(fixes) if fixes else None


def _event_key(event: _Event) -> tuple[Version, int]:
    # At one version, "introduced" first: the OSV evaluation order for equal versions.
    order = {"introduced": 0, "last_affected": 1, "fixed": 2, "limit": 3}
    return event.version, order.get(event.kind, 4)


def compile_affected(affected: Affected) -> _CompiledAffected:
    ranges = []
    skipped = 0
    for r in affected.ranges:
        if r.type not in ("ECOSYSTEM", "SEMVER"):
            continue
        events: list[_Event] = []
        limits: list[Version] = []
        ok = True
        for e in r.events:
            if e.kind == "limit" and e.version == "*":
                continue
            parsed = (
                _ZERO if e.kind == "introduced" and e.version == "0" else parse_version(e.version)
            )
            if parsed is None:
                ok = False
                break
            if e.kind == "limit":
                limits.append(parsed)
            else:
                events.append(_Event(e.kind, parsed))
        if not ok:
            skipped += 1
            continue
        ranges.append(_CompiledRange(tuple(sorted(events, key=_event_key)), tuple(limits)))
    return _CompiledAffected(tuple(ranges), frozenset(affected.versions), skipped)


def affects_by_ranges(affected: Affected, version: str) -> bool:
    """Whether the ranges alone (not the versions list) put `version` in this entry."""
    parsed = parse_version(version)
    return parsed is not None and compile_affected(affected).affects_by_ranges(parsed)


# --------------------------------------------------------------------------- severity

_V3 = {
    "AV": {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2},
    "AC": {"L": 0.77, "H": 0.44},
    "UI": {"N": 0.85, "R": 0.62},
    "CIA": {"H": 0.56, "L": 0.22, "N": 0.0},
}


def _roundup(value: float) -> float:
    # CVSS 3.1 Appendix A: round up to one decimal, robust to float noise.
    scaled = round(value * 100000)
    if scaled % 10000 == 0:
        return scaled / 100000.0
    return (math.floor(scaled / 10000) + 1) / 10.0


def cvss3_base_score(vector: str) -> float | None:
    """The CVSS v3.0/3.1 base score of a vector; None when it is not a v3 base vector."""
    parts = dict(p.split(":", 1) for p in vector.split("/")[1:] if ":" in p)
    if not vector.startswith("CVSS:3"):
        return None
    try:
        scope_changed = parts["S"] == "C"
        pr = {"N": 0.85, "L": 0.68 if scope_changed else 0.62, "H": 0.5 if scope_changed else 0.27}
        av, ac = _V3["AV"][parts["AV"]], _V3["AC"][parts["AC"]]
        ui, priv = _V3["UI"][parts["UI"]], pr[parts["PR"]]
        c, i, a = (_V3["CIA"][parts[k]] for k in ("C", "I", "A"))
    except KeyError:
        return None
    iss = 1 - (1 - c) * (1 - i) * (1 - a)
    impact = 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15 if scope_changed else 6.42 * iss
    exploitability = 8.22 * av * ac * priv * ui
    if impact <= 0:
        return 0.0
    total = impact + exploitability
    return _roundup(min(1.08 * total if scope_changed else total, 10.0))


def cvss2_base_score(vector: str) -> float | None:
    parts = dict(p.split(":", 1) for p in vector.split("/") if ":" in p)
    try:
        av = {"L": 0.395, "A": 0.646, "N": 1.0}[parts["AV"]]
        ac = {"H": 0.35, "M": 0.61, "L": 0.71}[parts["AC"]]
        au = {"M": 0.45, "S": 0.56, "N": 0.704}[parts["Au"]]
        c, i, a = ({"N": 0.0, "P": 0.275, "C": 0.660}[parts[k]] for k in ("C", "I", "A"))
    except KeyError:
        return None
    impact = 10.41 * (1 - (1 - c) * (1 - i) * (1 - a))
    exploitability = 20 * av * ac * au
    return round((0.6 * impact + 0.4 * exploitability - 1.5) * (0 if impact == 0 else 1.176), 1)


def label_for(score: float) -> str:
    if score >= 9.0:
        return "critical"
    if score >= 7.0:
        return "high"
    if score >= 4.0:
        return "medium"
    return "low" if score > 0 else "none"


_DB_LABELS = {"critical": "critical", "high": "high", "moderate": "medium", "medium": "medium"}


def severity_of(records: Iterable[Advisory]) -> tuple[float | None, str]:
    """The highest CVSS base score of the records, and its label.

    Without a scorable vector (CVSS v4 is not scored here) the database-specific
    label is used (GHSA's "severity": "HIGH"), else "unknown".
    """
    scores: list[float] = []
    labels: list[str] = []
    for record in records:
        entries = list(record.severity)
        for affected in record.affected:
            entries.extend(affected.severity)
            db_label = affected.database_specific.get("severity")
            if isinstance(db_label, str):
                labels.append(db_label.lower())
        for kind, vector in entries:
            score = (
                cvss3_base_score(vector)
                if kind == "CVSS_V3"
                else cvss2_base_score(vector)
                if kind == "CVSS_V2"
                else None
            )
            if score is not None:
                scores.append(score)
        db_label = record.database_specific.get("severity")
        if isinstance(db_label, str):
            labels.append(db_label.lower())
    if scores:
        best = max(scores)
        return best, label_for(best)
    order = ["critical", "high", "medium", "low"]
    mapped = sorted({_DB_LABELS.get(label, "low") for label in labels}, key=order.index)
    return None, mapped[0] if mapped else "unknown"


# --------------------------------------------------------------------------- index


@dataclass(frozen=True, kw_only=True)
class Vulnerability:
    """Records that alias one another, merged: one id shown, every id kept."""

    id: str
    ids: tuple[str, ...]
    summary: str
    score: float | None
    severity: str
    records: tuple[Advisory, ...]


@dataclass(frozen=True, kw_only=True)
class Match:
    vulnerability: Vulnerability
    # The smallest version that fixes every merged record's matching range, if known.
    fixed: str | None


_PREFERENCE = ("PYSEC-", "GHSA-", "CVE-")


def _primary(ids: Iterable[str]) -> str:
    def rank(ident: str) -> tuple[int, str]:
        for i, prefix in enumerate(_PREFERENCE):
            if ident.startswith(prefix):
                return i, ident
        return len(_PREFERENCE), ident

    return min(ids, key=rank)


class AdvisoryIndex:
    """Compiled advisories by normalized package name; built once, matched many times."""

    def __init__(self, records: Iterable[Advisory]) -> None:
        live = [r for r in records if r.withdrawn is None]
        parent: dict[str, str] = {}

        def find(x: str) -> str:
            parent.setdefault(x, x)
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for record in live:
            for alias in record.aliases:
                parent[find(alias)] = find(record.id)
        groups: dict[str, list[Advisory]] = {}
        for record in live:
            groups.setdefault(find(record.id), []).append(record)
        self._entries: dict[str, list[tuple[Vulnerability, list[_CompiledAffected]]]] = {}
        self.skipped_ranges = 0
        self.records = len(live)
        for members in groups.values():
            ids = sorted({i for r in members for i in (r.id, *r.aliases)})
            score, label = severity_of(members)
            vuln = Vulnerability(
                id=_primary(r.id for r in members),
                ids=tuple(ids),
                summary=next((r.summary for r in members if r.summary), members[0].details[:200]),
                score=score,
                severity=label,
                records=tuple(members),
            )
            per_package: dict[str, list[_CompiledAffected]] = {}
            for record in members:
                for affected in record.affected:
                    if affected.ecosystem != ECOSYSTEM:
                        continue
                    compiled = compile_affected(affected)
                    self.skipped_ranges += compiled.skipped_ranges
                    per_package.setdefault(affected.package, []).append(compiled)
            for package, compiled_list in per_package.items():
                self._entries.setdefault(package, []).append((vuln, compiled_list))

    def packages(self) -> frozenset[str]:
        return frozenset(self._entries)

    def match(self, package: str, version: str) -> list[Match]:
        """The vulnerabilities affecting `package` at `version`, most severe first."""
        entries = self._entries.get(canonicalize_name(package))
        parsed = parse_version(version)
        if not entries or parsed is None:
            return []
        matches = []
        for vuln, compiled_list in entries:
            hits = [c for c in compiled_list if c.affects(parsed, version)]
            if not hits:
                continue
            fixes = [c.fix_for(parsed) for c in hits]
            known = [f for f in fixes if f is not None]
            # Each matching record must be cleared: the highest of their first fixes.
            fixed = str(max(known)) if known and len(known) == len(fixes) else None
            matches.append(Match(vulnerability=vuln, fixed=fixed))
        matches.sort(key=lambda m: (-(m.vulnerability.score or 0.0), m.vulnerability.id))
        return matches

    def clears(self, package: str, version: str) -> bool:
        return not self.match(package, version)

    def fix_candidates(self, package: str) -> Sequence[str]:
        """Every `fixed` version any range of this package names, ascending."""
        found: set[Version] = set()
        for _, compiled_list in self._entries.get(canonicalize_name(package), ()):
            for compiled in compiled_list:
                for r in compiled.ranges:
                    found.update(e.version for e in r.events if e.kind == "fixed")
        return [str(v) for v in sorted(found)]
