"""[checks]: what the daemon does about checks across models (a model's own checks are
under [models.checks], daemon/config/model_checks.py).

`backfill`: on the daemon's first start, how far back each model that has never
been checked is checked over its stored rows, so the history (trend charts, the
weekly report, the persistence rule's memory) does not begin at the start.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import field_validator

from daemon.config.common import Duration, Frozen


class CheckingSettings(Frozen):
    # 0 turns the first-start backfill off.
    backfill: Duration = timedelta(days=7)

    @field_validator("backfill")
    @classmethod
    def _not_negative(cls, value: timedelta) -> timedelta:
        if value < timedelta(0):
            raise ValueError(f"must be >= 0, got {value}")
        return value
