"""The sampling jobs: read a source, sample, validate, store; labels; retention.

Sampling is a hash of the prediction id against the model's rate, so the same
ids are kept every time and a label arriving weeks later finds its prediction
(or is skipped for the same reason its prediction was). The optional cap per
window is a bottom-k sample on that same hash: the window keeps the k ids with
the smallest hashes, which is a uniform sample whatever the arrival order, so
a replay after a crash converges on the same rows.

Every chunk a source yields is stored in one transaction with the watermark
that says it was read: a crash loses nothing and duplicates nothing.

Every row stands alone: a row the database refuses although it passed
validation is split out (under savepoints) and quarantined in rejected_rows
with the database's error, in the same transaction as the good rows and the
watermark. A store that cannot write at all raises `StoreUnavailable`, nothing
of the chunk is stored, and its watermark stays where it was. Each outcome is
recorded in the JobContext's `WriteHealth`.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import groupby
from operator import itemgetter

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, delete, select

from daemon.config import FileFormat, FileSource, HttpSource, ModelSettings, SqlSource
from daemon.jobs import JobContext
from daemon.sampling import writes
from daemon.sampling.files import FileChunk, read_files
from daemon.sampling.labels import LabelBatch, parse_labels
from daemon.sampling.sql import SqlChunk, read_sql
from daemon.sampling.validation import Reject, RowValidator, Validated, concat
from daemon.store.engine import BulkWriter, StoreUnavailable, bulk_writer
from daemon.store.features import ensure_layout
from daemon.store.models import ensure_model
from daemon.store.tables import PendingLabel, Prediction, RejectedRow

log = logging.getLogger(__name__)

PREDICTIONS = "predictions"
LABELS = "labels"
_HASH_SPACE = float(1 << 64)


def id_hash(prediction_id: str) -> int:
    return int.from_bytes(
        hashlib.blake2b(prediction_id.encode("utf-8"), digest_size=8).digest(), "big"
    )


def sampled(prediction_id: str, rate: float) -> bool:
    """Whether an id is in the model's sample: the same answer for every caller, always."""
    return rate >= 1.0 or id_hash(prediction_id) < rate * _HASH_SPACE


# --------------------------------------------------------------------------- outcomes


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


def _model(ctx: JobContext, model: str | ModelSettings) -> ModelSettings:
    return ctx.settings.model(model) if isinstance(model, str) else model


