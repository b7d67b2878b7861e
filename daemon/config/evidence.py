"""[evidence]: how long evidence pages are kept, and when Evidently's report is written.

Each alerting drift window gets mlmaint's own small evidence page. The retention
job deletes the oldest pages once they are older than `max_age` or once all of
them together pass `max_total` bytes. Evidently's full report (megabytes,
seconds to build) is written on demand by `mlmaint evidence NAME --at TIME
--evidently`, or with `evidently_on_firing` once per alert firing.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import BeforeValidator, field_validator

from daemon.config.common import Duration, Frozen

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?\s*$", re.IGNORECASE)
_UNIT_BYTES = {
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}


def _parse_size(value: object) -> object:
    """Accept "500MB", "2GiB", "800 KB" or a number of bytes."""
    if isinstance(value, bool):
        raise ValueError(f"expected a size like '500MB' or '2GiB', got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        match = _SIZE_RE.match(value)
        if match:
            unit = (match.group(2) or "B").lower()
            return int(float(match.group(1)) * _UNIT_BYTES[unit])
    raise ValueError(f"expected a size like '500MB' or '2GiB', got {value!r}")


ByteSize = Annotated[int, BeforeValidator(_parse_size)]


class EvidenceSettings(Frozen):
    # Pages older than this are deleted by the retention job.
    max_age: Duration = timedelta(days=30)
    # All pages together stay under this many bytes: the oldest go first.
    max_total: ByteSize = 500 * 10**6
    # Also write Evidently's full report when a drift alert starts firing (once per
    # firing, not per window): megabytes and seconds each.
    evidently_on_firing: bool = False

    @field_validator("max_age")
    @classmethod
    def _positive_age(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError(f"must be > 0, got {value}")
        return value

    @field_validator("max_total")
    @classmethod
    def _positive_total(cls, value: int) -> int:
        if value <= 0:
            raise ValueError(f"must be > 0 bytes, got {value}")
        return value
