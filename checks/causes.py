"""Why performance fell: the features ranked by how their drift follows it.

NannyML's correlation ranker: over the last N check windows, the Pearson
correlation of each feature's drift with the performance metric. Here the sign
is turned so that a positive `r` always reads "this feature drifts as
performance gets worse" (drift rising while roc_auc falls, or while mae rises),
whatever the metric's direction. Only a positive `r` names a cause: a feature
whose drift falls while performance worsens (r < 0) moved the other way, and is
never named, however large |r|. A feature whose drift never moves (a constant
series) has no correlation and is left out, as are windows where either value
is missing.

Only what drifted is named (NannyML's `only_drifting`): a feature whose drift
signal reached its threshold (signal >= 1) in at least one window of the
look-back, a multivariate method that alerted in one. With ten windows and a
handful of features, an r above 0.5 from noise alone is common: a feature that
never drifted follows nothing, however its noise lines up with the metric.

How far the metric moved is measured from the model's baseline, the value the
performance check compares against (the reference's metric, usually), where the
latest window stored one; else from the mean of the earlier windows read.

Two features whose correlation flips while each keeps its distribution drift in
no column: the multivariate check's series (reconstruction error, domain
classifier AUROC, checks/multivariate) are candidates too, ranked the same way
as the joint drift of the features. Their values go in as they are: a mean
reconstruction error and a cross-validated AUROC do not shrink with the window's
size the way a distance between two samples does. The multivariate check runs on
whole windows only: a segment's ranking takes the whole window's series as its
joint candidates (`joint_whole`), its own performance and feature drift aside.

The drift a window stored is its test's own value: a distance (PSI,
Wasserstein, Jensen-Shannon), larger when drifting, or a p-value (K-S,
chi-square), smaller when drifting. Both become one signal, `drift_signal`, in
units of the column's threshold (1 at it, larger when drifting): distance /
threshold, and log(p) / log(threshold) for p-values, whose raw values are
uniform noise under no drift and squeezed near 0 under any drift, so a linear
correlation on them would say little. The thresholds are calibrated to each
window's size, so the ratio keeps windows of different sizes comparable too.

Where the model exposes feature importances (`feature_importances_` of trees,
`coef_` of linear models, read by `importances_of`), a second ranking weights
each drifted feature's latest drift signal by its share of the importance: NannyML
leaves that step to people, and it separates a drifting feature the model
ignores from one it leans on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from checks.interface import Direction
from checks.performance.metrics import BaselineSource

# Below this many windows with both values a correlation says nothing.
MIN_PAIRS = 3
# A p-value of exactly 0 (float underflow) counts as this small.
_P_FLOOR = 1e-300
# A drift signal from this value on reached the column's threshold: the column drifted.
DRIFTED = 1.0


@dataclass(frozen=True, kw_only=True)
class CauseSpec:
    """How far back the ranking looks and what it keeps."""

    windows: int = 14
    top_k: int = 3
    # A series is named as following the metric only from this r (and r > 0): drift
    # rising as performance worsens.
    min_r: float = 0.5

    def __post_init__(self) -> None:
        if self.windows < MIN_PAIRS:
            raise ValueError(f"windows must be >= {MIN_PAIRS}, got {self.windows}")
        if self.top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {self.top_k}")
        if not 0 <= self.min_r <= 1:
            raise ValueError(f"min_r must be in [0, 1], got {self.min_r}")

    def names(self, r: float) -> bool:
        """Whether a series of this r is named as following the metric."""
        return r > 0 and r >= self.min_r


@dataclass(frozen=True, kw_only=True)
class Baseline:
    """The value the performance check compared the latest window against."""

    value: float
    # Where it came from; None for a run stored before the source was recorded.
    source: BaselineSource | None = None


@dataclass(frozen=True, kw_only=True)
class Cause:
    """One series: how it follows the metric, and (a feature's) weighted latest drift."""

    # A feature, or a multivariate method's subject (checks.multivariate.RECONSTRUCTION).
    subject: str
    # Pearson r, signed so that > 0 means drift rises as performance worsens.
    r: float
    # Windows with both a drift and a performance value.
    windows: int
    # The latest window's drift signal (1 at a feature's threshold; a multivariate
    # method's own value); None when it had none.
    drift: float | None
    # Whether it drifted in a window of the look-back: a feature's signal reached its
    # threshold, a multivariate method alerted. Only a series that drifted is named.
    drifted: bool
    # The feature's share of the model's importance, when the model exposes it.
    importance: float | None = None

    @property
    def weighted(self) -> float | None:
        """The latest drift signal times the importance share."""
        if self.drift is None or self.importance is None:
            return None
        return self.drift * self.importance


@dataclass(frozen=True, kw_only=True)
class CauseRanking:
    """How far one metric moved, and the features (and their joint drift) ranked by how
    they follow it over the last windows."""

    metric: str
    # The latest value, and `change`, how far it moved (negative: fell) from `since`:
    # the `baseline` where one is known, else the mean of the `earlier` windows before
    # the latest (None, with `earlier` 0, when there is none).
    latest: float
    change: float | None
    since: float | None
    baseline: Baseline | None
    earlier: int
    # Worse is lower (scores) or higher (losses).
    alerts_when: Direction
    windows: int
    # Every feature with a correlation, by r descending (those moving the other way last).
    ranked: tuple[Cause, ...]
    # The features named: drifted, r > 0 and r >= min_r, by r descending, at most top_k.
    causes: tuple[Cause, ...]
    # The multivariate methods (the features' joint drift) with a correlation, by r
    # descending, and those named, as the features are.
    joint_ranked: tuple[Cause, ...] = ()
    joint: tuple[Cause, ...] = ()
    # Features by importance-weighted drift, descending, at most top_k; empty without
    # importances. A feature that never drifted, or whose drift falls as performance
    # worsens (r <= 0), is not one.
    by_importance: tuple[Cause, ...] = ()
    # Windows of the look-back with a performance value, and with any drift value (a
    # feature's or a multivariate method's).
    present: int = 0
    checked: int = 0
    # The features that drifted in a window of the look-back (by name), and the
    # multivariate methods that alerted in one; whether any method's series was read.
    drifted: tuple[str, ...] = ()
    joint_drifted: tuple[str, ...] = ()
    joint_read: bool = False
    # The joint series are the whole window's, while the metric and the features' drift
    # are a segment's (the multivariate check runs on whole windows only).
    joint_whole: bool = False

    @property
    def too_few(self) -> bool:
        """Fewer windows with a performance value than a correlation needs."""
        return self.present < MIN_PAIRS

    @property
    def worsened(self) -> bool:
        if self.change is None:
            return False
        return self.change < 0 if self.alerts_when is Direction.BELOW else self.change > 0


def drift_signal(value: float | None, threshold: float | None, p_value: bool) -> float | None:
    """A stored drift value in units of its threshold: 1 at it, larger when drifting."""
    if value is None or threshold is None or not math.isfinite(value):
        return None
    if not math.isfinite(threshold) or threshold <= 0:
        return None
    if p_value:
        if threshold >= 1:
            return None
        return math.log(max(value, _P_FLOOR)) / math.log(threshold)
    return value / threshold


def pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Pearson's r of two equal-length series; None when either is constant or too short."""
    if len(x) != len(y):
        raise ValueError(f"series of different lengths: {len(x)} and {len(y)}")
    if len(x) < MIN_PAIRS:
        return None
    a = np.asarray(x, dtype=float) - float(np.mean(x))
    b = np.asarray(y, dtype=float) - float(np.mean(y))
    den = math.sqrt(float(a @ a) * float(b @ b))
    # Relative to the values' scale: rounding noise on a constant series is not a signal.
    if den <= 1e-12 * max(1.0, float(np.abs(x).max()) * float(np.abs(y).max())):
        return None
    return max(-1.0, min(1.0, float(a @ b) / den))


def importances_of(model: object, features: Sequence[str]) -> dict[str, float] | None:
    """Each feature's share of `feature_importances_` or |`coef_`|, by the model's
    feature order; None when the model exposes neither or its length differs."""
    raw = getattr(model, "feature_importances_", None)
    if raw is None:
        coef = getattr(model, "coef_", None)
        if coef is None:
            return None
        # One row per class for a multiclass linear model: a feature's weight in any.
        raw = np.abs(np.atleast_2d(np.asarray(coef, dtype=float))).sum(axis=0)
    values = np.abs(np.asarray(raw, dtype=float).ravel())
    if len(values) != len(features) or not np.isfinite(values).all() or values.sum() <= 0:
        return None
    total = float(values.sum())
    return {f: float(v) / total for f, v in zip(features, values, strict=True)}


def _correlated(
    series: Mapping[str, Sequence[float | None]],
    perf: Sequence[float | None],
    sign: float,
    n: int,
    importances: Mapping[str, float] | None,
    drifted: Mapping[str, bool],
) -> list[Cause]:
    """Each series' Pearson r with the signed metric over the last `n` windows."""
    found: list[Cause] = []
    for subject, values_in in series.items():
        values = list(values_in)[-n:]
        if len(values) != len(perf):
            raise ValueError(
                f"{subject}: {len(values)} drift values for {len(perf)} performance values"
            )
        pairs = [
            (d, p)
            for d, p in zip(values, perf, strict=True)
            if d is not None and p is not None and math.isfinite(d) and math.isfinite(p)
        ]
        r = pearson([d for d, _ in pairs], [sign * p for _, p in pairs])
        if r is None:
            continue
        found.append(
            Cause(
                subject=subject,
                r=r,
                windows=len(pairs),
                drift=values[-1] if values else None,
                drifted=drifted.get(subject, False),
                importance=(importances or {}).get(subject),
            )
        )
    return sorted(found, key=lambda c: (-c.r, c.subject))


def _reached(values: Sequence[float | None]) -> bool:
    """Whether a drift signal reached its threshold in any of these windows."""
    return any(v is not None and math.isfinite(v) and v >= DRIFTED for v in values)


def _finite(values: Sequence[float | None]) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v)]


