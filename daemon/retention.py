"""The retention job: a model's old rows, then the evidence pages beyond their bounds.

Rows are kept per model (`models[].sampling.retention`); evidence pages share one
directory and one size bound (`[evidence]`), so each model's job sweeps all of
them. The sweep is idempotent: jobs that run at the same minute find less to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from daemon.evidence.retention import SweepOutcome, sweep_evidence
from daemon.sampling import purge_expired
from daemon.sampling.outcomes import PurgeOutcome

if TYPE_CHECKING:
    from daemon.jobs import JobContext


@dataclass(frozen=True, kw_only=True)
class RetentionOutcome:
    rows: PurgeOutcome
    evidence: SweepOutcome


def apply_retention(ctx: JobContext, model: str, now: datetime) -> RetentionOutcome:
    """Purge the model's expired rows, then sweep the evidence pages."""
    return RetentionOutcome(rows=purge_expired(ctx, model, now), evidence=sweep_evidence(ctx, now))
