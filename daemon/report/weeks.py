"""ISO weeks in the report's time zone: parsing, bounds and which week is due.

A report covers Monday 00:00 to the next Monday 00:00 in the configured time
zone (the one the schedule fires in), stored and queried as UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


class WeekError(ValueError):
    """A week label that is not an ISO week such as 2026-W47."""


@dataclass(frozen=True, kw_only=True)
class Week:
    label: str
    monday: date
    timezone: str

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def start(self) -> datetime:
        """Monday 00:00 local, in UTC."""
        return datetime.combine(self.monday, time(), self.zone).astimezone(UTC)

    @property
    def end(self) -> datetime:
        """The next Monday 00:00 local, in UTC (exclusive)."""
        return datetime.combine(self.monday + timedelta(days=7), time(), self.zone).astimezone(UTC)

    def start_of(self, day: date) -> datetime:
        """Local midnight of `day`, in UTC."""
        return datetime.combine(day, time(), self.zone).astimezone(UTC)

    @property
    def days(self) -> tuple[date, ...]:
        return tuple(self.monday + timedelta(days=i) for i in range(7))

    def local_day(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()

    def previous(self) -> Week:
        return week_of_date(self.monday - timedelta(days=7), self.timezone)


def week_of_date(day: date, timezone: str = "UTC") -> Week:
    year, number, weekday = day.isocalendar()
    return Week(
        label=f"{year}-W{number:02d}",
        monday=day - timedelta(days=weekday - 1),
        timezone=timezone,
    )


def parse_week(label: str, timezone: str = "UTC") -> Week:
    match = _WEEK.match(label.strip())
    if match is None:
        raise WeekError(f"not an ISO week: {label!r} (expected e.g. 2026-W47)")
    year, number = int(match.group(1)), int(match.group(2))
    try:
        monday = date.fromisocalendar(year, number, 1)
    except ValueError as exc:
        weeks = date(year, 12, 28).isocalendar().week  # the last ISO week of the year
        raise WeekError(
            f"not an ISO week: {label!r} ({year} has weeks W01 to W{weeks:02d}; "
            "expected e.g. 2026-W47)"
        ) from exc
    return week_of_date(monday, timezone)


def week_containing(moment: datetime, timezone: str = "UTC") -> Week:
    return week_of_date(moment.astimezone(ZoneInfo(timezone)).date(), timezone)


def last_complete_week(moment: datetime, timezone: str = "UTC") -> Week:
    """The latest week that ended at or before `moment`."""
    return week_containing(moment, timezone).previous()


def require_started(week: Week, now: datetime) -> Week:
    """`week` if it has begun by `now` (the week in progress may be reported so far)."""
    if week.start > now:
        raise WeekError(
            f"week {week.label} starts {week.start.astimezone(week.zone):%Y-%m-%d %H:%M %Z},"
            " after now: there is nothing to report yet (the latest complete week is "
            f"{last_complete_week(now, week.timezone).label})"
        )
    return week


def weeks_between(start: datetime, end: datetime, timezone: str = "UTC") -> tuple[Week, ...]:
    """Every week that overlaps [start, end), oldest first."""
    weeks: list[Week] = []
    week = week_containing(start, timezone)
    while week.start < end:
        weeks.append(week)
        week = week_of_date(week.monday + timedelta(days=7), timezone)
    return tuple(weeks)
