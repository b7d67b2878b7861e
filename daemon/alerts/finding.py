"""A finding: what any stage (checks, retrain, frameworks) hands to the alert policy."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from daemon.config import Severity


@dataclass(frozen=True, kw_only=True)
class Finding:
    """One subject's state after a run: firing (something is wrong) or not.

    `scope` is the model or environment, `kind` the stage ("drift", "quality",
    "performance", "estimated_performance", "operations", "retrain", "framework"),
    `subject` what it is about (a column, a metric, a package). A finding that is not
    firing resolves the alert with the same fingerprint, if one is firing.
    """

    scope: str
    kind: str
    subject: str
    firing: bool
    severity: Severity = Severity.WARNING
    summary: str
    value: float | None = None
    threshold: float | None = None
    link: str | None = None
    details: Mapping[str, object] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        key = "\x1f".join((self.scope, self.kind, self.subject))
        return hashlib.sha256(key.encode()).hexdigest()[:32]
