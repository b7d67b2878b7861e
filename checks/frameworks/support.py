"""Support windows: Python end-of-life dates and the torch / CUDA / Python matrix.

The data ships as versioned JSON (data/support.json) with its sources and the
date it was checked, printed in every report so a reader knows how old it is
(and flagged when older than a year). A config may point at a file of the same
shape to override it; `mlmaint frameworks sync` fetches a newer copy from the
configured support_url into the store, and the shipped copy stays the fallback.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from packaging.version import InvalidVersion, Version

from checks.frameworks import FrameworkError

SUPPORT_VERSION = 1
SHIPPED = Path(__file__).parent / "data" / "support.json"
# A Python release this close to its end of life is reported (info) ahead of time.
EOL_WARNING = timedelta(days=180)
# Support data older than this is flagged wherever it is printed.
STALE_AFTER = timedelta(days=365)


@dataclass(frozen=True, kw_only=True)
class TorchSupport:
    python_min: str
    python_max: str
    cuda: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class SupportData:
    as_of: date
    python_source: str
    python_eol: Mapping[str, date]
    torch_source: str
    torch: Mapping[str, TorchSupport]
    origin: str

    def describe(self, today: date | None = None) -> str:
        """Where the data comes from and, given `today`, how old it is: flagged past a year."""
        age = ""
        if today is not None:
            days = (today - self.as_of).days
            age = f", {days} days old"
            if days > STALE_AFTER.days:
                age += (
                    ": OLDER THAN A YEAR, end-of-life dates and the torch matrix may have "
                    "moved (refresh with `mlmaint frameworks sync` and support_url)"
                )
        return (
            f"support data as of {self.as_of.isoformat()} ({self.origin}{age}): "
            f"Python {self.python_source}; torch {self.torch_source}"
        )

    def is_stale(self, today: date) -> bool:
        return (today - self.as_of).days > STALE_AFTER.days


def load_support(path: Path | None = None) -> SupportData:
    """The shipped data, or a file of the same shape given in the config."""
    source = path or SHIPPED
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FrameworkError(f"{source}: unreadable support data: {exc}") from exc
    return parse_support(data, str(source), origin="shipped" if path is None else str(path))


def parse_support(data: object, where: str, *, origin: str) -> SupportData:
    """Support data from its JSON form (the shipped file, a config's file, a synced copy)."""
    try:
        if not isinstance(data, Mapping):
            raise TypeError("not a JSON object")
        if data.get("version") != SUPPORT_VERSION:
            raise FrameworkError(
                f"{where}: support data version {data.get('version')!r}, this mlmaint reads "
                f"version {SUPPORT_VERSION}: written for another mlmaint release?"
            )
        python = data["python"]
        torch = data["torch"]
        return SupportData(
            as_of=date.fromisoformat(data["as_of"]),
            python_source=str(python["source"]),
            python_eol={str(k): date.fromisoformat(v) for k, v in python["eol"].items()},
            torch_source=str(torch["source"]),
            torch={
                str(k): TorchSupport(
                    python_min=str(v["python"][0]),
                    python_max=str(v["python"][1]),
                    cuda=tuple(str(c) for c in v["cuda"]),
                )
                for k, v in torch["matrix"].items()
            },
            origin=origin,
        )
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        raise FrameworkError(f"{where}: unreadable support data: {exc}") from exc


def minor_of(version: str) -> str | None:
    try:
        parsed = Version(version)
    except InvalidVersion:
        return None
    return f"{parsed.major}.{parsed.minor}"


def cuda_of(local: str | None) -> str | None:
    """`cu118` -> "11.8", `cu121` -> "12.1", `cu130` -> "13.0"; None for cpu/rocm/other."""
    if not local or not local.startswith("cu") or not local[2:].isdigit() or len(local) < 5:
        return None
    digits = local[2:]
    return f"{int(digits[:-1])}.{digits[-1]}"


@dataclass(frozen=True, kw_only=True)
class SupportProblem:
    # "python_eol", "python_eol_soon", "torch_python", "torch_cuda", "torch_unknown"
    kind: str
    subject: str
    detail: str
    warning: bool


def python_problems(python: str, data: SupportData, today: date) -> list[SupportProblem]:
    minor = minor_of(python)
    if minor is None:
        return []
    eol = data.python_eol.get(minor)
    if eol is None:
        return []
    if today > eol:
        return [
            SupportProblem(
                kind="python_eol",
                subject="python",
                detail=f"Python {minor} reached end of life on {eol.isoformat()}",
                warning=True,
            )
        ]
    if eol - today <= EOL_WARNING:
        return [
            SupportProblem(
                kind="python_eol_soon",
                subject="python",
                detail=f"Python {minor} reaches end of life on {eol.isoformat()}",
                warning=False,
            )
        ]
    return []


def torch_problems(
    torch_version: str, local: str | None, python: str | None, data: SupportData
) -> list[SupportProblem]:
    minor = minor_of(torch_version)
    if minor is None:
        return []
    row = data.torch.get(minor)
    if row is None:
        return [
            SupportProblem(
                kind="torch_unknown",
                subject="torch",
                detail=f"torch {minor} is not in the shipped matrix (as of {data.as_of})",
                warning=False,
            )
        ]
    problems = []
    py_minor = minor_of(python) if python else None
    if py_minor is not None and not (
        Version(row.python_min) <= Version(py_minor) <= Version(row.python_max)
    ):
        problems.append(
            SupportProblem(
                kind="torch_python",
                subject="torch",
                detail=f"torch {minor} supports Python {row.python_min}-{row.python_max}, "
                f"the environment runs {py_minor}",
                warning=True,
            )
        )
    cuda = cuda_of(local)
    if cuda is not None and cuda not in row.cuda:
        problems.append(
            SupportProblem(
                kind="torch_cuda",
                subject="torch",
                detail=f"torch {minor} is built for CUDA {', '.join(row.cuda)}; "
                f"this build is CUDA {cuda} (+{local})",
                warning=True,
            )
        )
    return problems
