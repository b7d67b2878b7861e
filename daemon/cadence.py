"""Trigger and cycle math: when a schedule fires, and which cycle an instant is in.

Below both the scheduler and the report: the scheduler lays its jobs on these
triggers, and the report counts weeks and check runs with the same ones, so a
"cycle" means the same thing to both.

Interval schedules are laid on a fixed grid (multiples of the interval since a fixed
epoch), not on the process start, so every daemon sharing a store agrees on what a
"cycle" is. Cron schedules carry their own time zone (PITFALLS: `from_crontab`
ignores the scheduler's), and crontab weekday numbers are translated to names
(APScheduler 3 counts Monday as 0, crontab counts Sunday as 0).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from daemon.config import Schedule

# A Monday at midnight UTC: interval grids start here, so weekly intervals fall on Mondays.
GRID_EPOCH = datetime(2000, 1, 3, tzinfo=UTC)

_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_NUMERIC_PART = re.compile(r"^(\*|\d+)(?:-(\d+))?(?:/(\d+))?$")


def crontab_weekdays(field: str) -> str:
    """A crontab day-of-week field in APScheduler 3's terms (names, Sunday = 0 or 7)."""
    if field == "*" or not any(ch.isdigit() for ch in field.replace("*/", "")):
        return field
    days: list[str] = []
    for part in field.split(","):
        match = _NUMERIC_PART.match(part)
        if match is None:
            if part.isalpha() or re.fullmatch(r"[a-z]{3}-[a-z]{3}", part):
                days.append(part)
                continue
            raise ValueError(f"cannot read day-of-week {part!r} in {field!r}")
        start, end, step = match.groups()
        first = 0 if start == "*" else int(start)
        last = 6 if start == "*" else int(end) if end is not None else first
        if first > 7 or last > 7:
            raise ValueError(f"day-of-week {part!r} out of range 0-7")
        days.extend(_WEEKDAYS[n % 7] for n in range(first, last + 1, int(step or 1)))
    return ",".join(dict.fromkeys(days))


def trigger_for(schedule: Schedule) -> BaseTrigger:
    """The APScheduler trigger of a config Schedule, always with an explicit time zone."""
    if schedule.every is not None:
        return IntervalTrigger(
            seconds=schedule.every.total_seconds(), start_date=GRID_EPOCH, timezone=UTC
        )
    assert schedule.cron is not None  # a Schedule holds exactly one of the two
    minute, hour, day, month, dow = schedule.cron.split()
    return CronTrigger(
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=crontab_weekdays(dow),
        timezone=ZoneInfo(schedule.timezone),
    )


def next_fire_time(trigger: BaseTrigger, after: datetime) -> datetime | None:
    """The first fire time at or after `after`."""
    fire: datetime | None = trigger.get_next_fire_time(None, after)
    return None if fire is None else fire.astimezone(UTC)


def cycle_start(trigger: BaseTrigger, now: datetime) -> datetime | None:
    """The latest fire time at or before `now`: the start of the current cycle."""
    # Widening look-back keeps this cheap for minutely crons and correct for yearly ones.
    for back in (
        timedelta(minutes=2),
        timedelta(hours=2),
        timedelta(days=2),
        timedelta(days=35),
        timedelta(days=400),
    ):
        fire = next_fire_time(trigger, now - back)
        if fire is None or fire > now:
            continue
        while True:
            following = next_fire_time(trigger, fire + timedelta(microseconds=1))
            if following is None or following > now:
                return fire
            fire = following
    return None


def period(trigger: BaseTrigger, now: datetime) -> timedelta:
    """The gap between two consecutive fire times around `now`."""
    first = next_fire_time(trigger, now)
    second = None if first is None else next_fire_time(trigger, first + timedelta(microseconds=1))
    if first is None or second is None:
        return timedelta(days=1)
    return second - first


def misfire_grace(trigger: BaseTrigger, now: datetime) -> int:
    """Half a period, at least 30 s and at most an hour.

    A run that the scheduler could not start on time (the box was suspended, the pool
    was busy) still runs while it is useful; a later one is coalesced into the next.
    """
    half = period(trigger, now).total_seconds() / 2
    return int(max(30, min(half, 3600)))
