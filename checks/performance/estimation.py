"""Estimated performance without labels: NannyML's confidence-based estimation (CBPE).

For binary classifiers, an isotonic calibration fitted on the labelled
reference turns each score into P(label = 1); the expected confusion matrix
and the expected ROC curve of an unlabelled window follow from those
probabilities. Under covariate shift (P(label | x) unchanged), this tracks the
realized metric long before labels arrive.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from checks.interface import (
    PREDICTION,
    SCORE,
    CheckKind,
    CheckResult,
    Measure,
    TaskKind,
    insufficient,
)
from checks.performance.bands import Band
from checks.performance.decay import DecaySpec, margin_basis
from checks.performance.judged import judge_estimate
from checks.performance.metrics import Metric, baseline_source, realized, weighted_auc
from checks.reference import FloatArray, ReferenceStats, numeric_values
from checks.thresholds import BandMode

ESTIMATED = (Metric.ROC_AUC, Metric.ACCURACY, Metric.F1)


@dataclass(frozen=True, kw_only=True)
class EstimationSpec:
    metric: Metric = Metric.ROC_AUC
    max_absolute_drop: float | None = None
    max_relative_drop: float | None = 0.05
    min_rows: int = 200
    # Predicted class when the window has no prediction column: score >= this.
    decision_threshold: float = 0.5
    mode: BandMode = BandMode.MARGIN
    band_sigmas: float = 3.0
    band_quantile: float | None = None

    def allowed_drop(self, baseline: float) -> float:
        return DecaySpec(
            task=TaskKind.BINARY,
            metric=self.metric,
            max_absolute_drop=self.max_absolute_drop,
            max_relative_drop=self.max_relative_drop,
        ).allowed_drop(baseline)


def estimate(
    probabilities: FloatArray, scores: FloatArray, predicted: FloatArray
) -> dict[Metric, float]:
    """CBPE: expected ROC AUC, accuracy and F1 from calibrated probabilities."""
    p = probabilities[None, :]
    auc = float(weighted_auc(scores, p, 1 - p)[0])
    yhat = predicted
    accuracy = float(np.mean(yhat * probabilities + (1 - yhat) * (1 - probabilities)))
    tp = float(np.sum(yhat * probabilities))
    fp = float(np.sum(yhat * (1 - probabilities)))
    fn = float(np.sum((1 - yhat) * probabilities))
    f1 = 2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) > 0 else 0.0
    return {Metric.ROC_AUC: auc, Metric.ACCURACY: accuracy, Metric.F1: f1}


@dataclass(frozen=True, kw_only=True)
class EstimatedPerformanceCheck:
    spec: EstimationSpec
    reference: ReferenceStats
    baseline: float | None = None
    band: Band | None = None

    @property
    def kind(self) -> CheckKind:
        return CheckKind.ESTIMATED_PERFORMANCE

    def _predicted(self, frame: pd.DataFrame, scores: FloatArray) -> FloatArray:
        if PREDICTION in frame:
            pred = numeric_values(frame[PREDICTION])
            if not np.isnan(pred).any():
                return pred
        return (scores >= self.spec.decision_threshold).astype(np.float64)

    def _estimate(self, frame: pd.DataFrame) -> dict[Metric, float] | None:
        calibration = self.reference.calibration
        if calibration is None or SCORE not in frame:
            return None
        scores = numeric_values(frame[SCORE])
        keep = ~np.isnan(scores)
        scores = scores[keep]
        if scores.size == 0:
            return None
        return estimate(calibration(scores), scores, self._predicted(frame.loc[keep], scores))

    def reference_baseline(self) -> float | None:
        if self.baseline is not None:
            return self.baseline
        values = realized(TaskKind.BINARY, self.reference.frame, (self.spec.metric,))
        return values.get(self.spec.metric)

    def run(self, window: pd.DataFrame) -> CheckResult:
        kind = CheckKind.ESTIMATED_PERFORMANCE
        if self.reference.calibration is None:
            return insufficient(
                kind, len(window), "no calibration: the reference needs labels and scores"
            )
        if SCORE not in window:
            return insufficient(kind, len(window), "the window has no score column")
        scored = int(window[SCORE].notna().sum())
        if scored < self.spec.min_rows:
            return insufficient(
                kind, len(window), f"{scored} scored rows, at least {self.spec.min_rows} needed"
            )
        values = self._estimate(window)
        assert values is not None  # calibration and scores checked above
        value = values[self.spec.metric]
        judged = judge_estimate(
            self.spec.metric,
            value,
            scored,
            self.reference_baseline(),
            self.band,
            mode=self.spec.mode,
            band_sigmas=self.spec.band_sigmas,
            band_quantile=self.spec.band_quantile,
            allowed_drop=self.spec.allowed_drop,
            margin_basis=margin_basis(self.spec.max_absolute_drop, self.spec.max_relative_drop),
            no_band="too few scored reference rows",
            source=baseline_source(self.baseline),
        )
        baseline, basis, status = judged.baseline, judged.basis, judged.status
        measures = list(judged.measures)
        measures.extend(
            Measure(subject=m.value, name="estimated", value=v)
            for m, v in values.items()
            if m is not self.spec.metric
        )
        return CheckResult(
            kind=kind,
            status=status,
            rows=len(window),
            measures=tuple(measures),
            summary={
                "metric": self.spec.metric.value,
                "estimated": value,
                "baseline": baseline,
                "basis": basis,
                **{f"estimated_{m.value}": v for m, v in values.items()},
            },
            reason=None if baseline is not None else "no baseline",
        )
