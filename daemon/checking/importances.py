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
alert then ranks by correlation alone, and the next version tries again).

MLflow is imported here, inside the load: never on the daemon's start-up path.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from checks.causes import importances_of
from daemon.checking.cache import CheckCache

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Importances:
    """A model version's importances by feature, or why there are none."""

    values: Mapping[str, float] | None
    why: str | None = None


def estimator_importances(estimator: object, features: Sequence[str]) -> Mapping[str, float] | None:
    """The estimator's importances of the schema's features (None: it exposes none).

    A scikit-learn estimator fitted on a frame names its columns
    (`feature_names_in_`): their order is the importances' order; without names
    the schema's order is assumed. A Pipeline's importances are its last step's,
    when that step sees the pipeline's columns unchanged.
    """
    names = getattr(estimator, "feature_names_in_", None)
    order = [str(n) for n in names] if names is not None else list(features)
    steps = getattr(estimator, "steps", None)
    final = steps[-1][1] if isinstance(steps, list) and steps else estimator
    found = importances_of(final, order)
    if found is None:
        return None
    wanted = set(features)
    return {f: v for f, v in found.items() if f in wanted} or None


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
            return Importances(values=None, why=f"cannot load {uri}: {type(exc).__name__}: {exc}")
    values = estimator_importances(estimator, features)
    why = None if values is not None else f"{uri} ({type(estimator).__name__}) exposes none"
    return Importances(values=values, why=why)


def model_importances(
    cache: CheckCache,
    tracking_uri: str,
    name: str,
    version: str | None,
    features: Sequence[str],
) -> Mapping[str, float] | None:
    """The importances of the model's serving version, loaded once per version and kept."""
    if version is None:
        return None

    def build() -> Importances:
        began = time.perf_counter()
        found = load_importances(tracking_uri, name, version, features)
        if found.values is None:
            log.info("model %s: no feature importances for the causes: %s", name, found.why)
        else:
            log.info(
                "model %s: feature importances of version %s read in %.2fs",
                name,
                version,
                time.perf_counter() - began,
            )
        return found

    key = ("importances", name, version, "\x1f".join(features))
    return cache.fitted(key, build).values
