"""[checks]: what the daemon does about checks across models (a model's own checks are
under [models.checks], daemon/config/model_checks.py).

`backfill`: on the daemon's first start, how far back each model that has never
been checked is checked over its stored rows, so the history (trend charts, the
weekly report, the persistence rule's memory) does not begin at the start.

`run_on`: where a scheduled check run computes. "daemon" (the default) runs it in
the leader; "celery" sends it to the `[checks.celery]` queue, where any number of
`mlmaint worker --queue checks` consume it (daemon/checking/remote.py).
"""

from __future__ import annotations

import enum
from datetime import timedelta
from typing import Self

from pydantic import Field, field_validator, model_validator

from daemon.config.common import Duration, Frozen


class RunOn(enum.StrEnum):
    DAEMON = "daemon"
    CELERY = "celery"


class CheckWorkerSettings(Frozen):
    broker_url: str = "redis://127.0.0.1:6379/0"
    result_backend: str = "redis://127.0.0.1:6379/1"
    queue: str = "checks"
    # One run's time on a worker: past it the worker stops the run (Celery's hard
    # time limit) and the leader sends the run again, up to `attempts` sends.
    deadline: Duration = timedelta(minutes=10)
    attempts: int = Field(default=3, ge=1)
    # How often the leader collects finished runs and applies their findings.
    collect_every: Duration = timedelta(seconds=30)
    # Above the deadline, or Redis re-delivers a run that is still running (PITFALLS).
    visibility_timeout: Duration = timedelta(minutes=30)

    @model_validator(mode="after")
    def _visible_past_the_deadline(self) -> Self:
        if self.visibility_timeout <= self.deadline:
            raise ValueError(
                f"visibility_timeout ({self.visibility_timeout}) must be above the deadline "
                f"({self.deadline}): Redis would re-deliver a run that is still running"
            )
        if self.deadline <= timedelta(0) or self.collect_every <= timedelta(0):
            raise ValueError("deadline and collect_every must be > 0")
        return self


class CheckingSettings(Frozen):
    # 0 turns the first-start backfill off.
    backfill: Duration = timedelta(days=7)
    run_on: RunOn = RunOn.DAEMON
    celery: CheckWorkerSettings = CheckWorkerSettings()

    @field_validator("backfill")
    @classmethod
    def _not_negative(cls, value: timedelta) -> timedelta:
        if value < timedelta(0):
            raise ValueError(f"must be >= 0, got {value}")
        return value
