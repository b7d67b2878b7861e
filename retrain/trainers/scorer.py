"""One scorer for any fitted model with scikit-learn's interface (sklearn and entry points)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from checks.interface import TaskKind
from retrain import model_scoring
from retrain.interface import TrainerError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


def positive_column(model: object, positive: str | None) -> int:
    """The column of `predict_proba` that holds the positive class's probability.

    Read from the model's `classes_`, compared in canonical text as labels are
    stored (a class True is "true", 1 and 1.0 are "1"); see
    `retrain.model_scoring.positive_column`.
    """
    try:
        return model_scoring.positive_column(
            getattr(model, "classes_", None), positive, f"the fitted {type(model).__name__}"
        )
    except model_scoring.ScoringError as exc:
        raise TrainerError(str(exc)) from exc


@dataclass(frozen=True)
class EstimatorScorer:
    """`predict` for regression and multiclass, P(positive) from `predict_proba` for binary."""

    model: object
    task: TaskKind
    features: tuple[str, ...]
    positive: str | None

    def check(self) -> EstimatorScorer:
        """Fail at fit time, not at the first score, when the positive class is unknown."""
        if self.task is TaskKind.BINARY:
            positive_column(self.model, self.positive)
        return self

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        import numpy as np

        x = frame.loc[:, list(self.features)]
        if self.task is not TaskKind.BINARY:
            return np.asarray(self.model.predict(x))  # type: ignore[attr-defined]
        proba = np.asarray(self.model.predict_proba(x))  # type: ignore[attr-defined]
        column = positive_column(self.model, self.positive)
        if proba.ndim != 2 or column >= proba.shape[1]:
            raise TrainerError(
                f"{type(self.model).__name__}.predict_proba returned shape {proba.shape}; "
                f"expected one column per class of {self.model.classes_}"  # type: ignore[attr-defined]
            )
        return np.asarray(proba[:, column], dtype=float)
