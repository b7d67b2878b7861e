"""Fixtures for onboarding: a user's MLflow registry with their own models, configs.

The registry is built once per module (training and logging the user's
Pipelines costs seconds), in a copy of the session's migrated MLflow database;
tests whose retrains register versions copy it (`registries`).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from tests.onboarding import world
from tests.retrain.conftest import mlflow_template  # noqa: F401  (a fixture, used here)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(autouse=True)
def _restore_mlflow_uri() -> Iterator[None]:
    """Onboarding points MLflow at the user's registry in-process: point it back after."""
    yield
    if "mlflow" in sys.modules:
        import mlflow

        default = os.environ["MLFLOW_TRACKING_URI"]
        mlflow.set_tracking_uri(default)
        mlflow.set_registry_uri(default)


def new_registry(template: Path, directory: Path) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "mlflow.db"
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


def binary_frame(n: int, seed: int, *, shifted: bool = False, concept: str = "a") -> pd.DataFrame:
    frame = world.features(n, seed=seed, shifted=shifted)
    frame["label"] = world.binary_labels(frame, seed=seed, concept=concept)
    return frame


def regression_frame(
    n: int, seed: int, *, shifted: bool = False, concept: str = "a"
) -> pd.DataFrame:
    frame = world.features(n, seed=seed, shifted=shifted)
    frame["label"] = world.regression_target(frame, seed=seed, concept=concept)
    return frame


def config_text(directory: Path, store_url: str, tracking_uri: str) -> str:
    """A user's config before onboarding: service, store, MLflow, a file channel."""
    return f"""
[service]
state_dir = "{directory / "state"}"
api_token = {{ env = "MLMAINT_API_TOKEN" }}

[store]
url = "{store_url}"

[mlflow]
tracking_uri = "{tracking_uri}"
artifact_root = "{directory / "state" / "mlflow-artifacts"}"

[executor]
kind = "local"
timeout = "10m"

[[alerts.channels]]
name = "outbox"
kind = "file"
path = "{directory / "state" / "outbox.jsonl"}"
"""


@dataclass(frozen=True)
class Logged:
    """The user's MLflow database right after they logged and registered one model."""

    database: Path
    version: str


class UsersRegistries:
    """Each model trained, logged and registered once per module (a subprocess of
    MLflow and scikit-learn, seconds); every test gets its own copy of the database,
    since its retrains register versions of their own. The copies' model files stay
    in the module's folder, which only the champion's loads read."""

    def __init__(self, template: Path, root: Path) -> None:
        self.template = template
        self.root = root
        self.logged: dict[str, Logged] = {}

    def log(self, name: str, task: str, train: pd.DataFrame) -> Logged:
        if name not in self.logged:
            directory = self.root / name
            uri = new_registry(self.template, directory)
            versions = world.log_users_models(
                uri, directory, [world.UsersModel(name=name, task=task, train=train)]
            )
            self.logged[name] = Logged(directory / "mlflow.db", versions[name])
        return self.logged[name]


@pytest.fixture(scope="module")
def registries(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> UsersRegistries:
    template = request.getfixturevalue("mlflow_template")
    return UsersRegistries(template, tmp_path_factory.mktemp("users-registries"))


@pytest.fixture
def in_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """~/monitor-churn: the working directory the README's relative paths are in."""
    home = tmp_path / "monitor-churn"
    home.mkdir()
    monkeypatch.chdir(home)
    yield home
