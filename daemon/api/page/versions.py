"""The registered versions the store knows of a model, for the page's version history.

The store records the serving version (models.current_version: set by onboarding,
a promotion or a rollback), the pinned one, and per retrain job the version it
registered and the champion it was compared with. A version registered by hand
(e.g. `mlflow.sklearn.log_model` and an alias set by the user) is known here as
soon as it serves or is a job's champion, without asking MLflow: the page never
imports it. Versions the store never saw stay in the registry only.
"""

from __future__ import annotations

from collections.abc import Sequence

from daemon.api.page.data import VersionView
from daemon.report.model import PinRow, RetrainRow


def _order(version: str) -> tuple[int, int | str]:
    """Registry versions are numbers: newest first, any other text after them."""
    return (0, -int(version)) if version.isdigit() else (1, version)


def known_versions(
    current: str | None, pin: PinRow | None, jobs: Sequence[RetrainRow]
) -> tuple[VersionView, ...]:
    """Every version the store names for the model, newest first."""
    trained: dict[str, RetrainRow] = {}
    compared: set[str] = set()
    for run in sorted(jobs, key=lambda j: j.created_at):
        if run.registered_version:
            trained[run.registered_version] = run
        if run.champion_version:
            compared.add(run.champion_version)
    pinned = pin.version if pin is not None and pin.holds else None
    names = {*trained, *compared, *(v for v in (current, pinned) if v)}
    out = []
    for version in sorted(names, key=_order):
        job = trained.get(version)
        if job is not None:
            outcome = "promoted" if job.promoted else "not promoted"
            note = f"trained by mlmaint ({job.trigger}), {outcome}"
        else:
            note = "registered outside mlmaint"
            if version in compared:
                note += ", compared as champion"
        out.append(
            VersionView(
                version=version,
                serving=version == current,
                pinned=version == pinned,
                trained_by=job,
                note=note,
            )
        )
    return tuple(out)
