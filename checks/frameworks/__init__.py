"""Framework freshness and security advisories.

inventory (what an environment runs), releases (what the package index offers),
advisories (OSV records), matching (the OSV range algorithm and alias groups),
severity (CVSS base scores), support windows
(Python end of life, torch / CUDA / Python), policy (findings and upgrade targets)
and output (table, JSON, CycloneDX). Everything here is pure: HTTP goes through a
handed-in `httpx.Client`, files through handed-in paths.
"""

from __future__ import annotations


class FrameworkError(Exception):
    """Root of the framework checks' errors."""


class SourceUnavailable(FrameworkError):
    """A remote source (package index, OSV) could not be read: the run goes on without it."""

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"{source} unavailable: {reason}")


class InventoryError(FrameworkError):
    """An environment could not be inventoried (missing file, unreadable lock)."""

    def __init__(self, target: str, reason: str) -> None:
        self.target = target
        self.reason = reason
        super().__init__(f"cannot inventory {target}: {reason}")


class AdvisoryFormatError(FrameworkError):
    """An advisory record does not follow the OSV schema."""

    def __init__(self, origin: str, reason: str) -> None:
        self.origin = origin
        super().__init__(f"{origin}: not an OSV record: {reason}")
