"""Targets, the holdout metric per task, and the champion/challenger decision."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from retrain.interface import RetrainSpec, TaskKind, TrainerError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


def labels(frame: pd.DataFrame, spec: RetrainSpec) -> pd.Series:
    """The label column as text (the store keeps labels as text), missing rows dropped."""
    column = frame[spec.label]
    if spec.task is TaskKind.REGRESSION:
        return column.astype(float)
    return column.astype(str)


def positive_label(spec: RetrainSpec, observed: pd.Series) -> str:
    """The class whose probability a binary model scores.

    `params.positive_label` when given, else the greatest label as text, which is
    "1" for 0/1, "true" for false/true and "yes" for no/yes.
    """
    given = spec.params.get("positive_label")
    if given is not None:
        return str(given)
    values = sorted(set(observed.astype(str)))
    if not values:
        raise TrainerError("no labelled rows to train on")
    return values[-1]


@dataclass(frozen=True, kw_only=True)
class Metric:
    name: str
    higher_is_better: bool


def metric_for(task: TaskKind) -> Metric:
    match task:
        case TaskKind.BINARY:
            return Metric(name="roc_auc", higher_is_better=True)
        case TaskKind.MULTICLASS:
            return Metric(name="accuracy", higher_is_better=True)
        case TaskKind.REGRESSION:
            return Metric(name="rmse", higher_is_better=False)


def score(spec: RetrainSpec, holdout: pd.DataFrame, predicted: np.ndarray, positive: str) -> float:
    import numpy as np
    from sklearn.metrics import accuracy_score, mean_squared_error, roc_auc_score

    y = labels(holdout, spec)
    match spec.task:
        case TaskKind.BINARY:
            truth = (y == positive).to_numpy().astype(int)
            if truth.min() == truth.max():
                raise TrainerError("the holdout holds one class only: ROC AUC is undefined")
            return float(roc_auc_score(truth, np.asarray(predicted, dtype=float)))
        case TaskKind.MULTICLASS:
            return float(accuracy_score(y.to_numpy(), np.asarray(predicted).astype(str)))
        case TaskKind.REGRESSION:
            return math.sqrt(float(mean_squared_error(y.to_numpy(), predicted)))


def decide(
    challenger: float, champion: float | None, margin: float, metric: Metric
) -> tuple[bool, str]:
    """Promote only a challenger that beats the champion by at least `margin`."""
    if champion is None:
        return True, "no champion to beat"
    gain = challenger - champion if metric.higher_is_better else champion - challenger
    detail = (
        f"challenger {metric.name} {challenger:.4f} vs champion {champion:.4f} "
        f"(gain {gain:+.4f}, margin {margin:.4f})"
    )
    if gain > margin:
        return True, f"promoted: {detail}"
    return False, f"kept the champion: {detail}"
