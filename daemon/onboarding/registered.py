"""The registered version behind the alias: what MLflow says about the model.

Its alias and version, its signature's columns, its flavours, the scikit-learn
estimator (task, encoded columns, the retrain section) and the dataset its run
logged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from checks.interface import TaskKind
from daemon.onboarding.request import OnboardError

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

_URI_RE = re.compile(r"^models:/(?P<name>[^/@]+)@(?P<alias>[A-Za-z][A-Za-z0-9_-]{0,63})$")
# Dataset contexts whose rows the model did not train on, preferred for a reference:
# scores on training rows are too confident for an honest baseline and calibration.
_HELD_OUT_CONTEXTS = ("eval", "evaluation", "validation", "test", "holdout")
_CONTEXT_TAG = "mlflow.data.context"
# Encoders whose input columns are categorical whatever their dtype.
_ENCODERS = frozenset({"OneHotEncoder", "OrdinalEncoder", "TargetEncoder"})


def parse_model_uri(uri: str) -> tuple[str, str]:
    """`models:/NAME@ALIAS` -> (NAME, ALIAS); mlmaint follows an alias, not a number."""
    match = _URI_RE.match(uri.strip())
    if match is None:
        raise OnboardError(
            f"--model-uri {uri!r}: expected models:/NAME@ALIAS (e.g. models:/churn@champion); "
            "mlmaint follows the alias that marks the serving version"
        )
    return match.group("name"), match.group("alias")


def resolve_version(mlflow_client: MlflowClient, name: str, alias: str, where: str) -> ModelVersion:
    """The version `alias` points at, or an error naming what the registry holds."""
    from mlflow.exceptions import MlflowException

    try:
        registered = mlflow_client.get_registered_model(name)
    except MlflowException as exc:
        try:
            known = sorted(m.name for m in mlflow_client.search_registered_models())
        except MlflowException:
            known = []
        raise OnboardError(
            f"models:/{name}@{alias}: no registered model {name!r} in the MLflow registry at "
            f"{where} (registered: {', '.join(known) or 'none'}); check [mlflow] tracking_uri"
        ) from exc
    aliases = dict(registered.aliases or {})
    if alias not in aliases:
        try:
            versions = sorted(
                (str(v.version) for v in mlflow_client.search_model_versions(f"name='{name}'")),
                key=int,
            )
        except MlflowException:
            versions = []
        have = ", ".join(f"{a} -> {v}" for a, v in sorted(aliases.items())) or "none"
        raise OnboardError(
            f"models:/{name}@{alias}: model {name!r} has no alias {alias!r} (aliases: {have}; "
            f"versions: {', '.join(versions) or 'none'}); set it on the serving version, e.g. "
            f"MlflowClient().set_registered_model_alias({name!r}, {alias!r}, VERSION)"
        )
    return mlflow_client.get_model_version_by_alias(name, alias)


def signature_columns(model_uri: str) -> list[tuple[str, str]] | None:
    """(name, MLflow type) of the signature's named input columns; None without one."""
    from mlflow.models import get_model_info

    signature = get_model_info(model_uri).signature
    if signature is None or signature.inputs is None:
        return None
    inputs = signature.inputs
    if inputs.is_tensor_spec() or not inputs.has_input_names():
        raise OnboardError(
            f"{model_uri}: its signature takes tensors or unnamed columns, which name no "
            "features: give --sample FILE (a few rows of its prediction log)"
        )
    out: list[tuple[str, str]] = []
    for spec in inputs.inputs:
        kind = getattr(spec.type, "name", None)
        out.append((str(spec.name), kind if isinstance(kind, str) else type(spec.type).__name__))
    return out


def flavors(model_uri: str) -> Mapping[str, object]:
    from mlflow.models import get_model_info

    return dict(get_model_info(model_uri).flavors or {})


def load_sklearn(model_uri: str) -> object:
    import mlflow.sklearn

    return mlflow.sklearn.load_model(model_uri)


