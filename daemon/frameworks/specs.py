"""Framework settings -> the frozen policy the evaluation in checks/frameworks applies."""

from __future__ import annotations

from datetime import date

from packaging.utils import canonicalize_name

from checks.frameworks.policy import FRAMEWORKS, IgnoreRule, Policy
from daemon.config import FrameworkSettings


def policy_from(settings: FrameworkSettings) -> Policy:
    return Policy(
        max_release_age_days=settings.max_release_age_days,
        frameworks=FRAMEWORKS | {canonicalize_name(p) for p in settings.cadence_packages},
        security_cadence_months=settings.security_cadence_months,
        major_cadence_years=settings.major_cadence_years,
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
