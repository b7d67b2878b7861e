"""The release cache: what the package index lists, kept in the store.

`mlmaint frameworks sync` fills it (daemon/frameworks/sync.py); an online scan
refreshes entries past the TTL; an offline scan reads it as it is and says how
old it is. An index outage never fails the scan: stale cache entries stand in
and the report names the source as unavailable. The support data synced from
support_url is kept here too, under its own URL.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session, sessionmaker

from checks.frameworks import FrameworkError, SourceUnavailable
from checks.frameworks.releases import (
    IndexApi,
    PackageNotFound,
    ReleaseInfo,
    fetch_releases,
)
from checks.frameworks.support import SupportData, load_support, parse_support
from daemon.config import FrameworkSettings
from daemon.frameworks.mirror import CHUNK
from daemon.store.engine import transaction
from daemon.store.tables import ReleaseCache

log = logging.getLogger(__name__)

# The support data's row in the cache: not a package name (PEP 508 names have no "*").
SUPPORT_KEY = "*support-data"


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
    # When each entry of `infos` was fetched from the index.
    fetched: dict[str, datetime] = field(default_factory=dict)
    unavailable: list[str] = field(default_factory=list)

    def note(self, packages: Iterable[str], now: datetime, ttl: timedelta | None = None) -> str:
        """How old the release data for `packages` is, e.g. "release data from
        2026-12-01, 5 days old (14 of 16 packages; 2 not on the index or not synced)"."""
        names = sorted(set(packages))
        fetched = {n: self.fetched[n] for n in names if n in self.fetched}
        return release_note(fetched, names, now, ttl)


def age_text(age: timedelta) -> str:
    """Hours under two days ("5 hours old", never "0 days old"), days from there on."""
    hours = max(int(age.total_seconds() // 3600), 0)
    if hours < 48:
        return (
            "less than an hour old"
            if hours == 0
            else f"{hours} hour{'' if hours == 1 else 's'} old"
        )
    return f"{age.days} days old"


def release_note(
    fetched: Mapping[str, datetime],
    names: Sequence[str],
    now: datetime,
    ttl: timedelta | None = None,
) -> str:
    """The release data's dates and age; past `ttl` (the cache's), how to refresh it."""
    from daemon.config.dump import format_duration

    if not names:
        return "no pinned packages"
    if not fetched:
        return "no release data: run `mlmaint frameworks sync` (or set online = true)"
    oldest, newest = min(fetched.values()), max(fetched.values())
    when = oldest.date().isoformat()
    if newest.date() != oldest.date():
        when = f"{when} to {newest.date().isoformat()}"
    text = f"release data from {when}, {age_text(now - oldest)}"
    missing = len(names) - len(fetched)
    if missing:
        text += f" ({len(fetched)} of {len(names)} packages; {missing} not in the cache)"
    if ttl is not None and now - oldest > ttl:
        text += (
            f"; older than the cache TTL ({format_duration(ttl)}): "
            "run `mlmaint frameworks sync` to refresh it"
        )
    return text


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
            result.fetched[name] = held[0]
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
    result.fetched.update((i.package, now) for i in fetched)
    missing = [n for n in stale if n not in result.infos]
    from_cache = [n for n in missing if n in cache]
    for name in from_cache:
        result.infos[name], result.fetched[name] = cache[name][1], cache[name][0]
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


def store_support(
    sessions: sessionmaker[Session], url: str, data: Mapping[str, object], now: datetime
) -> None:
    """Keep support data fetched from `url` (already parsed once) as the newest copy."""
    with transaction(sessions) as session:
        session.execute(
            delete(ReleaseCache).where(
                ReleaseCache.index_url == url[:300], ReleaseCache.package == SUPPORT_KEY
            )
        )
        session.execute(
            insert(ReleaseCache),
            [{"index_url": url[:300], "package": SUPPORT_KEY, "fetched_at": now, "releases": data}],
        )


def current_support(sessions: sessionmaker[Session], settings: FrameworkSettings) -> SupportData:
    """The config's support file; else the copy synced from support_url, when newer than
    the shipped one; else the shipped copy."""
    if settings.support_data is not None:
        return load_support(settings.support_data)
    shipped = load_support()
    if settings.support_url is None:
        return shipped
    with sessions() as session:
        row = session.execute(
            select(ReleaseCache.fetched_at, ReleaseCache.releases).where(
                ReleaseCache.index_url == settings.support_url[:300],
                ReleaseCache.package == SUPPORT_KEY,
            )
        ).first()
    if row is None:
        return shipped
    fetched_at, data = row
    origin = f"synced from {settings.support_url} on {fetched_at.date().isoformat()}"
    try:
        where = f"support data cached from {settings.support_url}"
        synced = parse_support(data, where, origin=origin)
    except FrameworkError as exc:
        log.warning("cached support data ignored, the shipped copy is used: %s", exc)
        return shipped
    return synced if synced.as_of >= shipped.as_of else shipped
