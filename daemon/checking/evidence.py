"""The evidence step of a check run: figures while the window is in hand, pages after storing.

An alerting drift result gets mlmaint's own evidence page (daemon/evidence/).
Its figures are drafted during the run; the page is written once the run is
stored, because the page's links and the alert's link name the stored run's
id. Evidently's full report is added, when configured, for the window that
starts an alert firing. Evidence never fails a check: a failure is logged and
the run keeps no evidence path.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from checks.drift import ColumnDrift
from checks.interface import CheckKind, CheckResult
from checks.reference import ReferenceStats
from daemon.checking.findings import drift_subject
from daemon.checking.records import KindRun
from daemon.checking.specs import drift_spec
from daemon.config import ModelSettings

if TYPE_CHECKING:
    from daemon.evidence.write import Draft
    from daemon.jobs import JobContext

log = logging.getLogger(__name__)


def draft_evidence(
    model: ModelSettings,
    ref: ReferenceStats,
    window: pd.DataFrame,
    result: CheckResult,
    columns: tuple[ColumnDrift, ...],
    span: tuple[datetime, datetime],
    directory: Path,
) -> Draft | None:
    from daemon.evidence.write import draft

    try:
        return draft(
            model=model.name,
            spec=drift_spec(model),
            result=result,
            reference=ref,
            window=window,
            window_start=span[0],
            window_end=span[1],
            directory=directory,
            observed={c.column: c.observed for c in columns if c.observed is not None},
        )
    except Exception:
        # Evidence is a convenience: the drift result stands without it.
        log.exception("model %s: the drift evidence failed", model.name)
        return None


def write_evidence(
    ctx: JobContext | None,
    model: ModelSettings,
    ref: ReferenceStats,
    window: pd.DataFrame,
    runs: dict[CheckKind, KindRun],
    drafts: Mapping[CheckKind, Draft],
) -> dict[CheckKind, KindRun]:
    """Write each drafted page once its run is stored (its links name the run's id)."""
    if not drafts:
        # Nothing drafted: the evidence room is not even imported (`mlmaint check`).
        return runs
    from daemon.evidence.write import (
        clear_paths,
        evidently_path,
        starts_firing,
        write_evidently,
        write_page,
    )
    from daemon.links import evidently_url

    for kind, found in drafts.items():
        run = runs[kind]
        link = None
        try:
            if (
                ctx is not None
                and run.run_id is not None
                and ctx.settings.evidence.evidently_on_firing
            ):
                with ctx.sessions() as session:
                    # By alert subject: the model's outputs are one (checking/findings.py).
                    new = starts_firing(
                        session,
                        model.name,
                        {drift_subject(m.subject) for m in run.result.alerting},
                    )
                if new:
                    try:
                        spec = drift_spec(model)
                        write_evidently(spec, run.result, ref, window, evidently_path(found.path))
                        link = evidently_url(ctx.settings.report.base_url, run.run_id)
                    except Exception:
                        log.exception("model %s: Evidently's drift report failed", model.name)
            write_page(found, evidently_link=link)
        except Exception:
            log.exception("model %s: the drift evidence page failed", model.name)
            runs[kind] = replace(run, evidence_path=None)
            if ctx is not None and run.run_id is not None:
                with ctx.sessions.begin() as session:
                    clear_paths(session, (run.run_id,))
    return runs


def evidence_link(ctx: JobContext | None, run: KindRun) -> str | None:
    """The evidence's URL under report.base_url: only a stored run can be served."""
    from daemon.links import evidence_url

    if ctx is None or run.run_id is None or run.evidence_path is None:
        return None
    return evidence_url(ctx.settings.report.base_url, run.run_id)
