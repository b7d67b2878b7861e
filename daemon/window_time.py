"""A window end as people type it (`--at`) and as file names carry it.

Window ends are wall-clock times with microseconds in daemon mode (a scheduled
check ends its window at the moment it runs). Both forms here keep every digit
a window end has, so a printed `mlmaint check NAME --at ...` names the stored
window exactly (re-checking it replaces its runs, no twin window) and two
windows never share an evidence file name. Whole seconds and minutes stay
short: 2026-03-02T10:00Z, 2026-03-02T10:00:30Z, 2026-03-02T10:00:30.514252Z.
"""

from __future__ import annotations

from datetime import UTC, datetime


def _utc(end: datetime) -> datetime:
    return end.replace(tzinfo=UTC) if end.tzinfo is None else end.astimezone(UTC)


def at_text(end: datetime, *, short: bool = True) -> str:
    """The end as `--at` takes it, parsed back to the same instant; `short`: a whole
    minute without its seconds (2026-03-02T10:00Z, else 2026-03-02T10:00:00Z)."""
    end = _utc(end)
    if end.microsecond:
        return end.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return end.strftime("%Y-%m-%dT%H:%MZ" if short and end.second == 0 else "%Y-%m-%dT%H:%M:%SZ")


def file_stamp(end: datetime) -> str:
    """The end in a file name: 20260302T100030Z, or 20260302T100030.514252Z."""
    end = _utc(end)
    if end.microsecond:
        return end.strftime("%Y%m%dT%H%M%S.%fZ")
    return end.strftime("%Y%m%dT%H%M%SZ")


def parse_file_stamp(text: str) -> datetime:
    """`file_stamp` read back; ValueError when it is not one."""
    fmt = "%Y%m%dT%H%M%S.%fZ" if "." in text else "%Y%m%dT%H%M%SZ"
    return datetime.strptime(text, fmt).replace(tzinfo=UTC)
