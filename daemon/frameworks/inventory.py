"""What each configured environment holds: an interpreter, a requirements or lock
file, or an MLflow model version's logged requirements."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from checks.frameworks import InventoryError
from checks.frameworks import inventory as inv
from daemon.config import EnvironmentKind, EnvironmentSettings

log = logging.getLogger(__name__)


def inventory_environment(env: EnvironmentSettings, tracking_uri: str) -> inv.Inventory:
    match env.kind:
        case EnvironmentKind.PYTHON:
            assert env.path is not None  # guaranteed by EnvironmentSettings
            return inv.from_interpreter(env.name, env.path)
        case EnvironmentKind.REQUIREMENTS:
            assert env.path is not None
            return inv.from_requirements(env.name, env.path)
        case EnvironmentKind.LOCK:
            assert env.path is not None
            return inv.from_lock(env.name, env.path)
        case EnvironmentKind.MLFLOW_MODEL:
            assert env.model is not None
            return _mlflow_inventory(env.name, env.model, env.alias, tracking_uri)


def _mlflow_inventory(name: str, model: str, alias: str, tracking_uri: str) -> inv.Inventory:
    """Download the model version's requirements.txt (and python_env.yaml) by alias."""
    import mlflow.artifacts  # lazy: mlflow costs a second at import
    from mlflow import MlflowClient

    uri = f"models:/{model}@{alias}"
    # Resolved to the version's own artifact location first: MLflow's `models:/`
    # artifact repository builds a client on the default tracking URI (./mlflow.db),
    # whatever tracking_uri is passed.
    try:
        client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        version = client.get_model_version_by_alias(model, alias)
        location = client.get_model_version_download_uri(model, version.version)
    except Exception as exc:  # MlflowException and transport errors alike
        raise InventoryError(uri, f"cannot resolve the model version: {exc}") from exc
    with tempfile.TemporaryDirectory(prefix="mlmaint-reqs-") as tmp:
        try:
            mlflow.artifacts.download_artifacts(
                artifact_uri=f"{location.rstrip('/')}/requirements.txt",
                dst_path=tmp,
                tracking_uri=tracking_uri,
            )
        except Exception as exc:  # MlflowException and transport errors alike
            raise InventoryError(uri, f"cannot download requirements.txt: {exc}") from exc
        try:
            mlflow.artifacts.download_artifacts(
                artifact_uri=f"{location.rstrip('/')}/python_env.yaml",
                dst_path=tmp,
                tracking_uri=tracking_uri,
            )
        except Exception:  # optional: older models log conda.yaml only
            log.debug("no python_env.yaml for %s", uri)
        return inv.from_mlflow_model(name, Path(tmp), target=uri)
