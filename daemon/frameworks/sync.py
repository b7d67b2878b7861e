"""`mlmaint frameworks sync`: the index's release data and the support data, into the store.

Scans run offline by default and read what this leaves in the release cache.
Each package is fetched on its own: a package the index does not know, or
answers with an error, is named and the rest go on. Only an index that does not
answer at all (refused, timed out) ends the pass, since every further package
would wait as long; the packages not asked are named too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import httpx
from sqlalchemy.orm import Session, sessionmaker

from checks.frameworks import FrameworkError, InventoryError, SourceUnavailable
from checks.frameworks.releases import (
    IndexApi,
    IndexUnreachable,
    PackageNotFound,
    ReleaseInfo,
    fetch_releases,
)
from checks.frameworks.support import parse_support
from daemon.config import FrameworkSettings
from daemon.frameworks.inventory import inventory_environment
from daemon.frameworks.releases import store_releases, store_support
from daemon.jobs import JobContext

log = logging.getLogger(__name__)

# Packages not on the index named in the summary; a private index lists many.
_SHOWN = 12


@dataclass(frozen=True, kw_only=True)
class SyncOutcome:
    index_url: str
    synced: tuple[str, ...]
    # Not on the index (a private or local package): said, not a failure.
    not_found: tuple[str, ...]
    # (package, why): the index answered with an error, or did not answer.
    failed: tuple[tuple[str, str], ...]
    # Not asked: the index stopped answering before their turn.
    skipped: tuple[str, ...]
    support: str
    # Environments that could not be inventoried, and a support_url that failed.
    errors: tuple[str, ...]
    duration_s: float

    @property
    def ok(self) -> bool:
        return not self.failed and not self.skipped and not self.errors

    def lines(self) -> list[str]:
        """What a person reads: what came, what did not, and why."""
        out = [
            f"synced release data of {len(self.synced)} package(s) from {self.index_url} "
            f"in {self.duration_s:.1f}s"
        ]
        if self.not_found:
            shown = ", ".join(self.not_found[:_SHOWN])
            more = len(self.not_found) - _SHOWN
            out.append(
                f"not on the index {self.index_url}: {len(self.not_found)} package(s): {shown}"
                + (f" and {more} more" if more > 0 else "")
            )
        out.append(self.support)
        return out

    def error_lines(self) -> list[str]:
        out = [f"{package}: {why}" for package, why in self.failed]
        if self.skipped:
            out.append(
                f"not synced, the index {self.index_url} stopped answering: "
                + ", ".join(self.skipped)
            )
        out.extend(self.errors)
        return out


def sync_releases(
    sessions: sessionmaker[Session],
    settings: FrameworkSettings,
    packages: Iterable[str],
    now: datetime,
    http: httpx.Client,
) -> tuple[list[str], list[str], list[tuple[str, str]], list[str]]:
    """Fetch and store each package's releases: (synced, not found, failed, skipped)."""
    api = IndexApi(settings.index_api)
    names = sorted(set(packages))
    fetched: list[ReleaseInfo] = []
    not_found: list[str] = []
    failed: list[tuple[str, str]] = []
    skipped: list[str] = []
    for position, name in enumerate(names):
        try:
            fetched.append(fetch_releases(http, settings.index_url, name, api))
        except PackageNotFound:
            not_found.append(name)
        except IndexUnreachable as exc:
            failed.append((name, str(exc)))
            skipped = names[position + 1 :]
            break
        except SourceUnavailable as exc:
            failed.append((name, str(exc)))
    store_releases(sessions, settings.index_url, fetched, now)
    return [i.package for i in fetched], not_found, failed, skipped


def sync_support(
    sessions: sessionmaker[Session], settings: FrameworkSettings, now: datetime, http: httpx.Client
) -> tuple[str, str | None]:
    """Fetch support_url into the store: (what happened, the error if it failed)."""
    url = settings.support_url
    if url is None:
        return "support data: the shipped copy (no support_url configured)", None
    kept = "support data: kept the copy in use"
    try:
        response = http.get(url, follow_redirects=True)
    except httpx.HTTPError as exc:
        return kept, f"support data from {url}: {type(exc).__name__} on GET {url}"
    if response.status_code != 200:
        return kept, f"support data from {url}: HTTP {response.status_code} on GET {url}"
    try:
        data = response.json()
        support = parse_support(data, url, origin=url)
    except (ValueError, FrameworkError) as exc:
        return kept, f"support data from {url}: {exc}"
    store_support(sessions, url, data, now)
    return f"support data as of {support.as_of.isoformat()} synced from {url}", None


def run_sync(
    ctx: JobContext,
    now: datetime,
    *,
    http: httpx.Client | None = None,
    packages: Iterable[str] = (),
) -> SyncOutcome:
    """The pinned packages of every configured environment, plus `packages`."""
    started = time.monotonic()
    settings = ctx.settings.frameworks
    names = set(packages)
    errors: list[str] = []
    for env in settings.environments:
        try:
            found = inventory_environment(env, ctx.settings.mlflow.tracking_uri)
        except InventoryError as exc:
            errors.append(f"{env.name}: {exc}")
            continue
        names.update(p.name for p in found.packages if p.version)
    own = http is None
    client = http or httpx.Client(timeout=settings.http_timeout.total_seconds())
    try:
        synced, not_found, failed, skipped = sync_releases(
            ctx.sessions, settings, names, now, client
        )
        support, support_error = sync_support(ctx.sessions, settings, now, client)
    finally:
        if own:
            client.close()
    if support_error is not None:
        errors.append(support_error)
    outcome = SyncOutcome(
        index_url=settings.index_url,
        synced=tuple(synced),
        not_found=tuple(not_found),
        failed=tuple(failed),
        skipped=tuple(skipped),
        support=support,
        errors=tuple(errors),
        duration_s=time.monotonic() - started,
    )
    log.info(
        "frameworks sync: %d synced, %d not on the index, %d failed from %s in %.1fs",
        len(synced),
        len(not_found),
        len(failed) + len(skipped),
        settings.index_url,
        outcome.duration_s,
    )
    return outcome
