"""Why performance fell: the series from the store, the ranking in words.

When a realized or estimated performance finding fires, `explain` reads the
model's last `[models.checks.causes] windows` stored runs of that kind (the
metric the check judges, and the baseline the latest run compared it with), the
drift runs of the same windows (each feature's stored value and threshold) and
the multivariate runs, when the model has them; hands them to the pure ranking
(checks/causes.py) and words the result into the finding: "roc_auc fell 0.0812
from 0.9123 (reference) to 0.8311; it follows usage_gb (r = 0.91) and the joint
drift of the features (reconstruction error, r = 0.88)". The series are the
segment's own when the finding is a segment's, but for the joint drift: the
multivariate check runs on whole windows only, so a segment's ranking reads the
whole window's series in the same windows and says so ("the joint drift of the
features over the whole window (...)"). The words go into the alert's summary,
so the message and the weekly report say them.

Feature importances rank the drift a second way, weighted by what the model
leans on: the check cycle hands `explain` a loader of the serving version's
importances (daemon/checking/importances.py, read once per version), called only
when a performance finding fires.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy import select
from sqlalchemy.orm import Session

from checks.causes import (
    MIN_PAIRS,
    Baseline,
    CauseRanking,
    CauseSpec,
    drift_signal,
    rank_causes,
)
from checks.interface import CheckKind
from checks.methods import METHODS, Method
from checks.multivariate import METHOD_NAMES
from checks.performance.metrics import BaselineSource, Metric, alerts_when
from daemon.alerts.finding import WHY, Finding
from daemon.checking.importances import Importances
from daemon.config import ModelSettings
from daemon.store.tables import CheckMetric, CheckRun, Model, of_segment
from daemon.tables import fmt_value

log = logging.getLogger(__name__)

# The measure of each performance kind that carries the judged metric's value.
_VALUE_NAME = {CheckKind.PERFORMANCE: "value", CheckKind.ESTIMATED_PERFORMANCE: "estimated"}
# The measure the performance checks store the baseline they compared against under.
_BASELINE_NAME = "baseline"


@dataclass(frozen=True, kw_only=True)
class StoredSeries:
    """A metric's last stored windows and what drifted in them, oldest first."""

    ends: tuple[datetime, ...]
    performance: tuple[float | None, ...]
    # Each window's baseline (None where it stored none).
    baselines: tuple[Baseline | None, ...]
    # Each feature's drift signal; each multivariate method's value (only methods
    # with a stored run among the windows).
    drift: Mapping[str, tuple[float | None, ...]]
    joint: Mapping[str, tuple[float | None, ...]]
    # Whether each multivariate method alerted in each window.
    joint_alerting: Mapping[str, tuple[bool, ...]] = field(default_factory=dict)
    # The joint series are the whole window's (the rest is a segment's).
    joint_whole: bool = False

    @property
    def latest_baseline(self) -> Baseline | None:
        """The baseline of the latest window with a performance value."""
        for value, baseline in zip(
            reversed(self.performance), reversed(self.baselines), strict=True
        ):
            if value is not None and math.isfinite(value):
                return baseline
        return None


def cause_spec(model: ModelSettings) -> CauseSpec | None:
    c = model.checks.causes
    if not c.enabled:
        return None
    return CauseSpec(windows=c.windows, top_k=c.top_k, min_r=c.min_r)


def _p_value(name: str) -> bool | None:
    """Whether a stored drift measure's name is a p-value test; None: not a column test."""
    try:
        return METHODS[Method(name)].p_value
    except (ValueError, KeyError):
        return None


