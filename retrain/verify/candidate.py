"""The candidate environment: the champion's logged requirements with the upgrade applied.

What it is, honestly: a venv layered over the current environment. The venv
is made without pip (`python -m venv --without-pip`, the current interpreter's
base), and a `.pth` file puts the current environment's site-packages after
the venv's own (`site.addsitedir`, so their `.pth` files, editable installs
included, still apply). `venv --system-site-packages` would layer over the
base interpreter, not over a venv the daemon runs in, so it is not used.

Only what differs is installed into the venv: each logged requirement whose
pin the current environment does not satisfy, plus the upgrade, with the
current pip (`pip --python <venv>`) from the configured index only
(`--index-url`, `--isolated`, `--no-cache-dir`). Packages installed there come
first on the candidate's import path; everything else is the current
environment's. So a local index needs only the changed wheels, and a build
takes seconds, not a fresh install of torch. What this does not catch: a
dependency of the upgrade that the current environment already satisfies
with a different version than a fresh install would pick.

Environments are cached under `env_root` by the sha256 of what they hold
(the interpreter, the layered paths, the index, the requirement lines); a
finished one carries a marker file, a half-built one is rebuilt. A build holds
a lock file beside it, removed when the build ends however it ends. Before pip
runs, the index is asked for the upgrade's project page: one that does not
answer raises IndexUnreachable (pip would retry, then report "no matching
distribution", which reads like a verdict).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from retrain.verify.index import index_versions, pip_index
from retrain.verify.spec import VerifyError

READY = ".mlmaint-ready"
LAYER_PTH = "_mlmaint_current_env.pth"
# pip's own output is kept for the verdict; this much of its end is shown.
TAIL_CHARS = 4000


class InstallFailed(VerifyError):
    def __init__(self, requirements: Sequence[str], output: str) -> None:
        self.output = output[-TAIL_CHARS:]
        super().__init__(f"pip could not install {' '.join(requirements)}")


@dataclass(frozen=True, kw_only=True)
class Plan:
    """What the candidate changes against the current environment."""

    # Requirement lines pip installs into the candidate.
    install: tuple[str, ...]
    # "name current -> wanted" for each of them.
    changes: tuple[str, ...]
    # Lines that could not be read as requirements (URLs, options): not checked.
    skipped: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class CandidateEnv:
    path: Path
    python: Path
    key: str
    reused: bool


def read_requirements(text: str) -> tuple[list[Requirement], list[str]]:
    """The requirement lines of a requirements.txt MLflow logged, and the lines skipped."""
    found: list[Requirement] = []
    skipped: list[str] = []
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-"):
            skipped.append(line)
            continue
        try:
            found.append(Requirement(line))
        except InvalidRequirement:
            skipped.append(line)
    return found, skipped


def parse_upgrade(text: str) -> Requirement:
    try:
        req = Requirement(text)
    except InvalidRequirement as exc:
        raise VerifyError(f"--upgrade {text!r} is not a requirement like torch==2.6.0") from exc
    pins = [s for s in req.specifier if s.operator == "=="]
    if len(pins) != 1 or len(req.specifier) != 1:
        raise VerifyError(f"--upgrade {text!r} must pin one version (name==version)")
    return req


def installed_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def plan(
    logged: Sequence[Requirement],
    upgrades: Sequence[Requirement],
    skipped: Sequence[str] = (),
    installed: Callable[[str], str | None] = installed_version,
) -> Plan:
    """The logged requirements with the upgrades in place of theirs, less what is satisfied.

    An upgrade is always installed; a logged requirement only when the
    current environment does not satisfy it (its marker permitting).
    """
    upgraded = {canonicalize_name(u.name) for u in upgrades}
    wanted = [r for r in logged if canonicalize_name(r.name) not in upgraded]
    install: list[str] = []
    changes: list[str] = []
    for req in wanted:
        if req.marker is not None and not req.marker.evaluate():
            continue
        have = installed(req.name)
        if have is not None and req.specifier.contains(have, prereleases=True):
            continue
        install.append(str(req))
        changes.append(f"{req.name} {have or 'absent'} -> {req.specifier or 'any'}")
    for up in upgrades:
        install.append(str(up))
        changes.append(f"{up.name} {installed(up.name) or 'absent'} -> {up.specifier}")
    return Plan(install=tuple(install), changes=tuple(changes), skipped=tuple(skipped))


def logged_pins(logged: Sequence[Requirement], upgrades: Sequence[Requirement]) -> dict[str, str]:
    """The version the champion's requirements pin for each upgraded package (`==` only).

    What an upgrade moves from: the model was logged with it, whatever the
    environment mlmaint runs in holds.
    """
    pins = {
        canonicalize_name(r.name): s.version
        for r in logged
        for s in r.specifier
        if s.operator in ("==", "===") and len(r.specifier) == 1
    }
    return {u.name: pins[key] for u in upgrades if (key := canonicalize_name(u.name)) in pins}


def current_layers() -> list[str]:
    """The current environment's package directories, in import order."""
    return [
        p for p in sys.path if p.endswith(("site-packages", "dist-packages")) and Path(p).is_dir()
    ]


