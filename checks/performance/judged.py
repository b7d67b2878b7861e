"""An estimated metric judged against the reference's band, else against margins off a baseline.

Shared by the two label-free estimators (CBPE for classifiers, DLE for regression):
the estimate differs, the judgement does not. A loss (MAE, RMSE) alerts above its
boundary, a score (ROC AUC, accuracy, F1) below it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from checks.interface import Measure, Status
from checks.performance.bands import Band, band_decision
from checks.performance.metrics import LOWER_IS_BETTER, BaselineSource, Metric, alerts_when
from checks.thresholds import BandMode


@dataclass(frozen=True, kw_only=True)
class Judgement:
    status: Status
    # The headline "estimated" measure of the metric, then its "baseline" when there is one.
    measures: tuple[Measure, ...]
    baseline: float | None
    basis: str | None
    # Where `baseline` came from; None without one.
    baseline_source: BaselineSource | None = None


def judge_estimate(
    metric: Metric,
    value: float,
    n: int,
    baseline: float | None,
    band: Band | None,
    *,
    mode: BandMode,
    band_sigmas: float,
    band_quantile: float | None,
    allowed_drop: Callable[[float], float],
    margin_basis: str,
    no_band: str,
    source: BaselineSource = BaselineSource.REFERENCE,
) -> Judgement:
    """The estimate of `metric` on `n` rows: in BAND mode against the band at n, else (or
    with no band) a worsening beyond `allowed_drop(baseline)` alerts. `no_band` says why
    a BAND mode judged by the margins has no band; `source` where `baseline` came from."""
    subject = metric.value
    # Without a baseline, the band's centre stands in for it (BAND mode only).
    known = source if baseline is not None else BaselineSource.BAND
    if mode is BandMode.BAND and band is not None and band.metric is metric:
        centre, boundary, _drop, alert, severity, basis = band_decision(
            band, n, value, band_sigmas, band_quantile
        )
        baseline = baseline if baseline is not None else centre
        status = Status.ALERT if alert else Status.OK
        threshold: float | None = boundary
    elif baseline is None:
        return Judgement(
            status=Status.INSUFFICIENT_DATA,
            measures=(Measure(subject=subject, name="estimated", value=value),),
            baseline=None,
            basis=None,
        )
    else:
        margin = allowed_drop(baseline)
        lower_better = metric in LOWER_IS_BETTER
        drop = value - baseline if lower_better else baseline - value
        alert = drop > margin
        status = Status.ALERT if alert else Status.OK
        severity = drop / margin if alert and margin > 0 else 0.0
        threshold = baseline + margin if lower_better else baseline - margin
        basis = margin_basis
        if mode is BandMode.BAND:
            basis += f" (no band: {no_band})"
    return Judgement(
        status=status,
        measures=(
            Measure(
                subject=subject,
                name="estimated",
                value=value,
                threshold=threshold,
                status=status,
                severity_ratio=severity,
                alerts_when=alerts_when(metric),
                detail=f"baseline {baseline:.4g}",
                basis=basis,
            ),
            Measure(subject=subject, name="baseline", value=baseline, detail=known.value),
        ),
        baseline=baseline,
        basis=basis,
        baseline_source=known,
    )
