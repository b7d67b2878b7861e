"""The offline OSV mirror in the store: import, sync, and the index a scan matches.

Records are upserted only when newer than what the mirror holds, so a re-import
of the same snapshot writes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import httpx
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from checks.frameworks import FrameworkError, SourceUnavailable
from checks.frameworks import advisories as osv
from checks.frameworks.matching import AdvisoryIndex
from daemon.config import FrameworkSettings
from daemon.store.engine import transaction
from daemon.store.tables import Advisory, AdvisoryPackage

log = logging.getLogger(__name__)

# The repo-relative PyPA advisory database snapshot, used by the demo when present.
SHARED_ADVISORY_DB = Path(__file__).resolve().parents[3] / "shared" / "data" / "pypa-advisory-db"
# Real PyPA records for the ML stack, shipped with the package for offline use.
SHIPPED_SNAPSHOT = (
    Path(__file__).resolve().parents[2] / "checks" / "frameworks" / "data" / "advisories.json"
)
# Names per IN (...) list: well below SQLite's bound-parameter limit.
CHUNK = 500


def known_advisories(session: Session) -> dict[str, datetime]:
    rows = session.execute(select(Advisory.id, Advisory.modified)).tuples()
    return {ident: modified for ident, modified in rows}  # noqa: C416 (Result has keys())


def store_advisories(
    sessions: sessionmaker[Session], records: Iterable[osv.Advisory], source: str
) -> int:
    """Upsert records newer than what the mirror holds; returns how many were written."""
    newest = osv.by_id(records)
    with transaction(sessions) as session:
        known = known_advisories(session)
        fresh = [r for r in newest.values() if r.id not in known or r.modified > known[r.id]]
        ids = [r.id for r in fresh]
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            session.execute(delete(AdvisoryPackage).where(AdvisoryPackage.advisory_id.in_(chunk)))
            session.execute(delete(Advisory).where(Advisory.id.in_(chunk)))
        if fresh:
            session.execute(
                insert(Advisory),
                [
                    {
                        "id": r.id,
                        "modified": r.modified,
                        "withdrawn": r.withdrawn,
                        "aliases": {"aliases": list(r.aliases)},
                        "packages": {"PyPI": list(r.packages)},
                        "record": dict(r.raw),
                        "source": source[:200],
                    }
                    for r in fresh
                ],
            )
            links = [{"package": p, "advisory_id": r.id} for r in fresh for p in r.packages]
            if links:
                session.execute(insert(AdvisoryPackage), links)
    log.debug("advisory mirror: %d record(s) written from %s", len(fresh), source)
    return len(fresh)


def import_advisory_path(sessions: sessionmaker[Session], path: Path) -> int:
    """Import a directory, zip or JSON file of OSV records into the mirror."""
    return store_advisories(sessions, osv.load_path(path), str(path))


def shipped_advisory_source() -> Path:
    """What "the shipped advisory snapshot" is: the full PyPA database when the
    shared snapshot sits beside the repository, else the curated subset of real
    PyPA records packaged in checks/frameworks/data/advisories.json."""
    return SHARED_ADVISORY_DB if SHARED_ADVISORY_DB.is_dir() else SHIPPED_SNAPSHOT


def load_index(sessions: sessionmaker[Session], packages: Iterable[str]) -> AdvisoryIndex:
    """The compiled advisories naming any of `packages`, straight from the mirror."""
    names = sorted(set(packages))
    records: list[osv.Advisory] = []
    with sessions() as session:
        for start in range(0, len(names), CHUNK):
            chunk = names[start : start + CHUNK]
            ids = select(AdvisoryPackage.advisory_id).where(AdvisoryPackage.package.in_(chunk))
            rows = session.execute(
                select(Advisory.id, Advisory.record).where(
                    Advisory.id.in_(ids), Advisory.withdrawn.is_(None)
                )
            )
            records.extend(osv.parse_record(record, f"store:{ident}") for ident, record in rows)
    return AdvisoryIndex(osv.by_id(records).values())


def mirror_size(sessions: sessionmaker[Session], source: str | None = None) -> int:
    with sessions() as session:
        query = select(func.count()).select_from(Advisory)
        if source is not None:
            query = query.where(Advisory.source == source)
        return int(session.execute(query).scalar_one())


def require_advisory_db(settings: FrameworkSettings) -> None:
    """A configured advisory_db that is not there is an error, not an empty mirror.

    `mlmaint frameworks` stops on it (exit 2); the daemon's scan goes on with the
    mirror and says so in a finding.
    """
    path = settings.advisory_db
    if path is not None and not path.exists():
        raise FrameworkError(
            f"[frameworks] advisory_db {path} does not exist: point it at a copy of the "
            "PyPA advisory database (a folder or a zip of OSV records)"
        )


def sync_advisories(
    sessions: sessionmaker[Session], settings: FrameworkSettings, http: httpx.Client | None
) -> list[str]:
    """Import the configured advisory_db once, sync the OSV export when online.

    Returns the sources that were unavailable (the run goes on with the mirror).
    """
    problems: list[str] = []
    if settings.advisory_db is not None and mirror_size(sessions, str(settings.advisory_db)) == 0:
        try:
            import_advisory_path(sessions, settings.advisory_db)
        except (FrameworkError, OSError) as exc:
            problems.append(f"advisory database {settings.advisory_db} unreadable: {exc}")
    if settings.online and settings.osv_export_url and http is not None:
        with sessions() as session:
            known = known_advisories(session)
        try:
            result = osv.sync_export(http, settings.osv_export_url, known)
        except SourceUnavailable as exc:
            problems.append(f"{exc}; using the mirror as it is ({len(known)} records)")
        else:
            store_advisories(sessions, result.records, settings.osv_export_url)
    return problems
