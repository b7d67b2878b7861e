"""What an environment runs: packages and versions from an interpreter or a file.

Sources: a Python interpreter (its installed distributions, as `pip list` sees
them), a requirements file with pins, the lock files uv.lock, poetry.lock,
pylock.toml (PEP 751) and Pipfile.lock, and an MLflow model directory (the
requirements.txt and python_env.yaml MLflow logs with every model; the daemon
downloads it from the registry and hands the path in).

Names are normalized per PEP 503; versions are kept as written, local build
labels included (torch's `2.4.1+cu118`), because the local label is how a CUDA
build is told apart.
"""

from __future__ import annotations

import enum
import json
import re
import subprocess
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from checks.frameworks import InventoryError


class SourceKind(enum.StrEnum):
    INTERPRETER = "interpreter"
    REQUIREMENTS = "requirements"
    UV_LOCK = "uv.lock"
    POETRY_LOCK = "poetry.lock"
    PYLOCK = "pylock.toml"
    PIPFILE_LOCK = "Pipfile.lock"
    MLFLOW_MODEL = "mlflow_model"


@dataclass(frozen=True, kw_only=True)
class Package:
    name: str
    # None when the file names the package without an exact pin.
    version: str | None
    # The raw line or spec, where the version is not pinned.
    spec: str | None = None

    @property
    def local(self) -> str | None:
        """The local build label (`cu118` of `2.4.1+cu118`), if any."""
        if self.version is None:
            return None
        try:
            return Version(self.version).local
        except InvalidVersion:
            return None


@dataclass(frozen=True, kw_only=True)
class Inventory:
    environment: str
    source: SourceKind
    target: str
    python_version: str | None
    packages: tuple[Package, ...]

    def versions(self) -> dict[str, str | None]:
        return {p.name: p.version for p in self.packages}


def _dedupe(packages: Iterable[Package]) -> tuple[Package, ...]:
    # First wins, as pip does when one distribution is found on two sys.path entries.
    seen: dict[str, Package] = {}
    for package in packages:
        seen.setdefault(package.name, package)
    return tuple(sorted(seen.values(), key=lambda p: p.name))


# --------------------------------------------------------------------------- interpreter

_PROBE = """
import importlib.metadata as m, json, platform, sys
out = []
for d in m.distributions():
    name = d.metadata["Name"]
    if name:
        out.append([name, d.version])
print(json.dumps({"python": platform.python_version(), "packages": out}))
"""


