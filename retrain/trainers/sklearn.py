"""scikit-learn trainer: preprocessing built from the schema, then the configured estimator."""

from __future__ import annotations

import importlib
import inspect
from typing import TYPE_CHECKING

from checks.interface import TaskKind
from retrain.evaluate import labels, positive_label
from retrain.interface import Param, RetrainSpec, TrainedModel, TrainerError
from retrain.trainers.scorer import EstimatorScorer
from retrain.versions import framework_versions

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_ESTIMATORS = {
    TaskKind.BINARY: "sklearn.linear_model.LogisticRegression",
    TaskKind.MULTICLASS: "sklearn.linear_model.LogisticRegression",
    TaskKind.REGRESSION: "sklearn.linear_model.Ridge",
}
# Consumed here, never handed to the estimator.
OWN_PARAMS = frozenset({"positive_label"})


def load_class(dotted: str) -> type:
    module_name, _, name = dotted.rpartition(".")
    if not module_name:
        raise TrainerError(f"estimator {dotted!r} is not a dotted path like 'pkg.module.Class'")
    try:
        found = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as exc:
        raise TrainerError(f"cannot import estimator {dotted!r}: {exc}") from exc
    if not isinstance(found, type):
        raise TrainerError(f"estimator {dotted!r} is not a class")
    return found


def as_str(frame: pd.DataFrame) -> pd.DataFrame:
    """Categories as text, so 1 and "1" are one category and missing is "nan"."""
    return frame.astype(str)


def preprocessing(numeric: tuple[str, ...], categorical: tuple[str, ...]) -> object:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    parts: list[tuple[str, object, list[str]]] = []
    if numeric:
        parts.append(
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), [*numeric])
        )
    if categorical:
        as_text = FunctionTransformer(as_str, feature_names_out="one-to-one")
        parts.append(
            (
                "cat",
                make_pipeline(
                    as_text,
                    OneHotEncoder(handle_unknown="ignore", sparse_output=False, min_frequency=5),
                ),
                [*categorical],
            )
        )
    return ColumnTransformer(parts)


class SklearnTrainer:
    def fit(self, train: pd.DataFrame, spec: RetrainSpec, device: str) -> TrainedModel:
        from sklearn.pipeline import Pipeline

        cls = load_class(spec.target or DEFAULT_ESTIMATORS[spec.task])
        params: dict[str, Param] = {k: v for k, v in spec.params.items() if k not in OWN_PARAMS}
        accepted = inspect.signature(cls).parameters
        if "random_state" in accepted and "random_state" not in params:
            params["random_state"] = spec.seed
        try:
            estimator = cls(**params)
        except TypeError as exc:
            raise TrainerError(f"{cls.__name__} does not take these params: {exc}") from exc
        pipeline = Pipeline(
            [("prep", preprocessing(spec.numeric, spec.categorical)), ("model", estimator)]
        )
        y = labels(train, spec)
        positive = positive_label(spec, y) if spec.task is TaskKind.BINARY else None
        pipeline.fit(train.loc[:, list(spec.features)], y)
        versions = framework_versions(("scikit-learn", "pandas", "numpy"))
        return TrainedModel(
            scorer=EstimatorScorer(pipeline, spec.task, spec.features, positive).check(),
            flavor="sklearn",
            params={"estimator": f"{cls.__module__}.{cls.__name__}", **params},
            metrics={"train_rows": float(len(train))},
            pip_requirements=tuple(f"{k}=={v}" for k, v in versions.items()),
        )
