"""Advisories: the OSV record as our one internal model, and where records come from.

Records are read from a directory, a zip or a JSON file of OSV records (JSON, or
the YAML of the PyPA advisory database), synced from an OSV export (`all.zip`
plus `modified_id.csv`, one ecosystem folder) and queried online with OSV's
`/v1/querybatch`. Only the PyPI ecosystem matters here; other ecosystems' entries
are kept in the record but never matched.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from packaging.utils import canonicalize_name

from checks.frameworks import AdvisoryFormatError, SourceUnavailable

ECOSYSTEM = "PyPI"
_RECORD_SUFFIXES = (".json", ".yaml", ".yml")


@dataclass(frozen=True, kw_only=True)
class Event:
    """One range event: "introduced", "fixed", "last_affected" or "limit"."""

    kind: str
    version: str


@dataclass(frozen=True, kw_only=True)
class Range:
    type: str
    events: tuple[Event, ...]


@dataclass(frozen=True, kw_only=True)
class Affected:
    ecosystem: str
    # Normalized per PEP 503 for PyPI, as given otherwise.
    package: str
    ranges: tuple[Range, ...] = ()
    versions: tuple[str, ...] = ()
    severity: tuple[tuple[str, str], ...] = ()
    database_specific: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Advisory:
    id: str
    modified: datetime
    published: datetime | None = None
    withdrawn: datetime | None = None
    aliases: tuple[str, ...] = ()
    summary: str = ""
    details: str = ""
    # (type, score): "CVSS_V3", "CVSS:3.1/AV:N/..."
    severity: tuple[tuple[str, str], ...] = ()
    affected: tuple[Affected, ...] = ()
    database_specific: Mapping[str, object] = field(default_factory=dict)
    references: tuple[str, ...] = ()
    # The record as read, kept whole for the store.
    raw: Mapping[str, object] = field(default_factory=dict, repr=False, compare=False)

    @property
    def packages(self) -> tuple[str, ...]:
        """The PyPI packages this record names, normalized, sorted."""
        return tuple(sorted({a.package for a in self.affected if a.ecosystem == ECOSYSTEM}))


def parse_time(value: object, origin: str, key: str) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        raise AdvisoryFormatError(origin, f"{key}: expected an RFC 3339 time, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise AdvisoryFormatError(
            origin, f"{key}: expected an RFC 3339 time, got {value!r}"
        ) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _severity(items: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(items, list):
        return ()
    return tuple(
        (str(s["type"]), str(s["score"]))
        for s in items
        if isinstance(s, dict) and "type" in s and "score" in s
    )


def _mapping(value: object) -> dict[str, object]:
    return {str(k): v for k, v in value.items()} if isinstance(value, dict) else {}


def _affected(item: object, origin: str) -> Affected:
    if not isinstance(item, dict) or not isinstance(item.get("package"), dict):
        raise AdvisoryFormatError(origin, "affected[]: each entry needs a 'package'")
    package = item["package"]
    ecosystem = str(package.get("ecosystem", ""))
    name = str(package.get("name", ""))
    ranges = []
    for r in item.get("ranges") or ():
        if not isinstance(r, dict):
            raise AdvisoryFormatError(origin, "affected[].ranges[]: expected a mapping")
        events = []
        for e in r.get("events") or ():
            if not isinstance(e, dict) or len(e) != 1:
                raise AdvisoryFormatError(origin, f"range event must have one key, got {e!r}")
            ((kind, version),) = e.items()
            events.append(Event(kind=str(kind), version=str(version)))
        ranges.append(Range(type=str(r.get("type", "")), events=tuple(events)))
    # The ecosystem may carry a suffix ("PyPI:..."); the base name is what counts.
    base = ecosystem.split(":", 1)[0]
    return Affected(
        ecosystem=base,
        package=canonicalize_name(name) if base == ECOSYSTEM else name,
        ranges=tuple(ranges),
        versions=tuple(str(v) for v in item.get("versions") or ()),
        severity=_severity(item.get("severity")),
        database_specific=_mapping(item.get("database_specific")),
    )


def parse_record(data: object, origin: str = "<record>") -> Advisory:
    """One OSV record (already decoded from JSON or YAML) as an Advisory."""
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        raise AdvisoryFormatError(origin, "expected a mapping with an 'id'")
    record = {str(k): v for k, v in data.items()}
    published = record.get("published")
    withdrawn = record.get("withdrawn")
    references = record.get("references") or ()
    return Advisory(
        id=str(record["id"]),
        modified=parse_time(record.get("modified"), origin, "modified"),
        published=None if published is None else parse_time(published, origin, "published"),
        withdrawn=None if withdrawn is None else parse_time(withdrawn, origin, "withdrawn"),
        aliases=tuple(str(a) for a in record.get("aliases") or ()),
        summary=str(record.get("summary") or ""),
        details=str(record.get("details") or ""),
        severity=_severity(record.get("severity")),
        affected=tuple(_affected(a, origin) for a in record.get("affected") or ()),
        database_specific=_mapping(record.get("database_specific")),
        references=tuple(str(r["url"]) for r in references if isinstance(r, dict) and "url" in r),
        raw=_json_safe(record),
    )


def _json_safe(value: object) -> dict[str, object]:
    """YAML gives datetimes for unquoted times; the stored record must be plain JSON."""
    result = json.loads(json.dumps(value, default=_isoformat))
    return result if isinstance(result, dict) else {}


def _isoformat(value: object) -> str:
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.isoformat().replace("+00:00", "Z")
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def decode(payload: bytes, name: str) -> list[Advisory]:
    """Records from one file's bytes: a JSON record, a JSON list of records, or YAML."""
    try:
        if name.endswith((".yaml", ".yml")):
            import yaml

            # libyaml's loader is ~10x faster; the full PyPA database is 2,600+ files.
            loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
            data: object = yaml.load(payload, Loader=loader)
        else:
            data = json.loads(payload)
    except Exception as exc:  # yaml.YAMLError, json.JSONDecodeError, UnicodeDecodeError
        raise AdvisoryFormatError(name, f"cannot decode: {exc}") from exc
    if isinstance(data, list):
        return [parse_record(item, f"{name}[{i}]") for i, item in enumerate(data)]
    return [parse_record(data, name)]


