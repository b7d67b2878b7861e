"""A finding: what any stage (checks, retrain, frameworks) hands to the alert policy."""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from checks.interface import CheckKind
from daemon.config import Severity


class StageKind(enum.StrEnum):
    """Findings that no check kind raises: the stage they come from."""

    # A model whose checks cannot run (no usable reference) is a finding of its own.
    MONITORING = "monitoring"
    # Retrain decisions: promoted, promotion skipped, rolled back, failed (events).
    RETRAIN = "retrain"
    # A package with an advisory, yanked or past its support (per environment).
    FRAMEWORK = "framework"


# The key of a finding's details that says why it happened in words (a decay's
# causes, daemon/checking/causes.py); the weekly report shows it under the alert.
WHY = "why"

# What a finding is about: a check kind's result, or a stage's own finding. The
# alert store keeps its value.
AlertKind = CheckKind | StageKind


@dataclass(frozen=True, kw_only=True)
class Finding:
    """One subject's state after a run: firing (something is wrong) or not.

    `scope` is the model or environment, `kind` the stage ("drift", "quality",
    "performance", "estimated_performance", "operations", "retrain", "framework"),
    `subject` what it is about (a column, a metric, a package). A finding that is not
    firing resolves the alert with the same fingerprint, if one is firing.

    A finding with an `event_id` is an event, not a state: something that happened
    once (a promotion, a skipped promotion, a rollback, a failed retrain). It is told
    once, whatever `firing` says, and never repeats or resolves; the same event
    handed in again (a poll retried after a crash) is recognised by its id and
    sends nothing.
    """

    scope: str
    kind: AlertKind
    subject: str
    firing: bool
    severity: Severity = Severity.WARNING
    summary: str
    value: float | None = None
    threshold: float | None = None
    link: str | None = None
    details: Mapping[str, object] = field(default_factory=dict)
    event_id: str | None = None
    # The window a check finding was judged on: its end, length and rows. A finding
    # of a window older than the model's latest checked one is not news about now:
    # the policy sets it aside (it neither fires nor resolves).
    window_end: datetime | None = None
    window: timedelta | None = None
    rows: int | None = None

    @property
    def fingerprint(self) -> str:
        parts = (self.scope, self.kind, self.subject)
        key = "\x1f".join(parts if self.event_id is None else (*parts, self.event_id))
        return hashlib.sha256(key.encode()).hexdigest()[:32]
