"""[evidence]: how long evidence pages are kept, and when Evidently's report is written.

Each alerting drift window gets mlmaint's own small evidence page. The retention
job deletes the oldest pages once they are older than `max_age` or once all of
them together pass `max_total` bytes. Evidently's full report (megabytes,
seconds to build) is written on demand by `mlmaint evidence NAME --at TIME
--evidently`, or with `evidently_on_firing` once per alert firing.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import field_validator

from daemon.config.common import ByteCount, ByteSize, Duration, Frozen


class EvidenceSettings(Frozen):
    # Pages older than this are deleted by the retention job.
    max_age: Duration = timedelta(days=30)
    # All pages together stay under this many bytes: the oldest go first.
    max_total: ByteSize = ByteCount(500 * 10**6)
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
