"""What each sampling job did: counts by outcome, rejects by reason, duration.

The counters a job accumulates (`Counter[str]`, keys as in the ingest_counts
table: "sampled", "duplicate", "rejected:<reason>", ...) become these frozen
outcomes, which the scheduler logs and the HTTP API answers with.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from daemon.sampling.records import PREDICTIONS


@dataclass(frozen=True, kw_only=True)
class SampleOutcome:
    model: str
    stream: str = PREDICTIONS
    read: int = 0
    sampled: int = 0
    skipped: int = 0
    duplicates: int = 0
    capped: int = 0
    new_categories: int = 0
    labels_joined: int = 0
    # Rows stored with the label they carried (the schema's label column in the log).
    labelled: int = 0
    rejected: Mapping[str, int] = field(default_factory=dict)
    duration_s: float = 0.0

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())


@dataclass(frozen=True, kw_only=True)
class LabelOutcome:
    model: str
    read: int = 0
    joined: int = 0
    pending: int = 0
    skipped: int = 0
    rejected: Mapping[str, int] = field(default_factory=dict)
    duration_s: float = 0.0

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())


@dataclass(frozen=True, kw_only=True)
class PurgeOutcome:
    model: str
    predictions: int = 0
    pending_labels: int = 0
    rejected_rows: int = 0
    duration_s: float = 0.0


def rejected(counts: Counter[str]) -> dict[str, int]:
    return {
        k.removeprefix("rejected:"): v
        for k, v in sorted(counts.items())
        if k.startswith("rejected:")
    }


def persisted(counts: Counter[str]) -> dict[str, int]:
    """The counts the predictions stream keeps in ingest_counts (not the rows read, not
    the labels joined or carried: those count on the labels stream)."""
    return {k: v for k, v in counts.items() if k not in ("read", "labels_joined", "labelled") and v}


def sample_outcome(name: str, totals: Counter[str], duration: float) -> SampleOutcome:
    return SampleOutcome(
        model=name,
        read=totals["read"],
        sampled=totals["sampled"],
        skipped=totals["skipped"],
        duplicates=totals["duplicate"],
        capped=totals["capped"],
        new_categories=totals["new_category"],
        labels_joined=totals["labels_joined"],
        labelled=totals["labelled"],
        rejected=rejected(totals),
        duration_s=duration,
    )


def label_outcome(name: str, totals: Counter[str], duration: float) -> LabelOutcome:
    return LabelOutcome(
        model=name,
        read=totals["read"],
        joined=totals["joined"],
        pending=totals["pending"],
        skipped=totals["skipped"],
        rejected=rejected(totals),
        duration_s=duration,
    )
