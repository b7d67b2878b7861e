"""The MLflow pyfunc every trainer's model is logged as: one way to load and score them all."""

from __future__ import annotations

import mlflow.pyfunc

from retrain.interface import Scorer


class ServingModel(mlflow.pyfunc.PythonModel):  # type: ignore[misc,name-defined]
    def __init__(self, scorer: Scorer) -> None:
        self.scorer = scorer

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        # Untyped on purpose: MLflow 3 turns type hints on predict into input validation.
        return self.scorer.predict(model_input)
