"""File source: a glob of CSV, JSON Lines or Parquet prediction logs.

Files are known by (device, inode) plus a hash of their first bytes, never by
path, so a log rotated to a new name is not read again and a file replaced
under the same name is. Each file is opened once and checked against the stat
its identity came from (`os.fstat`), so a rename between the glob, the stat and
the read cannot mix two files up. A known file the glob no longer finds (renamed
between the glob and the stat, or rotated out of the pattern) keeps its place in
the watermark for `FORGET_AFTER`, so it is resumed, not re-read, when it turns
up again under its new name. The watermark keeps, per file, the byte offset of
the last complete line consumed (rows, for Parquet): a file that grows is
resumed, never re-read.
A last line without its newline is held back while the writer may still be
writing it; once the file has not changed for `partial_line_grace`, or a newer
file exists, it is consumed (and rejected as truncated if it does not parse).
"""

from __future__ import annotations

import copy
import csv
import glob as globmod
import hashlib
import json
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa

from daemon.config import FileFormat, FileSource
from daemon.sampling.rows import Reason, Reject, excerpt

HEAD_BYTES = 64
READ_BYTES = 1 << 22
# How long a known file may be out of the glob's sight before the watermark forgets it:
# far longer than a rotation takes, short enough that the state stays small.
FORGET_AFTER = timedelta(days=1)

Glob = Callable[[str], list[str]]


@dataclass(frozen=True)
class FileChunk:
    """Rows read from one file, and the watermark state once they are stored."""

    path: str
    format: FileFormat
    lines: list[bytes] = field(default_factory=list)
    header: tuple[str, ...] = ()
    table: pa.Table | None = None
    rejects: tuple[Reject, ...] = ()
    state: dict[str, object] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return len(self.lines) if self.table is None else int(self.table.num_rows)


def _head(f: BinaryIO, length: int) -> str:
    f.seek(0)
    return hashlib.sha256(f.read(length)).hexdigest()[:32]


def _key(st: os.stat_result) -> str:
    return f"{st.st_dev}:{st.st_ino}"


def _glob(pattern: str) -> list[str]:
    # The glob is an absolute pattern from the config: Path.glob only takes relative ones.
    return globmod.glob(pattern)  # noqa: PTH207


def _files(pattern: str, glob: Glob) -> list[tuple[float, str, os.stat_result]]:
    found = []
    for path in glob(pattern):
        try:
            st = Path(path).stat()
        except FileNotFoundError:
            # Renamed or removed since the glob: known by its identity, it is found under
            # its new name next time (the watermark keeps it meanwhile).
            continue
        if stat.S_ISREG(st.st_mode):
            found.append((st.st_mtime, path, st))
    return sorted(found, key=lambda f: (f[0], f[1]))


def read_files(
    source: FileSource, state: dict[str, object], now: datetime, glob: Glob = _glob
) -> Iterator[FileChunk]:
    """Yield chunks of at most batch_size rows, oldest file first, from the stored state."""
    known = copy.deepcopy(state.get("files", {}))
    assert isinstance(known, dict)
    files = _files(source.glob, glob)
    seen: dict[str, object] = {}
    newest = files[-1][1] if files else None
    last: dict[str, object] = known
    for mtime, path, st in files:
        key = _key(st)
        settled = (
            path != newest or now.timestamp() - mtime >= source.partial_line_grace.total_seconds()
        )
        try:
            with Path(path).open("rb") as f:
                for chunk_entry, chunk in _read_file(source, f, path, key, known.get(key), settled):
                    seen[key] = chunk_entry
                    if chunk is None:
                        continue
                    last = {**known, **seen}
                    yield _with_state(chunk, last)
        except FileNotFoundError:
            # Renamed or removed since the stat: found under its new name next time.
            continue
    final = {**_still_known(known, seen, now), **seen}
    if final != last:
        yield FileChunk(path="", format=source.format, state={"files": final})


def _read_file(
    source: FileSource, f: BinaryIO, path: str, key: str, known: object, settled: bool
) -> Iterator[tuple[dict[str, object], FileChunk | None]]:
    """The file open as `f`, from its known entry (if it is the same file); first its
    entry alone (no chunk), then its new rows."""
    opened = os.fstat(f.fileno())
    if _key(opened) != key:
        # Another file took the name since the stat: each is read on its next turn.
        return
    entry = known if isinstance(known, dict) else None
    if entry is not None and not _same_file(f, opened.st_size, entry, source.format):
        entry = None
    if entry is None:
        entry = {"offset": 0, "head": "", "head_len": 0}
    entry = {k: v for k, v in entry.items() if k != "missing_since"}
    entry = {**entry, "path": path, "size": opened.st_size, "mtime": opened.st_mtime}
    # Seen, even if nothing is new: the watermark keeps it under its current name.
    yield entry, None
    reader = _read_parquet if source.format is FileFormat.PARQUET else _read_lines
    yield from reader(source, f, path, entry, settled)


