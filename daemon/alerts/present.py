"""Alerts speak of now: which findings are about a model's present window.

A model's present is the latest window stored for it (any check kind), or, for
runs computed on workers, the latest window whose findings the leader applied. A finding
of an older window (a past window checked again, by hand or by a backfill)
neither fires nor resolves an alert: the policy sets it aside. Its run is still
stored, for /v1 and the report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from daemon.alerts.finding import Finding
from daemon.store.tables import CheckRun, Model


def current_findings(
    session: Session,
    findings: Sequence[Finding],
    clock: datetime | None = None,
    *,
    present: Mapping[str, datetime] | None = None,
) -> tuple[list[Finding], list[Finding]]:
    """(current, stale): a finding is stale when its window ends before the latest
    window stored for its model; events and findings without a window are current.

    A stored window ending after `clock` (the wall clock by default: a future window
    checked before `check` refused those) is no one's present and is not counted.
    `present` (a model's latest window whose findings were applied) replaces the
    latest stored window: the leader applies runs computed on workers in window
    order, and a worker may have stored a later window before an earlier one is
    applied (daemon/checking/remote.py).
    """
    wall = clock or datetime.now(UTC)
    scopes = {f.scope for f in findings if f.window_end is not None and f.event_id is None}
    if not scopes:
        return list(findings), []
    if present is not None:
        latest = {scope: end for scope, end in present.items() if scope in scopes}
    else:
        latest = dict(
            session.execute(
                select(Model.name, func.max(CheckRun.window_end))
                .join(CheckRun, CheckRun.model_id == Model.id)
                .where(Model.name.in_(sorted(scopes)), CheckRun.window_end <= wall)
                .group_by(Model.name)
            )
            .tuples()
            .all()
        )
    current: list[Finding] = []
    stale: list[Finding] = []
    for f in findings:
        newest = latest.get(f.scope)
        if f.window_end is not None and f.event_id is None and newest and f.window_end < newest:
            stale.append(f)
        else:
            current.append(f)
    return current, stale
