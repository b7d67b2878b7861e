"""Realized decay: a metric on the window's labelled rows against a baseline or a band.

A drop alerts only when it is larger than the allowed margin *and* the whole
bootstrap confidence interval lies beyond the margin, so that a small window's
noise does not cry wolf; below `min_labelled` labelled rows the answer is
"insufficient data".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from checks.interface import CheckKind, CheckResult, Measure, Status, TaskKind
from checks.performance.bands import Band, band_decision
from checks.performance.metrics import (
    LOWER_IS_BETTER,
    NEEDS_SCORE,
    BaselineSource,
    Metric,
    alerts_when,
    baseline_source,
    label_arrays,
    labelled_rows,
    metric_values,
    realized,
)
from checks.performance.poisson import poisson_one
from checks.reference import FloatArray, ReferenceStats
from checks.thresholds import BandMode

CRITICAL_RATIO = 2.0


@dataclass(frozen=True, kw_only=True)
class DecaySpec:
    task: TaskKind
    metric: Metric
    max_absolute_drop: float | None = None
    max_relative_drop: float | None = 0.05
    min_labelled: int = 200
    bootstrap: int = 200
    confidence: float = 0.95
    seed: int = 0
    # MARGIN: a drop beyond the margins off the baseline; BAND: outside the reference's band.
    mode: BandMode = BandMode.MARGIN
    band_sigmas: float = 3.0
    band_quantile: float | None = None

    def allowed_drop(self, baseline: float) -> float:
        """The margin: the smaller of the configured absolute and relative drops."""
        margins = []
        if self.max_absolute_drop is not None:
            margins.append(self.max_absolute_drop)
        if self.max_relative_drop is not None:
            margins.append(self.max_relative_drop * abs(baseline))
        return min(margins) if margins else math.inf


@dataclass(frozen=True, kw_only=True)
class Decay:
    metric: Metric
    status: Status
    value: float | None
    baseline: float | None
    boundary: float | None
    ci_low: float | None
    ci_high: float | None
    labelled: int
    drop: float | None
    severity_ratio: float = 0.0
    reason: str | None = None
    # Where the boundary came from ("band at n=500: ...", "margin 5% of the baseline").
    basis: str | None = None
    # Where `baseline` came from; None without one.
    baseline_source: BaselineSource | None = None


def margin_basis(max_absolute_drop: float | None, max_relative_drop: float | None) -> str:
    parts = []
    if max_relative_drop is not None:
        parts.append(f"{max_relative_drop:.3g} of the baseline")
    if max_absolute_drop is not None:
        parts.append(f"{max_absolute_drop:.3g}")
    return "margin " + " or ".join(parts) if parts else "no margin"


# Bootstrap replicates drawn and scored this many at a time. A Generator's stream does
# not care how it is cut, and each replicate's metric is a sum along its own row: the
# same draws and the same values, bit for bit, as one (B, n) matrix. But a block of a
# few MB is reused, where a 200 x 30,000 matrix and its temporaries are fresh memory the
# process must fault in: in a one-shot `mlmaint check`, most of the bootstrap's time.
BOOTSTRAP_BLOCK = 25


def _replicates(
    spec: DecaySpec,
    label: npt.NDArray[np.generic],
    prediction: npt.NDArray[np.generic],
    score: FloatArray | None,
) -> FloatArray:
    """The metric on the window (value 0), then on each Poisson bootstrap replicate."""
    n = len(label)
    rng = np.random.default_rng(spec.seed)
    parts = []
    weights = np.empty((BOOTSTRAP_BLOCK, n), dtype=np.float64)
    weights[0] = 1.0
    # Block 0 holds the window itself (weights of one) before its first draws.
    first, done = 1, 0
    # The rows' score order, sorted once for every block (the AUC's first step).
    order = np.argsort(score, kind="stable") if score is not None else None
    while done < spec.bootstrap or first:
        size = min(BOOTSTRAP_BLOCK - first, spec.bootstrap - done)
        block = weights[: first + size]
        block[first:] = poisson_one(rng, (size, n))
        found = metric_values(
            spec.task, (spec.metric,), label, prediction, score, block, score_order=order
        )
        parts.append(found[spec.metric])
        done += size
        first = 0
    return np.concatenate(parts)


def decay(
    spec: DecaySpec,
    window: pd.DataFrame,
    baseline: float | None,
    band: Band | None = None,
    *,
    source: BaselineSource = BaselineSource.REFERENCE,
) -> Decay:
    """The window's metric against `baseline` (which came from `source`) or the band."""
    rows = labelled_rows(window, spec.task)
    n = len(rows)
    known = source if baseline is not None else None

    def short(reason: str, value: float | None = None) -> Decay:
        return Decay(
            metric=spec.metric,
            status=Status.INSUFFICIENT_DATA,
            value=value,
            baseline=baseline,
            boundary=None,
            ci_low=None,
            ci_high=None,
            labelled=n,
            drop=None,
            reason=reason,
            baseline_source=known,
        )

    if n < spec.min_labelled:
        return short(f"{n} labelled rows, at least {spec.min_labelled} needed")
    label, prediction, score = label_arrays(rows, spec.task)
    if spec.metric in NEEDS_SCORE and score is None:
        return short(f"{spec.metric.value} needs a probability score on every row")
    if spec.task is TaskKind.BINARY and spec.metric is Metric.ROC_AUC and np.unique(label).size < 2:
        return short("ROC AUC needs both classes among the labelled rows")
    values = _replicates(spec, label, prediction, score)
    value = float(values[0])
    boot = values[1:][np.isfinite(values[1:])]
    alpha = (1 - spec.confidence) / 2
    if boot.size:
        low, high = (float(q) for q in np.quantile(boot, [alpha, 1 - alpha]))
    else:
        low = high = value
    if spec.mode is BandMode.BAND and band is not None and band.metric is spec.metric:
        # The band is the noise model (chunks of this size vary this much): no interval on top.
        centre, boundary, drop, alert, severity, basis = band_decision(
            band, n, value, spec.band_sigmas, spec.band_quantile
        )
        return Decay(
            metric=spec.metric,
            status=Status.ALERT if alert else Status.OK,
            value=value,
            # The baseline people know (training or the whole reference); the band's
            # centre, the chunks' mean at this size, is named in the basis.
            baseline=baseline if baseline is not None else centre,
            boundary=boundary,
            ci_low=low,
            ci_high=high,
            labelled=n,
            drop=drop,
            severity_ratio=severity,
            basis=basis,
            baseline_source=known or BaselineSource.BAND,
        )
    if baseline is None:
        return short("no baseline: neither a training metric nor a labelled reference", value)
    basis = margin_basis(spec.max_absolute_drop, spec.max_relative_drop)
    if spec.mode is BandMode.BAND:
        basis += " (no band: too few labelled reference rows)"
    margin = spec.allowed_drop(baseline)
    lower_better = spec.metric in LOWER_IS_BETTER
    drop = value - baseline if lower_better else baseline - value
    boundary = baseline + margin if lower_better else baseline - margin
    # The whole interval must lie beyond the boundary: a small window's wide
    # interval straddles it and stays quiet.
    confirmed = low > boundary if lower_better else high < boundary
    alert = drop > margin and confirmed
    return Decay(
        metric=spec.metric,
        status=Status.ALERT if alert else Status.OK,
        value=value,
        baseline=baseline,
        boundary=boundary,
        ci_low=low,
        ci_high=high,
        labelled=n,
        drop=drop,
        severity_ratio=drop / margin if alert and margin > 0 else 0.0,
        basis=basis,
        baseline_source=known,
    )


