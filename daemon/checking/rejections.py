"""Rejected rows as a quality finding: a share of incoming rows the schema refused.

Rows that fail validation never reach a window, so no check sees them; left
to the sampling log, a producer that starts sending a wrong type goes
unnoticed while the window quietly shrinks. The sampling jobs count every row
read per day and outcome (`ingest_counts`: sampled, skipped, capped, duplicate,
rejected:<reason>); the check cycle reads the days its window touches and fires
a quality alert when the rejected share is above
`[models.checks.quality] max_rejected_share`. It resolves like any other once
the share is back below it. Days, not the exact window: the counters are daily.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from checks.interface import CheckKind, CheckResult, Measure, Status
from daemon.alerts.finding import Finding
from daemon.checking.findings import findings_of
from daemon.config import ModelSettings
from daemon.store.tables import IngestCount, Model

PREDICTIONS = "predictions"
REJECTED = "rejected:"
# Not a row outcome: a count of values, kept beside the outcomes.
NOT_AN_OUTCOME = frozenset({"new_category"})


def _days(start: datetime, end: datetime) -> list[str]:
    last = (end - timedelta(microseconds=1)).date()
    day = start.date()
    out = []
    while day <= last:
        out.append(day.isoformat())
        day += timedelta(days=1)
    return out


def rejection_measure(
    session: Session, model: ModelSettings, start: datetime, end: datetime
) -> Measure | None:
    """The rejected share of the rows received on the window's days; None when the model
    does not ask for it or too few rows came in to say."""
    limit = model.checks.quality.max_rejected_share
    if not model.checks.quality.enabled:
        return None
    rows = session.execute(
        select(IngestCount.outcome, func.sum(IngestCount.count))
        .join(Model, Model.id == IngestCount.model_id)
        .where(
            Model.name == model.name,
            IngestCount.stream == PREDICTIONS,
            IngestCount.day.in_(_days(start, end)),
        )
        .group_by(IngestCount.outcome)
    ).all()
    counts = {str(o): int(c or 0) for o, c in rows if o not in NOT_AN_OUTCOME}
    received = sum(counts.values())
    if received < model.checks.min_rows:
        return None
    reasons = {o.removeprefix(REJECTED): c for o, c in counts.items() if o.startswith(REJECTED)}
    rejected = sum(reasons.values())
    share = rejected / received
    alert = share > limit
    detail = f"{rejected} of {received} rows received on the window's days"
    if reasons:
        detail += ": " + ", ".join(f"{r}={n}" for r, n in sorted(reasons.items()))
    return Measure(
        subject="rows",
        name="rejected_share",
        value=share,
        threshold=limit,
        status=Status.ALERT if alert else Status.OK,
        severity_ratio=(share / limit if limit > 0 else float("inf")) if alert else 0.0,
        detail=detail,
    )


def rejection_findings(
    session: Session,
    model: ModelSettings,
    start: datetime,
    end: datetime,
    *,
    critical_ratio: float,
) -> list[Finding]:
    measure = rejection_measure(session, model, start, end)
    if measure is None:
        return []
    result = CheckResult(
        kind=CheckKind.QUALITY,
        status=measure.status,
        rows=0,
        measures=(measure,),
    )
    return findings_of(model.name, result, critical_ratio=critical_ratio)
