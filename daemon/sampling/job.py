"""The scheduled sampling jobs, each a function of (JobContext, model, now).

`sample_predictions` reads the model's source from its watermark, samples,
validates and stores; `ingest_labels` attaches labels by id; `purge_expired`
applies retention. Every chunk a source yields is stored in one transaction
with the watermark that says it was read: a crash loses nothing and duplicates
nothing. A store that cannot write at all raises `StoreUnavailable`, nothing of
the chunk is stored, and its watermark stays where it was.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from datetime import datetime

from sqlalchemy import Connection

from daemon.config import HttpSource, ModelSettings
from daemon.jobs import JobContext
from daemon.sampling import bulk, records
from daemon.sampling.batch import BatchStore, store_labels
from daemon.sampling.failures import write_outcome
from daemon.sampling.files import FileChunk
from daemon.sampling.labels import parse_labels
from daemon.sampling.outcomes import (
    LabelOutcome,
    PurgeOutcome,
    SampleOutcome,
    label_outcome,
    sample_outcome,
)
from daemon.sampling.reading import read_ahead, read_source
from daemon.sampling.records import LABELS, PREDICTIONS
from daemon.sampling.rows import Reject, Validated
from daemon.sampling.specs import SamplingSpec, resolve
from daemon.sampling.sql import SqlChunk
from daemon.sampling.validation import RowValidator
from daemon.store.engine import BulkWriter, begin_write, bulk_writer
from daemon.store.models import ensure_model

log = logging.getLogger(__name__)

# What the reader hands the writer: each chunk, with its validated (and perhaps
# already rendered) parts when it came from files.
Read = Iterator[
    tuple[FileChunk | SqlChunk, Iterator[tuple[Validated | None, bulk.Prepared | None]]]
]


def sample_predictions(ctx: JobContext, model: str | ModelSettings, now: datetime) -> SampleOutcome:
    """Read the model's source from its watermark, one transaction per chunk."""
    spec = resolve(ctx, model)
    started = time.perf_counter()
    source = spec.source
    if isinstance(source, HttpSource):
        # Pushed rows are stored as they arrive (ingest_records): nothing to pull.
        return SampleOutcome(model=spec.name)
    validator = RowValidator(spec, now=now)
    totals: Counter[str] = Counter()
    with write_outcome(ctx, spec.name, PREDICTIONS, now):
        with ctx.engine.begin() as conn:
            store = BatchStore.open(conn, spec, now)
            model_id = store.model_id
            state = records.read_watermark(conn, model_id, PREDICTIONS, spec.name)
        read = read_source(ctx, model, source, "source", state, now, spec.schema.id)
        with bulk_writer(ctx.engine) as writer:
            _store_chunks(writer, read, validator, store, spec, now, totals)
    outcome = sample_outcome(spec.name, totals, time.perf_counter() - started)
    log.info(
        "sampled model=%s read=%d sampled=%d rejected=%d in %.2fs; %d with their label",
        spec.name,
        outcome.read,
        outcome.sampled,
        outcome.rejected_total,
        outcome.duration_s,
        outcome.labelled,
    )
    return outcome


def _store_chunks(
    writer: BulkWriter,
    source: Iterator[FileChunk | SqlChunk],
    validator: RowValidator,
    store: BatchStore,
    spec: SamplingSpec,
    now: datetime,
    totals: Counter[str],
) -> None:
    # Closed here, whatever happens: a failed chunk must not leave the reader (and
    # the source it holds) to the garbage collector.
    with closing(read_ahead(source, validator, store, writer.dialect)) as read:
        _store_read(writer, read, validator, store, spec, now, totals)


