"""An advisory scan of a requirements or lock file against an OSV directory, offline.

What `mlmaint frameworks` does for one environment, without the daemon's
store: the file's pinned packages are matched against the OSV records of a
local advisory database (a checkout of github.com/pypa/advisory-database, a
zip of OSV records, or one JSON file of them). No package index is asked, so
there are no "behind" or "yanked" findings: vulnerabilities, unpinned
requirements and the support windows (Python, torch) only.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from packaging.utils import canonicalize_name

from checks.frameworks import advisories as osv
from checks.frameworks import inventory as inv
from checks.frameworks.matching import AdvisoryIndex
from checks.frameworks.policy import EnvironmentReport, Policy, evaluate
from checks.frameworks.support import load_support

LOCKS = frozenset({"uv.lock", "poetry.lock", "pylock.toml", "Pipfile.lock"})


def advisory_records(advisory_db: Path, packages: Iterable[str]) -> list[osv.Advisory]:
    """The OSV records under `advisory_db` that may name `packages`.

    The PyPA database keeps one folder per package (`vulns/<name>/*.yaml`):
    only the folders of the packages asked for are read (a few files instead
    of 2,600). Any other layout is read whole.
    """
    root = advisory_db / "vulns" if (advisory_db / "vulns").is_dir() else advisory_db
    if root.is_dir():
        folders = {canonicalize_name(p.name): p for p in root.iterdir() if p.is_dir()}
        if folders:
            records: list[osv.Advisory] = []
            for name in sorted({canonicalize_name(p) for p in packages}):
                if name in folders:
                    records.extend(osv.load_path(folders[name]))
            return records
    return osv.load_path(advisory_db)


def scan_requirements(
    path: str | Path,
    advisory_db: str | Path,
    *,
    environment: str | None = None,
    now: datetime | None = None,
    policy: Policy | None = None,
) -> EnvironmentReport:
    """Findings for the packages pinned in a requirements file (or a uv, poetry, pylock
    or Pipfile lock), matched against the OSV records in `advisory_db`.

    `environment` names the report (default: the file's name); `now` dates it
    and the support checks (default: the current time); `policy` carries the
    advisories to ignore. The report's `findings` hold each vulnerable package
    with its advisory ids, severity, CVSS score and the version that fixes it.
    """
    file = Path(path)
    name = environment or file.name
    lock = file.name in LOCKS or (file.name.startswith("pylock.") and file.suffix == ".toml")
    found = inv.from_lock(name, file) if lock else inv.from_requirements(name, file)
    records = advisory_records(Path(advisory_db), (p.name for p in found.packages))
    index = AdvisoryIndex(osv.by_id(records).values())
    return evaluate(
        found,
        index,
        {},
        load_support(),
        policy or Policy(),
        now or datetime.now(UTC),
        advisories_note=f"{len(index.packages())} package(s) with advisories in {advisory_db}",
    )
