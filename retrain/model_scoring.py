"""Scoring a registered model: one scorer for champion and challenger, whoever trained them.

A comparison is fair only when both sides give the same kind of output on the
same rows. `mlflow.pyfunc.load_model(...).predict` on a scikit-learn model
returns hard labels, and an ROC AUC on labels is not the model's AUC. So a
model is loaded by the flavor that gives the most it can:

- a scikit-learn flavor with `predict_proba`: P(positive) from the native
  estimator (`mlflow.sklearn.load_model`), the positive column found in
  `classes_` through `canonical_category` (classes may be ints or bools);
- a pyfunc that declares its output in its model metadata
  (``mlmaint.output``, which every model mlmaint logs carries, and a user may
  set when logging their own pyfunc): used as it is, with that meaning;
- anything else gives labels for a classification task, values for regression.

The holdout reaches the scorer typed (canonical text categoricals, float
numerics); a user's model was trained on its own types (a bool column, an int
code), which its signature records: each column is converted to the
signature's type before the model is called.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from checks.interface import TaskKind
from checks.typed import canonical_category
from retrain.interface import RetrainError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

# Model metadata key (MLmodel `metadata`) that declares what a pyfunc's predict returns.
OUTPUT_KEY = "mlmaint.output"


class Output(enum.StrEnum):
    """What a scorer's `predict` returns, one value per row."""

    # P(positive class), binary tasks only.
    PROBABILITY = "probability"
    # Class labels as canonical text.
    LABEL = "label"
    # Numbers, regression only.
    VALUE = "value"


class ScoringError(RetrainError):
    """A registered model cannot be loaded or scored on the holdout."""


def serving_output(task: TaskKind) -> Output:
    """What mlmaint's own serving model (retrain.serving) returns for a task."""
    match task:
        case TaskKind.BINARY:
            return Output.PROBABILITY
        case TaskKind.MULTICLASS:
            return Output.LABEL
        case TaskKind.REGRESSION:
            return Output.VALUE


def positive_column(classes: Iterable[object] | None, positive: str | None, owner: str) -> int:
    """The index in `classes` of the positive label, compared in canonical text.

    A positive label the model never learned is an error, never a guess:
    scoring the wrong column would turn a good model into a useless one.
    """
    learned = [canonical_category(c) for c in (classes if classes is not None else ())]
    if positive is None or positive not in learned:
        found = f"its classes are {learned}" if learned else "it has no classes_ attribute"
        raise ScoringError(
            f"the positive label {positive!r} is not a class of {owner} ({found}): set "
            "retrain.params.positive_label to one of the labels it was trained on"
        )
    return learned.index(positive)


@dataclass(frozen=True, kw_only=True)
class InputColumn:
    """One column of a model signature's inputs: its name and MLflow type name."""

    name: str
    kind: str
    required: bool = True


