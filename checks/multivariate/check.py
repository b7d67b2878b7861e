"""The multivariate drift check: reconstruction error and domain classifier on one window.

Two subjects, each judged on its own and each an alert of its own:

- `reconstruction` (measure `error`): the window's mean reconstruction error
  against the reference chunks' band at the window's size, both sides, as
  NannyML alerts outside its lower and upper thresholds;
- `domain_classifier` (measure `auroc`): the cross-validated AUROC against
  NannyML's constant upper threshold (0.65).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from checks.interface import (
    CheckKind,
    CheckResult,
    Direction,
    Measure,
    Status,
    insufficient,
    overall,
)
from checks.multivariate.classifier import domain_auroc
from checks.multivariate.reference import MultivariateReference, MultivariateSpec

RECONSTRUCTION = "reconstruction"
CLASSIFIER = "domain_classifier"
# How people name each method's measure: in its alerts, and in a decay's causes.
METHOD_NAMES: Mapping[str, str] = {
    RECONSTRUCTION: "reconstruction error",
    CLASSIFIER: "domain classifier AUROC",
}


@dataclass(frozen=True, kw_only=True)
class MultivariateCheck:
    spec: MultivariateSpec
    reference: MultivariateReference

    @property
    def kind(self) -> CheckKind:
        return CheckKind.MULTIVARIATE

    def _reconstruction(self, window: pd.DataFrame) -> tuple[Measure, dict[str, object]]:
        model, band = self.reference.model, self.reference.band
        if model is None:
            reason = self.reference.reason or "no reconstruction model"
            return Measure(
                subject=RECONSTRUCTION,
                name="error",
                value=None,
                status=Status.INSUFFICIENT_DATA,
                detail=reason,
            ), {}
        value = float(np.mean(model.errors(window)))
        facts: dict[str, object] = {
            "reconstruction_error": value,
            "components": model.kept,
            "features": len(model.columns),
        }
        if band is None:
            return Measure(
                subject=RECONSTRUCTION,
                name="error",
                value=value,
                status=Status.INSUFFICIENT_DATA,
                detail=self.reference.reason,
            ), facts
        n, sigmas = len(window), self.spec.band_sigmas
        centre, lower, upper = band.limits(n, sigmas)
        below = value < centre
        threshold = lower if below else upper
        alert = value < lower if below else value > upper
        allowed = abs(threshold - centre)
        facts.update(lower=lower, upper=upper, centre=centre)
        return Measure(
            subject=RECONSTRUCTION,
            name="error",
            value=value,
            threshold=threshold,
            status=Status.ALERT if alert else Status.OK,
            severity_ratio=abs(value - centre) / allowed if alert and allowed > 0 else 0.0,
            detail=f"{model.kept} of {len(model.columns)} components kept",
            basis=band.basis(n, sigmas),
            alerts_when=Direction.BELOW if below else Direction.ABOVE,
        ), facts

    def _classifier(self, window: pd.DataFrame) -> tuple[Measure, dict[str, object]]:
        spec = self.spec
        columns = list(self.reference.sample.columns)
        numeric = tuple(c for c in spec.numeric if c in columns)
        categorical = tuple(c for c in spec.categorical if c in columns)
        rows = window
        if len(window) > spec.classifier_rows:
            rng = np.random.default_rng([spec.seed, 5])
            rows = window.iloc[np.sort(rng.permutation(len(window))[: spec.classifier_rows])]
        auroc = domain_auroc(
            self.reference.sample,
            rows[columns],
            numeric,
            categorical,
            folds=spec.folds,
            seed=spec.seed,
        )
        threshold = spec.classifier_threshold
        alert = auroc > threshold
        # 0.5 is chance: the allowance is the threshold's distance from it.
        allowed = threshold - 0.5
        return Measure(
            subject=CLASSIFIER,
            name="auroc",
            value=auroc,
            threshold=threshold,
            status=Status.ALERT if alert else Status.OK,
            severity_ratio=(auroc - 0.5) / allowed if alert and allowed > 0 else 0.0,
            detail=f"{spec.folds}-fold, {len(rows)} window and "
            f"{len(self.reference.sample)} reference rows",
            basis="NannyML's default upper threshold"
            if threshold == 0.65
            else "configured for the model",
        ), {"auroc": auroc, "classifier_rows": len(rows)}

    def run(self, window: pd.DataFrame) -> CheckResult:
        kind = CheckKind.MULTIVARIATE
        n = len(window)
        if n < self.spec.min_rows:
            return insufficient(kind, n, f"{n} rows, {self.spec.min_rows} needed")
        wanted = (*self.spec.numeric, *self.spec.categorical)
        missing = tuple(c for c in wanted if c not in window)
        if missing:
            return CheckResult(
                kind=kind,
                status=Status.ERROR,
                rows=n,
                reason=f"the window lacks column(s) {', '.join(missing)}",
                summary={"missing_columns": list(missing)},
            )
        measure, facts = self._reconstruction(window)
        measures = [measure]
        summary: dict[str, object] = {"reference_rows": self.reference.rows, **facts}
        if self.spec.classifier:
            measure, facts = self._classifier(window)
            measures.append(measure)
            summary.update(facts)
        status = overall(tuple(measures))
        reasons = [m.detail for m in measures if m.status is Status.INSUFFICIENT_DATA and m.detail]
        return CheckResult(
            kind=kind,
            status=status,
            rows=n,
            measures=tuple(measures),
            summary=summary,
            reason="; ".join(reasons) or None,
        )
