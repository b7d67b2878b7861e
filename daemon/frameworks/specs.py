"""Framework settings -> the frozen policy the evaluation in checks/frameworks applies."""

from __future__ import annotations

from datetime import date

from checks.frameworks.policy import IgnoreRule, Policy
from daemon.config import FrameworkSettings


def policy_from(settings: FrameworkSettings) -> Policy:
    return Policy(
        max_release_age_days=settings.max_release_age_days,
        ignores=tuple(
            IgnoreRule(
                id=i.id,
                reason=i.reason,
                until=date.fromisoformat(i.until) if i.until else None,
                package=i.package,
            )
            for i in settings.ignores
        ),
    )
