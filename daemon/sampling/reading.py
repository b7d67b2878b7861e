"""Reading a model's source from its watermark, parsed ahead of the writer.

A source (files or SQL) yields chunks, each with the watermark state that says
it was read. File chunks are validated in parts of at most `PART_ROWS` on a
worker thread while the caller stores the part before: parsing (Arrow) and
inserting (the driver) both release the GIL. Nothing here writes.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import datetime
from itertools import groupby
from operator import itemgetter

from daemon.config import FileFormat, FileSource, ModelSettings, SqlSource
from daemon.jobs import JobContext
from daemon.sampling import bulk
from daemon.sampling.batch import BatchStore
from daemon.sampling.files import FileChunk, read_files
from daemon.sampling.rows import Validated
from daemon.sampling.sql import SqlChunk, read_sql
from daemon.sampling.validation import RowValidator


def validate_chunk(validator: RowValidator, chunk: FileChunk) -> Validated:
    if chunk.table is not None:
        batch = validator.from_table(chunk.table)
    elif chunk.format is FileFormat.CSV:
        batch = validator.from_csv(chunk.header, chunk.lines)
    else:
        batch = validator.from_jsonl(chunk.lines)
    if chunk.rejects:
        batch = Validated(batch.table, (*chunk.rejects, *batch.rejects))
    return batch


def read_source(
    ctx: JobContext,
    model: str | ModelSettings,
    source: FileSource | SqlSource,
    part: str,
    state: dict[str, object],
    now: datetime,
    id_column: str,
) -> Iterator[FileChunk | SqlChunk]:
    """The source's chunks from the watermark `state` on; `part` names it ("source"
    or "labels")."""
    if isinstance(source, FileSource):
        yield from read_files(source, state, now)
    else:
        password = source.password_secret()
        yield from read_sql(source, password, id_column, state)


# Rows validated and inserted together: small enough that inserting a chunk starts
# soon after its first rows are parsed, large enough that Arrow's per-call cost is noise.
PART_ROWS = 25000


def validate_parts(validator: RowValidator, chunk: FileChunk) -> Iterator[Validated]:
    """The chunk's rows validated in parts of at most PART_ROWS; its own rejects go last."""
    n = chunk.rows
    starts = range(0, max(n, 1), PART_ROWS)
    for start in starts:
        yield validate_chunk(
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


Part = tuple[int, FileChunk | SqlChunk, Validated | None, bulk.Prepared | None]
# A chunk's parts as the writer takes them: validated rows, rendered if they can be.
Parts = Iterator[tuple[Validated | None, bulk.Prepared | None]]


def read_ahead(
    chunks: Iterator[FileChunk | SqlChunk], validator: RowValidator, store: BatchStore, dialect: str
) -> Generator[tuple[FileChunk | SqlChunk, Parts], None, None]:
    """Each chunk with its validated parts (files), parsed ahead on a worker thread.

    Parsing (Arrow) and inserting (the driver) both release the GIL, so the worker reads
    and validates the next part while the caller stores this one. Nothing here writes:
    the caller stores all the parts of a chunk and its watermark in one transaction, in
    order, so a crash at any point loses or repeats nothing. At most one part is ahead
    of the one being stored.
    """

    def prepare(seq: int, chunk: FileChunk, batch: Validated) -> Part:
        table = bulk.with_features(batch.table, validator.numeric, validator.categorical)
        prepared = None
        if store.keeps_all and table.num_rows:
            # Every row goes in as it is: the insert can be rendered here too.
            prepared = bulk.prepare(dialect, store.model_id, store.layout_id, table, store.now)
        return seq, chunk, Validated(table, batch.rejects), prepared

    def parts() -> Generator[Part, None, None]:
        for seq, chunk in enumerate(chunks):
            if isinstance(chunk, FileChunk):
                for batch in validate_parts(validator, chunk):
                    yield prepare(seq, chunk, batch)
            else:
                yield seq, chunk, None, None

    source = parts()

    def ahead_of_caller() -> Generator[Part, None, None]:
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


def _batches(parts: Iterator[Part]) -> Parts:
    for _, _, batch, prepared in parts:
        yield batch, prepared