def from_interpreter(environment: str, interpreter: Path, *, timeout_s: float = 60.0) -> Inventory:
    """Run the interpreter once and list its distributions (what `pip list` shows).

    `-I` keeps the caller's environment variables and working directory out of
    the interpreter's sys.path, as pip does for its own listing.
    """
    if not interpreter.exists():
        raise InventoryError(str(interpreter), "no such interpreter")
    try:
        done = subprocess.run(
            [str(interpreter), "-I", "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InventoryError(str(interpreter), f"cannot run: {exc}") from exc
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        raise InventoryError(str(interpreter), f"exit {done.returncode}: {tail[0]}")
    try:
        data = json.loads(done.stdout)
        pairs = [(str(n), str(v)) for n, v in data["packages"]]
        python = str(data["python"])
    except (ValueError, KeyError, TypeError) as exc:
        raise InventoryError(str(interpreter), "unexpected probe output") from exc
    return Inventory(
        environment=environment,
        source=SourceKind.INTERPRETER,
        target=str(interpreter),
        python_version=python,
        packages=_dedupe(Package(name=canonicalize_name(n), version=v) for n, v in pairs),
    )


# --------------------------------------------------------------------------- requirements


def _logical_lines(text: str) -> Iterable[str]:
    buffer = ""
    for raw in text.splitlines():
        line = raw.rstrip()
        if line.endswith("\\"):
            buffer += line[:-1] + " "
            continue
        yield buffer + line
        buffer = ""
    if buffer:
        yield buffer


_COMMENT = re.compile(r"(^|\s)#.*$")


def parse_requirements(text: str, origin: str, base: Path | None = None) -> list[Package]:
    """Pins from requirements-file text; `-r`/`-c` includes resolved against `base`.

    Options (`--hash`, `-i`, `-e`), URLs and markers are tolerated. A requirement
    without an exact `==`/`===` pin is listed with version None.
    """
    packages: list[Package] = []
    for line in _logical_lines(text):
        line = _COMMENT.sub("", line).strip()
        if not line:
            continue
        if line.startswith(("-r ", "--requirement ", "-c ", "--constraint ")):
            include = line.split(None, 1)[1].strip()
            if base is None:
                raise InventoryError(origin, f"cannot follow include {include!r}")
            path = base / include
            try:
                nested = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise InventoryError(str(path), f"cannot read: {exc.strerror}") from exc
            packages.extend(parse_requirements(nested, str(path), path.parent))
            continue
        if line.startswith("-"):
            continue
        line = re.split(r"\s--?\w", line, maxsplit=1)[0].strip()
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        pins = [s for s in req.specifier if s.operator in ("==", "===") and "*" not in s.version]
        version = pins[0].version if len(pins) == 1 and len(req.specifier) == 1 else None
        packages.append(
            Package(
                name=canonicalize_name(req.name),
                version=version,
                spec=None if version else str(req),
            )
        )
    return packages


def from_requirements(environment: str, path: Path) -> Inventory:
    return Inventory(
        environment=environment,
        source=SourceKind.REQUIREMENTS,
        target=str(path),
        python_version=None,
        packages=_dedupe(parse_requirements(_read(path), str(path), path.parent)),
    )


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InventoryError(str(path), f"cannot read: {exc.strerror or exc}") from exc


def _toml(path: Path) -> dict[str, object]:
    try:
        return tomllib.loads(_read(path))
    except tomllib.TOMLDecodeError as exc:
        raise InventoryError(str(path), f"not valid TOML: {exc}") from exc


def _table_list(data: Mapping[str, object], key: str, path: Path) -> list[dict[str, object]]:
    items = data.get(key, [])
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise InventoryError(str(path), f"'{key}' must be an array of tables")
    return items


# --------------------------------------------------------------------------- locks


def _requires_python(data: Mapping[str, object]) -> str | None:
    value = data.get("requires-python")
    return str(value) if value else None


def from_uv_lock(environment: str, path: Path) -> Inventory:
    """uv.lock: every `[[package]]`; the project itself (editable/virtual) is left out."""
    data = _toml(path)
    packages = []
    for item in _table_list(data, "package", path):
        source = item.get("source")
        if isinstance(source, dict) and ("editable" in source or "virtual" in source):
            continue
        if "name" in item:
            version = item.get("version")
            packages.append(
                Package(name=canonicalize_name(str(item["name"])), version=_opt(version))
            )
    return _lock(environment, SourceKind.UV_LOCK, path, None, packages)


def from_poetry_lock(environment: str, path: Path) -> Inventory:
    data = _toml(path)
    packages = [
        Package(name=canonicalize_name(str(item["name"])), version=_opt(item.get("version")))
        for item in _table_list(data, "package", path)
        if "name" in item
    ]
    return _lock(environment, SourceKind.POETRY_LOCK, path, None, packages)


def from_pylock(environment: str, path: Path) -> Inventory:
    """pylock.toml (PEP 751): `[[packages]]` with name and (optional) version."""
    data = _toml(path)
    if "lock-version" not in data:
        raise InventoryError(str(path), "not a PEP 751 lock: 'lock-version' is missing")
    packages = [
        Package(name=canonicalize_name(str(item["name"])), version=_opt(item.get("version")))
        for item in _table_list(data, "packages", path)
        if "name" in item
    ]
    return _lock(environment, SourceKind.PYLOCK, path, None, packages)


def from_pipfile_lock(environment: str, path: Path) -> Inventory:
    try:
        data = json.loads(_read(path))
    except ValueError as exc:
        raise InventoryError(str(path), f"not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InventoryError(str(path), "expected a JSON object")
    packages = []
    for section in ("default", "develop"):
        entries = data.get(section) or {}
        if not isinstance(entries, dict):
            raise InventoryError(str(path), f"'{section}' must be an object")
        for name, spec in entries.items():
            version = spec.get("version") if isinstance(spec, dict) else None
            pinned = (
                str(version)[2:] if isinstance(version, str) and version.startswith("==") else None
            )
            packages.append(Package(name=canonicalize_name(name), version=pinned))
    meta = data.get("_meta")
    requires = meta.get("requires") if isinstance(meta, dict) else None
    python = requires.get("python_full_version") if isinstance(requires, dict) else None
    return _lock(environment, SourceKind.PIPFILE_LOCK, path, _opt(python), packages)


def _opt(value: object) -> str | None:
    return None if value is None else str(value)


def _lock(
    environment: str, kind: SourceKind, path: Path, python: str | None, packages: list[Package]
) -> Inventory:
    return Inventory(
        environment=environment,
        source=kind,
        target=str(path),
        python_version=python,
        packages=_dedupe(packages),
    )


def from_lock(environment: str, path: Path) -> Inventory:
    """A lock file, its format told by its name."""
    name = path.name
    if name == "uv.lock":
        return from_uv_lock(environment, path)
    if name == "poetry.lock":
        return from_poetry_lock(environment, path)
    if name == "Pipfile.lock":
        return from_pipfile_lock(environment, path)
    if name == "pylock.toml" or (name.startswith("pylock.") and name.endswith(".toml")):
        return from_pylock(environment, path)
    raise InventoryError(
        str(path), "unknown lock format: expected uv.lock, poetry.lock, pylock.toml, Pipfile.lock"
    )


# --------------------------------------------------------------------------- MLflow


def from_mlflow_model(environment: str, path: Path, target: str | None = None) -> Inventory:
    """The requirements MLflow logged with a model: a model directory or its requirements.txt.

    The Python version comes from python_env.yaml (or conda.yaml) beside it.
    """
    directory = path if path.is_dir() else path.parent
    requirements = path / "requirements.txt" if path.is_dir() else path
    if not requirements.exists():
        raise InventoryError(str(path), "no requirements.txt in the MLflow model")
    python = None
    for meta in ("python_env.yaml", "conda.yaml"):
        candidate = directory / meta
        if candidate.exists():
            match = re.search(r"python[:=]\s*=?\s*([0-9][0-9.]*)", _read(candidate))
            if match:
                python = match.group(1)
                break
    return Inventory(
        environment=environment,
        source=SourceKind.MLFLOW_MODEL,
        target=target or str(path),
        python_version=python,
        packages=_dedupe(
            parse_requirements(_read(requirements), str(requirements), requirements.parent)
        ),
    )
