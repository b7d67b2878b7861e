"""What `mlmaint status` prints about sampling: counts per model, outcome and reason."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select

from daemon.jobs import JobContext
from daemon.sampling.specs import configured
from daemon.store.tables import IngestCount, Model, PendingLabel, Prediction, Watermark


@dataclass(frozen=True, kw_only=True)
class ModelSamplingStatus:
    model: str
    # Totals since the store began, from the daily counters (they survive retention).
    sampled: int = 0
    skipped: int = 0
    duplicates: int = 0
    capped: int = 0
    new_categories: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    labels_joined: int = 0
    labels_rejected: dict[str, int] = field(default_factory=dict)
    # What the store holds now.
    stored: int = 0
    labelled: int = 0
    pending_labels: int = 0
    last_read_at: datetime | None = None

    def lines(self) -> list[str]:
        rejected = ", ".join(f"{k}={v}" for k, v in self.rejected.items()) or "none"
        label_rej = ", ".join(f"{k}={v}" for k, v in self.labels_rejected.items()) or "none"
        last = self.last_read_at.isoformat(timespec="seconds") if self.last_read_at else "never"
        return [
            f"{self.model}: sampled {self.sampled}, skipped {self.skipped}, "
            f"duplicates {self.duplicates}, capped {self.capped}, "
            f"new categories {self.new_categories}; stored {self.stored}, "
            f"labelled {self.labelled}, pending labels {self.pending_labels}; last read {last}",
            f"  rejected predictions: {rejected}",
            f"  labels joined {self.labels_joined}; rejected labels: {label_rej}",
        ]


def sampling_status(ctx: JobContext) -> tuple[ModelSamplingStatus, ...]:
    """Per configured model: sampled and rejected counts by reason, and what is stored."""
    out = []
    with ctx.sessions() as session:
        ids = dict(session.execute(select(Model.name, Model.id)).tuples().all())
        for model in configured(ctx):
            model_id = ids.get(model.name)
            if model_id is None:
                out.append(ModelSamplingStatus(model=model.name))
                continue
            counts = session.execute(
                select(IngestCount.stream, IngestCount.outcome, func.sum(IngestCount.count))
                .where(IngestCount.model_id == model_id)
                .group_by(IngestCount.stream, IngestCount.outcome)
            ).all()
            preds = {o: int(c) for s, o, c in counts if s == "predictions"}
            labels = {o: int(c) for s, o, c in counts if s == "labels"}
            stored, labelled = session.execute(
                select(func.count(), func.count(Prediction.label)).where(
                    Prediction.model_id == model_id
                )
            ).one()
            pending = session.scalar(
                select(func.count())
                .select_from(PendingLabel)
                .where(PendingLabel.model_id == model_id)
            )
            last = session.scalar(
                select(func.max(Watermark.updated_at)).where(Watermark.model_id == model_id)
            )
            out.append(
                ModelSamplingStatus(
                    model=model.name,
                    sampled=preds.get("sampled", 0),
                    skipped=preds.get("skipped", 0),
                    duplicates=preds.get("duplicate", 0),
                    capped=preds.get("capped", 0),
                    new_categories=preds.get("new_category", 0),
                    rejected=_reasons(preds),
                    labels_joined=labels.get("joined", 0),
                    labels_rejected=_reasons(labels),
                    stored=int(stored),
                    labelled=int(labelled),
                    pending_labels=int(pending or 0),
                    last_read_at=last,
                )
            )
    return tuple(out)


def _reasons(counts: dict[str, int]) -> dict[str, int]:
    return {
        k.removeprefix("rejected:"): v
        for k, v in sorted(counts.items())
        if k.startswith("rejected:")
    }
