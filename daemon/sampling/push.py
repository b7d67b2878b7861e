"""Rows pushed to the daemon (the HTTP API), stored as they arrive.

Each push is one transaction and keeps no watermark: the client sends the same
batch again after an error, and the unique prediction id makes that a no-op.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from datetime import datetime

from daemon.config import ModelSettings
from daemon.jobs import JobContext
from daemon.sampling.batch import BatchStore, store_labels
from daemon.sampling.failures import write_outcome
from daemon.sampling.labels import labels_from_records
from daemon.sampling.outcomes import (
    LabelOutcome,
    SampleOutcome,
    label_outcome,
    sample_outcome,
)
from daemon.sampling.records import LABELS, PREDICTIONS, keep_rejects
from daemon.sampling.rows import Reject, Validated, concat
from daemon.sampling.specs import SamplingSpec, resolve
from daemon.sampling.validation import RowValidator
from daemon.store.engine import begin_write
from daemon.store.models import ensure_model


def ingest_records(
    ctx: JobContext,
    model: str | ModelSettings,
    records: Sequence[object],
    now: datetime,
    raws: Sequence[object] | None = None,
) -> SampleOutcome:
    """Store pushed prediction rows (the HTTP endpoint): one transaction, no watermark."""
    spec = resolve(ctx, model)
    started = time.perf_counter()
    batch = RowValidator(spec, now=now).from_records(records, raws)
    return _store_pushed(ctx, spec, batch, now, started)


def ingest_validated(
    ctx: JobContext, model: str | ModelSettings, parts: Iterable[Validated], now: datetime
) -> SampleOutcome:
    """Store rows validated by the caller. Their timestamps are held to the model's
    plausible-time window here, whether or not the caller's validator was."""
    spec = resolve(ctx, model)
    started = time.perf_counter()
    validator = RowValidator(spec, now=now)
    batch = validator.bounded(concat(validator.schema, list(parts)))
    return _store_pushed(ctx, spec, batch, now, started)


def _store_pushed(
    ctx: JobContext, spec: SamplingSpec, batch: Validated, now: datetime, started: float
) -> SampleOutcome:
    with write_outcome(ctx, spec.name, PREDICTIONS, now), ctx.engine.begin() as conn:
        begin_write(conn)
        store = BatchStore.open(conn, spec, now)
        model_id = store.model_id
        counts, refused = store.store(conn, batch)
        counts["read"] = batch.rows + len(batch.rejects)
        keep_rejects(
            conn,
            model_id,
            PREDICTIONS,
            [*batch.rejects, *refused],
            now,
            spec.policy.max_rejected_kept,
        )
        store.bump(conn, counts)
    return sample_outcome(spec.name, counts, time.perf_counter() - started)


def ingest_label_records(
    ctx: JobContext,
    model: str | ModelSettings,
    records: Sequence[object],
    now: datetime,
    pre_rejects: Iterable[Reject] = (),
) -> LabelOutcome:
    """Store pushed labels (the HTTP endpoint) in one transaction."""
    spec = resolve(ctx, model)
    started = time.perf_counter()
    pre = tuple(pre_rejects)
    batch = labels_from_records(spec, records, pre_rejects=pre)
    with write_outcome(ctx, spec.name, LABELS, now), ctx.engine.begin() as conn:
        begin_write(conn)
        model_id = ensure_model(conn, spec.name, now)
        counts = store_labels(conn, spec, model_id, batch, now)
    counts["read"] = len(records) + len(pre)
    return label_outcome(spec.name, counts, time.perf_counter() - started)