def _source(detail: str | None) -> BaselineSource | None:
    """A stored baseline's source, from its detail (None: stored before it was recorded)."""
    try:
        return BaselineSource(detail) if detail is not None else None
    except ValueError:
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
) -> StoredSeries:
    """The metric's last `windows` stored values up to `end` (window ends, oldest first),
    the baseline each run compared against, each feature's drift signal and each
    multivariate method's value in the same windows (None where none was stored).

    A `segment`'s metric and drift are its own; its multivariate values are the whole
    window's, the only ones stored."""
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
    values = tuple(row[1] for row in reversed(perf))
    baselines: list[Baseline | None] = [None] * len(ends)
    drift: dict[str, list[float | None]] = {f: [None] * len(ends) for f in features}
    joint: dict[str, list[float | None]] = {}
    if not ends:
        return StoredSeries(ends=(), performance=(), baselines=(), drift={}, joint={})
    at = {e: i for i, e in enumerate(ends)}

    def measures(
        of: CheckKind, subjects: Iterable[str], scope: str | None
    ) -> Sequence[tuple[datetime, str, str, float | None, float | None, str | None, bool]]:
        return (
            session.execute(
                select(
                    CheckRun.window_end,
                    CheckMetric.subject,
                    CheckMetric.name,
                    CheckMetric.value,
                    CheckMetric.threshold,
                    CheckMetric.detail,
                    CheckMetric.alerting,
                )
                .join(Model, Model.id == CheckRun.model_id)
                .join(CheckMetric, CheckMetric.run_id == CheckRun.id)
                .where(
                    Model.name == model,
                    CheckRun.kind == of.value,
                    of_segment(scope),
                    CheckRun.window_end.in_(ends),
                    CheckMetric.subject.in_(list(subjects)),
                )
            )
            .tuples()
            .all()
        )

    for window_end, _, name, value, _, detail, _ in measures(kind, [metric], segment):
        if name == _BASELINE_NAME and window_end in at and value is not None:
            baselines[at[window_end]] = Baseline(value=value, source=_source(detail))
    for window_end, subject, name, value, threshold, _, _ in measures(
        CheckKind.DRIFT, features, segment
    ):
        p_value = _p_value(name)
        if p_value is None or window_end not in at:
            continue
        drift[subject][at[window_end]] = drift_signal(value, threshold, p_value)
    # The joint drift of the features: a multivariate method's value as it was stored
    # (a mean reconstruction error, an AUROC), where the model runs that check. It runs
    # on whole windows only: a segment's windows are read from the whole window's runs
    # of the same ends (stored in the same cycle, before the segments').
    alerting: dict[str, list[bool]] = {}
    for window_end, subject, _, value, _, _, alerted in measures(
        CheckKind.MULTIVARIATE, METHOD_NAMES, None
    ):
        if window_end in at:
            joint.setdefault(subject, [None] * len(ends))[at[window_end]] = value
            alerting.setdefault(subject, [False] * len(ends))[at[window_end]] = bool(alerted)
    return StoredSeries(
        ends=tuple(ends),
        performance=values,
        baselines=tuple(baselines),
        drift={f: tuple(v) for f, v in drift.items()},
        joint={m: tuple(v) for m, v in joint.items()},
        joint_alerting={m: tuple(v) for m, v in alerting.items()},
        joint_whole=segment is not None and bool(joint),
    )


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

    A history shorter than a correlation needs still gives a ranking (`too_few`): the
    change from the baseline is known from the first window.
    `spec` overrides the model's `[models.checks.causes]` (the demo lists every feature).
    """
    spec = spec or cause_spec(model)
    if spec is None:
        return None
    series = stored_series(
        session, model.name, kind, metric, model.schema_.features, end, spec.windows, segment
    )
    if not any(p is not None and math.isfinite(p) for p in series.performance):
        return None
    return rank_causes(
        metric,
        alerts_when(Metric(metric)),
        series.performance,
        series.drift,
        spec,
        importances,
        baseline=series.latest_baseline,
        joint=series.joint,
        joint_alerting=series.joint_alerting,
        joint_whole=series.joint_whole,
    )


def _r(value: float) -> str:
    return f"{value:.2f}"


def _origin(ranking: CauseRanking) -> str:
    """What the change is measured from, in words: "reference", "mean of the previous 6
    windows"."""
    if ranking.baseline is not None:
        source = ranking.baseline.source
        return source.value if source is not None else "baseline"
    if ranking.earlier == 1:
        return "the previous window"
    return f"mean of the previous {ranking.earlier} windows"


def change_words(ranking: CauseRanking) -> str:
    """ "roc_auc fell 0.0812 from 0.9123 (reference) to 0.8311": how far the metric moved,
    from the baseline the performance check compares against where one is known, else
    from its mean over the earlier windows read; each said.

    Both values print as the alert's head prints them (`fmt_value`: four significant
    figures, no trailing zero), and the change is the exact difference of the printed
    figures, so the sentence's arithmetic holds and "baseline 5.091" in the head is
    "from 5.091" here."""
    metric, latest, since = ranking.metric, ranking.latest, ranking.since
    now = fmt_value(latest)
    if since is None:
        return f"{metric} at {now}, no earlier window to compare with"
    was = fmt_value(since)
    try:
        change = Decimal(now) - Decimal(was)
    except InvalidOperation:  # inf or nan: no arithmetic to show
        return f"{metric} at {now} from {was} ({_origin(ranking)})"
    if change == 0:
        return f"{metric} unchanged at {now} ({_origin(ranking)})"
    verb = "fell" if change < 0 else "rose"
    # normalize(): "1.5 - 0.5" is "1", not "1.0"; format "f": "23500", not "2.35E+4".
    by = format(abs(change).normalize(), "f")
    return f"{metric} {verb} {by} from {was} ({_origin(ranking)}) to {now}"


def _joint_words(ranking: CauseRanking) -> str:
    methods = "; ".join(
        f"{METHOD_NAMES.get(c.subject, c.subject)}, r = {_r(c.r)}" for c in ranking.joint
    )
    # A segment's: its features' drift is its own, the joint drift the whole window's.
    whole = " over the whole window" if ranking.joint_whole else ""
    return f"the joint drift of the features{whole} ({methods})"


def _listed(names: Sequence[str], most: int = 3) -> str:
    shown = ", ".join(names[:most])
    return shown if len(names) <= most else f"{shown} and {len(names) - most} more"


