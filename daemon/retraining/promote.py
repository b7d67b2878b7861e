"""A job's end, recorded with its alert; a promotion that lands on a pinned model undone.

The serving alias moves in the job itself (retrain/registry.py). A job begun
before a rollback pinned its model may still promote at its end: the daemon
puts the alias back on the pinned version and says so in the decision.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from daemon.alerts.finding import Finding
from daemon.alerts.policy import apply_findings
from daemon.config import Settings
from daemon.retraining.pins import Pin, active_pin
from daemon.retraining.records import record_status
from daemon.retraining.specs import plan_of, tracking_uri
from daemon.store.tables import Model, RetrainJob
from daemon.store.versions import sync_versions
from retrain.interface import JobState, JobStatus

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

log = logging.getLogger(__name__)


def finish(
    session: Session,
    settings: Settings,
    job: RetrainJob,
    model: str,
    status: JobStatus,
    now: datetime,
) -> Finding | None:
    """Record a job's status and, when it ended, apply its alert in the same transaction."""
    pin = _pinned_against(session, job, status, now)
    if pin is not None:
        status = _undo_promotion(settings, model, pin, status)
    finding = record_status(session, job, model, status, now)
    if status.state.finished and status.outcome and status.outcome.registered_version:
        # A new version, perhaps a moved alias: the store's copy of the registry follows.
        sync_versions(session, tracking_uri(settings), job.model_id, model, now)
    if finding is not None and pin is not None and status.outcome is not None:
        finding = replace(
            finding,
            summary=f"{model}: retrained version {status.outcome.registered_version} not "
            f"promoted: {pin.reason} (the job began before the pin; the alias is back on "
            f"version {pin.version})",
        )
    if finding is not None:
        apply_findings(session, settings, [finding], now)
    return finding


def _pinned_against(
    session: Session, job: RetrainJob, status: JobStatus, now: datetime
) -> Pin | None:
    """The pin a job's promotion runs into: it was submitted before a rollback pinned it."""
    outcome = status.outcome
    if status.state is not JobState.SUCCEEDED or outcome is None or not outcome.promoted:
        return None
    pin = active_pin(session.get_one(Model, job.model_id), now)
    if pin is None or pin.version == outcome.registered_version:
        return None
    return pin


def _undo_promotion(settings: Settings, model: str, pin: Pin, status: JobStatus) -> JobStatus:
    """Put the serving alias back on the pinned version and record why on the new one."""
    from retrain import registry

    outcome = status.outcome
    assert outcome is not None and outcome.registered_version is not None  # see _pinned_against
    client = registry.client(tracking_uri(settings))
    client.set_registered_model_alias(model, plan_of(settings, model).alias, pin.version)
    reason = f"promotion undone: {pin.reason} (it had been promoted: {outcome.reason})"
    registry.record_decision(client, model, outcome.registered_version, reason)
    log.warning(
        "retrain of %s promoted version %s against its pin to version %s: undone",
        model,
        outcome.registered_version,
        pin.version,
    )
    return replace(status, outcome=replace(outcome, promoted=False, reason=reason))
