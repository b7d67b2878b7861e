"""User training code: `package.module:function`.

The function is called as `function(train, context)` with the training frame and
a `TrainContext`, and returns a fitted object with `predict(frame)` (and, for
binary classification, `predict_proba(frame)` and `classes_`, which says which
column is the positive class), as scikit-learn estimators do.
Anything else fails the job with a message that says what came back.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from retrain.evaluate import labels, positive_label
from retrain.interface import Param, RetrainSpec, TaskKind, TrainedModel, TrainerError
from retrain.trainers.scorer import EstimatorScorer

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True, kw_only=True)
class TrainContext:
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    label: str
    task: str
    params: Mapping[str, Param]
    seed: int
    device: str


def load_entrypoint(target: str) -> object:
    module_name, sep, name = target.partition(":")
    if not sep or not module_name or not name:
        raise TrainerError(f"entry point {target!r} is not 'package.module:function'")
    # Import errors surface with their own traceback in the job log.
    module = importlib.import_module(module_name)
    try:
        found: object = getattr(module, name)
    except AttributeError as exc:
        raise TrainerError(f"module {module_name!r} has no attribute {name!r}") from exc
    if not callable(found):
        raise TrainerError(f"entry point {target!r} is not callable")
    return found


class EntrypointTrainer:
    def fit(self, train: pd.DataFrame, spec: RetrainSpec, device: str) -> TrainedModel:
        if spec.target is None:
            raise TrainerError("an entrypoint job needs target = 'package.module:function'")
        function = load_entrypoint(spec.target)
        context = TrainContext(
            numeric=spec.numeric,
            categorical=spec.categorical,
            label=spec.label,
            task=spec.task.value,
            params=dict(spec.params),
            seed=spec.seed,
            device=device,
        )
        fitted = function(train, context)  # type: ignore[operator]
        needed = "predict_proba" if spec.task is TaskKind.BINARY else "predict"
        if not callable(getattr(fitted, needed, None)):
            raise TrainerError(
                f"entry point {spec.target} returned {type(fitted).__name__} "
                f"({fitted!r:.80}); expected a fitted model with {needed}()"
            )
        positive = (
            positive_label(spec, labels(train, spec)) if spec.task is TaskKind.BINARY else None
        )
        return TrainedModel(
            scorer=EstimatorScorer(fitted, spec.task, spec.features, positive).check(),
            flavor="entrypoint",
            params={"entrypoint": spec.target, **spec.params},
            metrics={"train_rows": float(len(train))},
        )
