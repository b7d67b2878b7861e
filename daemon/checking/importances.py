"""The serving model's feature importances, for the cause ranking of live alerts.

When a performance alert fires, the cause ranking (daemon/checking/causes.py)
orders the drifted features by how their drift follows the metric and, where the
model exposes importances (a tree ensemble's `feature_importances_`, a linear
model's `coef_`: `checks.causes.importances_of`), weights each feature's drift by
them. The check cycle reads them from the registered version serving now
(`models:/NAME/VERSION`, loaded by its scikit-learn flavor, as a user's
`mlflow.sklearn.log_model` logs it): once per (model, version), only when a
performance finding fires, and kept in the service's `CheckCache`, what it found
or that it found none (a model of another flavor, an unreachable registry: the
alert then ranks by correlation alone and says why, a WARNING says it once per
version, and the next version tries again). A scikit-learn Pipeline's importances
are its last step's, summed back from the features its earlier steps make (one-hot
columns, a ColumnTransformer's prefixed names) into the input columns.

MLflow is imported here, inside the load: never on the daemon's start-up path.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol, cast

from checks.causes import importances_of
from daemon.checking.cache import CheckCache
from daemon.tables import shorten

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Importances:
    """A model version's importances by feature, or why there are none."""

    values: Mapping[str, float] | None
    why: str | None = None


def _input_column(name: str, inputs: Sequence[str]) -> str | None:
    """The input column a transformed feature comes from: itself, or without a
    ColumnTransformer's "name__" prefix; a one-hot "col_value" from the longest input
    column it starts with (OneHotEncoder names its outputs `{column}_{category}`)."""
    known = set(inputs)
    tried = [name.split("__", 1)[1], name] if "__" in name else [name]
    for candidate in tried:
        if candidate in known:
            return candidate
        prefixes = [c for c in inputs if candidate.startswith(f"{c}_")]
        if prefixes:
            return max(prefixes, key=len)
    return None


class _Named(Protocol):
    def get_feature_names_out(self) -> Sequence[object]: ...


class _Pipeline(Protocol):
    """What a scikit-learn Pipeline offers that the importances read."""

    steps: list[tuple[str, object]]

    def __getitem__(self, index: slice) -> _Named: ...


def _pipeline_importances(pipeline: _Pipeline, features: Sequence[str]) -> Importances:
    """A Pipeline's importances: its last step's, over the features the steps before it
    make (`pipeline[:-1].get_feature_names_out()`), each summed into the input column
    it comes from. The shares stay shares of the whole: a transformed feature that maps
    to no input column (a PCA component) keeps its share out of every column's."""
    final = pipeline.steps[-1][1]
    kind = f"{type(pipeline).__name__} ending in {type(final).__name__}"
    names_in = getattr(pipeline, "feature_names_in_", None)
    inputs = [str(n) for n in names_in] if names_in is not None else list(features)
    if len(pipeline.steps) == 1:
        made = inputs
    else:
        try:
            made = [str(n) for n in pipeline[:-1].get_feature_names_out()]
        except (AttributeError, TypeError, ValueError) as exc:
            return Importances(
                values=None,
                why=f"the steps before its {type(final).__name__} name no features "
                f"(get_feature_names_out: {type(exc).__name__})",
            )
    shares = importances_of(final, made)
    if shares is None:
        return Importances(
            values=None,
            why=f"{kind} exposes no feature_importances_ or coef_ for its {len(made)} features",
        )
    per: dict[str, float] = {}
    for name, share in shares.items():
        column = _input_column(name, inputs)
        if column is not None:
            per[column] = per.get(column, 0.0) + share
    wanted = set(features)
    values = {f: v for f, v in per.items() if f in wanted}
    if not values:
        return Importances(values=None, why=f"{kind}: no feature maps to a schema column")
    return Importances(values=values)


def estimator_importances(estimator: object, features: Sequence[str]) -> Importances:
    """The estimator's importances of the schema's features, or why it has none.

    A scikit-learn estimator fitted on a frame names its columns
    (`feature_names_in_`): their order is the importances' order; without names
    the schema's order is assumed. A Pipeline's are its last step's, summed back into
    the input columns (`_pipeline_importances`).
    """
    steps = getattr(estimator, "steps", None)
    if isinstance(steps, list) and steps:
        return _pipeline_importances(cast(_Pipeline, estimator), features)
    names = getattr(estimator, "feature_names_in_", None)
    order = [str(n) for n in names] if names is not None else list(features)
    found = importances_of(estimator, order)
    wanted = set(features)
    values = {f: v for f, v in (found or {}).items() if f in wanted}
    if not values:
        why = f"{type(estimator).__name__} exposes no feature_importances_ or coef_"
        if found is not None or getattr(estimator, "coef_", None) is not None:
            why = f"{type(estimator).__name__}'s importances match no schema column"
        return Importances(values=None, why=why)
    return Importances(values=values)


def load_importances(
    tracking_uri: str, name: str, version: str, features: Sequence[str]
) -> Importances:
    """Load `models:/NAME/VERSION` by its scikit-learn flavor and read its importances."""
    import tempfile

    uri = f"models:/{name}/{version}"
    with tempfile.TemporaryDirectory(prefix="mlmaint-importances-") as tmp:
        try:
            import mlflow.artifacts
            import mlflow.sklearn
            from mlflow.models import Model

            local = mlflow.artifacts.download_artifacts(
                artifact_uri=uri, dst_path=tmp, tracking_uri=tracking_uri, registry_uri=tracking_uri
            )
            if "sklearn" not in (Model.load(local).flavors or {}):
                return Importances(values=None, why=f"{uri} has no scikit-learn flavor")
            estimator = mlflow.sklearn.load_model(local)
        except Exception as exc:  # a registry, an artifact store or an unpickling: never fatal
            # The first line only: the reason goes into the alert's text.
            said = shorten(str(exc).strip().split("\n", 1)[0], 160)
            return Importances(values=None, why=f"cannot load {uri}: {type(exc).__name__}: {said}")
    found = estimator_importances(estimator, features)
    return found if found.why is None else replace(found, why=f"{uri}: {found.why}")


def model_importances(
    cache: CheckCache,
    tracking_uri: str,
    name: str,
    version: str | None,
    features: Sequence[str],
) -> Importances:
    """The importances of the model's serving version, loaded once per version and kept.

    None found says why (the alert says it too): a WARNING, once per version. With no
    recorded version there is no registered model to read: nothing to say."""
    if version is None:
        return Importances(values=None)

    def build() -> Importances:
        began = time.perf_counter()
        found = load_importances(tracking_uri, name, version, features)
        if found.values is None:
            log.warning("model %s: no importance weighting of the causes: %s", name, found.why)
        else:
            log.info(
                "model %s: feature importances of version %s read in %.2fs",
                name,
                version,
                time.perf_counter() - began,
            )
        return found

    key = ("importances", name, version, "\x1f".join(features))
    return cache.fitted(key, build)
