"""The registered versions the store knows of a model, for the page's version history.

The store records every version the MLflow registry holds, with its aliases
(`registry_versions`: written by onboarding and each registry sync), the serving
version (models.current_version: set by onboarding, a promotion or a rollback),
the pinned one, and per retrain job the version it registered and the champion
it was compared with. A version registered by hand that never served (the
user's v1 before onboarding) is listed too, without asking MLflow: the page
never imports it.
"""

from __future__ import annotations

from collections.abc import Sequence

from daemon.api.page.data import VersionView
from daemon.report.model import PinRow, RetrainRow
from daemon.store.versions import VersionRecord, version_order


def known_versions(
    current: str | None,
    pin: PinRow | None,
    jobs: Sequence[RetrainRow],
    registered: Sequence[VersionRecord] = (),
) -> tuple[VersionView, ...]:
    """Every version the store names for the model, newest first."""
    in_registry = {v.version: v for v in registered}
    trained: dict[str, RetrainRow] = {}
    compared: set[str] = set()
    for run in sorted(jobs, key=lambda j: j.created_at):
        if run.registered_version:
            trained[run.registered_version] = run
        if run.champion_version:
            compared.add(run.champion_version)
    pinned = pin.version if pin is not None and pin.holds else None
    names = {*trained, *compared, *in_registry, *(v for v in (current, pinned) if v)}
    out = []
    for version in sorted(names, key=version_order):
        job = trained.get(version)
        if job is not None:
            outcome = "promoted" if job.promoted else "not promoted"
            note = f"trained by mlmaint ({job.trigger}), {outcome}"
        else:
            note = "registered outside mlmaint"
            if version in compared:
                note += ", compared as champion"
        record = in_registry.get(version)
        out.append(
            VersionView(
                version=version,
                serving=version == current,
                pinned=version == pinned,
                trained_by=job,
                note=note,
                aliases=record.aliases if record is not None else (),
                registered_at=record.registered_at if record is not None else None,
            )
        )
    return tuple(out)
