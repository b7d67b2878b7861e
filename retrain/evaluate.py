"""Targets, the holdout metric, and the champion/challenger decision.

The metric is the checks' own (`checks.performance.Metric`): the one the
model's `checks.performance.metric` configures, so the metric that raises the
performance alert is the metric that decides the promotion, with the same
direction (lower is better for rmse, mae, mape and log loss). A comparison in
which either side gives labels only cannot use a metric that needs a score
(ROC AUC, log loss): both sides are then compared on F1 of their labels, and
the decision says so.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from checks.interface import TaskKind
from checks.performance import LOWER_IS_BETTER, NEEDS_SCORE, Metric, default_metric
from checks.typed import canonical_category
from retrain.interface import RetrainSpec, TrainerError
from retrain.model_scoring import Output

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

# The metric a binary comparison falls back to when one side gives labels only.
LABEL_METRIC = Metric.F1


def labels(frame: pd.DataFrame, spec: RetrainSpec) -> pd.Series:
    """The label column: canonical text for classification, float for regression."""
    column = frame[spec.label]
    if spec.task is TaskKind.REGRESSION:
        return column.astype(float)
    return column.map(canonical_category).astype(object)


def positive_label(spec: RetrainSpec, observed: pd.Series) -> str:
    """The class whose probability a binary model scores, as canonical text.

    `params.positive_label` when given (`true`, `1` and `"1"` mean what they
    say), else the greatest label, which is "1" for 0/1, "true" for false/true
    and "yes" for no/yes.
    """
    given = spec.params.get("positive_label")
    if given is not None:
        return canonical_category(given) or str(given)
    values: list[str] = sorted({v for v in observed.map(canonical_category) if v is not None})
    if not values:
        raise TrainerError("no labelled rows to train on")
    return values[-1]


def spec_metric(spec: RetrainSpec) -> Metric:
    """The spec's metric; for a spec from before it carried one, the task's default."""
    if spec.metric is not None:
        return spec.metric
    return default_metric(spec.task, has_score=True)


def higher_is_better(metric: Metric) -> bool:
    return metric not in LOWER_IS_BETTER


@dataclass(frozen=True, kw_only=True)
class Comparison:
    """The metric both sides are scored on, and why, when it is not the configured one."""

    metric: Metric
    note: str = ""


def comparison_metric(configured: Metric, outputs: Iterable[tuple[str, Output]]) -> Comparison:
    """`configured`, unless a side gives labels only and the metric needs a score.

    `outputs` pairs a side's name ("champion", "challenger") with what it gives.
    """
    label_only = [name for name, gives in outputs if gives is Output.LABEL]
    if configured in NEEDS_SCORE and label_only:
        return Comparison(
            metric=LABEL_METRIC,
            note=(
                f"the {' and the '.join(label_only)} "
                f"{'give' if len(label_only) > 1 else 'gives'} labels only: "
                f"both compared on {LABEL_METRIC.value} of labels, not {configured.value}"
            ),
        )
    return Comparison(metric=configured)


def score(
    spec: RetrainSpec,
    metric: Metric,
    holdout: pd.DataFrame,
    predicted: np.ndarray,
    gives: Output,
    positive: str,
) -> float:
    """`metric` of `predicted` against the holdout's labels.

    Binary: P(positive) (PROBABILITY) or labels (LABEL); label metrics read a
    probability as the positive class at 0.5. Multiclass: macro averages of
    labels. Regression: values.
    """
    import numpy as np
    from sklearn import metrics as sk

    y = labels(holdout, spec)
    if spec.task is TaskKind.REGRESSION:
        truth_values = y.to_numpy(dtype=float)
        values = np.asarray(predicted, dtype=float)
        match metric:
            case Metric.MAE:
                return float(sk.mean_absolute_error(truth_values, values))
            case Metric.RMSE:
                return math.sqrt(float(sk.mean_squared_error(truth_values, values)))
            case Metric.MAPE:
                return float(sk.mean_absolute_percentage_error(truth_values, values))
            case Metric.R2:
                return float(sk.r2_score(truth_values, values))
        raise TrainerError(f"metric {metric.value} does not apply to regression")
    if spec.task is TaskKind.MULTICLASS:
        truth_text = y.to_numpy(dtype=object).astype(str)
        guess = np.asarray([canonical_category(v) for v in predicted], dtype=object).astype(str)
        match metric:
            case Metric.ACCURACY:
                return float(sk.accuracy_score(truth_text, guess))
            case Metric.PRECISION:
                return float(
                    sk.precision_score(truth_text, guess, average="macro", zero_division=0)
                )
            case Metric.RECALL:
                return float(sk.recall_score(truth_text, guess, average="macro", zero_division=0))
            case Metric.F1:
                return float(sk.f1_score(truth_text, guess, average="macro", zero_division=0))
        raise TrainerError(f"metric {metric.value} does not apply to multiclass classification")
    truth = (y == positive).to_numpy().astype(int)
    if gives is Output.PROBABILITY:
        probability = np.asarray(predicted, dtype=float)
        hard = (probability >= 0.5).astype(int)
    else:
        probability = None
        hard = np.asarray([canonical_category(v) == positive for v in predicted], dtype=int)
    match metric:
        case Metric.ROC_AUC | Metric.LOG_LOSS if probability is None:
            raise TrainerError(f"{metric.value} needs P(positive); these are labels")
        case Metric.ROC_AUC:
            if truth.min() == truth.max():
                raise TrainerError("the holdout holds one class only: ROC AUC is undefined")
            return float(sk.roc_auc_score(truth, probability))
        case Metric.LOG_LOSS:
            return float(sk.log_loss(truth, probability, labels=[0, 1]))
        case Metric.ACCURACY:
            return float(sk.accuracy_score(truth, hard))
        case Metric.PRECISION:
            return float(sk.precision_score(truth, hard, zero_division=0))
        case Metric.RECALL:
            return float(sk.recall_score(truth, hard, zero_division=0))
        case Metric.F1:
            return float(sk.f1_score(truth, hard, zero_division=0))
    raise TrainerError(f"metric {metric.value} does not apply to binary classification")


def decide(
    challenger: float, champion: float | None, margin: float, metric: Metric
) -> tuple[bool, str]:
    """Promote only a challenger that beats the champion by at least `margin`."""
    if champion is None:
        return True, "no champion to beat"
    better = higher_is_better(metric)
    gain = challenger - champion if better else champion - challenger
    direction = "higher" if better else "lower"
    detail = (
        f"challenger {metric.value} {challenger:.4f} vs champion {champion:.4f} "
        f"({direction} is better; gain {gain:+.4f}, margin {margin:.4f})"
    )
    if gain > margin:
        return True, f"promoted: {detail}"
    return False, f"kept the champion: {detail}"