def _still_known(
    known: dict[str, object], seen: dict[str, object], now: datetime
) -> dict[str, object]:
    """The known files this run did not find, kept (with when they went missing) until
    they have been out of sight for FORGET_AFTER."""
    kept: dict[str, object] = {}
    for key, entry in known.items():
        if key in seen or not isinstance(entry, dict):
            continue
        since = entry.get("missing_since")
        since_s = float(since) if isinstance(since, int | float) else now.timestamp()
        if now.timestamp() - since_s < FORGET_AFTER.total_seconds():
            kept[key] = {**entry, "missing_since": since_s}
    return kept


def _with_state(chunk: FileChunk, files: dict[str, object]) -> FileChunk:
    return FileChunk(
        path=chunk.path,
        format=chunk.format,
        lines=chunk.lines,
        header=chunk.header,
        table=chunk.table,
        rejects=chunk.rejects,
        state={"files": copy.deepcopy(files)},
    )


def _same_file(f: BinaryIO, size: int, entry: dict[str, object], fmt: FileFormat) -> bool:
    if fmt is FileFormat.PARQUET:
        return entry.get("size") == size
    head_len = int(entry.get("head_len", 0))  # type: ignore[call-overload]
    offset = int(entry.get("offset", 0))  # type: ignore[call-overload]
    if size < offset:
        return False
    return head_len == 0 or _head(f, head_len) == entry.get("head")


def _read_lines(
    source: FileSource, f: BinaryIO, path: str, entry: dict[str, object], settled: bool
) -> Iterator[tuple[dict[str, object], FileChunk]]:
    offset = int(entry["offset"])  # type: ignore[call-overload]
    size = int(entry["size"])  # type: ignore[call-overload]
    stored_header = entry.get("header", ())
    header: tuple[str, ...] = (
        tuple(str(h) for h in stored_header) if isinstance(stored_header, list | tuple) else ()
    )
    if offset >= size:
        return
    f.seek(offset)
    while offset < size:
        lines, tail, consumed = _next_lines(f, source.batch_size, settled)
        if consumed == 0:
            return
        if source.format is FileFormat.CSV and not header and lines:
            first = lines.pop(0).decode("utf-8", "replace")
            header = tuple(h.strip() for h in next(csv.reader([first])))
        rejects: tuple[Reject, ...] = ()
        if tail and _complete(tail, source.format, header):
            lines.append(tail)
        elif tail:
            rejects = (Reject(Reason.TRUNCATED, "last line cut short", excerpt(tail)),)
        offset += consumed
        head_len = min(HEAD_BYTES, offset)
        head = _head(f, head_len)
        f.seek(offset)
        entry = {
            **entry,
            "offset": offset,
            "head_len": head_len,
            "head": head,
            **({"header": list(header)} if header else {}),
        }
        yield (
            entry,
            FileChunk(path=path, format=source.format, lines=lines, header=header, rejects=rejects),
        )


def _next_lines(f: BinaryIO, limit: int, settled: bool) -> tuple[list[bytes], bytes, int]:
    """Up to `limit` non-empty complete lines, a settled partial last line, bytes consumed."""
    lines: list[bytes] = []
    consumed = 0
    buf = b""
    while len(lines) < limit:
        data = f.read(READ_BYTES)
        if not data:
            if buf.strip() and settled:
                # A last line that never got its newline: the writer died mid-line.
                consumed += len(buf)
                return lines, buf.strip(), consumed
            break
        buf += data
        parts = buf.split(b"\n")
        buf = parts.pop()
        for part in parts:
            if len(lines) >= limit:
                break
            consumed += len(part) + 1
            stripped = part.strip()
            if stripped:
                lines.append(stripped)
    return lines, b"", consumed


def _complete(tail: bytes, fmt: FileFormat, header: tuple[str, ...]) -> bool:
    """Whether a line without its newline is nonetheless a whole row."""
    if fmt is FileFormat.CSV:
        try:
            row = next(csv.reader([tail.decode("utf-8")]))
        except (csv.Error, UnicodeDecodeError, StopIteration):
            return False
        return len(row) == len(header)
    try:
        json.loads(tail)
    except ValueError:
        return False
    return True


def _read_parquet(
    source: FileSource, f: BinaryIO, path: str, entry: dict[str, object], settled: bool
) -> Iterator[tuple[dict[str, object], FileChunk]]:
    import pyarrow.parquet as pq

    done = int(entry["offset"])  # type: ignore[call-overload]
    f.seek(0)
    try:
        pf = pq.ParquetFile(f)
    except (pa.ArrowInvalid, OSError):
        # Still being written (no footer yet): try again next run.
        return
    total = pf.metadata.num_rows
    if done >= total:
        return
    seen = 0
    for batch in pf.iter_batches(batch_size=source.batch_size):
        start, seen = seen, seen + batch.num_rows
        if seen <= done:
            continue
        table = pa.Table.from_batches([batch]).slice(max(done - start, 0))
        done = seen
        entry = {**entry, "offset": done}
        yield entry, FileChunk(path=path, format=source.format, table=table)
