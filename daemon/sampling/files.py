"""File source: a glob of CSV, JSON Lines or Parquet prediction logs.

Files are known by (device, inode) plus a hash of their first bytes, so a log
rotated to a new name is not read again and a file replaced under the same
name is. The watermark keeps, per file, the byte offset of the last complete
line consumed (rows, for Parquet): a file that grows is resumed, never re-read.
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
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa

from daemon.config import FileFormat, FileSource
from daemon.sampling.validation import Reason, Reject, excerpt

HEAD_BYTES = 64
READ_BYTES = 1 << 22


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


def _head(path: str, length: int) -> str:
    with Path(path).open("rb") as f:
        return hashlib.sha256(f.read(length)).hexdigest()[:32]


def _files(pattern: str) -> list[tuple[float, str]]:
    found = []
    # The glob is an absolute pattern from the config: Path.glob only takes relative ones.
    for path in globmod.glob(pattern):  # noqa: PTH207
        try:
            st = Path(path).stat()
        except FileNotFoundError:
            continue
        if Path(path).is_file():
            found.append((st.st_mtime, path))
    return sorted(found)


def read_files(source: FileSource, state: dict[str, object], now: datetime) -> Iterator[FileChunk]:
    """Yield chunks of at most batch_size rows, oldest file first, from the stored state."""
    known = copy.deepcopy(state.get("files", {}))
    assert isinstance(known, dict)
    files = _files(source.glob)
    seen: dict[str, object] = {}
    newest = files[-1][1] if files else None
    for mtime, path in files:
        st = Path(path).stat()
        key = f"{st.st_dev}:{st.st_ino}"
        entry = known.get(key)
        if isinstance(entry, dict) and not _same_file(path, st.st_size, entry, source.format):
            entry = None
        if not isinstance(entry, dict):
            entry = {"offset": 0, "head": "", "head_len": 0}
        entry = {**entry, "path": path, "size": st.st_size, "mtime": mtime}
        seen[key] = entry
        settled = (
            path != newest or now.timestamp() - mtime >= source.partial_line_grace.total_seconds()
        )
        reader = _read_parquet if source.format is FileFormat.PARQUET else _read_lines
        for chunk_entry, chunk in reader(source, path, entry, settled):
            seen[key] = chunk_entry
            yield _with_state(chunk, {**known, **seen})
    # Files no longer matched by the glob are forgotten.
    if set(known) - set(seen):
        yield FileChunk(path="", format=source.format, state={"files": seen})


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


def _same_file(path: str, size: int, entry: dict[str, object], fmt: FileFormat) -> bool:
    if fmt is FileFormat.PARQUET:
        return entry.get("size") == size
    head_len = int(entry.get("head_len", 0))  # type: ignore[call-overload]
    offset = int(entry.get("offset", 0))  # type: ignore[call-overload]
    if size < offset:
        return False
    return head_len == 0 or _head(path, head_len) == entry.get("head")


def _read_lines(
    source: FileSource, path: str, entry: dict[str, object], settled: bool
) -> Iterator[tuple[dict[str, object], FileChunk]]:
    offset = int(entry["offset"])  # type: ignore[call-overload]
    size = int(entry["size"])  # type: ignore[call-overload]
    stored_header = entry.get("header", ())
    header: tuple[str, ...] = (
        tuple(str(h) for h in stored_header) if isinstance(stored_header, list | tuple) else ()
    )
    if offset >= size:
        return
    with Path(path).open("rb") as f:
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
            f.seek(offset)
            head_len = min(HEAD_BYTES, offset)
            entry = {
                **entry,
                "offset": offset,
                "head_len": head_len,
                "head": _head(path, head_len),
                **({"header": list(header)} if header else {}),
            }
            yield (
                entry,
                FileChunk(
                    path=path, format=source.format, lines=lines, header=header, rejects=rejects
                ),
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
    source: FileSource, path: str, entry: dict[str, object], settled: bool
) -> Iterator[tuple[dict[str, object], FileChunk]]:
    import pyarrow.parquet as pq

    done = int(entry["offset"])  # type: ignore[call-overload]
    try:
        pf = pq.ParquetFile(path)
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