@dataclass(frozen=True, kw_only=True)
class ModelScorer:
    """A loaded model and how to get `gives` out of it for a typed frame."""

    model_uri: str
    task: TaskKind
    gives: Output
    # "sklearn" (the native estimator) or "python_function".
    flavor: str
    # Why this output: shown in the promotion decision when it matters.
    how: str
    inputs: tuple[InputColumn, ...] = ()
    proba_column: int | None = None
    model: object = field(repr=False, compare=False, default=None)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        import numpy as np

        x = self.model_input(frame)
        try:
            if self.gives is Output.PROBABILITY and self.flavor == "sklearn":
                proba = np.asarray(self.model.predict_proba(x))  # type: ignore[attr-defined]
                if proba.ndim != 2 or self.proba_column is None:
                    raise ScoringError(
                        f"{self.model_uri}: predict_proba returned shape {proba.shape}; "
                        "expected one column per class"
                    )
                out = proba[:, self.proba_column]
            else:
                out = np.asarray(self.model.predict(x))  # type: ignore[attr-defined]
        except ScoringError:
            raise
        except Exception as exc:
            raise ScoringError(
                f"{self.model_uri} ({self.flavor}) failed to score {len(x)} rows: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        return self._as_output(out, len(x))

    def _as_output(self, out: np.ndarray, rows: int) -> np.ndarray:
        import numpy as np

        if out.ndim == 2 and out.shape[1] == 1:
            out = out[:, 0]
        if out.ndim != 1 or len(out) != rows:
            raise ScoringError(
                f"{self.model_uri} returned shape {out.shape} for {rows} rows; expected one "
                f"{self.gives.value} per row"
            )
        if self.gives is Output.LABEL:
            labels = np.empty(rows, dtype=object)
            labels[:] = [canonical_category(v) for v in out]
            return labels
        try:
            return np.asarray(out, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ScoringError(
                f"{self.model_uri} is to give {self.gives.value}s but returned "
                f"{out.dtype} values such as {out[:3].tolist()}"
            ) from exc

    def model_input(self, frame: pd.DataFrame) -> pd.DataFrame:
        """`frame` in the types the model's signature asks for (as is without one)."""
        import pandas as pd

        if not self.inputs:
            return frame
        missing = [c.name for c in self.inputs if c.required and c.name not in frame.columns]
        if missing:
            raise ScoringError(
                f"{self.model_uri}'s signature needs columns the holdout lacks: "
                f"{', '.join(missing)}"
            )
        columns = {
            c.name: _convert(frame[c.name], c.kind, self.model_uri)
            for c in self.inputs
            if c.name in frame.columns
        }
        return pd.DataFrame(columns, index=frame.index)


_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})


def _convert(column: pd.Series, kind: str, uri: str) -> pd.Series:
    """One typed column in the MLflow type `kind`; missing values stay missing."""
    import numpy as np
    import pandas as pd

    match kind:
        case "double" | "float":
            dtype = np.float64 if kind == "double" else np.float32
            return pd.to_numeric(column, errors="coerce").astype(dtype)
        case "long" | "integer":
            numbers = pd.to_numeric(column, errors="coerce").astype(np.float64)
            if numbers.isna().any():
                # An int column cannot hold a missing value: float NaN, as pandas itself does.
                return numbers
            if not (numbers == np.floor(numbers)).all():
                bad = column[numbers != np.floor(numbers)].iloc[0]
                raise ScoringError(f"{uri} takes {column.name!r} as {kind}; got {bad!r}")
            return numbers.astype(np.int64 if kind == "long" else np.int32)
        case "boolean":
            text = column.map(canonical_category)
            unknown = text[text.notna() & ~text.isin(_TRUE | _FALSE)]
            if not unknown.empty:
                raise ScoringError(
                    f"{uri} takes {column.name!r} as boolean; got {unknown.iloc[0]!r}"
                )
            if text.isna().any():
                return text.map(lambda t: None if t is None else t in _TRUE).astype(object)
            return text.isin(_TRUE).astype(bool)
        case "string":
            out = np.empty(len(column), dtype=object)
            out[:] = [canonical_category(v) for v in column]
            return pd.Series(out, index=column.index, name=column.name, dtype=object)
        case _:
            return column


def _signature_inputs(signature: object) -> tuple[InputColumn, ...]:
    """Named column specs of a signature; none for no signature or tensor inputs."""
    inputs = getattr(signature, "inputs", None)
    if inputs is None or inputs.is_tensor_spec() or not inputs.has_input_names():
        return ()
    found: list[InputColumn] = []
    for spec in inputs.inputs:
        kind = getattr(spec, "type", None)
        name = getattr(kind, "name", None)
        if isinstance(name, str):
            found.append(InputColumn(name=str(spec.name), kind=name, required=bool(spec.required)))
    return tuple(found)