def _zip_records(archive: zipfile.ZipFile, origin: str) -> Iterator[Advisory]:
    for info in archive.infolist():
        if info.is_dir() or not info.filename.endswith(_RECORD_SUFFIXES):
            continue
        try:
            payload = archive.read(info)
        except (zipfile.BadZipFile, EOFError, OSError) as exc:
            raise AdvisoryFormatError(f"{origin}:{info.filename}", f"corrupt: {exc}") from exc
        yield from decode(payload, f"{origin}:{info.filename}")


def load_path(path: Path) -> list[Advisory]:
    """Every record under a directory (recursive), in a zip, or in one JSON/YAML file."""
    if path.is_dir():
        records: list[Advisory] = []
        for file in sorted(path.rglob("*")):
            if file.is_file() and file.suffix in _RECORD_SUFFIXES:
                records.extend(decode(file.read_bytes(), str(file)))
        return records
    if not path.exists():
        raise AdvisoryFormatError(str(path), "no such file or directory")
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                return list(_zip_records(archive, str(path)))
        except zipfile.BadZipFile as exc:
            raise AdvisoryFormatError(str(path), f"corrupt zip: {exc}") from exc
    return decode(path.read_bytes(), str(path))


def load_zip_bytes(payload: bytes, origin: str) -> list[Advisory]:
    try:
        with zipfile.ZipFile(io.BytesIO(payload)) as archive:
            return list(_zip_records(archive, origin))
    except zipfile.BadZipFile as exc:
        raise AdvisoryFormatError(origin, f"corrupt zip: {exc}") from exc


# --------------------------------------------------------------------------- OSV export


@dataclass(frozen=True, kw_only=True)
class SyncResult:
    # Records new or changed since the known state.
    records: tuple[Advisory, ...]
    # True when the whole export (all.zip) was read.
    full: bool
    # Ids listed in modified_id.csv (empty after a full download).
    listed: int = 0


def _get(client: httpx.Client, url: str, source: str) -> httpx.Response:
    try:
        response = client.get(url)
    except httpx.HTTPError as exc:
        raise SourceUnavailable(source, f"{type(exc).__name__} on GET {url}") from exc
    if response.status_code != 200:
        raise SourceUnavailable(source, f"HTTP {response.status_code} on GET {url}")
    return response


def parse_modified_csv(text: str) -> dict[str, datetime]:
    """`modified_id.csv`: "<RFC 3339 modified>,<id>" per line, newest first.

    The root-level file prefixes ids with the ecosystem folder ("PyPI/PYSEC-..."),
    which is dropped.
    """
    result: dict[str, datetime] = {}
    for row in csv.reader(io.StringIO(text)):
        if len(row) != 2:
            continue
        ident = row[1].strip().rsplit("/", 1)[-1]
        result[ident] = parse_time(row[0].strip(), "modified_id.csv", ident)
    return result


