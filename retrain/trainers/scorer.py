"""One scorer for any fitted model with scikit-learn's interface (sklearn and entry points)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from retrain.interface import TaskKind, TrainerError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


def positive_column(model: object, positive: str | None) -> int:
    """The column of `predict_proba` that holds the positive class's probability.

    Read from the model's `classes_` (compared as text, as labels are stored). A
    positive label the model never learned is an error, never a guess: scoring
    the wrong column would turn a good model into a useless one, silently.
    """
    classes = [str(c) for c in getattr(model, "classes_", ())]
    if positive is None or positive not in classes:
        learned = f"its classes are {classes}" if classes else "it has no classes_ attribute"
        raise TrainerError(
            f"the positive label {positive!r} is not a class of the fitted "
            f"{type(model).__name__} ({learned}): set retrain.params.positive_label "
            "to one of the labels it was trained on"
        )
    return classes.index(positive)


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