def env_key(install: Sequence[str], index_url: str, layers: Sequence[str]) -> str:
    what = {
        "python": os.path.realpath(sys.executable),
        "version": sys.version,
        "layers": list(layers),
        "index": index_url,
        "install": sorted(install),
    }
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()


def _clean_env() -> dict[str, str]:
    # No PIP_* from the caller (an extra index would reach past the configured one).
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    return env


def build(root: Path, want: Plan, index_url: str, *, timeout_s: float = 900) -> CandidateEnv:
    """The candidate venv for `want`: reused when cached, else built.

    Raises InstallFailed with pip's output when pip fails, IndexUnreachable
    (before pip runs) when the index does not answer.
    """
    layers = current_layers()
    key = env_key(want.install, index_url, layers)
    path = root / key[:20]
    python = path / "bin" / "python"
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Two verifications of one upgrade build it once.
    with _locked(root / f"{key[:20]}.lock"):
        return _build_locked(path, python, key, layers, want, index_url, timeout_s)


@contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    """An exclusive lock on `lock_path`, the file removed on release, whatever the exit.

    A waiter may lock a file its holder has just removed: it checks that the
    path still names the file it locked, else takes the lock again.
    """
    while True:
        with lock_path.open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                same = lock_path.stat().st_ino == os.fstat(lock.fileno()).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                continue
            try:
                yield
            finally:
                lock_path.unlink(missing_ok=True)
            return


def _build_locked(
    path: Path,
    python: Path,
    key: str,
    layers: Sequence[str],
    want: Plan,
    index_url: str,
    timeout_s: float,
) -> CandidateEnv:
    if (path / READY).exists():
        return CandidateEnv(path=path, python=python, key=key, reused=True)
    if want.install:
        # pip retries a refused connection for a while, then says "no matching
        # distribution": that would read as a verdict on the upgrade.
        index_versions(index_url, Requirement(want.install[-1]).name, timeout_s=min(timeout_s, 30))
    shutil.rmtree(path, ignore_errors=True)
    _run([sys.executable, "-m", "venv", "--without-pip", str(path)], timeout_s)
    site = _site_packages(python, timeout_s)
    lines = [f"import site; site.addsitedir({p!r})" for p in layers]
    (site / LAYER_PTH).write_text("\n".join(lines) + "\n", encoding="utf-8")
    if want.install:
        command = [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--isolated",
            "--no-cache-dir",
            "--disable-pip-version-check",
            "--no-input",
            "--progress-bar",
            "off",
            "--index-url",
            pip_index(index_url),
            *want.install,
        ]
        try:
            done = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=timeout_s,
                env=_clean_env(),
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            shutil.rmtree(path, ignore_errors=True)
            raise InstallFailed(want.install, f"pip timed out after {timeout_s:.0f}s") from exc
        if done.returncode != 0:
            shutil.rmtree(path, ignore_errors=True)
            raise InstallFailed(want.install, done.stdout + done.stderr)
    (path / READY).write_text(json.dumps({"install": list(want.install)}), encoding="utf-8")
    return CandidateEnv(path=path, python=python, key=key, reused=False)


def _run(command: list[str], timeout_s: float) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    if done.returncode != 0:
        raise InstallFailed(command[-1:], done.stdout + done.stderr)


def _site_packages(python: Path, timeout_s: float) -> Path:
    done = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    if done.returncode != 0:
        raise InstallFailed(["venv"], done.stdout + done.stderr)
    return Path(done.stdout.strip())
