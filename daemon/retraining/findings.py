"""What the stage tells: each retrain decision as an event, told once.

Promoted (the metric, champion score -> challenger score), kept the champion
(both scores), failed or timed out (the error), rolled back. A job's event ends
with what started it: drift, performance decay or both, a person, the cadence.
An event's id is the job's (or the rollback's), so it is never told twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from daemon.alerts.finding import Finding, StageKind
from daemon.config import Severity
from daemon.store.tables import RetrainJob
from daemon.tables import fmt_value
from retrain.interface import JobState, JobStatus, RetrainOutcome
from retrain.policy import Trigger, trigger_words

if TYPE_CHECKING:
    from retrain.registry import Rollback


def _score(value: float | None) -> str:
    return fmt_value(value)


def started(trigger: str) -> str | None:
    """How the job began, after "retrained" or "started": "for drift", "by hand"; None
    for the first version (its summary says so)."""
    match trigger:
        case Trigger.INITIAL:
            return None
        case Trigger.MANUAL:
            return "by hand"
        case Trigger.CADENCE:
            return "on its cadence"
        case Trigger.DRIFT | Trigger.DECAY | Trigger.DRIFT_AND_DECAY:
            return f"for {trigger_words(trigger)}"
        case _:
            return f"by trigger {trigger!r}"


def _not_promoted(job: RetrainJob, outcome: RetrainOutcome) -> str:
    """Why a scored challenger was not promoted, each value once: the metric, champion
    vs challenger, the margin and which way is better (the job's reason, kept in MLflow
    as the version's decision, says them again with the gain: not repeated here)."""
    # The checks' metrics (numpy, scikit-learn) only when a decision is told.
    from checks.performance import LOWER_IS_BETTER, Metric

    if outcome.challenger_score is None or outcome.champion_score is None:
        return outcome.reason
    scores = (
        f"{outcome.metric} champion {_score(outcome.champion_score)} vs challenger "
        f"{_score(outcome.challenger_score)}"
    )
    try:
        better = "lower" if Metric(outcome.metric or "") in LOWER_IS_BETTER else "higher"
    except ValueError:
        better = None  # a metric this version does not know: no direction to state
    margin = job.spec.get("promote_margin")
    terms = ", ".join(
        t
        for t in (
            f"margin {_score(margin)}" if isinstance(margin, int | float) else None,
            f"{better} is better" if better else None,
        )
        if t
    )
    said = f"{scores} ({terms})" if terms else scores
    if job.spec.get("allow_promotion") is False:
        said = f"the model is pinned; {said}"
    configured = job.spec.get("metric")
    if isinstance(configured, str) and configured != outcome.metric:
        # One side gives labels only: both were scored on a metric of labels.
        said += f"; compared on {outcome.metric} of labels, not {configured}"
    return said


def job_finding(model: str, job: RetrainJob, status: JobStatus) -> Finding:
    """The job's decision as an event, told once (its id is the job's); the summary
    ends with what started the job (drift, performance decay, both, a person...)."""
    why = started(job.trigger)
    outcome = status.outcome
    details: dict[str, object] = {
        "job_id": job.job_uid,
        "trigger": job.trigger,
        "executor": job.executor,
        "state": status.state.value,
        "snapshot_sha256": job.snapshot_sha256,
    }
    if status.state is JobState.SUCCEEDED and outcome is not None:
        details.update(
            version=outcome.registered_version,
            champion_version=outcome.champion_version,
            metric=outcome.metric,
            challenger_score=outcome.challenger_score,
            champion_score=outcome.champion_score,
            run_id=outcome.run_id,
            reason=outcome.reason,
        )
        metric = outcome.metric or "score"
        if outcome.promoted and outcome.champion_version is None:
            subject = "promotion"
            summary = (
                f"{model}: promoted version {outcome.registered_version}, the first to serve "
                f"({metric} {_score(outcome.challenger_score)} on the holdout)"
            )
        elif outcome.promoted:
            subject = "promotion"
            summary = (
                f"{model}: promoted version {outcome.registered_version} over version "
                f"{outcome.champion_version}: {metric} {_score(outcome.champion_score)} -> "
                f"{_score(outcome.challenger_score)}"
            )
        elif outcome.registered_version is None:
            subject = "promotion skipped"
            summary = f"{model}: kept version {outcome.champion_version}: {outcome.reason}"
        else:
            subject = "promotion skipped"
            summary = (
                f"{model}: kept version {outcome.champion_version}, retrained version "
                f"{outcome.registered_version} not promoted: {_not_promoted(job, outcome)}"
            )
        if why is not None:
            summary += f"; retrained {why}"
        return Finding(
            scope=model,
            kind=StageKind.RETRAIN,
            subject=subject,
            firing=False,
            severity=Severity.INFO,
            summary=summary,
            details=details,
            event_id=job.job_uid,
        )
    details["log_tail"] = (status.log_tail or "")[-4000:]
    return Finding(
        scope=model,
        kind=StageKind.RETRAIN,
        subject="failure",
        # Firing: something went wrong (`mlmaint retrain` exits 1); told once all the same.
        firing=True,
        severity=Severity.WARNING,
        summary=f"{model}: retrain job {job.job_uid} {status.state.value}: "
        f"{status.error or 'no error reported'}" + (f"; started {why}" if why else ""),
        details=details,
        event_id=job.job_uid,
    )


def not_started(model: str, reason: str) -> Finding:
    """A reply to whoever asked for a retrain the policy said no to (not an alert)."""
    return Finding(
        scope=model,
        kind=StageKind.RETRAIN,
        subject="request",
        firing=False,
        severity=Severity.INFO,
        summary=f"retrain of {model} not started: {reason}",
    )


def rollback_finding(
    model: str,
    result: Rollback,
    *,
    by: str,
    until: datetime | None,
    pin_reason: str,
    now: datetime,
) -> Finding:
    return Finding(
        scope=model,
        kind=StageKind.RETRAIN,
        subject="rollback",
        firing=False,
        severity=Severity.WARNING,
        summary=f"{model}: rolled back from version {result.from_version} to version "
        f"{result.to_version} by {by} at {now.isoformat()}; {pin_reason}",
        details={
            "from_version": result.from_version,
            "to_version": result.to_version,
            "by": by,
            "pinned_until": until.isoformat() if until is not None else None,
            "reference_uri": result.reference_uri,
        },
        event_id=f"rollback:{result.from_version}->{result.to_version}@{now.isoformat()}",
    )
