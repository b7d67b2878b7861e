"""Evidence retention: pages are deleted by age and by the total size of them all.

The retention sweep (daemon/retention.py, one job for all models) calls
`sweep_evidence`. A page's age is the end of the window it shows, read from its
name (`drift-<end>.html`, daemon/evidence/write.py), so a job's injected `now`
decides, not the wall clock; a file without such a name is aged by its mtime.
The oldest pages go first: every page older than `max_age`, then more until
all of them together fit `max_total`. A swept run keeps no evidence path and
its summary says when the page was swept, so the HTTP handler answers 410
with what to do instead of linking a file that is gone.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from daemon.evidence.write import EVIDENTLY_SUFFIX, evidence_dir
from daemon.window_time import parse_file_stamp

if TYPE_CHECKING:
    from daemon.jobs import JobContext

log = logging.getLogger(__name__)

# The key a swept run's summary gets: when its page was deleted.
SWEPT = "evidence_swept_at"
_STAMP = re.compile(r"-(\d{8}T\d{6}(?:\.\d{6})?Z)(?:\.evidently)?\.html$")
# Store lookups per query (bound parameters stay well under every backend's limit).
_CHUNK = 500


@dataclass(frozen=True, kw_only=True)
class EvidenceFile:
    path: Path
    size: int
    # The end of the window the page shows (else the file's mtime).
    written: datetime


@dataclass(frozen=True, kw_only=True)
class SweepOutcome:
    deleted: int = 0
    freed_bytes: int = 0
    kept: int = 0
    kept_bytes: int = 0
    runs_cleared: int = 0


def _age_of(path: Path, stat: os.stat_result) -> datetime:
    found = _STAMP.search(path.name)
    if found:
        try:
            return parse_file_stamp(found.group(1))
        except ValueError:
            pass
    return datetime.fromtimestamp(stat.st_mtime, UTC)


def evidence_files(directory: Path) -> list[EvidenceFile]:
    """Every page under `directory`, oldest first (links and temporary files skipped)."""
    found: list[EvidenceFile] = []
    if not directory.is_dir():
        return found
    for path in directory.rglob("*.html"):
        if path.is_symlink() or path.name.startswith("."):
            continue
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue  # swept by another job meanwhile
        found.append(EvidenceFile(path=path, size=stat.st_size, written=_age_of(path, stat)))
    found.sort(key=lambda f: (f.written, f.path.name))
    return found


def doomed(
    files: list[EvidenceFile], *, now: datetime, max_age: timedelta, max_total: int
) -> list[EvidenceFile]:
    """The oldest files to delete: those older than max_age, then until the rest fit."""
    cutoff = now - max_age
    total = sum(f.size for f in files)
    out: list[EvidenceFile] = []
    for f in files:
        if f.written >= cutoff and total <= max_total:
            break  # everything after is newer, and the total only shrinks
        out.append(f)
        total -= f.size
    return out


def _spellings(path: Path) -> Iterator[str]:
    """How a stored evidence_path may spell this file: as written, absolute, resolved."""
    yield str(path)
    yield str(path.absolute())
    try:
        yield str(path.resolve())
    except OSError:
        return


def _chunks(items: list[str]) -> Iterable[list[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def forget(session: Session, paths: Iterable[Path], now: datetime) -> int:
    """Clear the evidence path of the runs whose page was deleted; mark them swept."""
    from daemon.store.tables import CheckRun

    spellings = sorted({s for p in paths for s in _spellings(p)})
    cleared = 0
    for chunk in _chunks(spellings):
        for run in session.scalars(select(CheckRun).where(CheckRun.evidence_path.in_(chunk))):
            run.evidence_path = None
            run.summary = {**(run.summary or {}), SWEPT: now.isoformat()}
            cleared += 1
    return cleared


def sweep(
    sessions: sessionmaker[Session] | None,
    directory: Path,
    *,
    now: datetime,
    max_age: timedelta,
    max_total: int,
) -> SweepOutcome:
    """Delete the oldest pages beyond the bounds, and forget them in the store."""
    files = evidence_files(directory)
    gone = doomed(files, now=now, max_age=max_age, max_total=max_total)
    deleted: list[Path] = []
    freed = 0
    for f in gone:
        # A person may have deleted it meanwhile.
        f.path.unlink(missing_ok=True)
        deleted.append(f.path)
        freed += f.size
    cleared = 0
    if sessions is not None and deleted:
        pages = [p for p in deleted if not p.name.endswith(EVIDENTLY_SUFFIX)]
        with sessions.begin() as session:
            cleared = forget(session, pages, now)
    outcome = SweepOutcome(
        deleted=len(deleted),
        freed_bytes=freed,
        kept=len(files) - len(gone),
        kept_bytes=sum(f.size for f in files) - freed,
        runs_cleared=cleared,
    )
    if deleted:
        log.info(
            "evidence sweep: deleted %d files (%d bytes), kept %d (%d bytes)",
            outcome.deleted,
            outcome.freed_bytes,
            outcome.kept,
            outcome.kept_bytes,
        )
    return outcome


def sweep_evidence(ctx: JobContext, now: datetime) -> SweepOutcome:
    """The retention sweep's part for evidence, bounded by the [evidence] settings."""
    settings = ctx.settings.evidence
    return sweep(
        ctx.sessions,
        evidence_dir(ctx),
        now=now,
        max_age=settings.max_age,
        max_total=settings.max_total,
    )
