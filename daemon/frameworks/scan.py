"""Inventories against the advisory mirror and the release cache: the reports.

Stores nothing but the caches it refreshes; the findings are written by
records.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import httpx
from sqlalchemy.orm import Session, sessionmaker

from checks.frameworks import SourceUnavailable
from checks.frameworks import advisories as osv
from checks.frameworks import inventory as inv
from checks.frameworks.policy import EnvironmentReport, evaluate
from checks.frameworks.support import SupportData
from daemon.config import FrameworkSettings
from daemon.frameworks.mirror import known_advisories, load_index, store_advisories
from daemon.frameworks.releases import current_support, gather_releases
from daemon.frameworks.specs import policy_from


def scan(
    sessions: sessionmaker[Session],
    settings: FrameworkSettings,
    inventories: Sequence[inv.Inventory],
    now: datetime,
    *,
    http: httpx.Client | None = None,
    support: SupportData | None = None,
    source_problems: Sequence[str] = (),
) -> list[EnvironmentReport]:
    """Evaluate inventories against the mirror and the releases; store nothing but caches."""
    packages = {p.name for i in inventories for p in i.packages if p.version}
    problems = list(source_problems)
    if settings.online and settings.osv_query and http is not None:
        pairs = sorted({(p.name, p.version) for i in inventories for p in i.packages if p.version})
        with sessions() as session:
            have = known_advisories(session)
        try:
            found = osv.query_batch(http, settings.osv_url, pairs, have)
        except SourceUnavailable as exc:
            problems.append(f"{exc}; matching against the mirror only")
        else:
            store_advisories(sessions, found, settings.osv_url)
    index = load_index(sessions, packages)
    releases = gather_releases(sessions, settings, packages, now, http)
    support = support or current_support(sessions, settings)
    policy = policy_from(settings)
    note = f"{index.records} record(s) for these packages in the mirror"
    return [
        evaluate(
            inventory,
            index,
            releases.infos,
            support,
            policy,
            now,
            unavailable=[*problems, *releases.unavailable],
            advisories_note=note,
            release_note=releases.note(
                (p.name for p in inventory.packages if p.version), now, settings.release_cache_ttl
            ),
        )
        for inventory in inventories
    ]