def load_scorer(model_uri: str, task: TaskKind, positive: str | None) -> ModelScorer:
    """Load `model_uri` (runs:/, models:/name/version, a path) to score `task`.

    `positive` is the positive label (canonical text) of a binary task. MLflow's
    tracking and registry URIs are those set on `mlflow` by the caller.
    """
    import mlflow.artifacts
    import mlflow.pyfunc
    from mlflow.exceptions import MlflowException
    from mlflow.models import Model

    try:
        local = mlflow.artifacts.download_artifacts(artifact_uri=model_uri)
        meta = Model.load(local)
    except (MlflowException, OSError) as exc:
        raise ScoringError(f"cannot read model {model_uri}: {exc}") from exc
    inputs = _signature_inputs(meta.signature)
    declared = (meta.metadata or {}).get(OUTPUT_KEY)
    try:
        if "sklearn" in (meta.flavors or {}) and declared is None:
            return _sklearn(model_uri, local, inputs, task, positive)
        pyfunc = mlflow.pyfunc.load_model(local)
    except MlflowException as exc:
        raise ScoringError(f"cannot load model {model_uri}: {exc}") from exc
    gives, how = _pyfunc_output(model_uri, pyfunc, task, declared)
    return ModelScorer(
        model_uri=model_uri,
        task=task,
        gives=gives,
        flavor="python_function",
        how=how,
        inputs=inputs,
        model=pyfunc,
    )


def _pyfunc_output(
    model_uri: str, pyfunc: object, task: TaskKind, declared: object
) -> tuple[Output, str]:
    """What a pyfunc's predict means: declared, mlmaint's own, else labels (or values)."""
    if task is TaskKind.REGRESSION:
        return Output.VALUE, "its pyfunc predict"
    if declared is not None:
        try:
            gives = Output(str(declared))
        except ValueError:
            raise ScoringError(
                f"{model_uri} declares {OUTPUT_KEY} = {declared!r}; expected one of "
                f"{', '.join(o.value for o in Output)}"
            ) from None
        if gives is Output.VALUE or (gives is Output.PROBABILITY and task is not TaskKind.BINARY):
            raise ScoringError(
                f"{model_uri} declares {OUTPUT_KEY} = {gives.value}, which a {task.value} "
                "model cannot give"
            )
        return gives, f"its pyfunc, which declares {OUTPUT_KEY} = {gives.value}"
    from retrain.serving import ServingModel

    # Versions mlmaint logged before it wrote the declaration are still its own model.
    unwrap = getattr(pyfunc, "unwrap_python_model", None)
    try:
        inner = unwrap() if callable(unwrap) else None
    except Exception:  # a pyfunc of another flavor has no python model to unwrap
        inner = None
    if isinstance(inner, ServingModel):
        gives = serving_output(task)
        return gives, f"mlmaint's serving model ({gives.value})"
    if task is TaskKind.BINARY:
        return (
            Output.LABEL,
            f"its pyfunc, which gives labels only (no predict_proba and no declared {OUTPUT_KEY})",
        )
    return Output.LABEL, "its pyfunc predict"


def _sklearn(
    model_uri: str,
    local: str,
    inputs: tuple[InputColumn, ...],
    task: TaskKind,
    positive: str | None,
) -> ModelScorer:
    import mlflow.sklearn

    estimator = mlflow.sklearn.load_model(local)
    name = type(estimator).__name__
    gives, how, column = Output.LABEL, f"the native {name}'s predict", None
    if task is TaskKind.REGRESSION:
        gives = Output.VALUE
    elif task is TaskKind.BINARY:
        if callable(getattr(estimator, "predict_proba", None)):
            column = positive_column(getattr(estimator, "classes_", None), positive, f"the {name}")
            gives, how = Output.PROBABILITY, f"the native {name}'s predict_proba"
        else:
            how = f"the native {name}'s predict, labels only (it has no predict_proba)"
    return ModelScorer(
        model_uri=model_uri,
        task=task,
        gives=gives,
        flavor="sklearn",
        how=how,
        inputs=inputs,
        proba_column=column,
        model=estimator,
    )