def encoded_columns(estimator: object) -> set[str]:
    """Input columns a scikit-learn Pipeline routes to an encoder: categorical by design.

    An int-coded category (plan 1, 2, 3) is a `long` in the signature: only the
    model's own ColumnTransformer says it is a category.
    """
    found: set[str] = set()

    def walk(node: object, columns: Sequence[object] | None) -> None:
        if type(node).__name__ in _ENCODERS and columns is not None:
            found.update(str(c) for c in columns if isinstance(c, str))
        for step in getattr(node, "steps", None) or ():
            walk(step[1], columns)
        items = getattr(node, "transformers_", None) or getattr(node, "transformers", None) or ()
        for item in items:
            if isinstance(item, tuple) and len(item) == 3:
                cols = item[2]
                # A list, an Index or an array of names; a slice or a callable names none.
                named = None if isinstance(cols, str) or not hasattr(cols, "__iter__") else cols
                walk(item[1], list(named) if named is not None else None)

    walk(estimator, None)
    return found


def final_estimator(estimator: object) -> object:
    steps = getattr(estimator, "steps", None)
    return final_estimator(steps[-1][1]) if steps else estimator


def sklearn_task(estimator: object) -> TaskKind | None:
    model = final_estimator(estimator)
    classes = getattr(model, "classes_", None)
    if classes is not None:
        return TaskKind.BINARY if len(classes) == 2 else TaskKind.MULTICLASS
    estimator_type = getattr(model, "_estimator_type", None)
    if estimator_type == "regressor":
        return TaskKind.REGRESSION
    try:
        from sklearn.base import is_regressor

        return TaskKind.REGRESSION if is_regressor(model) else None
    except ImportError:
        return None


def retrain_section(estimator: object | None, positive: str | None) -> dict[str, object]:
    """sklearn: retrain the model's own estimator class with its non-default scalar params."""
    if estimator is None:
        # No trainer mlmaint can know: alert only, until someone names one.
        return {"enabled": False}
    import inspect

    model = final_estimator(estimator)
    cls = type(model)
    params: dict[str, object] = {}
    get_params = getattr(model, "get_params", None)
    if callable(get_params):
        defaults = {
            k: p.default
            for k, p in inspect.signature(cls).parameters.items()
            if p.default is not inspect.Parameter.empty
        }
        for key, value in sorted(get_params(deep=False).items()):
            simple = isinstance(value, bool | int | float | str) and not (
                isinstance(value, float) and value != value
            )
            if simple and key in defaults and defaults[key] != value:
                params[key] = value
    if positive is not None:
        params["positive_label"] = positive
    section: dict[str, object] = {
        "enabled": True,
        "trainer": "sklearn",
        "target": f"{cls.__module__.split('._')[0]}.{cls.__name__}",
    }
    if params:
        section["params"] = params
    return section


def dataset_reference(mlflow_client: MlflowClient, version: ModelVersion) -> tuple[Path, str]:
    """The local file of the dataset the version's run logged (held-out data preferred)."""
    import mlflow.data
    from mlflow.exceptions import MlflowException

    what = f"models:/{version.name}/{version.version}"
    if not version.run_id:
        raise OnboardError(
            f"{what} was not logged in an MLflow run, so it has no logged dataset: "
            "give --reference FILE"
        )
    run_inputs = mlflow_client.get_run(version.run_id).inputs
    inputs = list(run_inputs.dataset_inputs or []) if run_inputs is not None else []
    if not inputs:
        raise OnboardError(
            f"run {version.run_id} of {what} logged no dataset (mlflow.log_input): "
            "give --reference FILE"
        )

    def rank(item: object) -> int:
        tags = {t.key: t.value for t in getattr(item, "tags", None) or []}
        return 0 if tags.get(_CONTEXT_TAG, "") in _HELD_OUT_CONTEXTS else 1

    problems: list[str] = []
    for item in sorted(inputs, key=rank):
        dataset = item.dataset
        try:
            local = mlflow.data.get_source(item).load()
        except (MlflowException, NotImplementedError, OSError, TypeError) as exc:
            problems.append(f"{dataset.name} ({dataset.source_type}: {type(exc).__name__})")
            continue
        path = Path(str(local))
        if path.is_file():
            tags = {t.key: t.value for t in item.tags or []}
            context = tags.get(_CONTEXT_TAG, "no context")
            return path, f"dataset {dataset.name!r} ({context}) of run {version.run_id}"
        problems.append(f"{dataset.name} ({dataset.source_type}: {path} is no file)")
    raise OnboardError(
        f"run {version.run_id} of {what}: no logged dataset can be read back as a file "
        f"({'; '.join(problems)}): give --reference FILE"
    )
