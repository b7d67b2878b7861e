"""What the package index offers: versions, upload times, yanked flags, requires-python.

Two protocols, each with its own base URL so a private mirror works:
the JSON API (`{base}/pypi/{name}/json`, PyPI and warehouse mirrors) and the
PEP 691 JSON Simple API (`{base}/simple/{name}/`, with PEP 700's `upload-time`
and `versions`), which devpi, Artifactory, Nexus and plain static mirrors serve.
The default, `simple+json`, reads the Simple API and asks the JSON API only for
what a mirror's Simple pages lack (PEP 700 upload times), or for a package the
Simple API does not list. A release's upload time is its earliest file's; a
release is yanked when every file is (PEP 592). `ReleaseInfo` round-trips
through JSON for the store's cache and for the release histories the package
ships (data/release_history.json) for the demo's local index.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import httpx
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from checks.frameworks import FrameworkError, SourceUnavailable
from checks.frameworks.advisories import parse_time

CACHE_VERSION = 1
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
# Real PyPI release histories (versions, upload times, yanked flags) of a few
# packages, for the demo's local index and tests: see data/RELEASES.md.
SHIPPED_HISTORY = Path(__file__).parent / "data" / "release_history.json"


class IndexApi(enum.StrEnum):
    JSON = "json"
    SIMPLE = "simple"
    # The Simple API, with the JSON API filling in upload times it lacks.
    SIMPLE_JSON = "simple+json"


class IndexUnreachable(SourceUnavailable):
    """The index did not answer at all (refused, timed out): asking again for the
    next package would only wait as long again."""


class PackageNotFound(Exception):
    """The index does not know the package (a private or local project): not an outage."""

    def __init__(self, package: str, url: str) -> None:
        self.package = package
        super().__init__(f"{package} is not on the index ({url})")


@dataclass(frozen=True, kw_only=True)
class Release:
    version: str
    uploaded: datetime | None
    yanked: bool
    yanked_reason: str | None = None
    requires_python: str | None = None


@dataclass(frozen=True, kw_only=True)
class ReleaseInfo:
    package: str
    releases: tuple[Release, ...]

    def get(self, version: str) -> Release | None:
        wanted = _parse(version)
        for release in self.releases:
            if release.version == version or (
                wanted is not None and _parse(release.version) == wanted
            ):
                return release
        return None

    def stable(self) -> list[tuple[Version, Release]]:
        """Final, not yanked releases, ascending by version."""
        out = []
        for release in self.releases:
            parsed = _parse(release.version)
            if parsed is not None and not parsed.is_prerelease and not release.yanked:
                out.append((parsed, release))
        return sorted(out, key=lambda pair: pair[0])

    def latest(self) -> tuple[Version, Release] | None:
        stable = self.stable()
        return stable[-1] if stable else None

    def to_json(self) -> dict[str, object]:
        return {
            "version": CACHE_VERSION,
            "package": self.package,
            "releases": [
                {
                    "version": r.version,
                    "uploaded": r.uploaded.isoformat() if r.uploaded else None,
                    "yanked": r.yanked,
                    "yanked_reason": r.yanked_reason,
                    "requires_python": r.requires_python,
                }
                for r in self.releases
            ],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> ReleaseInfo:
        if data.get("version") != CACHE_VERSION:
            raise ValueError(
                f"release cache entry version {data.get('version')!r}, expected {CACHE_VERSION}:"
                " written by another mlmaint version; it is refetched"
            )
        items = data.get("releases")
        if not isinstance(items, list):
            raise ValueError("release cache entry without 'releases'")
        return cls(
            package=str(data["package"]),
            releases=tuple(
                Release(
                    version=str(r["version"]),
                    uploaded=parse_time(r["uploaded"], "cache", "uploaded")
                    if r.get("uploaded")
                    else None,
                    yanked=bool(r.get("yanked")),
                    yanked_reason=r.get("yanked_reason"),
                    requires_python=r.get("requires_python"),
                )
                for r in items
            ),
        )


def _parse(version: str) -> Version | None:
    try:
        return Version(version)
    except InvalidVersion:
        return None


def _fetch_json(client: httpx.Client, url: str, source: str, package: str, **kw: object) -> object:
    try:
        response = client.get(url, follow_redirects=True, **kw)  # type: ignore[arg-type]
    except httpx.TransportError as exc:
        raise IndexUnreachable(source, f"{type(exc).__name__} on GET {url}") from exc
    except httpx.HTTPError as exc:
        raise SourceUnavailable(source, f"{type(exc).__name__} on GET {url}") from exc
    if response.status_code == 404:
        raise PackageNotFound(package, url)
    if response.status_code != 200:
        raise SourceUnavailable(source, f"HTTP {response.status_code} on GET {url}")
    try:
        return response.json()
    except ValueError as exc:
        raise SourceUnavailable(source, f"malformed JSON from {url}") from exc


def _yank(value: object) -> tuple[bool, str | None]:
    # PEP 691: `yanked` is false or true or the reason string.
    if isinstance(value, str):
        return True, value or None
    return bool(value), None


def _merge(
    files: dict[str, list[tuple[datetime | None, bool, str | None, str | None]]],
) -> tuple[Release, ...]:
    releases = []
    for version, entries in files.items():
        times = [t for t, _, _, _ in entries if t is not None]
        yanked = bool(entries) and all(y for _, y, _, _ in entries)
        reason = next((r for _, y, r, _ in entries if y and r), None)
        requires = next((p for _, _, _, p in entries if p), None)
        releases.append(
            Release(
                version=version,
                uploaded=min(times) if times else None,
                yanked=yanked,
                yanked_reason=reason if yanked else None,
                requires_python=requires,
            )
        )
    return tuple(sorted(releases, key=lambda r: (_parse(r.version) or Version("0"), r.version)))


def fetch_json_api(client: httpx.Client, base_url: str, package: str) -> ReleaseInfo:
    """From `{base}/pypi/{name}/json`: every release with its files."""
    name = canonicalize_name(package)
    url = f"{base_url.rstrip('/')}/pypi/{name}/json"
    source = f"package index {base_url}"
    return parse_json_api(_fetch_json(client, url, source, name), name, url, source)


def parse_json_api(data: object, name: str, url: str, source: str) -> ReleaseInfo:
    """A JSON API document (`/pypi/{name}/json`) as releases."""
    releases = data.get("releases") if isinstance(data, dict) else None
    if not isinstance(releases, dict):
        raise SourceUnavailable(source, f"no 'releases' in {url}")
    files: dict[str, list[tuple[datetime | None, bool, str | None, str | None]]] = {}
    try:
        for version, entries in releases.items():
            bucket = files.setdefault(str(version), [])
            for entry in entries or ():
                when = entry.get("upload_time_iso_8601") or entry.get("upload_time")
                yanked, reason = _yank(entry.get("yanked"))
                bucket.append(
                    (
                        parse_time(when, url, "upload_time") if when else None,
                        yanked,
                        entry.get("yanked_reason") or reason,
                        entry.get("requires_python"),
                    )
                )
    except (AttributeError, TypeError, ValueError) as exc:
        raise SourceUnavailable(source, f"unexpected release data in {url}") from exc
    return ReleaseInfo(package=name, releases=_merge(files))


def file_version(filename: str, name: str) -> str | None:
    """The version a wheel or sdist file name carries (None: not one of `name`'s)."""
    try:
        if filename.endswith(".whl"):
            return str(parse_wheel_filename(filename)[1])
        return str(parse_sdist_filename(filename)[1])
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        # Legacy formats (.egg, .exe): "name-version..." when the name prefix matches.
        stem = filename.rsplit(".", 1)[0]
        parts = stem.split("-")
        if len(parts) >= 2 and canonicalize_name(parts[0]) == name and _parse(parts[1]):
            return str(_parse(parts[1]))
        return None


def fetch_simple_api(client: httpx.Client, base_url: str, package: str) -> ReleaseInfo:
    """From the PEP 691 JSON Simple API, upload times from PEP 700."""
    name = canonicalize_name(package)
    url = f"{base_url.rstrip('/')}/simple/{name}/"
    source = f"package index {base_url}"
    data = _fetch_json(client, url, source, name, headers={"Accept": SIMPLE_JSON})
    return parse_simple_api(data, name, url, source)


def parse_simple_api(data: object, name: str, url: str, source: str) -> ReleaseInfo:
    """A PEP 691 JSON project page as releases (upload times where PEP 700 gives them)."""
    if not isinstance(data, dict) or not isinstance(data.get("files"), list):
        raise SourceUnavailable(source, f"no 'files' in {url}")
    files: dict[str, list[tuple[datetime | None, bool, str | None, str | None]]] = {}
    for version in data.get("versions") or ():
        files.setdefault(str(version), [])
    try:
        for entry in data["files"]:
            version = file_version(str(entry["filename"]), name)
            if version is None:
                continue
            when = entry.get("upload-time")
            yanked, reason = _yank(entry.get("yanked"))
            files.setdefault(version, []).append(
                (
                    parse_time(when, url, "upload-time") if when else None,
                    yanked,
                    reason,
                    entry.get("requires-python"),
                )
            )
    except (KeyError, AttributeError, TypeError, ValueError) as exc:
        raise SourceUnavailable(source, f"unexpected file data in {url}") from exc
    return ReleaseInfo(package=name, releases=_merge(files))


def fetch_simple_json(client: httpx.Client, base_url: str, package: str) -> ReleaseInfo:
    """The Simple API's releases; the JSON API for upload times it lacks, or for a
    package it does not list. A mirror without the JSON API keeps the Simple data."""
    try:
        simple = fetch_simple_api(client, base_url, package)
    except PackageNotFound:
        return fetch_json_api(client, base_url, package)
    if all(r.uploaded is not None for r in simple.releases if not r.yanked):
        return simple
    try:
        times = {r.version: r.uploaded for r in fetch_json_api(client, base_url, package).releases}
    except (PackageNotFound, SourceUnavailable):
        return simple
    return replace(
        simple,
        releases=tuple(
            r if r.uploaded is not None else replace(r, uploaded=times.get(r.version))
            for r in simple.releases
        ),
    )


def fetch_releases(
    client: httpx.Client, base_url: str, package: str, api: IndexApi = IndexApi.SIMPLE_JSON
) -> ReleaseInfo:
    match api:
        case IndexApi.JSON:
            return fetch_json_api(client, base_url, package)
        case IndexApi.SIMPLE:
            return fetch_simple_api(client, base_url, package)
        case IndexApi.SIMPLE_JSON:
            return fetch_simple_json(client, base_url, package)


def load_history(path: Path = SHIPPED_HISTORY) -> dict[str, ReleaseInfo]:
    """Release histories in the cache's JSON form: {"packages": [ReleaseInfo.to_json(), ...]}."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {
            info.package: info
            for info in (ReleaseInfo.from_json(item) for item in data["packages"])
        }
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise FrameworkError(f"{path}: unreadable release history: {exc}") from exc
