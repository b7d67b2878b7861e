"""The systemd sandbox `mlmaint service install` writes, and the config placed in it.

The unit runs the daemon with ProtectSystem=strict (the whole file system
read-only), ProtectHome (/home, /root and /run/user hidden), PrivateTmp (/tmp
and /var/tmp the service's own, empty at every start) and, by default,
DynamicUser. Writable are only its StateDirectory, CacheDirectory and
LogsDirectory; the StateDirectory is also the WorkingDirectory, so relative
paths in config.toml land there and need nothing.

Every absolute path the config names is placed against that sandbox before the
unit is written:

- a path the daemon writes outside those directories gets `ReadWritePaths=`;
- a path it only reads gets `ReadOnlyPaths=` (readable under ProtectSystem=strict
  anyway; listed so the unit says what the service reads), except in /usr and /etc;
- a path under /home, /root or /run/user cannot be reopened inside ProtectHome=yes
  (systemd.exec: nothing nests inside an inaccessible path), so the unit switches
  to ProtectHome=tmpfs, which keeps the rest of those trees hidden, and binds the
  path back with `BindReadOnlyPaths=` (read) or `BindPaths=` (write);
- a path under /tmp or /var/tmp cannot work: PrivateTmp, implied by DynamicUser,
  replaces both, so the daemon would read an empty directory and write where no
  one looks. Those are refused, each with its key and path.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path, PurePosixPath

from daemon.config import (
    EmailChannel,
    EnvironmentKind,
    ExecutorKind,
    FileChannel,
    FileSource,
    Settings,
    secret_uses,
)

# Where ProtectHome hides the tree, and where PrivateTmp swaps in an empty one.
HIDDEN_ROOTS = (Path("/home"), Path("/root"), Path("/run/user"))
PRIVATE_ROOTS = (Path("/tmp"), Path("/var/tmp"))
# The unit's StateDirectory, CacheDirectory and LogsDirectory (with DynamicUser the
# state lives in /var/lib/private and /var/lib/mlmaint links to it).
SERVICE_DIRS = (
    Path("/var/lib/mlmaint"),
    Path("/var/lib/private/mlmaint"),
    Path("/var/cache/mlmaint"),
    Path("/var/cache/private/mlmaint"),
    Path("/var/log/mlmaint"),
    Path("/var/log/private/mlmaint"),
)
# The operating system's own trees: ProtectSystem=strict exists to keep them read-only,
# so a read there needs no line.
SYSTEM_ROOTS = (Path("/usr"), Path("/etc"))
_GLOB_CHARS = re.compile(r"[*?\[]")


class FileAccess(enum.StrEnum):
    """What the daemon does with a configured path: reads it, or writes under it."""

    READ = "read"
    WRITE = "write"


@dataclasses.dataclass(frozen=True, kw_only=True)
class ConfiguredPath:
    """A path the daemon uses, the config key that names it, and what it does with it."""

    key: str
    path: Path
    access: FileAccess


class SandboxError(Exception):
    """Configured paths the unit's sandbox cannot give the daemon; each is named."""

    def __init__(self, refused: Sequence[ConfiguredPath]) -> None:
        self.refused = tuple(refused)
        lines = "\n".join(
            f"  {p.key}: {p.path} is under {_root_of(p.path, PRIVATE_ROOTS)}, which "
            f"PrivateTmp replaces with an empty directory of the service's own "
            f"(the daemon would {'never see' if p.access is FileAccess.READ else 'lose'} it): "
            "move it, e.g. under /srv or /var/lib/mlmaint"
            for p in self.refused
        )
        super().__init__(f"the systemd sandbox cannot give the daemon these paths:\n{lines}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Sandbox:
    """What the unit adds to its sandbox so that the config's paths work inside it."""

    protect_home: str
    read_write: tuple[ConfiguredPath, ...] = ()
    read_only: tuple[ConfiguredPath, ...] = ()
    bind: tuple[ConfiguredPath, ...] = ()
    bind_read_only: tuple[ConfiguredPath, ...] = ()

    def unit_lines(self) -> str:
        """The unit's path settings, each with the config key it is for."""
        groups = (
            ("ReadWritePaths", "", self.read_write),
            # '-': a path only read may be absent at start (a log directory not yet
            # made); the service then sees it missing rather than failing to start.
            ("ReadOnlyPaths", "-", self.read_only),
            ("BindPaths", "", self.bind),
            ("BindReadOnlyPaths", "", self.bind_read_only),
        )
        lines: list[str] = []
        for setting, prefix, entries in groups:
            for entry in entries:
                lines.append(f"# {entry.key}")
                lines.append(f"{setting}={prefix}{unit_path(entry.path)}")
        if not lines:
            return "# No configured path lies outside the StateDirectory."
        head = "# Configured paths outside the StateDirectory (checked by mlmaint service install)."
        return "\n".join([head, *lines])

    @property
    def entries(self) -> tuple[ConfiguredPath, ...]:
        return (*self.read_write, *self.read_only, *self.bind, *self.bind_read_only)


def unit_path(path: Path) -> str:
    """A path as a unit file setting takes it: '%' is a specifier, blanks need quotes."""
    text = str(path).replace("\\", "\\\\").replace("%", "%%")
    return f'"{text}"' if re.search(r"\s", text) else text


def _root_of(path: Path, roots: Iterable[Path]) -> Path | None:
    return next((root for root in roots if path.is_relative_to(root)), None)


def _absolute(path: Path | str) -> Path | None:
    """The path as the service meets it; None when relative (it lands in the StateDirectory).

    Symlinks are followed where they exist, because systemd follows them too: a
    link in /opt to a directory in /home is hidden like the directory.
    """
    path = Path(path).expanduser()
    if not path.is_absolute():
        return None
    return Path(os.path.realpath(path))


def _glob_directory(pattern: str) -> Path | None:
    """The directory a files-source glob lists: its parts before the first wildcard."""
    parts: list[str] = []
    for part in PurePosixPath(pattern).parts:
        if _GLOB_CHARS.search(part):
            break
        parts.append(part)
    else:
        parts = parts[:-1]  # no wildcard: the glob names one file, read its directory
    return _absolute(Path(*parts)) if parts else None


def _sqlite_directory(url: str) -> Path | None:
    """The directory of a sqlite: URL's file (its -wal, -shm and .lock files go beside it)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    database = _absolute(parsed.database)
    return None if database is None else database.parent


def _interpreter_root(python: Path) -> Path:
    """What running an interpreter reads: its venv or installation, not just the file."""
    return python.parent.parent if python.parent.name == "bin" else python


def configured_paths(
    settings: Settings, *, config: Path, installation: Sequence[tuple[str, Path]] = ()
) -> tuple[ConfiguredPath, ...]:
    """Every absolute path the daemon reads or writes under this config.

    `installation`: (what, path) of the code the unit runs (the mlmaint
    executable's venv, its Python), read like the config itself.
    """
    return tuple(_configured(settings, config, installation))


def _configured(
    settings: Settings, config: Path, installation: Sequence[tuple[str, Path]]
) -> Iterator[ConfiguredPath]:
    def found(key: str, path: Path | None, access: FileAccess) -> Iterator[ConfiguredPath]:
        if path is not None:
            yield ConfiguredPath(key=key, path=path, access=access)

    read, write = FileAccess.READ, FileAccess.WRITE
    yield from found("--config", _absolute(config), read)
    for what, path in installation:
        yield from found(what, _absolute(path), read)
    yield from found("service.state_dir", _absolute(settings.service.state_dir), write)
    yield from found("store.url", _sqlite_directory(settings.store.url), write)
    tracking = settings.mlflow.tracking_uri
    if tracking.startswith("sqlite:"):
        yield from found("mlflow.tracking_uri", _sqlite_directory(tracking), write)
    elif tracking.startswith("file:"):
        yield from found("mlflow.tracking_uri", _absolute(tracking.removeprefix("file:")), write)
    elif "://" not in tracking:
        yield from found("mlflow.tracking_uri", _absolute(tracking), write)
    yield from found("mlflow.artifact_root", _absolute(settings.mlflow.artifact_root), write)
    # The local executor runs jobs as children of the daemon, inside this unit; a
    # Celery worker runs them on its own machine, outside it.
    local = settings.executor.kind is ExecutorKind.LOCAL
    if local and settings.executor.python is not None:
        python = _absolute(settings.executor.python)
        root = None if python is None else _interpreter_root(python)
        yield from found("executor.python", root, read)
    if settings.report.enabled:
        yield from found("report.directory", _absolute(settings.report_directory), write)
    for i, channel in enumerate(settings.alerts.channels):
        if not channel.enabled:
            continue
        key = f"alerts.channels[{i}]"
        if isinstance(channel, FileChannel):
            outbox = _absolute(settings.state_path(channel.path))
            yield from found(f"{key}.path", None if outbox is None else outbox.parent, write)
        if isinstance(channel, EmailChannel) and channel.ca_file is not None:
            yield from found(f"{key}.ca_file", _absolute(channel.ca_file), read)
    for use in secret_uses(settings):
        if use.ref.file is not None:
            yield from found(use.key, _absolute(use.ref.file), read)
    for i, model in enumerate(settings.models):
        for part, source in (("source", model.source), ("labels", model.labels)):
            if isinstance(source, FileSource):
                yield from found(f"models[{i}].{part}.glob", _glob_directory(source.glob), read)
        if model.reference.path is not None:
            yield from found(f"models[{i}].reference.path", _absolute(model.reference.path), read)
        # Where a local job finds its entrypoint module.
        for j, entry in enumerate(model.retrain.python_path if local else ()):
            yield from found(f"models[{i}].retrain.python_path[{j}]", _absolute(entry), read)
    frameworks = settings.frameworks
    if frameworks.enabled:
        yield from found("frameworks.advisory_db", _opt(frameworks.advisory_db), read)
        yield from found("frameworks.support_data", _opt(frameworks.support_data), read)
        for i, env in enumerate(frameworks.environments):
            target = _opt(env.path)
            if target is not None and env.kind is EnvironmentKind.PYTHON:
                target = _interpreter_root(target)
            yield from found(f"frameworks.environments[{i}].path", target, read)


def _opt(path: Path | None) -> Path | None:
    return None if path is None else _absolute(path)


def installation_paths(executable: Path) -> list[tuple[str, Path]]:
    """The code the unit runs: the executable, its venv, its Python, the mlmaint package."""
    import daemon

    return [
        ("the mlmaint executable", executable),
        ("the venv running mlmaint", Path(sys.prefix)),
        ("the Python installation", Path(sys.base_prefix)),
        # An editable install runs the package from its checkout, wherever that is.
        ("the mlmaint package", Path(daemon.__file__).parent),
    ]


def plan_sandbox(paths: Iterable[ConfiguredPath]) -> Sandbox:
    """Place each path in the sandbox; raises SandboxError naming those that cannot be."""
    refused: list[ConfiguredPath] = []
    writes: dict[Path, ConfiguredPath] = {}
    reads: dict[Path, ConfiguredPath] = {}
    for entry in paths:
        if _root_of(entry.path, SERVICE_DIRS) is not None:
            continue
        if entry.access is FileAccess.READ and _root_of(entry.path, SYSTEM_ROOTS) is not None:
            continue
        if _root_of(entry.path, PRIVATE_ROOTS) is not None:
            refused.append(entry)
            continue
        chosen = writes if entry.access is FileAccess.WRITE else reads
        chosen.setdefault(entry.path, entry)
    if refused:
        raise SandboxError(refused)
    # A path inside one already granted the same or wider access needs no line of its own.
    write_list = [e for p, e in writes.items() if not _inside_other(p, writes)]
    read_list = [
        e for p, e in reads.items() if not _inside_other(p, reads) and _root_of(p, writes) is None
    ]

    def hidden(entry: ConfiguredPath) -> bool:
        return _root_of(entry.path, HIDDEN_ROOTS) is not None

    def ordered(entries: Iterable[ConfiguredPath]) -> tuple[ConfiguredPath, ...]:
        return tuple(sorted(entries, key=lambda e: str(e.path)))

    binds = [*filter(hidden, write_list), *filter(hidden, read_list)]
    return Sandbox(
        protect_home="tmpfs" if binds else "yes",
        read_write=ordered(e for e in write_list if not hidden(e)),
        read_only=ordered(e for e in read_list if not hidden(e)),
        bind=ordered(e for e in write_list if hidden(e)),
        bind_read_only=ordered(e for e in read_list if hidden(e)),
    )


def _inside_other(path: Path, others: Iterable[Path]) -> bool:
    return any(other != path and path.is_relative_to(other) for other in others)


def missing(sandbox: Sandbox) -> list[ConfiguredPath]:
    """Granted paths that do not exist yet: systemd refuses to start a unit whose
    ReadWritePaths= or Bind*Paths= source is absent."""
    strict = (*sandbox.read_write, *sandbox.bind, *sandbox.bind_read_only)
    return [entry for entry in strict if not entry.path.exists()]
