"""A model's registered versions and their aliases, as MLflow's registry last said.

`registry_versions` reads them through an MLflow client it is handed (MLflow is
imported by the caller, never here); `record_versions` mirrors them into the
store in the caller's transaction: new versions added, aliases moved, versions
the registry no longer holds removed. Onboarding and every registry sync (a
retrain job's end, a rollback) call both; the page and /v1 read `stored_versions`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from daemon.store.tables import RegistryVersion

if TYPE_CHECKING:
    from mlflow import MlflowClient

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class VersionRecord:
    """One registered version: its number, its aliases (sorted), its run, its birth."""

    version: str
    aliases: tuple[str, ...] = ()
    run_id: str | None = None
    registered_at: datetime | None = None


def version_order(version: str) -> tuple[int, int | str]:
    """Registry versions are numbers: newest first, any other text after them."""
    return (0, -int(version)) if version.isdigit() else (1, version)


def registry_versions(mlflow_client: MlflowClient, name: str) -> tuple[VersionRecord, ...]:
    """Every version of registered model `name` with its aliases, newest first.

    The aliases come from the registered model (alias -> version), the one place
    MLflow keeps them whole; `search_model_versions` pages through the versions.
    """
    aliases: dict[str, list[str]] = {}
    for alias, version in (mlflow_client.get_registered_model(name).aliases or {}).items():
        aliases.setdefault(str(version), []).append(str(alias))
    out: list[VersionRecord] = []
    token: str | None = None
    while True:
        page = mlflow_client.search_model_versions(f"name='{name}'", page_token=token)
        for found in page:
            created = getattr(found, "creation_timestamp", None)
            out.append(
                VersionRecord(
                    version=str(found.version),
                    aliases=tuple(sorted(aliases.get(str(found.version), []))),
                    run_id=found.run_id or None,
                    registered_at=None
                    if created is None
                    else datetime.fromtimestamp(int(created) / 1000, UTC),
                )
            )
        token = getattr(page, "token", None)
        if not token:
            break
    return tuple(sorted(out, key=lambda v: version_order(v.version)))


def record_versions(
    session: Session, model_id: int, versions: Iterable[VersionRecord], now: datetime
) -> None:
    """Mirror the registry's versions of one model into the store (the caller commits)."""
    wanted = {v.version: v for v in versions}
    rows = {
        row.version: row
        for row in session.scalars(
            select(RegistryVersion).where(RegistryVersion.model_id == model_id)
        )
    }
    gone = [version for version in rows if version not in wanted]
    if gone:
        session.execute(
            delete(RegistryVersion).where(
                RegistryVersion.model_id == model_id, RegistryVersion.version.in_(gone)
            )
        )
    for version, record in wanted.items():
        row = rows.get(version)
        if row is None:
            row = RegistryVersion(model_id=model_id, version=version)
            session.add(row)
        row.aliases = list(record.aliases)
        row.run_id = record.run_id
        row.registered_at = record.registered_at
        row.synced_at = now


def sync_versions(
    session: Session, tracking_uri: str, model_id: int, name: str, now: datetime
) -> bool:
    """Read the registry's versions of `name` and mirror them (a registry sync).

    False, with a warning, when the registry cannot be read: what it holds is
    synced again at the next job's end, and the caller's own record must not fail.
    """
    from mlflow.exceptions import MlflowException

    from retrain import registry

    try:
        versions = registry_versions(registry.client(tracking_uri), name)
    except MlflowException as exc:
        log.warning("cannot read the registered versions of %s: %s", name, exc)
        return False
    record_versions(session, model_id, versions, now)
    return True


def stored_versions(
    session: Session, model_ids: Sequence[int]
) -> dict[int, tuple[VersionRecord, ...]]:
    """Per model id, the versions the store last heard of from the registry, newest first."""
    out: dict[int, list[VersionRecord]] = {}
    if not model_ids:
        return {}
    for row in session.scalars(
        select(RegistryVersion).where(RegistryVersion.model_id.in_(list(model_ids)))
    ):
        out.setdefault(row.model_id, []).append(
            VersionRecord(
                version=row.version,
                aliases=tuple(str(a) for a in row.aliases or ()),
                run_id=row.run_id,
                registered_at=row.registered_at,
            )
        )
    return {
        mid: tuple(sorted(found, key=lambda v: version_order(v.version)))
        for mid, found in out.items()
    }
