"""When to retrain: sustained failures, a cadence, or a person; never a storm.

Pure: the daemon reads the store and hands the facts in. A model with a job
queued or running gets no second one; the concurrency cap and the minimum
interval hold for every trigger but the manual one, which only the duplicate
and concurrency guards stop. A pinned model (rolled back by a person) gets no
automatic job at all: a retrain would only be registered, never promoted, so
it is not worth its GPU time; a manual one still runs (and cannot promote).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


class Trigger(enum.StrEnum):
    MANUAL = "manual"
    DECAY = "decay"
    CADENCE = "cadence"
    INITIAL = "initial"


@dataclass(frozen=True, kw_only=True)
class PolicyInput:
    now: datetime
    manual: bool = False
    # Check passes since the last job, newest first: True where the pass failed.
    passes_failed: Sequence[bool] = ()
    failing_runs: int = 3
    every: timedelta | None = None
    min_interval: timedelta = timedelta(days=1)
    # The last job created for the model, whatever its end.
    last_job_at: datetime | None = None
    # When the serving version came to be (its job, or the model's first registration).
    serving_since: datetime | None = None
    model_has_active_job: bool = False
    active_jobs: int = 0
    max_concurrent: int = 1
    # "pinned to version 3 until ..." while a pin holds, else None.
    pinned: str | None = None


@dataclass(frozen=True, kw_only=True)
class Decision:
    submit: bool
    trigger: Trigger | None
    reason: str


def failing_streak(passes_failed: Sequence[bool]) -> int:
    """How many passes in a row, from the newest, failed."""
    streak = 0
    for failed in passes_failed:
        if not failed:
            break
        streak += 1
    return streak


def decide(facts: PolicyInput) -> Decision:
    if facts.model_has_active_job:
        return Decision(submit=False, trigger=None, reason="a job is already queued or running")
    if facts.active_jobs >= facts.max_concurrent:
        return Decision(
            submit=False,
            trigger=None,
            reason=f"{facts.active_jobs} job(s) running, the cap is {facts.max_concurrent}",
        )
    if facts.manual:
        return Decision(submit=True, trigger=Trigger.MANUAL, reason="requested by hand")
    if facts.pinned is not None:
        return Decision(submit=False, trigger=None, reason=facts.pinned)
    if facts.last_job_at is not None and facts.now - facts.last_job_at < facts.min_interval:
        return Decision(
            submit=False,
            trigger=None,
            reason=f"last job at {facts.last_job_at.isoformat()}, "
            f"the minimum interval is {facts.min_interval}",
        )
    streak = failing_streak(facts.passes_failed)
    if streak >= facts.failing_runs:
        return Decision(
            submit=True,
            trigger=Trigger.DECAY,
            reason=f"{streak} failing check passes in a row (threshold {facts.failing_runs})",
        )
    if facts.every is not None:
        since = facts.last_job_at or facts.serving_since
        if since is None or facts.now - since >= facts.every:
            return Decision(
                submit=True, trigger=Trigger.CADENCE, reason=f"cadence of {facts.every} reached"
            )
    return Decision(
        submit=False,
        trigger=None,
        reason=f"{streak} failing pass(es) in a row, {facts.failing_runs} needed",
    )
