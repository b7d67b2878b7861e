"""Why performance fell: the series from the store, the ranking in words.

When a realized or estimated performance finding fires, `explain` reads the
model's last `[models.checks.causes] windows` stored runs of that kind (the
metric the check judges) and the drift runs of the same windows (each
feature's stored value and threshold), hands them to the pure ranking
(checks/causes.py) and words the result into the finding: "roc_auc fell 0.08;
it follows usage_gb (r = 0.91) and monthly_charges (r = 0.77)". The series are
the segment's own when the finding is a segment's. The words go into the
alert's summary, so the message and the weekly report say them.

Feature importances rank the drift a second way, weighted by what the model
leans on: the check cycle hands `explain` a loader of the serving version's
importances (daemon/checking/importances.py, read once per version), called only
when a performance finding fires.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from checks.causes import MIN_PAIRS, CauseRanking, CauseSpec, drift_signal, rank_causes
from checks.interface import CheckKind
from checks.methods import METHODS, Method
from checks.performance.metrics import Metric, alerts_when
from daemon.alerts.finding import WHY, Finding
from daemon.config import ModelSettings
from daemon.store.tables import CheckMetric, CheckRun, Model, of_segment

log = logging.getLogger(__name__)

# The measure of each performance kind that carries the judged metric's value.
_VALUE_NAME = {CheckKind.PERFORMANCE: "value", CheckKind.ESTIMATED_PERFORMANCE: "estimated"}


def cause_spec(model: ModelSettings) -> CauseSpec | None:
    c = model.checks.causes
    if not c.enabled:
        return None
    return CauseSpec(windows=c.windows, top_k=c.top_k, min_abs_r=c.min_abs_r)


def _p_value(name: str) -> bool | None:
    """Whether a stored drift measure's name is a p-value test; None: not a column test."""
    try:
        return METHODS[Method(name)].p_value
    except (ValueError, KeyError):
        return None


def stored_series(
    session: Session,
    model: str,
    kind: CheckKind,
    metric: str,
    features: Sequence[str],
    end: datetime,
    windows: int,
    segment: str | None = None,
) -> tuple[list[datetime], list[float | None], dict[str, list[float | None]]]:
    """The metric's last `windows` stored values up to `end` (window ends, oldest first)
    and each feature's drift signal in the same windows (None where none was stored)."""
    perf = session.execute(
        select(CheckRun.window_end, CheckMetric.value)
        .join(Model, Model.id == CheckRun.model_id)
        .join(CheckMetric, CheckMetric.run_id == CheckRun.id)
        .where(
            Model.name == model,
            CheckRun.kind == kind.value,
            of_segment(segment),
            CheckRun.window_end <= end,
            CheckMetric.subject == metric,
            CheckMetric.name == _VALUE_NAME[kind],
        )
        .order_by(CheckRun.window_end.desc())
        .limit(windows)
    ).all()
    ends = [row[0] for row in reversed(perf)]
    values: list[float | None] = [row[1] for row in reversed(perf)]
    drift: dict[str, list[float | None]] = {f: [None] * len(ends) for f in features}
    if not ends:
        return ends, values, drift
    at = {e: i for i, e in enumerate(ends)}
    for window_end, subject, name, value, threshold in session.execute(
        select(
            CheckRun.window_end,
            CheckMetric.subject,
            CheckMetric.name,
            CheckMetric.value,
            CheckMetric.threshold,
        )
        .join(Model, Model.id == CheckRun.model_id)
        .join(CheckMetric, CheckMetric.run_id == CheckRun.id)
        .where(
            Model.name == model,
            CheckRun.kind == CheckKind.DRIFT.value,
            of_segment(segment),
            CheckRun.window_end.in_(ends),
            CheckMetric.subject.in_(list(features)),
        )
    ):
        p_value = _p_value(name)
        if p_value is None or window_end not in at:
            continue
        drift[subject][at[window_end]] = drift_signal(value, threshold, p_value)
    return ends, values, drift


def rank_stored(
    session: Session,
    model: ModelSettings,
    kind: CheckKind,
    metric: str,
    end: datetime,
    *,
    segment: str | None = None,
    importances: Mapping[str, float] | None = None,
    spec: CauseSpec | None = None,
) -> CauseRanking | None:
    """The ranking over the stored windows up to `end`; None when disabled or unstored.

    `spec` overrides the model's `[models.checks.causes]` (the demo lists every feature).
    """
    spec = spec or cause_spec(model)
    if spec is None:
        return None
    features = model.schema_.features
    _, perf, drift = stored_series(
        session, model.name, kind, metric, features, end, spec.windows, segment
    )
    if sum(p is not None for p in perf) < MIN_PAIRS:
        # Too short a history to say what follows the metric.
        return None
    return rank_causes(metric, alerts_when(Metric(metric)), perf, drift, spec, importances)


def _r(value: float) -> str:
    return f"{value:.2f}"


def cause_words(ranking: CauseRanking) -> str:
    """ "roc_auc fell 0.08; it follows usage_gb (r = 0.91) and plan (r = 0.77)"."""
    if ranking.change is None:
        head = f"{ranking.metric} at {ranking.latest:.4g}"
    else:
        verb = "fell" if ranking.change < 0 else "rose"
        head = f"{ranking.metric} {verb} {abs(ranking.change):.2g}"
    named = [f"{c.feature} (r = {_r(c.r)})" for c in ranking.causes]
    if not named:
        follows = f"no feature's drift follows it over {ranking.windows} windows"
    elif len(named) == 1:
        follows = f"it follows {named[0]}"
    else:
        follows = f"it follows {', '.join(named[:-1])} and {named[-1]}"
    text = f"{head}; {follows}"
    if ranking.by_importance:
        weighted = ", ".join(
            f"{c.feature} ({c.weighted:.2g})" for c in ranking.by_importance if c.weighted
        )
        text += f"; by drift times importance: {weighted}"
    return text


def explain(
    session: Session,
    model: ModelSettings,
    findings: Sequence[Finding],
    end: datetime,
    *,
    segment: str | None = None,
    importances: Callable[[], Mapping[str, float] | None] | None = None,
) -> list[Finding]:
    """The findings, each firing performance finding's summary ending with its causes.

    `importances` gives the model's feature importances (None: it has none); it is
    called at most once, and only when a performance finding fires.
    """
    out: list[Finding] = []
    weights: list[Mapping[str, float] | None] = []

    def weighted() -> Mapping[str, float] | None:
        if importances is None:
            return None
        if not weights:
            weights.append(importances())
        return weights[0]

    for f in findings:
        if not f.firing or not isinstance(f.kind, CheckKind) or f.kind not in _VALUE_NAME:
            out.append(f)
            continue
        metric = str(f.details.get("measure_subject", f.subject))
        try:
            ranking = rank_stored(
                session, model, f.kind, metric, end, segment=segment, importances=weighted()
            )
        except ValueError as exc:
            log.debug("model %s: no cause ranking for %s: %s", model.name, metric, exc)
            ranking = None
        if ranking is None:
            out.append(f)
            continue
        details = dict(f.details)
        details[WHY] = cause_words(ranking)
        # Scalars only: the alert keeps a finding's scalar details (`alerts list --format json`).
        details["causes"] = ", ".join(f"{c.feature}={c.r:.4f}" for c in ranking.causes) or None
        out.append(replace(f, summary=f"{f.summary}; {cause_words(ranking)}", details=details))
    return out
