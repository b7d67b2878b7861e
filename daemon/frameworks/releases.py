"""The release cache: what the package index lists, kept in the store for the TTL.

An index outage never fails the scan: stale cache entries stand in and the
report names the source as unavailable.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import httpx
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session, sessionmaker

from checks.frameworks import SourceUnavailable
from checks.frameworks.releases import (
    IndexApi,
    PackageNotFound,
    ReleaseInfo,
    fetch_releases,
)
from daemon.config import FrameworkSettings
from daemon.frameworks.mirror import CHUNK
from daemon.store.engine import transaction
from daemon.store.tables import ReleaseCache

log = logging.getLogger(__name__)


def cached_releases(
    sessions: sessionmaker[Session], index_url: str, packages: Iterable[str]
) -> dict[str, tuple[datetime, ReleaseInfo]]:
    names = sorted(set(packages))
    found: dict[str, tuple[datetime, ReleaseInfo]] = {}
    with sessions() as session:
        for start in range(0, len(names), CHUNK):
            rows = session.execute(
                select(ReleaseCache.package, ReleaseCache.fetched_at, ReleaseCache.releases).where(
                    ReleaseCache.index_url == index_url,
                    ReleaseCache.package.in_(names[start : start + CHUNK]),
                )
            )
            for package, fetched_at, data in rows:
                try:
                    found[package] = (fetched_at, ReleaseInfo.from_json(data))
                except (ValueError, KeyError, TypeError) as exc:
                    log.debug("release cache entry for %s ignored: %s", package, exc)
    return found


def store_releases(
    sessions: sessionmaker[Session], index_url: str, infos: Sequence[ReleaseInfo], now: datetime
) -> None:
    if not infos:
        return
    with transaction(sessions) as session:
        names = [i.package for i in infos]
        for start in range(0, len(names), CHUNK):
            session.execute(
                delete(ReleaseCache).where(
                    ReleaseCache.index_url == index_url,
                    ReleaseCache.package.in_(names[start : start + CHUNK]),
                )
            )
        session.execute(
            insert(ReleaseCache),
            [
                {
                    "index_url": index_url,
                    "package": i.package,
                    "fetched_at": now,
                    "releases": i.to_json(),
                }
                for i in infos
            ],
        )


@dataclass
class Releases:
    infos: dict[str, ReleaseInfo] = field(default_factory=dict)
    unavailable: list[str] = field(default_factory=list)


def gather_releases(
    sessions: sessionmaker[Session],
    settings: FrameworkSettings,
    packages: Iterable[str],
    now: datetime,
    http: httpx.Client | None,
) -> Releases:
    """Fresh cache entries as they are; the rest fetched when online, else stale cache.

    After the first outage the index is not asked again in this run: 400 packages
    times a 10 s timeout would hold the job for an hour.
    """
    names = sorted(set(packages))
    cache = cached_releases(sessions, settings.index_url, names)
    result = Releases()
    stale: list[str] = []
    for name in names:
        held = cache.get(name)
        if held is not None and now - held[0] < settings.release_cache_ttl:
            result.infos[name] = held[1]
        else:
            stale.append(name)
    if not stale:
        return result
    fetched: list[ReleaseInfo] = []
    outage: SourceUnavailable | None = None
    if settings.online and http is not None:
        api = IndexApi(settings.index_api)
        for name in stale:
            if outage is not None:
                break
            try:
                fetched.append(fetch_releases(http, settings.index_url, name, api))
            except PackageNotFound:
                continue
            except SourceUnavailable as exc:
                outage = exc
    store_releases(sessions, settings.index_url, fetched, now)
    result.infos.update((i.package, i) for i in fetched)
    missing = [n for n in stale if n not in result.infos]
    from_cache = [n for n in missing if n in cache]
    for name in from_cache:
        result.infos[name] = cache[name][1]
    if outage is not None:
        oldest = min((cache[n][0] for n in from_cache), default=None)
        used = (
            f"using cached releases for {len(from_cache)} package(s), oldest from "
            f"{oldest.isoformat(timespec='minutes')}"
            if oldest
            else "no cached releases"
        )
        result.unavailable.append(f"{outage}; {used}")
    return result
