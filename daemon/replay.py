"""Replay: a job table run at its fire times in simulated time (`mlmaint demo`, the soak
benchmark and tests), on the scheduler's runner and triggers."""

from __future__ import annotations

import heapq
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from daemon.cadence import next_fire_time
from daemon.runs import RunOutcome
from daemon.stages import JobSpec

if TYPE_CHECKING:
    from daemon.schedule import JobRunner


def replay(
    runner: JobRunner,
    jobs: tuple[JobSpec, ...],
    start: datetime,
    end: datetime,
    on_run: Callable[[JobSpec, datetime, RunOutcome], None] | None = None,
) -> int:
    """Run `jobs` at their fire times from `start` to `end` in simulated time.

    Jobs fire in time order, ties in config order; each gets the simulated time as
    `now`. Returns how many runs happened. The demo and the soak benchmark use it.
    """
    pending: list[tuple[datetime, int]] = []
    for index, spec in enumerate(jobs):
        fire = next_fire_time(runner.trigger(spec), start)
        if fire is not None and fire <= end:
            heapq.heappush(pending, (fire, index))
    count = 0
    while pending:
        fire, index = heapq.heappop(pending)
        spec = jobs[index]
        outcome = runner(spec, fire)
        count += 1
        if on_run is not None:
            on_run(spec, fire, outcome)
        following = next_fire_time(runner.trigger(spec), fire + timedelta(microseconds=1))
        if following is not None and following <= end:
            heapq.heappush(pending, (following, index))
    return count