def _store_read(
    writer: BulkWriter,
    read: Read,
    validator: RowValidator,
    store: BatchStore,
    spec: SamplingSpec,
    now: datetime,
    totals: Counter[str],
) -> None:
    model_id = store.model_id
    for chunk, parts in read:
        with writer.begin() as conn:
            if isinstance(chunk, SqlChunk):
                counts = _store_sql(validator, store, conn, chunk)
            else:
                counts = Counter()
                rejects: list[Reject] = []
                for batch, prepared in parts:
                    assert batch is not None
                    stored, refused = store.store(conn, batch, prepared=prepared)
                    counts.update(stored)
                    rejects.extend(batch.rejects)
                    rejects.extend(refused)
                records.keep_rejects(
                    conn, model_id, PREDICTIONS, rejects, now, spec.policy.max_rejected_kept
                )
            counts["read"] = chunk.rows
            store.bump(conn, counts)
            records.write_watermark(conn, model_id, PREDICTIONS, chunk.state, now)
        totals.update(counts)


def _store_sql(
    validator: RowValidator, store: BatchStore, conn: Connection, chunk: SqlChunk
) -> Counter[str]:
    fresh = [r for r, again in zip(chunk.records, chunk.replay, strict=True) if not again]
    again = [r for r, seen in zip(chunk.records, chunk.replay, strict=True) if seen]
    batch = validator.from_records(fresh)
    counts, refused = store.store(conn, batch)
    if again:
        # Rows read again inside the lag: only the late ones (new inserts) count.
        late, refused_again = store.store(conn, validator.from_records(again), count=False)
        counts.update(late)
        refused.extend(refused_again)
    records.keep_rejects(
        conn,
        store.model_id,
        PREDICTIONS,
        [*batch.rejects, *refused],
        store.now,
        store.spec.policy.max_rejected_kept,
    )
    return counts


def ingest_labels(ctx: JobContext, model: str | ModelSettings, now: datetime) -> LabelOutcome:
    """Read the model's label source from its watermark and attach labels by id."""
    spec = resolve(ctx, model)
    started = time.perf_counter()
    source = spec.labels
    if source is None or isinstance(source, HttpSource):
        return LabelOutcome(model=spec.name)
    totals: Counter[str] = Counter()
    with write_outcome(ctx, spec.name, LABELS, now):
        with ctx.engine.begin() as conn:
            model_id = ensure_model(conn, spec.name, now)
            state = records.read_watermark(conn, model_id, LABELS, spec.name)
        for chunk in read_source(ctx, model, source, "labels", state, now, spec.schema.id):
            batch = parse_labels(spec, chunk)
            with ctx.engine.begin() as conn:
                begin_write(conn)
                counts = store_labels(conn, spec, model_id, batch, now)
                records.write_watermark(conn, model_id, LABELS, chunk.state, now)
            counts["read"] = chunk.rows
            totals.update(counts)
    outcome = label_outcome(spec.name, totals, time.perf_counter() - started)
    log.info(
        "labels model=%s read=%d joined=%d pending=%d rejected=%d in %.2fs",
        spec.name,
        outcome.read,
        outcome.joined,
        outcome.pending,
        outcome.rejected_total,
        outcome.duration_s,
    )
    return outcome


def purge_expired(
    ctx: JobContext, model: str | ModelSettings, now: datetime, batch_size: int = 10_000
) -> PurgeOutcome:
    """Delete sampled rows older than the retention horizon, in batches.

    The daily ingest counters are kept: they are what the weekly report reads.
    """
    spec = resolve(ctx, model)
    started = time.perf_counter()
    cutoff = now - spec.policy.retention
    with ctx.engine.begin() as conn:
        model_id = records.model_id_of(conn, spec.name)
    if model_id is None:
        return PurgeOutcome(model=spec.name)
    purged = 0
    while True:
        with ctx.engine.begin() as conn:
            deleted = records.purge_predictions(conn, model_id, cutoff, batch_size)
        purged += deleted
        if deleted < batch_size:
            break
    with ctx.engine.begin() as conn:
        pending, rejected = records.purge_kept(conn, model_id, cutoff)
    outcome = PurgeOutcome(
        model=spec.name,
        predictions=purged,
        pending_labels=pending,
        rejected_rows=rejected,
        duration_s=time.perf_counter() - started,
    )
    log.info(
        "purged model=%s predictions=%d pending_labels=%d rejected_rows=%d older than %s",
        spec.name,
        purged,
        outcome.pending_labels,
        outcome.rejected_rows,
        cutoff.isoformat(),
    )
    return outcome
