"""The report's view of `frameworks verify`: the verdicts on record, and the upgrade to take.

A vulnerable row's recommended upgrade is the scan's smallest release that
clears its advisories. When verifications of that package are on record, the
row recommends the smallest verified-safe release from that one up, and says
so; a recommended release that changes predictions is kept only when nothing
above it verified safe, with the verdict beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta

from packaging.version import InvalidVersion, Version
from sqlalchemy import select
from sqlalchemy.orm import Session

from checks.frameworks.verdict import Verdict, smallest_safe
from daemon.report.model import FrameworkEnv, FrameworkRow, VerificationRow
from daemon.report.queries import Span
from daemon.store.tables import FrameworkVerification

# Verdicts older than this before the week are not shown: the index and the model moved on.
LOOKBACK = timedelta(days=28)


def verifications(session: Session, week: Span) -> tuple[VerificationRow, ...]:
    """The latest verdict per (model, package, target) of the four weeks up to the week's end."""
    rows = session.scalars(
        select(FrameworkVerification)
        .where(
            FrameworkVerification.created_at < week.end,
            FrameworkVerification.created_at >= week.start - LOOKBACK,
        )
        .order_by(FrameworkVerification.created_at)
    )
    latest: dict[tuple[str, str, str], VerificationRow] = {}
    for r in rows:
        latest[(r.model, r.package, r.target)] = VerificationRow(
            model=r.model,
            model_version=r.model_version,
            package=r.package,
            installed=r.installed,
            target=r.target,
            verdict=r.verdict,
            summary=r.summary,
            created_at=r.created_at,
        )
    return tuple(sorted(latest.values(), key=lambda v: (v.model, v.package, _order(v.target))))


def _order(version: str) -> tuple[int, Version | str]:
    try:
        return 0, Version(version)
    except InvalidVersion:
        return 1, version


def _verified(row: FrameworkRow, found: Sequence[VerificationRow]) -> FrameworkRow:
    mine = [v for v in found if v.package == row.package and v.installed == row.installed]
    if not mine or row.recommended is None:
        return row
    floor = _order(row.recommended)
    above = sorted({v.target for v in mine if _order(v.target) >= floor}, key=_order)
    # A target verified safe on one model and not on another is not safe.
    verdicts = {
        t: Verdict.SAFE
        if all(v.verdict == Verdict.SAFE.value for v in mine if v.target == t)
        else Verdict.CHANGES_PREDICTIONS
        for t in above
    }
    safe = smallest_safe(above, verdicts)
    target = safe or row.recommended
    said = [f"{v.model}: {v.summary}" for v in mine if v.target == target]
    if not said:
        return row
    return replace(
        row, recommended=target, verified="; ".join(said), verified_safe=safe is not None
    )


def verified_frameworks(
    envs: Sequence[FrameworkEnv], found: Sequence[VerificationRow]
) -> tuple[FrameworkEnv, ...]:
    """The environments with each vulnerable row's upgrade checked against the verdicts."""
    if not found:
        return tuple(envs)
    return tuple(
        replace(env, vulnerable=tuple(_verified(r, found) for r in env.vulnerable)) for env in envs
    )
