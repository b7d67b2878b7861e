"""The retention jobs: each model's old rows, and once for all what no model owns.

Rows are kept per model (`models[].sampling.retention`): one job per model purges
its own. Evidence pages share one directory and one size bound (`[evidence]`), and
the job history one age (`[service] job_history`): one global job, on the same
`retention_schedule`, sweeps them once a cycle however many models there are.
Both are idempotent: run again, they find nothing more to do.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete

from daemon.evidence.retention import SweepOutcome, sweep_evidence
from daemon.sampling import purge_expired
from daemon.sampling.outcomes import PurgeOutcome
from daemon.store.tables import JobHistory

if TYPE_CHECKING:
    from daemon.jobs import JobContext

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class SweepAllOutcome:
    evidence: SweepOutcome
    # Job runs older than `[service] job_history`, deleted.
    job_runs_deleted: int


def apply_retention(ctx: JobContext, model: str, now: datetime) -> PurgeOutcome:
    """Purge the model's expired rows."""
    return purge_expired(ctx, model, now)


def prune_job_history(ctx: JobContext, now: datetime) -> int:
    """Delete the job runs older than `[service] job_history`; how many went."""
    cutoff = now - ctx.settings.service.job_history
    with ctx.sessions.begin() as session:
        result = session.execute(delete(JobHistory).where(JobHistory.started_at < cutoff))
    deleted = int(getattr(result, "rowcount", 0) or 0)
    if deleted:
        log.info("job history: deleted %d runs started before %s", deleted, cutoff.isoformat())
    return deleted


def sweep_all(ctx: JobContext, now: datetime) -> SweepAllOutcome:
    """The evidence pages beyond their bounds, then the job runs beyond their age."""
    return SweepAllOutcome(
        evidence=sweep_evidence(ctx, now), job_runs_deleted=prune_job_history(ctx, now)
    )
