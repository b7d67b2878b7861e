"""When to retrain: sustained failures, a cadence, or a person; never a storm.

A job started by failures says which: drift, performance decay, or both, each
counted on its own check kind's passes.

Pure: the daemon reads the store and hands the facts in. A model with a job
queued or running gets no second one; the concurrency cap and the minimum
interval hold for every trigger but the manual one, which only the duplicate
and concurrency guards stop. A pinned model (rolled back by a person) gets no
automatic job at all: a retrain would only be registered, never promoted, so
it is not worth its GPU time; a manual one still runs (and cannot promote).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from checks.interface import CheckKind


class Trigger(enum.StrEnum):
    """Why a job was started; the job's row keeps the value."""

    MANUAL = "manual"
    # Sustained failing check passes, named by what failed: the inputs' drift, the
    # performance (realized or estimated), or both at once.
    DRIFT = "drift"
    DECAY = "decay"
    DRIFT_AND_DECAY = "drift_and_decay"
    CADENCE = "cadence"
    INITIAL = "initial"

    @property
    def words(self) -> str:
        """What started the job, as a person says it: "drift and performance decay"."""
        return _TRIGGER_WORDS[self]


_TRIGGER_WORDS = {
    Trigger.MANUAL: "by hand",
    Trigger.DRIFT: "drift",
    Trigger.DECAY: "performance decay",
    Trigger.DRIFT_AND_DECAY: "drift and performance decay",
    Trigger.CADENCE: "cadence",
    Trigger.INITIAL: "first version",
}

# The check kinds whose failing passes are drift; the others (performance, estimated
# performance) are performance decay.
DRIFT_KINDS = frozenset({CheckKind.DRIFT})


def trigger_words(value: str) -> str:
    """A stored trigger in words; a value this version does not know, as it is."""
    try:
        return Trigger(value).words
    except ValueError:
        return value


@dataclass(frozen=True, kw_only=True)
class PolicyInput:
    now: datetime
    manual: bool = False
    # Per check kind, its passes since the last job, newest first: True where the pass
    # failed. Each kind runs on its own cadence, so each has its own streak.
    passes_failed: Mapping[CheckKind, Sequence[bool]] = field(default_factory=dict)
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
    streaks = {kind: failing_streak(p) for kind, p in facts.passes_failed.items()}
    due = {kind: n for kind, n in streaks.items() if n >= facts.failing_runs}
    if due:
        trigger = failed_trigger(due)
        passes = " and ".join(
            f"{n} failing {_kind_words(kind)} check passes"
            for kind, n in sorted(due.items(), key=lambda kv: (kv[0] not in DRIFT_KINDS, kv[0]))
        )
        return Decision(
            submit=True,
            trigger=trigger,
            reason=f"{trigger.words}: {passes} in a row (threshold {facts.failing_runs})",
        )
    if facts.every is not None:
        since = facts.last_job_at or facts.serving_since
        if since is None or facts.now - since >= facts.every:
            return Decision(
                submit=True, trigger=Trigger.CADENCE, reason=f"cadence of {facts.every} reached"
            )
    if streaks:
        kind, n = max(streaks.items(), key=lambda kv: kv[1])
        so_far = f"{n} failing {_kind_words(kind)} pass(es) in a row"
    else:
        so_far = "no failing pass"
    return Decision(submit=False, trigger=None, reason=f"{so_far}, {facts.failing_runs} needed")


def _kind_words(kind: CheckKind) -> str:
    return kind.value.replace("_", " ")


def failed_trigger(kinds: Iterable[CheckKind]) -> Trigger:
    """The trigger that names what failed: drift, performance decay, or both."""
    found = set(kinds)
    drift = bool(found & DRIFT_KINDS)
    decay = bool(found - DRIFT_KINDS)
    if drift and decay:
        return Trigger.DRIFT_AND_DECAY
    return Trigger.DRIFT if drift else Trigger.DECAY
