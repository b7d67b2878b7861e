"""Versions recorded with every job: our code and the ML frameworks it trains with."""

from __future__ import annotations

import subprocess
from importlib import metadata
from pathlib import Path

FRAMEWORKS = ("mlflow", "scikit-learn", "torch", "numpy", "pandas", "pyarrow")


def framework_versions(names: tuple[str, ...] = FRAMEWORKS) -> dict[str, str]:
    """Installed versions read from package metadata: nothing is imported."""
    found: dict[str, str] = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def code_version() -> dict[str, str]:
    """mlmaint's package version and, in a git checkout, the commit."""
    try:
        version = metadata.version("mlmaint")
    except metadata.PackageNotFoundError:
        version = "unknown"
    out = {"package": version}
    root = Path(__file__).resolve().parents[1]
    if (root / ".git").exists():
        try:
            done = subprocess.run(
                ["git", "-C", str(root), "rev-parse", "HEAD"],
                capture_output=True,
                text=True,
                timeout=5,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return out
        if done.returncode == 0:
            out["git_commit"] = done.stdout.strip()
    return out
