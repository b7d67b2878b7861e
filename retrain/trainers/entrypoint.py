"""User training code: `package.module:function`.

Contract (also in config.toml and the README):

    def train(train: pandas.DataFrame, context: TrainContext) -> fitted model

`train` holds the model's feature columns (numeric as float64, categorical as
canonical text: "true"/"false" for booleans, "1" for integer codes, None for
missing) and the label column (canonical text; float for regression), nothing
else: no prediction ids, no timestamps. `context` carries the column names,
the task, `retrain.params`, the seed and the device ("cpu" or "cuda:N"). The
function returns a fitted object with `predict(frame)` (and, for binary
classification, `predict_proba(frame)` and `classes_`, which says which column
is the positive class), as scikit-learn estimators do. Anything else fails the
job with a message that says what came back.

The module is imported from `retrain.python_path` (directories put first on
the job's import path, on the local and the Celery executor alike), then from
the job's environment; an import that fails names the module, the directories
searched and where the module must be.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from checks.interface import TaskKind
from retrain.evaluate import labels, positive_label
from retrain.interface import Param, RetrainSpec, TrainedModel, TrainerError
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


def load_entrypoint(target: str, python_path: Sequence[str] = ()) -> object:
    """The callable `target` names; the job has put `python_path` on sys.path."""
    module_name, sep, name = target.partition(":")
    if not sep or not module_name or not name:
        raise TrainerError(f"entry point {target!r} is not 'package.module:function'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise TrainerError(_import_failure(module_name, exc, python_path)) from exc
    try:
        found: object = getattr(module, name)
    except AttributeError as exc:
        raise TrainerError(f"module {module_name!r} has no attribute {name!r}") from exc
    if not callable(found):
        raise TrainerError(f"entry point {target!r} is not callable")
    return found


def _import_failure(module_name: str, exc: ImportError, python_path: Sequence[str]) -> str:
    searched = ", ".join(repr(str(Path(p).expanduser())) for p in python_path) or "(empty)"
    absent = [p for p in python_path if not Path(p).expanduser().is_dir()]
    gone = f"; not a directory on this machine: {', '.join(absent)}" if absent else ""
    parts = module_name.split(".")
    missing = exc.name or ""
    if missing and missing in {".".join(parts[: i + 1]) for i in range(len(parts))}:
        where = "/".join(parts)
        return (
            f"entry point module {module_name!r} was not found ({exc}): searched "
            f"retrain.python_path [{searched}]{gone} and the job's environment; put "
            f"{where}.py (or the package {parts[0]}/) in one of the retrain.python_path "
            "directories on the machine that runs the job, or install it there"
        )
    return (
        f"entry point module {module_name!r} was found but importing it failed: {exc} "
        f"(retrain.python_path [{searched}]{gone}); install what it imports into the "
        "job's environment"
    )


class EntrypointTrainer:
    def fit(self, train: pd.DataFrame, spec: RetrainSpec, device: str) -> TrainedModel:
        if spec.target is None:
            raise TrainerError("an entrypoint job needs target = 'package.module:function'")
        function = load_entrypoint(spec.target, spec.python_path)
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
