"""Where evidence goes and how a check run writes it.

A check run computes a `Draft` while it has the window in hand (the figures,
timed), stores its runs, and only then writes the page: the page's links and
the alert's link name the stored run's id, which is known only after the run
is stored. Files are named by model and window end (microseconds included, see
daemon/window_time.py), so a window checked again overwrites its own page rather
than adding one, and two windows never share one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from checks.drift.specs import DriftSpec
from checks.drift.window import WindowColumn
from checks.interface import CheckKind, CheckResult
from checks.methods import ColumnKind
from checks.reference import ReferenceStats
from daemon.evidence.figures import EvidenceData, evidence_data
from daemon.evidence.page import render_page
from daemon.private import write_private
from daemon.window_time import at_text, file_stamp

if TYPE_CHECKING:
    from daemon.jobs import JobContext

log = logging.getLogger(__name__)

EVIDENTLY_SUFFIX = ".evidently.html"


def evidence_dir(ctx: JobContext) -> Path:
    """Where check runs write their pages, and what retention sweeps."""
    return ctx.state_dir / "evidence"


def page_path(directory: Path, model: str, window_end: datetime) -> Path:
    """mlmaint's page of a model's window: `<dir>/<model>/drift-<end>.html`, the end
    with its microseconds when it has any (two windows never share a page)."""
    return directory / model / f"drift-{file_stamp(window_end)}.html"


def evidently_path(page: Path) -> Path:
    """Evidently's report beside a page: `drift-<end>.evidently.html`."""
    return page.with_name(page.name.removesuffix(".html") + EVIDENTLY_SUFFIX)


def rebuild_command(model: str, window_end: datetime, *, evidently: bool = True) -> str:
    """The command that writes this window's evidence again (and Evidently's report)."""
    flag = " --evidently" if evidently else ""
    return f"mlmaint evidence {model} --at {at_text(window_end, short=False)}{flag}"


def column_kinds(spec: DriftSpec) -> dict[str, ColumnKind]:
    return {c.name: c.kind for c in spec.columns}


@dataclass(frozen=True, kw_only=True)
class Draft:
    """A page's figures, computed while the check had the window; written after storing."""

    data: EvidenceData
    path: Path
    seconds: float


def draft(
    *,
    model: str,
    spec: DriftSpec,
    result: CheckResult,
    reference: ReferenceStats,
    window: pd.DataFrame,
    window_start: datetime,
    window_end: datetime,
    directory: Path,
    observed: Mapping[str, WindowColumn] | None = None,
) -> Draft:
    """The page's figures; `observed` are the window columns the check prepared."""
    began = time.perf_counter()
    data = evidence_data(
        model=model,
        result=result,
        reference=reference,
        window=window,
        kinds=column_kinds(spec),
        window_start=window_start,
        window_end=window_end,
        observed=observed,
    )
    return Draft(
        data=data,
        path=page_path(directory, model, window_end),
        seconds=time.perf_counter() - began,
    )


def write_page(found: Draft, *, evidently_link: str | None = None) -> Path:
    """Write the page; it links Evidently's report when there is one to serve, else
    names the command that writes it."""
    command = None if evidently_link else rebuild_command(found.data.model, found.data.window_end)
    page = render_page(found.data, evidently_link=evidently_link, command=command)
    write_private(found.path, page.encode("utf-8"))
    log.debug("drift evidence of %s written to %s", found.data.model, found.path)
    return found.path


def write_evidently(
    spec: DriftSpec,
    result: CheckResult,
    reference: ReferenceStats,
    window: pd.DataFrame,
    path: Path,
) -> Path:
    """Evidently's full report of the same columns, methods and thresholds (seconds)."""
    from daemon.evidence.evidently_report import write_drift_evidence

    usable = {m.subject for m in result.measures if m.value is not None}
    numeric = tuple(c.name for c in spec.columns if c.kind is ColumnKind.NUMERIC)
    categorical = tuple(c.name for c in spec.columns if c.kind is ColumnKind.CATEGORICAL)
    return write_drift_evidence(
        reference.frame,
        window,
        numeric=tuple(c for c in numeric if c in usable),
        categorical=tuple(c for c in categorical if c in usable),
        path=path,
        methods={c.name: c.method.value for c in spec.columns if c.method},
        thresholds={c.name: c.threshold for c in spec.columns if c.threshold is not None},
        drift_share=spec.drift_share,
    )


def starts_firing(session: Session, model: str, subjects: Iterable[str]) -> bool:
    """Whether any of a model's drifting subjects is not firing yet: a new alert firing.

    Evidently's report, when configured, is written once per firing: for the
    window that starts it, not for every window while it keeps firing.
    """
    from daemon.alerts.finding import Finding
    from daemon.store.tables import Alert, AlertState

    prints = {
        Finding(scope=model, kind=CheckKind.DRIFT, subject=s, firing=True, summary="").fingerprint
        for s in subjects
    }
    if not prints:
        return False
    firing = set(
        session.scalars(
            select(Alert.fingerprint).where(
                Alert.fingerprint.in_(prints), Alert.state == AlertState.FIRING
            )
        )
    )
    return bool(prints - firing)


def clear_paths(session: Session, run_ids: Iterable[int]) -> None:
    """Forget the evidence of these runs (a page that could not be written)."""
    from sqlalchemy import update

    from daemon.store.tables import CheckRun

    ids = list(run_ids)
    if ids:
        session.execute(update(CheckRun).where(CheckRun.id.in_(ids)).values(evidence_path=None))