def _decay_measures(d: Decay, name: str = "value") -> tuple[Measure, ...]:
    subject = d.metric.value
    measures = [
        Measure(
            subject=subject,
            name=name,
            value=d.value,
            threshold=d.boundary,
            status=d.status,
            severity_ratio=d.severity_ratio,
            alerts_when=alerts_when(d.metric),
            detail=d.reason or (f"baseline {d.baseline:.4g}" if d.baseline is not None else None),
            basis=d.basis,
        )
    ]
    if d.baseline is not None:
        # Its detail says where it came from: what a decay's causes measure the drop from.
        source = d.baseline_source.value if d.baseline_source is not None else None
        measures.append(Measure(subject=subject, name="baseline", value=d.baseline, detail=source))
    for key, value in (("ci_low", d.ci_low), ("ci_high", d.ci_high)):
        if value is not None:
            measures.append(Measure(subject=subject, name=key, value=value))
    return tuple(measures)


@dataclass(frozen=True, kw_only=True)
class PerformanceCheck:
    """Realized decay; the baseline is the training metric, else the reference's."""

    spec: DecaySpec
    reference: ReferenceStats
    baseline: float | None = None
    band: Band | None = None

    @property
    def kind(self) -> CheckKind:
        return CheckKind.PERFORMANCE

    def reference_baseline(self) -> float | None:
        if self.baseline is not None:
            return self.baseline
        values = realized(self.spec.task, self.reference.frame, (self.spec.metric,))
        value = values.get(self.spec.metric)
        return None if value is None or not math.isfinite(value) else value

    def run(self, window: pd.DataFrame) -> CheckResult:
        baseline = self.reference_baseline()
        d = decay(self.spec, window, baseline, self.band, source=baseline_source(self.baseline))
        measures = list(_decay_measures(d))
        if d.labelled >= self.spec.min_labelled:
            others = realized(self.spec.task, window)
            measures.extend(
                Measure(subject=m.value, name="value", value=v)
                for m, v in others.items()
                if m is not self.spec.metric
            )
        return CheckResult(
            kind=CheckKind.PERFORMANCE,
            status=d.status,
            rows=len(window),
            measures=tuple(measures),
            summary={
                "metric": d.metric.value,
                "value": d.value,
                "baseline": d.baseline,
                "ci": [d.ci_low, d.ci_high],
                "labelled": d.labelled,
                "threshold": d.boundary,
                "basis": d.basis,
            },
            reason=d.reason,
        )
