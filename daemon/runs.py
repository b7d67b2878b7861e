"""What a job run leaves behind: the `job_runs` status words and the run counters.

Kept apart from the runner so that the report, which reads `job_runs`, shares the
words without reaching up to the scheduler (whose job table runs the report).
"""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass

# `job_runs.last_status` between a run's start and its end.
RUNNING = "running"


class RunOutcome(enum.StrEnum):
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass
class SchedulerStats:
    """In-memory counters since start, exported as metrics."""

    runs: Counter[str]
    failures: Counter[str]
    missed: Counter[str]
    overlapping: Counter[str]
    duration_sum_s: dict[str, float]
    bookkeeping_errors: int = 0

    @classmethod
    def empty(cls) -> SchedulerStats:
        return cls(
            runs=Counter(),
            failures=Counter(),
            missed=Counter(),
            overlapping=Counter(),
            duration_sum_s={},
        )