def _unexplained(ranking: CauseRanking, labelled: bool) -> str:
    """Nothing drifted in the look-back: the metric moved for another reason."""
    if ranking.change is None or ranking.change == 0:
        move = "change"
    else:
        move = "fall" if ranking.change < 0 else "rise"
    nothing = "no feature drifted"
    if ranking.joint_whole:
        nothing += " in the segment, nor did the whole window's joint drift alert,"
    elif ranking.joint_read:
        nothing += ", nor did their joint drift alert,"
    text = (
        f"{nothing} over the last {ranking.windows} windows: the {move} is not explained by drift"
    )
    if labelled:
        # Realized performance: the features look as they did, the labels do not follow
        # them as they did (concept drift), or the labels themselves changed.
        return f"{text} (a change in how the labels follow the features?)"
    # An estimate moves only with the model's scores: they moved with no single column
    # drifting beyond its threshold.
    return f"{text} (the model's scores moved with no column beyond its threshold)"


def cause_words(ranking: CauseRanking, *, labelled: bool = True) -> str:
    """ "roc_auc fell 0.0812 from 0.9123 (reference) to 0.8311; it follows usage_gb
    (r = 0.91) and plan (r = 0.77)". Only what drifted in the look-back and drifts more
    as performance worsens is named (r > 0); the features' joint drift (a multivariate
    check) as one more. `labelled`: realized performance (else an estimate)."""
    named = [f"{c.subject} (r = {_r(c.r)})" for c in ranking.causes]
    if ranking.joint:
        named.append(_joint_words(ranking))
    if ranking.too_few:
        follows = (
            f"too few checked windows ({ranking.present} of at least {MIN_PAIRS}) "
            "to tell what it follows"
        )
    elif len(named) == 1:
        follows = f"it follows {named[0]}"
    elif named:
        follows = f"it follows {', '.join(named[:-1])} and {named[-1]}"
    elif ranking.checked == 0:
        follows = (
            f"no drift checked over the last {ranking.windows} windows to tell what it follows"
        )
    elif not ranking.drifted and not ranking.joint_drifted:
        follows = _unexplained(ranking, labelled)
    else:
        joint = "the whole window's joint drift" if ranking.joint_whole else "their joint drift"
        drifted = [*ranking.drifted, *([joint] if ranking.joint_drifted else [])]
        follows = (
            f"nothing that drifted ({_listed(drifted)}) follows it over {ranking.windows} windows"
        )
    text = f"{change_words(ranking)}; {follows}"
    if ranking.by_importance:
        weighted = ", ".join(
            f"{c.subject} ({c.weighted:.2g})" for c in ranking.by_importance if c.weighted
        )
        # The figure: the latest drift in units of the column's threshold (1 at it) times
        # the feature's share of the model's importance (the shares sum to 1).
        text += f"; by latest drift (× threshold) times importance share: {weighted}"
    return text


def explain(
    session: Session,
    model: ModelSettings,
    findings: Sequence[Finding],
    end: datetime,
    *,
    segment: str | None = None,
    importances: Callable[[], Importances] | None = None,
) -> list[Finding]:
    """The findings, each firing performance finding's summary ending with its causes.

    `importances` gives the model's feature importances, or why it has none; it is
    called at most once, and only when a performance finding fires.
    """
    out: list[Finding] = []
    weights: list[Importances] = []

    def weighted() -> Importances:
        if importances is None:
            return Importances(values=None)
        if not weights:
            weights.append(importances())
        return weights[0]

    for f in findings:
        if not f.firing or not isinstance(f.kind, CheckKind) or f.kind not in _VALUE_NAME:
            out.append(f)
            continue
        metric = str(f.details.get("measure_subject", f.subject))
        found = weighted()
        try:
            ranking = rank_stored(
                session, model, f.kind, metric, end, segment=segment, importances=found.values
            )
        except ValueError as exc:
            log.warning("model %s: no cause ranking for %s: %s", model.name, metric, exc)
            ranking = None
        out.append(f if ranking is None else with_causes(f, ranking, unweighted=found.why))
    return out


def with_causes(
    finding: Finding, ranking: CauseRanking, *, unweighted: str | None = None
) -> Finding:
    """The finding, its summary ending with the ranking's words, kept also as its `WHY`
    (the weekly report's line under the alert) and its `causes` detail. `unweighted`:
    why the model's importances could not weight the drift, said after the ranking."""
    words = cause_words(ranking, labelled=finding.kind is CheckKind.PERFORMANCE)
    if unweighted and not ranking.too_few:
        words += f"; no importance weighting: {unweighted}"
    details = dict(finding.details)
    details[WHY] = words
    # Scalars only: the alert keeps a finding's scalar details (`alerts list --format json`).
    named = (*ranking.causes, *ranking.joint)
    details["causes"] = ", ".join(f"{c.subject}={c.r:.4f}" for c in named) or None
    return replace(finding, summary=f"{finding.summary}; {words}", details=details)
