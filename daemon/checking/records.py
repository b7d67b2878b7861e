"""What the checking stage reads from and writes to the store.

Each run of a check kind is a `check_runs` row with its measures in
`check_metrics` (the trend charts, the report, the persistence rule's memory).
A (model, kind, window end) holds one run: running a window again (a backfill
repeated, a cycle re-run after its leader died) replaces the stored run and its
measures, never adds a second.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from checks.drift import Method, exceeds
from checks.interface import CheckKind, CheckResult
from daemon.store.tables import CheckMetric, CheckRun, Model, of_segment


@dataclass(frozen=True, kw_only=True)
class KindRun:
    """One check kind's run in a cycle: its result, cost, evidence and stored id."""

    result: CheckResult
    duration_s: float
    evidence_path: Path | None = None
    run_id: int | None = None
    # Whether storing it replaced a run stored before for the same window.
    replaced: bool = False


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def jsonable(value: object) -> object:
    """A value as JSON can hold it: mappings and sequences walked, non-finite floats None."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return _finite(float(value)) if isinstance(value, float) else value
    try:
        return _finite(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)


def model_id(session: Session, name: str, now: datetime) -> int:
    from daemon.store.models import ensure_model

    return ensure_model(session, name, now)


def _claim_window(
    session: Session, model_id: int, kind: CheckKind, end: datetime, segment: str | None = None
) -> int | None:
    """The id of the run stored for (model, kind, window end, segment), emptied for rewriting.

    Its measures are deleted, and any second run of the window (a race of an older
    version) with them; None when the window has no run yet. Writers of one model's
    runs are serialized first, so two of them cannot both find nothing and both
    insert: on PostgreSQL by a row lock on the model (NO KEY UPDATE: sampling's
    inserts, which only share the key, go on); on SQLite the first statement here
    is a write, which takes the database's write lock before anything is read.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            select(Model.id).where(Model.id == model_id).with_for_update(key_share=True)
        )
    same = (
        CheckRun.model_id == model_id,
        CheckRun.kind == kind.value,
        CheckRun.window_end == end,
        of_segment(segment),
    )
    session.execute(
        delete(CheckMetric).where(CheckMetric.run_id.in_(select(CheckRun.id).where(*same))),
        execution_options={"synchronize_session": False},
    )
    ids = list(session.scalars(select(CheckRun.id).where(*same).order_by(CheckRun.id)))
    if len(ids) > 1:
        session.execute(
            delete(CheckRun).where(CheckRun.id.in_(ids[1:])),
            execution_options={"synchronize_session": False},
        )
    return ids[0] if ids else None


def store_runs(
    session: Session,
    model: str,
    runs: Mapping[CheckKind, KindRun],
    *,
    start: datetime,
    end: datetime,
    version: str | None = None,
    backfill: bool = False,
    segment: str | None = None,
) -> dict[CheckKind, KindRun]:
    """Write a check_runs row per kind and its check_metrics; returns runs with ids.

    `segment` names the slice of the window the runs judged ("region=A"); None: all of it.

    A window already stored for a kind is replaced in place: the row keeps its id
    (links to its evidence stay valid) and takes the new result and measures; the
    returned run says so (`replaced`). `backfill` marks runs over a past window; a
    window stored live stays live when a backfill checks it again (it was news once).
    """
    mid = model_id(session, model, end)
    stored: dict[CheckKind, KindRun] = {}
    for kind, run in runs.items():
        r = run.result
        summary = dict(r.summary)
        if r.reason:
            summary["reason"] = r.reason
        fields = {
            "status": r.status,
            "window_start": start,
            "ran_at": end,
            "duration_s": run.duration_s,
            "rows": r.rows,
            "summary": jsonable(summary),
            "model_version": version,
            "evidence_path": str(run.evidence_path) if run.evidence_path else None,
        }
        kept = _claim_window(session, mid, kind, end, segment)
        row = session.get(CheckRun, kept) if kept is not None else None
        if row is None:
            row = CheckRun(
                model_id=mid,
                kind=kind.value,
                window_end=end,
                backfill=backfill,
                segment=segment,
                **fields,
            )
            session.add(row)
        else:
            for name, value in fields.items():
                setattr(row, name, value)
            row.backfill = row.backfill and backfill
        session.flush()
        session.add_all(
            CheckMetric(
                run_id=row.id,
                subject=m.subject[:200],
                name=m.name[:64],
                value=_finite(m.value),
                threshold=_finite(m.threshold),
                alerting=m.alerting,
                detail=m.detail[:200] if m.detail else None,
                basis=m.basis[:200] if m.basis else None,
            )
            for m in r.measures
        )
        stored[kind] = replace(run, run_id=row.id, replaced=kept is not None)
    return stored


def current_version(session: Session, model: str) -> str | None:
    """The model version serving now, as the registry last recorded it."""
    return session.scalar(select(Model.current_version).where(Model.name == model))


def drift_history(
    session: Session, model: str, before: datetime, windows: int, segment: str | None = None
) -> dict[str, tuple[bool, ...]]:
    """Per column, whether it was beyond its threshold in each of the last `windows` drift
    runs before `before`, oldest first (the persistence rule's memory)."""
    runs = list(
        session.scalars(
            select(CheckRun.id)
            .join(Model, Model.id == CheckRun.model_id)
            .where(
                Model.name == model,
                CheckRun.kind == CheckKind.DRIFT.value,
                CheckRun.window_end < before,
                of_segment(segment),
            )
            .order_by(CheckRun.window_end.desc(), CheckRun.id.desc())
            .limit(windows)
        )
    )
    if not runs:
        return {}
    beyond: dict[tuple[int, str], bool] = {}
    for run_id, subject, name, value, threshold in session.execute(
        select(
            CheckMetric.run_id,
            CheckMetric.subject,
            CheckMetric.name,
            CheckMetric.value,
            CheckMetric.threshold,
        ).where(CheckMetric.run_id.in_(runs))
    ):
        try:
            method = Method(name)
        except ValueError:
            continue  # the dataset share, not a column
        if value is not None and threshold is not None:
            beyond[(run_id, subject)] = exceeds(method, value, threshold)
    columns = {subject for _, subject in beyond}
    return {c: tuple(beyond.get((run_id, c), False) for run_id in reversed(runs)) for c in columns}


def latest_window_end(session: Session, model: str, now: datetime) -> datetime | None:
    """The end of the latest window stored for a model (any kind) up to `now`: its
    present (a future window stored before those were refused is no one's)."""
    return session.scalar(
        select(func.max(CheckRun.window_end))
        .join(Model, Model.id == CheckRun.model_id)
        .where(Model.name == model, CheckRun.window_end <= now)
    )