def _day(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%d")


@contextmanager
def _write_outcome(ctx: JobContext, model: str, stream: str, now: datetime) -> Iterator[None]:
    """Record the write's outcome; a store that cannot write raises StoreUnavailable."""
    try:
        yield
    except writes.STORE_ERRORS as exc:
        if not writes.store_down(exc):
            raise
        unavailable = StoreUnavailable(f"storing {stream} of model {model}", exc)
        ctx.writes.failed(model, stream, now, str(unavailable))
        raise unavailable from exc
    ctx.writes.ok(model, stream, now)


def _rejected(counts: Counter[str]) -> dict[str, int]:
    return {
        k.removeprefix("rejected:"): v
        for k, v in sorted(counts.items())
        if k.startswith("rejected:")
    }


# --------------------------------------------------------------------------- predictions


class _Store:
    """Stores validated prediction rows for one model on one connection."""

    def __init__(self, model: ModelSettings, model_id: int, layout_id: int, now: datetime) -> None:
        self.model = model
        self.model_id = model_id
        self.layout_id = layout_id
        self.now = now
        self.known = {c: frozenset(v) for c, v in model.schema_.categories.items()}

    @classmethod
    def open(cls, conn: Connection, model: ModelSettings, now: datetime) -> _Store:
        """The model's row and the layout of its numeric features, created if new."""
        model_id = ensure_model(conn, model.name, now)
        layout_id = ensure_layout(conn, model_id, model.schema_.numeric, now)
        return cls(model, model_id, layout_id, now)

    @property
    def keeps_all(self) -> bool:
        """Whether every valid row is stored (no sampling rate, no cap): no filtering."""
        sampling = self.model.sampling
        return sampling.rate >= 1.0 and sampling.max_rows_per_window is None

    def store(
        self,
        conn: Connection,
        batch: Validated,
        *,
        count: bool = True,
        prepared: writes.Prepared | None = None,
    ) -> tuple[Counter[str], list[Reject]]:
        """Sample, cap and insert; count outcomes (only inserts when count is False).

        `prepared` is the rows already rendered for the backend's bulk path
        (`writes.prepare`), valid only when `keeps_all` (the rows go in unfiltered).
        Returns the counts and the rows the store refused (quarantine them with
        `writes.keep_rejects`, in the same transaction).
        """
        counts, refused = self._split(conn, batch.table, count, prepared)
        if not count:
            kept = ("sampled", "labels_joined")
            return Counter({k: counts[k] for k in kept}), refused
        counts.update(writes.reject_counts(batch.rejects))
        counts.update(writes.reject_counts(refused))
        return counts, refused

    def _split(
        self, conn: Connection, table: pa.Table, fresh: bool, prepared: writes.Prepared | None
    ) -> tuple[Counter[str], list[Reject]]:
        """Insert the rows under a savepoint; if the store refuses them for their data,
        halve them until the good rows land and each refused row stands alone."""
        try:
            with writes.savepoint(conn):
                return self._insert(conn, table, fresh, prepared), []
        except writes.STORE_ERRORS as exc:
            if not writes.refuses_row(exc):
                raise
            if table.num_rows <= 1:
                log.debug("model=%s: the store refused a row: %s", self.model.name, exc)
                return Counter(), [writes.refused(table, exc)]
        mid = table.num_rows // 2
        counts: Counter[str] = Counter()
        refused: list[Reject] = []
        for half in (table.slice(0, mid), table.slice(mid)):
            part_counts, part_refused = self._split(conn, half, fresh, None)
            counts.update(part_counts)
            refused.extend(part_refused)
        return counts, refused

    def _insert(
        self, conn: Connection, table: pa.Table, fresh: bool, prepared: writes.Prepared | None
    ) -> Counter[str]:
        counts: Counter[str] = Counter()
        rate = self.model.sampling.rate
        if rate < 1.0 and table.num_rows:
            keep = np.fromiter(
                (sampled(pid, rate) for pid in table["prediction_id"].to_pylist()),
                dtype=bool,
                count=table.num_rows,
            )
            counts["skipped"] = int((~keep).sum())
            table = table.filter(pa.array(keep))
        if self.model.sampling.max_rows_per_window is not None and table.num_rows:
            table, capped = self._cap(conn, table)
            counts["capped"] = capped
        for col, values in self.known.items():
            arr = table[col]
            new = pc.and_(pc.is_valid(arr), pc.invert(pc.is_in(arr, pa.array(sorted(values)))))
            counts["new_category"] += int(pc.sum(new).as_py() or 0)
        inserted = writes.write_predictions(
            conn,
            self.model_id,
            self.layout_id,
            table,
            self.model.schema_.numeric,
            self.model.schema_.categorical,
            # Rows read again inside the lag are mostly stored already.
            fresh=fresh,
            prepared=prepared if self.keeps_all else None,
        )
        counts["sampled"] = inserted
        counts["duplicate"] = table.num_rows - inserted
        counts["labels_joined"] = writes.join_pending_labels(conn, self.model_id) if inserted else 0
        return counts

    def _cap(self, conn: Connection, table: pa.Table) -> tuple[pa.Table, int]:
        cap = self.model.sampling.max_rows_per_window
        assert cap is not None
        size_us = int(self.model.sampling.window.total_seconds() * 1_000_000)
        ts = pc.cast(table["timestamp"], pa.int64()).to_numpy()
        windows = ts // size_us
        ids = table["prediction_id"].to_pylist()
        keep = np.ones(len(ids), dtype=bool)
        capped = 0
        for w in np.unique(windows):
            idx = np.flatnonzero(windows == w)
            start = datetime.fromtimestamp(int(w) * size_us / 1e6, UTC)
            end = start + self.model.sampling.window
            existing = set(
                conn.scalars(
                    select(Prediction.prediction_id).where(
                        Prediction.model_id == self.model_id,
                        Prediction.ts >= start,
                        Prediction.ts < end,
                    )
                )
            )
            incoming = {ids[i]: int(i) for i in idx if ids[i] not in existing}
            if len(existing) + len(incoming) <= cap:
                continue
            ranked = sorted([*existing, *incoming], key=id_hash)
            winners = set(ranked[:cap])
            evicted = [pid for pid in existing if pid not in winners]
            for i in range(0, len(evicted), 500):
                conn.execute(
                    delete(Prediction).where(
                        Prediction.model_id == self.model_id,
                        Prediction.prediction_id.in_(evicted[i : i + 500]),
                    )
                )
            for pid, i in incoming.items():
                if pid not in winners:
                    keep[i] = False
            capped += len(evicted) + sum(1 for pid in incoming if pid not in winners)
        return table.filter(pa.array(keep)), capped


def _validate_chunk(validator: RowValidator, chunk: FileChunk) -> Validated:
    if chunk.table is not None:
        batch = validator.from_table(chunk.table)
    elif chunk.format is FileFormat.CSV:
        batch = validator.from_csv(chunk.header, chunk.lines)
    else:
        batch = validator.from_jsonl(chunk.lines)
    if chunk.rejects:
        batch = Validated(batch.table, (*chunk.rejects, *batch.rejects))
    return batch


def _chunks(
    ctx: JobContext,
    model: ModelSettings,
    source: FileSource | SqlSource,
    part: str,
    state: dict[str, object],
    now: datetime,
    id_column: str,
) -> Iterator[FileChunk | SqlChunk]:
    if isinstance(source, FileSource):
        yield from read_files(source, state, now)
    else:
        password = source.password_secret()
        yield from read_sql(source, password, id_column, state)


# Rows validated and inserted together: small enough that inserting a chunk starts
# soon after its first rows are parsed, large enough that Arrow's per-call cost is noise.
PART_ROWS = 25000


def _validate_parts(validator: RowValidator, chunk: FileChunk) -> Iterator[Validated]:
    """The chunk's rows validated in parts of at most PART_ROWS; its own rejects go last."""
    n = chunk.rows
    starts = range(0, max(n, 1), PART_ROWS)
    for start in starts:
        yield _validate_chunk(
            validator,
            FileChunk(
                path=chunk.path,
                format=chunk.format,
                lines=chunk.lines[start : start + PART_ROWS],
                header=chunk.header,
                table=None if chunk.table is None else chunk.table.slice(start, PART_ROWS),
                rejects=chunk.rejects if start == starts[-1] else (),
            ),
        )


_Part = tuple[int, FileChunk | SqlChunk, Validated | None, writes.Prepared | None]


def _read_ahead(
    chunks: Iterator[FileChunk | SqlChunk], validator: RowValidator, store: _Store, dialect: str
) -> Generator[
    tuple[FileChunk | SqlChunk, Iterator[tuple[Validated | None, writes.Prepared | None]]],
    None,
    None,
]:
    """Each chunk with its validated parts (files), parsed ahead on a worker thread.

    Parsing (Arrow) and inserting (the driver) both release the GIL, so the worker reads
    and validates the next part while the caller stores this one. Nothing here writes:
    the caller stores all the parts of a chunk and its watermark in one transaction, in
    order, so a crash at any point loses or repeats nothing. At most one part is ahead
    of the one being stored.
    """

    def prepare(seq: int, chunk: FileChunk, batch: Validated) -> _Part:
        table = writes.with_features(batch.table, validator.numeric, validator.categorical)
        prepared = None
        if store.keeps_all and table.num_rows:
            # Every row goes in as it is: the insert can be rendered here too.
            prepared = writes.prepare(dialect, store.model_id, store.layout_id, table)
        return seq, chunk, Validated(table, batch.rejects), prepared

    def parts() -> Generator[_Part, None, None]:
        for seq, chunk in enumerate(chunks):
            if isinstance(chunk, FileChunk):
                for batch in _validate_parts(validator, chunk):
                    yield prepare(seq, chunk, batch)
            else:
                yield seq, chunk, None, None

    source = parts()

    def ahead_of_caller() -> Generator[_Part, None, None]:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlmaint-read") as pool:
            ahead = pool.submit(next, source, None)
            try:
                while (item := ahead.result()) is not None:
                    ahead = pool.submit(next, source, None)
                    yield item
            finally:
                # The reader may still be on a part the caller won't take: let it finish,
                # then close the source (its connections, its files) on the reader's thread.
                ahead.cancel()
                wait([ahead])
                pool.submit(source.close).result()

    # Keyed by (sequence number, chunk): the number tells consecutive chunks apart.
    ahead = ahead_of_caller()
    try:
        for (_, chunk), group in groupby(ahead, key=itemgetter(0, 1)):
            yield chunk, _batches(group)
    finally:
        # Stopped early (a chunk failed): the reader is stopped here, on this thread,
        # not by the garbage collector on whichever thread it runs.
        ahead.close()


def _batches(
    parts: Iterator[_Part],
) -> Iterator[tuple[Validated | None, writes.Prepared | None]]:
    for _, _, batch, prepared in parts:
        yield batch, prepared


def sample_predictions(ctx: JobContext, model: str | ModelSettings, now: datetime) -> SampleOutcome:
    """Read the model's source from its watermark, one transaction per chunk."""
    settings = _model(ctx, model)
    started = time.perf_counter()
    source = settings.source
    if isinstance(source, HttpSource):
        # Pushed rows are stored as they arrive (ingest_records): nothing to pull.
        return SampleOutcome(model=settings.name)
    validator = RowValidator(settings, now=now)
    totals: Counter[str] = Counter()
    with _write_outcome(ctx, settings.name, PREDICTIONS, now):
        with ctx.engine.begin() as conn:
            store = _Store.open(conn, settings, now)
            model_id = store.model_id
            state = writes.read_watermark(conn, model_id, PREDICTIONS, settings.name)
        chunks = _chunks(ctx, settings, source, "source", state, now, settings.schema_.id)
        with bulk_writer(ctx.engine) as writer:
            _store_chunks(writer, chunks, validator, store, settings, now, totals)
    outcome = _sample_outcome(settings.name, totals, time.perf_counter() - started)
    log.info(
        "sampled model=%s read=%d sampled=%d rejected=%d in %.2fs",
        settings.name,
        outcome.read,
        outcome.sampled,
        outcome.rejected_total,
        outcome.duration_s,
    )
    return outcome


def _store_chunks(
    writer: BulkWriter,
    chunks: Iterator[FileChunk | SqlChunk],
    validator: RowValidator,
    store: _Store,
    settings: ModelSettings,
    now: datetime,
    totals: Counter[str],
) -> None:
    # Closed here, whatever happens: a failed chunk must not leave the reader (and
    # the source it holds) to the garbage collector.
    with closing(_read_ahead(chunks, validator, store, writer.dialect)) as read:
        _store_read(writer, read, validator, store, settings, now, totals)


def _store_read(
    writer: BulkWriter,
    read: Iterator[
        tuple[FileChunk | SqlChunk, Iterator[tuple[Validated | None, writes.Prepared | None]]]
    ],
    validator: RowValidator,
    store: _Store,
    settings: ModelSettings,
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
                writes.keep_rejects(
                    conn, model_id, PREDICTIONS, rejects, now, settings.sampling.max_rejected_kept
                )
            counts["read"] = chunk.rows
            writes.bump_counts(conn, model_id, _day(now), PREDICTIONS, _persisted(counts))
            writes.write_watermark(conn, model_id, PREDICTIONS, chunk.state, now)
        totals.update(counts)


def _store_sql(
    validator: RowValidator, store: _Store, conn: Connection, chunk: SqlChunk
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
    writes.keep_rejects(
        conn,
        store.model_id,
        PREDICTIONS,
        [*batch.rejects, *refused],
        store.now,
        store.model.sampling.max_rejected_kept,
    )
    return counts


def _persisted(counts: Counter[str]) -> dict[str, int]:
    return {k: v for k, v in counts.items() if k not in ("read", "labels_joined") and v}


def _sample_outcome(name: str, totals: Counter[str], duration: float) -> SampleOutcome:
    return SampleOutcome(
        model=name,
        read=totals["read"],
        sampled=totals["sampled"],
        skipped=totals["skipped"],
        duplicates=totals["duplicate"],
        capped=totals["capped"],
        new_categories=totals["new_category"],
        labels_joined=totals["labels_joined"],
        rejected=_rejected(totals),
        duration_s=duration,
    )


def ingest_records(
    ctx: JobContext,
    model: str | ModelSettings,
    records: Sequence[object],
    now: datetime,
    raws: Sequence[object] | None = None,
) -> SampleOutcome:
    """Store pushed prediction rows (the HTTP endpoint): one transaction, no watermark."""
    settings = _model(ctx, model)
    started = time.perf_counter()
    batch = RowValidator(settings, now=now).from_records(records, raws)
    return _store_pushed(ctx, settings, batch, now, started)


def ingest_validated(
    ctx: JobContext, model: str | ModelSettings, parts: Iterable[Validated], now: datetime
) -> SampleOutcome:
    """Store rows validated by the caller. Their timestamps are held to the model's
    plausible-time window here, whether or not the caller's validator was."""
    settings = _model(ctx, model)
    started = time.perf_counter()
    validator = RowValidator(settings, now=now)
    batch = validator.bounded(concat(validator.schema, list(parts)))
    return _store_pushed(ctx, settings, batch, now, started)


def _store_pushed(
    ctx: JobContext, settings: ModelSettings, batch: Validated, now: datetime, started: float
) -> SampleOutcome:
    with _write_outcome(ctx, settings.name, PREDICTIONS, now), ctx.engine.begin() as conn:
        store = _Store.open(conn, settings, now)
        model_id = store.model_id
        counts, refused = store.store(conn, batch)
        counts["read"] = batch.rows + len(batch.rejects)
        writes.keep_rejects(
            conn,
            model_id,
            PREDICTIONS,
            [*batch.rejects, *refused],
            now,
            settings.sampling.max_rejected_kept,
        )
        writes.bump_counts(conn, model_id, _day(now), PREDICTIONS, _persisted(counts))
    return _sample_outcome(settings.name, counts, time.perf_counter() - started)


# --------------------------------------------------------------------------- labels


def _store_labels(
    conn: Connection, settings: ModelSettings, model_id: int, batch: LabelBatch, now: datetime
) -> Counter[str]:
    counts: Counter[str] = Counter()
    rate = settings.sampling.rate
    labels = {pid: lab for pid, lab in batch.labels.items() if sampled(pid, rate)}
    counts["skipped"] = len(batch.labels) - len(labels)
    joined, pending = writes.write_labels(conn, model_id, labels, now)
    counts["joined"] = joined
    counts["pending"] = pending
    counts.update(writes.reject_counts(batch.rejects))
    writes.keep_rejects(
        conn, model_id, LABELS, batch.rejects, now, settings.sampling.max_rejected_kept
    )
    writes.bump_counts(conn, model_id, _day(now), LABELS, dict(counts))
    return counts


def _label_outcome(name: str, totals: Counter[str], duration: float) -> LabelOutcome:
    return LabelOutcome(
        model=name,
        read=totals["read"],
        joined=totals["joined"],
        pending=totals["pending"],
        skipped=totals["skipped"],
        rejected=_rejected(totals),
        duration_s=duration,
    )


def ingest_labels(ctx: JobContext, model: str | ModelSettings, now: datetime) -> LabelOutcome:
    """Read the model's label source from its watermark and attach labels by id."""
    settings = _model(ctx, model)
    started = time.perf_counter()
    source = settings.labels
    if source is None or isinstance(source, HttpSource):
        return LabelOutcome(model=settings.name)
    totals: Counter[str] = Counter()
    with _write_outcome(ctx, settings.name, LABELS, now):
        with ctx.engine.begin() as conn:
            model_id = ensure_model(conn, settings.name, now)
            state = writes.read_watermark(conn, model_id, LABELS, settings.name)
        for chunk in _chunks(ctx, settings, source, "labels", state, now, settings.schema_.id):
            batch = parse_labels(settings, chunk)
            with ctx.engine.begin() as conn:
                counts = _store_labels(conn, settings, model_id, batch, now)
                writes.write_watermark(conn, model_id, LABELS, chunk.state, now)
            counts["read"] = chunk.rows
            totals.update(counts)
    outcome = _label_outcome(settings.name, totals, time.perf_counter() - started)
    log.info(
        "labels model=%s read=%d joined=%d pending=%d rejected=%d in %.2fs",
        settings.name,
        outcome.read,
        outcome.joined,
        outcome.pending,
        outcome.rejected_total,
        outcome.duration_s,
    )
    return outcome


def ingest_label_records(
    ctx: JobContext,
    model: str | ModelSettings,
    records: Sequence[object],
    now: datetime,
    pre_rejects: Iterable[Reject] = (),
) -> LabelOutcome:
    """Store pushed labels (the HTTP endpoint) in one transaction."""
    from daemon.sampling.labels import labels_from_records

    settings = _model(ctx, model)
    started = time.perf_counter()
    pre = tuple(pre_rejects)
    batch = labels_from_records(settings, records, pre_rejects=pre)
    with _write_outcome(ctx, settings.name, LABELS, now), ctx.engine.begin() as conn:
        model_id = ensure_model(conn, settings.name, now)
        counts = _store_labels(conn, settings, model_id, batch, now)
    counts["read"] = len(records) + len(pre)
    return _label_outcome(settings.name, counts, time.perf_counter() - started)


# --------------------------------------------------------------------------- retention


def purge_expired(
    ctx: JobContext, model: str | ModelSettings, now: datetime, batch_size: int = 10_000
) -> PurgeOutcome:
    """Delete sampled rows older than the retention horizon, in batches.

    The daily ingest counters are kept: they are what the weekly report reads.
    """
    settings = _model(ctx, model)
    started = time.perf_counter()
    cutoff = now - settings.sampling.retention
    with ctx.engine.begin() as conn:
        model_id = writes.model_id_of(conn, settings.name)
    if model_id is None:
        return PurgeOutcome(model=settings.name)
    purged = 0
    while True:
        with ctx.engine.begin() as conn:
            ids = list(
                conn.scalars(
                    select(Prediction.id)
                    .where(Prediction.model_id == model_id, Prediction.ts < cutoff)
                    .order_by(Prediction.ts)
                    .limit(batch_size)
                )
            )
            if ids:
                conn.execute(delete(Prediction).where(Prediction.id.in_(ids)))
        purged += len(ids)
        if len(ids) < batch_size:
            break
    with ctx.engine.begin() as conn:
        pending = conn.execute(
            delete(PendingLabel).where(
                PendingLabel.model_id == model_id, PendingLabel.received_at < cutoff
            )
        ).rowcount
        rejected = conn.execute(
            delete(RejectedRow).where(
                RejectedRow.model_id == model_id, RejectedRow.received_at < cutoff
            )
        ).rowcount
    outcome = PurgeOutcome(
        model=settings.name,
        predictions=purged,
        pending_labels=int(pending),
        rejected_rows=int(rejected),
        duration_s=time.perf_counter() - started,
    )
    log.info(
        "purged model=%s predictions=%d pending_labels=%d rejected_rows=%d older than %s",
        settings.name,
        purged,
        outcome.pending_labels,
        outcome.rejected_rows,
        cutoff.isoformat(),
    )
    return outcome
