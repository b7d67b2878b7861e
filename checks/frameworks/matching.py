"""Which advisories affect an installed version: the OSV schema's algorithm, locally.

A version is affected by an `affected[]` entry when it is in its explicit
`versions` list or inside one of its ECOSYSTEM ranges. The `versions` list is
text: an installed version that is written there matches whether or not PEP 440
can parse it ("1.0-beta-x", "2019.1.1-custom"); where both parse, PEP 440
equality also counts ("1.0" is "1.0.0"). A range is evaluated as the OSV spec's
pseudocode does: events sorted by PEP 440 version ("0" first), `introduced`
turns affected on at its version, `fixed` off at its version, `last_affected`
off just above it; a `limit` bounds the range from above. GIT ranges (commit
hashes) cannot be compared with a release version and are left to the `versions`
list, which the databases fill from them; so is an installed version that is not
PEP 440.

Records that are one vulnerability become one `Vulnerability` (see
`group_records`); withdrawn records are ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from checks.frameworks.advisories import ECOSYSTEM, Advisory, Affected
from checks.frameworks.severity import AdvisorySeverity, Rating, database_word, rate, severity_rank

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
    # The explicit list as written, and those of its versions PEP 440 parses.
    versions: frozenset[str]
    parsed_versions: frozenset[Version]
    # Ranges with a version that is not PEP 440 are skipped; counted for the report.
    skipped_ranges: int

    def affects(self, version: Version | None, raw: str) -> bool:
        if raw in self.versions or (version is not None and version in self.parsed_versions):
            return True
        return version is not None and self.affects_by_ranges(version)

    def affects_by_ranges(self, version: Version) -> bool:
        return any(r.affects(version) for r in self.ranges)

    def fix_for(self, version: Version | None) -> Version | None:
        if version is None:
            return None
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
    listed = frozenset(affected.versions)
    parsed_listed = frozenset(p for v in listed if (p := parse_version(v)) is not None)
    return _CompiledAffected(tuple(ranges), listed, parsed_listed, skipped)


def affects_by_ranges(affected: Affected, version: str) -> bool:
    """Whether the ranges alone (not the versions list) put `version` in this entry."""
    parsed = parse_version(version)
    return parsed is not None and compile_affected(affected).affects_by_ranges(parsed)


# --------------------------------------------------------------------------- grouping


def _names(record: Advisory) -> tuple[str, ...]:
    return (record.id, *record.aliases)


def _cves(record: Advisory) -> frozenset[str]:
    return frozenset(n for n in _names(record) if n.startswith("CVE-"))


@dataclass(frozen=True, kw_only=True)
class RecordGroup:
    """Records that are one vulnerability; `related` are ids of broader records it is part of."""

    records: tuple[Advisory, ...]
    related: tuple[str, ...] = ()


def group_records(records: Iterable[Advisory]) -> list[RecordGroup]:
    """Live records grouped into vulnerabilities: one advisory, once.

    A CVE id names one vulnerability, so records naming the same CVE (as id or
    alias) are one group, and two different CVEs never share one: aliases are not
    transitive. A GHSA that two CVE records both list (an advisory that "extends"
    another, as Zope's CVE-2021-32633 and CVE-2021-32674 do) leaves them two
    vulnerabilities, each with its own fixed versions.

    - Records naming no CVE join through the ids they share (PYSEC and GHSA alias
      each other); such a cluster folds into the one CVE group it shares an id
      with, and stays on its own when it shares ids with none, or with several
      (it cannot be told which it is).
    - A record naming several CVEs (a GHSA covering two) is a summary of those
      vulnerabilities: when each of its CVEs has a group, it folds into none of
      them, its id is listed with each as related and its ranges are not matched
      twice; otherwise it stands as its own vulnerability.
    """
    live = sorted((r for r in records if r.withdrawn is None), key=lambda r: r.id)
    by_cve: dict[str, list[Advisory]] = {}
    plain: list[Advisory] = []
    broad: list[Advisory] = []
    for record in live:
        cves = _cves(record)
        if len(cves) == 1:
            by_cve.setdefault(next(iter(cves)), []).append(record)
        elif cves:
            broad.append(record)
        else:
            plain.append(record)
    cve_of_name: dict[str, set[str]] = {}
    for cve, members in by_cve.items():
        for record in members:
            for name in _names(record):
                cve_of_name.setdefault(name, set()).add(cve)
    groups: dict[str, list[Advisory]] = {cve: list(members) for cve, members in by_cve.items()}
    alone: list[list[Advisory]] = []
    for cluster in _clusters(plain):
        linked = {c for r in cluster for n in _names(r) for c in cve_of_name.get(n, ())}
        if len(linked) == 1:
            groups[linked.pop()].extend(cluster)
        else:
            alone.append(cluster)
    related: dict[str, list[str]] = {}
    for record in broad:
        cves = _cves(record)
        if all(c in groups for c in cves):
            for cve in cves:
                related.setdefault(cve, []).append(record.id)
        else:
            alone.append([record])
    result = [
        RecordGroup(records=tuple(members), related=tuple(related.get(cve, ())))
        for cve, members in sorted(groups.items())
    ]
    result.extend(RecordGroup(records=tuple(members)) for members in alone)
    return result


def _clusters(records: Sequence[Advisory]) -> list[list[Advisory]]:
    """Records joined through any id they share (connected components)."""
    parent = list(range(len(records)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[str, int] = {}
    for i, record in enumerate(records):
        for name in _names(record):
            j = first.setdefault(name, i)
            parent[find(i)] = find(j)
    clusters: dict[int, list[Advisory]] = {}
    for i, record in enumerate(records):
        clusters.setdefault(find(i), []).append(record)
    return list(clusters.values())


# --------------------------------------------------------------------------- index


@dataclass(frozen=True, kw_only=True)
class Vulnerability:
    """Records that are one vulnerability, merged: one id shown, every id kept."""

    id: str
    ids: tuple[str, ...]
    summary: str
    # The CVSS base score and its vector, where one scored; else None (never 0).
    score: float | None
    severity: AdvisorySeverity
    vector: str | None
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


def rating_of(records: Iterable[Advisory]) -> Rating:
    """The severity of one vulnerability from its records (record and affected[] level)."""
    vectors: list[tuple[str, str]] = []
    words: list[AdvisorySeverity] = []
    for record in records:
        vectors.extend(record.severity)
        places = [record.database_specific]
        for affected in record.affected:
            vectors.extend(affected.severity)
            places.append(affected.database_specific)
        words.extend(w for place in places if (w := database_word(place)) is not None)
    return rate(vectors, words)


def severity_key(vulnerability: Vulnerability) -> tuple[int, float, str]:
    """Most severe first: by rating, then score, then id."""
    score = vulnerability.score if vulnerability.score is not None else -1.0
    return severity_rank(vulnerability.severity), -score, vulnerability.id


class AdvisoryIndex:
    """Compiled advisories by normalized package name; built once, matched many times."""

    def __init__(self, records: Iterable[Advisory]) -> None:
        held = list(records)
        groups = group_records(held)
        self._entries: dict[str, list[tuple[Vulnerability, list[_CompiledAffected]]]] = {}
        self.skipped_ranges = 0
        self.records = sum(1 for r in held if r.withdrawn is None)
        for group in groups:
            members = group.records
            ids = sorted({i for r in members for i in _names(r)} | set(group.related))
            rating = rating_of(members)
            vuln = Vulnerability(
                id=_primary(r.id for r in members),
                ids=tuple(ids),
                summary=next((r.summary for r in members if r.summary), members[0].details[:200]),
                score=rating.score,
                severity=rating.severity,
                vector=rating.vector,
                records=members,
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
        """The vulnerabilities affecting `package` at `version`, most severe first.

        A version PEP 440 cannot parse is matched against the `versions` lists only,
        and its fix is unknown.
        """
        entries = self._entries.get(canonicalize_name(package))
        if not entries:
            return []
        parsed = parse_version(version)
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
        matches.sort(key=lambda m: severity_key(m.vulnerability))
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
