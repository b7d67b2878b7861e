"""Private state on disk: files 0600 and directories 0700, whatever the umask.

The store, reports, evidence and snapshots hold model inputs and outputs: run
by hand under umask 022 they would otherwise be world-readable. Each write site
asks for its mode here, so library callers (tests, the Python API) get private
files too; the CLI's umask (cli.py) is the backstop for files that third-party
code creates (MLflow's store, pyarrow's output).
"""

from __future__ import annotations

import logging
import os
import stat
import threading
from pathlib import Path

log = logging.getLogger(__name__)

FILE_MODE = 0o600
DIR_MODE = 0o700
# The process umask the CLI sets: group may read, others get nothing.
UMASK = 0o027


def private_dir(path: Path) -> Path:
    """Create `path` and any missing parents 0700; existing directories are left as they are."""
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue  # created by another process meanwhile
        # mkdir's mode passes through the umask; chmod states it whatever the umask.
        directory.chmod(DIR_MODE)
    return path


def write_private(path: Path, content: bytes) -> Path:
    """Write `content` to `path` atomically (a temporary file, then a rename), mode 0600."""
    private_dir(path.parent)
    # Per process and thread: two threads writing one path never share a temporary file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # an earlier leftover keeps its mode through O_CREAT
        with os.fdopen(fd, "wb") as out:
            out.write(content)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def private_file(path: Path) -> Path:
    """Create an empty `path` 0600 if it is absent; strip others' bits from an existing one.

    SQLite creates its -wal and -shm files with the main file's mode, so a store
    file made here keeps all three private.
    """
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o007:
            log.warning("%s was readable by others (%o): made %o", path, mode, mode & ~0o007)
            path.chmod(mode & ~0o007)
        return path
    os.fchmod(fd, FILE_MODE)
    os.close(fd)
    return path