def sync_export(
    client: httpx.Client,
    base_url: str,
    known: Mapping[str, datetime],
    *,
    max_incremental: int = 500,
) -> SyncResult:
    """Records changed since `known` (id -> modified) from an OSV export folder.

    `base_url` is the ecosystem folder, e.g. https://osv-vulnerabilities.storage.
    googleapis.com/PyPI. With nothing known, or more than `max_incremental` changes,
    the whole all.zip is read; otherwise each changed record is fetched alone.
    Any failure (unreachable, HTTP error, malformed CSV or JSON, truncated zip)
    raises SourceUnavailable, so a half-read export never reaches the store.
    """
    base = base_url.rstrip("/")
    source = f"OSV export {base}"
    if known:
        text = _get(client, f"{base}/modified_id.csv", source).text
        try:
            listed = parse_modified_csv(text)
        except AdvisoryFormatError as exc:
            raise SourceUnavailable(source, f"malformed modified_id.csv: {exc}") from exc
        changed = [i for i, m in listed.items() if i not in known or m > known[i]]
        if len(changed) <= max_incremental:
            records = []
            for ident in sorted(changed):
                response = _get(client, f"{base}/{ident}.json", source)
                try:
                    records.extend(decode(response.content, f"{ident}.json"))
                except AdvisoryFormatError as exc:
                    raise SourceUnavailable(source, str(exc)) from exc
            return SyncResult(records=tuple(records), full=False, listed=len(listed))
    payload = _get(client, f"{base}/all.zip", source).content
    try:
        records = load_zip_bytes(payload, f"{base}/all.zip")
    except AdvisoryFormatError as exc:
        raise SourceUnavailable(source, str(exc)) from exc
    fresh = [r for r in records if r.id not in known or r.modified > known[r.id]]
    return SyncResult(records=tuple(fresh), full=True)


# --------------------------------------------------------------------------- OSV API

_BATCH = 1000


def query_batch(
    client: httpx.Client,
    osv_url: str,
    packages: Sequence[tuple[str, str]],
    have: Mapping[str, datetime] | None = None,
    *,
    max_pages: int = 10,
) -> list[Advisory]:
    """Advisories OSV's API lists for (package, version) pairs, full records fetched.

    `have` (id -> modified) are records already held: only new or newer ones are
    fetched from /v1/vulns/{id}. Pagination tokens are followed at most
    `max_pages` times per batch so a misbehaving server cannot loop us forever.
    """
    base = osv_url.rstrip("/")
    source = f"OSV API {base}"
    have = have or {}
    wanted: dict[str, datetime | None] = {}
    for start in range(0, len(packages), _BATCH):
        queries: list[dict[str, object]] = [
            {"package": {"name": name, "ecosystem": ECOSYSTEM}, "version": version}
            for name, version in packages[start : start + _BATCH]
        ]
        for _ in range(max_pages):
            if not queries:
                break
            try:
                response = client.post(f"{base}/v1/querybatch", json={"queries": queries})
            except httpx.HTTPError as exc:
                raise SourceUnavailable(source, f"{type(exc).__name__} on querybatch") from exc
            if response.status_code != 200:
                raise SourceUnavailable(source, f"HTTP {response.status_code} on querybatch")
            results = _results(response, source, len(queries))
            follow: list[dict[str, object]] = []
            for query, result in zip(queries, results, strict=True):
                vulns = result.get("vulns")
                for vuln in vulns if isinstance(vulns, list) else ():
                    if isinstance(vuln, dict) and isinstance(vuln.get("id"), str):
                        modified = vuln.get("modified")
                        wanted[vuln["id"]] = (
                            parse_time(modified, source, "modified") if modified else None
                        )
                token = result.get("next_page_token")
                if token:
                    follow.append({**query, "page_token": token})
            queries = follow
    records = []
    for ident, modified in sorted(wanted.items()):
        if ident in have and modified is not None and modified <= have[ident]:
            continue
        response = _get(client, f"{base}/v1/vulns/{ident}", source)
        try:
            records.append(parse_record(response.json(), f"{source}/v1/vulns/{ident}"))
        except (ValueError, AdvisoryFormatError) as exc:
            raise SourceUnavailable(source, f"malformed record {ident}: {exc}") from exc
    return records


def _results(response: httpx.Response, source: str, expected: int) -> list[dict[str, object]]:
    try:
        body = response.json()
    except ValueError as exc:
        raise SourceUnavailable(source, "malformed JSON from querybatch") from exc
    results = body.get("results") if isinstance(body, dict) else None
    if not isinstance(results, list) or len(results) != expected:
        raise SourceUnavailable(source, f"querybatch answered {results!r:.80} for {expected}")
    return [r if isinstance(r, dict) else {} for r in results]


def by_id(records: Iterable[Advisory]) -> dict[str, Advisory]:
    """The newest record per id (an export and a sync can both hold one)."""
    result: dict[str, Advisory] = {}
    for record in records:
        held = result.get(record.id)
        if held is None or record.modified >= held.modified:
            result[record.id] = record
    return result
