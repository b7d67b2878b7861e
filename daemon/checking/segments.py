"""A model's checks per segment: `[models.checks] segments = ["region"]`.

Each configured categorical column cuts the reference and the window into the
reference's `segment_top` most frequent values plus "other"
(checks/segments.py). Drift, quality and performance (realized and estimated)
then run on each slice against the same slice of the reference, through the
same `run_checks` as the whole window: each segment's runs are stored under
its name ("region=A"), and its findings carry it in their subject, so their
alert state is their own ("region=A/roc_auc") and their words say where
("in region=A: roc_auc ..."). Operations (latency, errors) are the service's,
not a segment's: they run on the whole window only. A slice's reference
statistics and calibration are built once per reference version, like the
whole reference's, and kept in the same caches.

Segments come in a stable order: the configured columns in turn, each one's
values sorted, "other" last. A segment whose slice of the reference is under
`min_rows` has nothing to be judged against: it is not checked, and says so
(`SegmentRuns.unchecked`, printed by `mlmaint check`) rather than vanishing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import pandas as pd

from checks.interface import CheckKind
from checks.reference import ReferenceStats
from checks.segments import OTHER, Segmentation, segmentation
from daemon.checking.findings import segment_label
from daemon.checking.records import drift_history
from daemon.checking.references import reference_stats
from daemon.checking.run import CheckCycle, run_checks
from daemon.checking.specs import persistence_lookback
from daemon.config import ModelSettings

if TYPE_CHECKING:
    from daemon.jobs import JobContext

log = logging.getLogger(__name__)

# What a segment is checked for; operations are the whole service's.
SEGMENT_KINDS = (
    CheckKind.DRIFT,
    CheckKind.QUALITY,
    CheckKind.PERFORMANCE,
    CheckKind.ESTIMATED_PERFORMANCE,
)


@dataclass(frozen=True, kw_only=True)
class SegmentRuns:
    """A window's segments: each checked one's cycle, and why the others were not."""

    cycles: tuple[CheckCycle, ...] = ()
    # (segment, reason) for a segment with too little reference to judge it by.
    unchecked: tuple[tuple[str, str], ...] = ()


def _ordered(parts: Iterable[tuple[str, pd.DataFrame]]) -> list[tuple[str, pd.DataFrame]]:
    """The values sorted, "other" last: the same order in every window and every output."""
    return sorted(parts, key=lambda part: (part[0] == OTHER, part[0]))


def segmentations(model: ModelSettings, ref: ReferenceStats) -> tuple[Segmentation, ...]:
    top = model.checks.segment_top
    return tuple(segmentation(ref.frame, column, top) for column in model.checks.segments)


def run_segments(
    ctx: JobContext | None,
    model: ModelSettings,
    now: datetime,
    window: pd.DataFrame,
    ref: ReferenceStats,
    *,
    kinds: Iterable[CheckKind] | None = None,
    window_start: datetime | None = None,
    model_version: str | None = None,
    store: bool = True,
    backfill: bool = False,
) -> SegmentRuns:
    """One cycle per segment of each configured column, stored and worded as its own.

    `store` and `backfill` are the whole window's: a window of another length is
    printed, not stored, its segments included; a past window's segment runs are
    marked as a backfill's, as its other runs are.
    """
    if not model.checks.segments:
        return SegmentRuns()
    wanted = tuple(k for k in (kinds or SEGMENT_KINDS) if k in SEGMENT_KINDS)
    if not wanted:
        return SegmentRuns()
    cache = ctx.check_cache if ctx is not None else None
    lookback = persistence_lookback(model)
    cycles: list[CheckCycle] = []
    unchecked: list[tuple[str, str]] = []
    min_rows = model.checks.min_rows
    for cut in segmentations(model, ref):
        references = dict(cut.split(ref.frame))
        for value, rows in _ordered(cut.split(window)):
            label = segment_label(cut.column, value)
            held = len(references[value])
            if held < min_rows:
                if held == 0 and not len(rows):
                    # No "other" anywhere (every value is a named segment): nothing to say.
                    continue
                # Nothing to judge the slice against: said, not silently dropped.
                reason = (
                    f"not checked: the reference has {held} rows of it, under min_rows = {min_rows}"
                )
                log.info("model %s: segment %s (%d rows) %s", model.name, label, len(rows), reason)
                unchecked.append((label, reason))
                continue
            history = None
            if ctx is not None and lookback:
                with ctx.sessions() as session:
                    history = drift_history(session, model.name, now, lookback, segment=label)
            # Each slice is its own holder in the cache: the segments do not push
            # each other's statistics (or the whole reference's) out.
            sliced = reference_stats(
                model, references[value], cache=cache, owner=f"{model.name}\x1f{label}"
            )
            cycles.append(
                run_checks(
                    ctx,
                    model,
                    now,
                    rows,
                    sliced,
                    kinds=wanted,
                    window_start=window_start,
                    model_version=model_version,
                    history=history,
                    cache=cache,
                    segment=label,
                    store=store,
                    backfill=backfill,
                )
            )
            log.debug(
                "model %s: segment %s on %d rows: %s",
                model.name,
                label,
                len(rows),
                ", ".join(f"{k.value}={r.result.status.value}" for k, r in cycles[-1].runs.items()),
            )
    return SegmentRuns(cycles=tuple(cycles), unchecked=tuple(unchecked))