def rank_causes(
    metric: str,
    alerts_when: Direction,
    performance: Sequence[float | None],
    drift: Mapping[str, Sequence[float | None]],
    spec: CauseSpec,
    importances: Mapping[str, float] | None = None,
    *,
    baseline: Baseline | None = None,
    joint: Mapping[str, Sequence[float | None]] | None = None,
    joint_alerting: Mapping[str, Sequence[bool]] | None = None,
    joint_whole: bool = False,
) -> CauseRanking:
    """Rank the features by how their drift follows the metric, oldest window first.

    `performance`, each `drift` series (drift signals: 1 at the column's threshold)
    and each `joint` series (a multivariate method's values) are aligned on the same
    windows (None where a window has no value); `joint_alerting` says, per window,
    whether each method alerted. Only the last `spec.windows` are used, and only a
    series that drifted in one of them is named. `baseline` is what the performance
    check compared the latest window against, when known. `joint_whole`: the joint
    series are the whole window's, the rest a segment's.
    """
    n = spec.windows
    perf = list(performance)[-n:]
    # Turned so that larger is worse: drift rising with it correlates positively.
    sign = 1.0 if alerts_when is Direction.ABOVE else -1.0
    drifted = {f: _reached(list(v)[-n:]) for f, v in drift.items()}
    joint = joint or {}
    alerted = {m: any(list(a)[-n:]) for m, a in (joint_alerting or {}).items()}
    ranked = _correlated(drift, perf, sign, n, importances, drifted)
    together = _correlated(joint, perf, sign, n, None, alerted)
    present = _finite(perf)
    if not present:
        raise ValueError(f"{metric}: no performance value in the last {n} windows")
    latest = present[-1]
    if baseline is not None and math.isfinite(baseline.value):
        since: float | None = baseline.value
        earlier = 0
    else:
        baseline = None
        earlier = len(present) - 1
        since = float(np.mean(present[:-1])) if earlier else None
    named = [c for c in ranked if c.drifted and spec.names(c.r)]
    weighted = sorted(
        (c for c in ranked if c.weighted is not None and c.r > 0 and c.drifted),
        key=lambda c: (-(c.weighted or 0.0), c.subject),
    )
    series = [list(v)[-n:] for v in (*drift.values(), *joint.values())]
    checked = sum(any(s[i] is not None for s in series if i < len(s)) for i in range(len(perf)))
    return CauseRanking(
        metric=metric,
        latest=latest,
        change=latest - since if since is not None else None,
        since=since,
        baseline=baseline,
        earlier=earlier,
        alerts_when=alerts_when,
        windows=len(perf),
        ranked=tuple(ranked),
        causes=tuple(named[: spec.top_k]),
        joint_ranked=tuple(together),
        joint=tuple(c for c in together if c.drifted and spec.names(c.r)),
        by_importance=tuple(weighted[: spec.top_k]),
        present=len(present),
        checked=checked,
        drifted=tuple(sorted(f for f, d in drifted.items() if d)),
        joint_drifted=tuple(sorted(m for m, d in alerted.items() if d)),
        joint_read=bool(joint),
        joint_whole=joint_whole,
    )
