"""The model's serving version outside a scheduled job: the first one, a rollback, a pin lifted.

A rollback pins the model to the version it rolled back to; the serving
version's reference (its MLflow tags) becomes the model's reference again, so
the checks and their baseline follow.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from daemon.alerts.policy import apply_findings
from daemon.frames import typed_training
from daemon.retraining.findings import rollback_finding
from daemon.retraining.pins import Pin, pin_of
from daemon.retraining.records import add_inline_job, clear_pin, model_row, set_rolled_back
from daemon.retraining.specs import build_spec, job_deadline, plan_of, tracking_uri
from daemon.store.engine import transaction
from daemon.store.versions import sync_versions
from retrain.interface import RetrainOutcome
from retrain.policy import Trigger

if TYPE_CHECKING:
    import pandas as pd

    from daemon.jobs import JobContext
    from retrain.registry import Rollback

log = logging.getLogger(__name__)


def register_initial_version(
    ctx: JobContext, model: str, reference: pd.DataFrame, now: datetime
) -> RetrainOutcome:
    """Train on `reference`, register it, give it the serving alias, make it the reference.

    Runs in this process through the same job code as any retrain (trigger
    "initial", no holdout: the first version serves).
    """
    from retrain.job import execute
    from retrain.snapshot import write_snapshot

    plan = plan_of(ctx.settings, model)
    schema = plan.model.schema_
    columns = [*schema.features, schema.label]
    # The newest share of the history is held out: the first version's baseline and
    # the calibration of its scores come from rows it never saw.
    frame = typed_training(reference, plan.model)
    n_holdout = round(len(frame) * plan.holdout_share)
    directory = ctx.state_dir / "snapshots" / model
    snapshot = write_snapshot(frame.iloc[: len(frame) - n_holdout], directory, columns)
    holdout = (
        write_snapshot(frame.iloc[len(frame) - n_holdout :], directory, columns)
        if n_holdout
        else None
    )
    spec = build_spec(
        ctx.settings, plan.model, uuid.uuid4().hex, Trigger.INITIAL.value, snapshot, holdout
    )
    outcome = execute(spec)
    with transaction(ctx.sessions) as session:
        row = model_row(session, model, now)
        add_inline_job(
            session, row, spec, outcome, now=now, deadline=job_deadline(ctx.settings, now)
        )
        if outcome.registered_version:
            sync_versions(session, tracking_uri(ctx.settings), row.id, model, now)
    return outcome


def rollback(
    ctx: JobContext,
    model: str,
    now: datetime,
    *,
    until: datetime | None = None,
    by: str | None = None,
) -> Rollback:
    """Move the serving alias back to the previous champion, pin it, restore its reference.

    The model stays pinned to the rolled-back-to version until `unpin`, or until
    `until`. Its reference becomes that version's (from its tags): the checks and
    their baseline follow the serving version. A version with no reference of its
    own leaves the model without one (and the checks say so) rather than keeping
    the rolled-back version's. The rollback is told once, as an event.
    """
    from retrain.registry import rollback as registry_rollback

    if until is not None and until <= now:
        raise ValueError(f"pin until {until.isoformat()} is not in the future")
    plan = plan_of(ctx.settings, model)
    who = by or "unknown"
    until_text = until.isoformat() if until is not None else "unpinned"
    note = f"by {who} at {now.isoformat()}, pinned until {until_text}"
    result = registry_rollback(tracking_uri(ctx.settings), model, plan.alias, note=note)
    with transaction(ctx.sessions) as session:
        row = model_row(session, model, now)
        set_rolled_back(row, result, now=now, until=until, by=who)
        sync_versions(session, tracking_uri(ctx.settings), row.id, model, now)
        pin = pin_of(row)
        assert pin is not None  # just set
        finding = rollback_finding(
            model, result, by=who, until=until, pin_reason=pin.reason, now=now
        )
        apply_findings(session, ctx.settings, [finding], now)
    log.info(
        "rolled %s back from version %s to %s (%s)",
        model,
        result.from_version,
        result.to_version,
        pin.reason,
    )
    return result


def unpin(ctx: JobContext, model: str, now: datetime) -> Pin | None:
    """Lift the model's pin (expired or not); returns the pin that was lifted, if any."""
    with transaction(ctx.sessions) as session:
        row = model_row(session, model, now)
        pin = pin_of(row)
        clear_pin(row)
    if pin is not None:
        log.info("unpinned %s from version %s", model, pin.version)
    return pin
