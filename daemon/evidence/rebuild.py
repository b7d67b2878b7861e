"""`mlmaint evidence`: the evidence of a past window, built again from stored rows.

The window [at - checks.window, at) and the reference are read as the check
job reads them, the drift check is run with the reference's stored
calibration and the persistence history, and the page is written; nothing is
stored as a check run and nothing alerts. With `evidently`, Evidently's full
report is written too (seconds, megabytes). Written to the default place (the
evidence directory), the page is attached again to the stored drift run of the
same window when retention had swept it, so its link works again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from checks.drift import DriftCheck
from checks.interface import CheckKind, CheckResult
from daemon.checking.records import drift_history
from daemon.checking.references import default_window_loader, load_reference, reference_stats
from daemon.checking.run import reference_calibration
from daemon.checking.specs import check_window, drift_spec, persistence_lookback
from daemon.evidence.retention import SWEPT
from daemon.evidence.write import (
    Draft,
    draft,
    evidence_dir,
    evidently_path,
    page_path,
    write_evidently,
    write_page,
)

if TYPE_CHECKING:
    from daemon.jobs import JobContext

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Rebuilt:
    """What `mlmaint evidence` wrote: the page and, when asked, Evidently's report."""

    result: CheckResult
    page: Path | None
    evidently: Path | None
    # The stored drift run whose evidence path now names the page again, if any.
    reattached: int | None = None

    @property
    def path(self) -> Path:
        """The file the command prints: Evidently's report when asked for, else the page."""
        found = self.evidently or self.page
        if found is None:  # rebuild always writes one of them
            raise ValueError("nothing was written")
        return found


class FutureWindow(ValueError):
    """A window that ends after now: it has no rows yet and would pass for the present."""

    def __init__(self, at: datetime, now: datetime) -> None:
        super().__init__(
            f"the window end {at:%Y-%m-%d %H:%M} UTC is in the future "
            f"(now is {now:%Y-%m-%d %H:%M} UTC): a window can end at now at the latest"
        )


def rebuild_evidence(
    ctx: JobContext,
    name: str,
    at: datetime,
    *,
    evidently: bool = False,
    out: Path | None = None,
    now: datetime | None = None,
) -> Rebuilt:
    """Run the drift check on the window ending at `at` and write its evidence.

    Raises KeyError for an unknown model, `FutureWindow` for a window ending after
    `now` (the wall clock by default) and `ReferenceUnavailable` without a usable
    reference.
    """
    clock = now or datetime.now(UTC)
    if at > clock:
        raise FutureWindow(at, clock)
    model = ctx.settings.model(name)
    start = at - check_window(model)
    loader = default_window_loader()
    with ctx.sessions() as session:
        frame = loader(session, model, start, at)
        ref_frame, digest = load_reference(session, model, load_window=loader)
        lookback = persistence_lookback(model)
        history = drift_history(session, name, at, lookback) if lookback else {}
    ref = reference_stats(model, ref_frame, digest=digest, cache=ctx.check_cache)
    calibration = reference_calibration(
        model, ref, at, cache=ctx.check_cache, sessions=ctx.sessions
    )
    spec = drift_spec(model)
    outcome = DriftCheck(
        spec=spec, reference=ref, calibration=calibration.drift, history=history
    ).evaluate(frame)
    result = outcome.result
    default_page = page_path(evidence_dir(ctx), name, at)
    if evidently and out is not None:
        # Only what was asked for, where it was asked for.
        return Rebuilt(
            result=result, page=None, evidently=write_evidently(spec, result, ref, frame, out)
        )
    found = draft(
        model=name,
        spec=spec,
        result=result,
        reference=ref,
        window=frame,
        window_start=start,
        window_end=at,
        directory=evidence_dir(ctx),
        observed={c.column: c.observed for c in outcome.columns if c.observed is not None},
    )
    if out is not None:
        found = Draft(data=found.data, path=out, seconds=found.seconds)
    written_evidently = None
    if evidently:
        written_evidently = write_evidently(spec, result, ref, frame, evidently_path(default_page))
    page = write_page(found, evidently_link=_evidently_link(ctx, name, at, default_page, out))
    reattached = _reattach(ctx, name, at, page) if out is None else None
    return Rebuilt(result=result, page=page, evidently=written_evidently, reattached=reattached)


def _evidently_link(
    ctx: JobContext, name: str, at: datetime, default_page: Path, out: Path | None
) -> str | None:
    """The served URL of Evidently's report of this window, when the stored drift run
    of the window will serve one: its page's report beside it is on disk.

    Written to the default place, a run without a page gets this page back
    (`_reattach`), so its report is the one beside the default page. A window with
    no stored run has no URL: the page names the command instead.
    """
    from daemon.links import evidently_url
    from daemon.store.tables import CheckRun, Model

    with ctx.sessions() as session:
        found = session.execute(
            select(CheckRun.id, CheckRun.evidence_path)
            .join(Model, Model.id == CheckRun.model_id)
            .where(
                Model.name == name,
                CheckRun.kind == CheckKind.DRIFT.value,
                CheckRun.window_end == at,
                CheckRun.segment.is_(None),
            )
            .order_by(CheckRun.id.desc())
            .limit(1)
        ).one_or_none()
    if found is None:
        return None
    run_id, stored = found
    if stored is not None:
        served = Path(stored)
    elif out is None:
        served = default_page
    else:
        return None
    if not evidently_path(served).is_file():
        return None
    return evidently_url(ctx.settings.report.base_url, run_id)


def _reattach(ctx: JobContext, name: str, at: datetime, page: Path) -> int | None:
    """Give a stored drift run of this window whose page was swept its page back."""
    from daemon.store.tables import CheckRun, Model

    with ctx.sessions.begin() as session:
        run = session.scalars(
            select(CheckRun)
            .join(Model, Model.id == CheckRun.model_id)
            .where(
                Model.name == name,
                CheckRun.kind == CheckKind.DRIFT.value,
                CheckRun.window_end == at,
                CheckRun.evidence_path.is_(None),
                CheckRun.segment.is_(None),
            )
            .order_by(CheckRun.id.desc())
            .limit(1)
        ).one_or_none()
        if run is None:
            return None
        run.evidence_path = str(page)
        run.summary = {k: v for k, v in (run.summary or {}).items() if k != SWEPT}
        log.info("evidence of check run %d written again to %s", run.id, page)
        return run.id
