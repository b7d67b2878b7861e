"""A world for `frameworks verify`: real wheels on a loopback index, a real model in MLflow.

- `mlmaint-demo-dep` 1.0.0, 1.0.1 (same function, a patch) and 2.0.0 (the
  function's output changed), built with `pip wheel --no-build-isolation`;
- a PEP 503 simple index directory of them, served by a loopback HTTP server;
- the "current" environment: a venv layered over the test interpreter's with
  mlmaint-demo-dep 1.0.0 installed from that index (the project's own venv is
  never installed into);
- a scikit-learn pipeline whose FunctionTransformer calls
  `mlmaint_demo_dep.transform`, logged to MLflow (SQLite in a temp dir) with
  the dependency in its requirements, registered and aliased champion.

Nothing reaches the internet: pip only ever gets `--index-url` on loopback.
"""

from __future__ import annotations

import functools
import html
import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "mlmaint-demo-dep"
MODULE = "mlmaint_demo_dep"
# 1.0.1 is a patch (same output); 2.0.0 shifts the feature the model sees.
VERSIONS = {
    "1.0.0": "def transform(x):\n    return x * 1.0\n",
    "1.0.1": '"""Patched: docs only."""\n\n\ndef transform(x):\n    return x * 1.0\n',
    "2.0.0": "def transform(x):\n    return x + 0.75\n",
}
FEATURES = ("x1", "x2")

TRAIN = """
import sys
import numpy as np, pandas as pd, mlflow, mlflow.sklearn, sklearn
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
import mlmaint_demo_dep

uri, artifacts, out = sys.argv[1], sys.argv[2], sys.argv[3]
rng = np.random.default_rng(7)
n = 1200
x = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n)})
y = (x["x1"] + 0.5 * x["x2"] + rng.normal(scale=0.7, size=n) > 0.2).astype(int)
model = make_pipeline(FunctionTransformer(mlmaint_demo_dep.transform), LogisticRegression())
model.fit(x.iloc[:800], y.iloc[:800])
mlflow.set_tracking_uri(uri)
client = MlflowClient(tracking_uri=uri)
exp = client.create_experiment("verify", artifact_location=artifacts)
reqs = [f"scikit-learn=={sklearn.__version__}", f"numpy=={np.__version__}",
        f"mlflow=={mlflow.__version__}", "mlmaint-demo-dep==1.0.0"]
with mlflow.start_run(experiment_id=exp):
    info = mlflow.sklearn.log_model(model, name="model", pip_requirements=reqs,
                                    serialization_format="cloudpickle")
version = mlflow.register_model(info.model_uri, "churn")
client.set_registered_model_alias("churn", "champion", version.version)
ref = x.iloc[800:].assign(label=y.iloc[800:].to_numpy())
ref.to_parquet(out)
"""


@dataclass(frozen=True, kw_only=True)
class World:
    index_url: str
    current_python: Path
    tracking_uri: str
    reference: Path
    wheels: Path
    # The candidate environments' cache, shared by the tests of one world.
    env_root: Path


def build_wheels(where: Path) -> Path:
    """The three versions as real wheels (one `pip wheel` each: pip takes one version of a name)."""
    wheels = where / "wheels"
    for version, body in VERSIONS.items():
        src = where / "src" / version
        (src / MODULE).mkdir(parents=True)
        (src / MODULE / "__init__.py").write_text(body)
        (src / "pyproject.toml").write_text(
            '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
            f'[project]\nname = "{PACKAGE}"\nversion = "{version}"\n'
            '[tool.setuptools]\npackages = ["mlmaint_demo_dep"]\n'
        )
        _wheel(src, wheels)
    return wheels


def _wheel(src: Path, wheels: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--isolated",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--disable-pip-version-check",
            "-q",
            "-w",
            str(wheels),
            str(src),
        ],
        check=True,
        capture_output=True,
        timeout=180,
        env={**os.environ, "PIP_CONFIG_FILE": os.devnull},
    )


def simple_index(wheels: Path, root: Path) -> Path:
    """A PEP 503 index directory: /simple/ and /simple/mlmaint-demo-dep/ with the wheels."""
    project = root / "simple" / PACKAGE
    project.mkdir(parents=True)
    links = []
    for wheel in sorted(wheels.glob("*.whl")):
        (project / wheel.name).write_bytes(wheel.read_bytes())
        links.append(f'<a href="{html.escape(wheel.name)}">{html.escape(wheel.name)}</a><br>')
    (project / "index.html").write_text(
        "<!DOCTYPE html><html><body>" + "".join(links) + "</body></html>"
    )
    (root / "simple" / "index.html").write_text(
        f'<!DOCTYPE html><html><body><a href="{PACKAGE}/">{PACKAGE}</a></body></html>'
    )
    return root


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return


@contextmanager
def serve(directory: Path) -> Iterator[str]:
    handler = functools.partial(_Quiet, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def current_env(root: Path, index_url: str) -> Path:
    """The "current" environment: this interpreter's packages plus mlmaint-demo-dep 1.0.0."""
    from retrain.verify import candidate

    env = candidate.build(
        root,
        candidate.Plan(install=(f"{PACKAGE}==1.0.0",), changes=(), skipped=()),
        index_url,
    )
    return env.python


def clean_environ() -> dict[str, str]:
    """The environment without MLFLOW_ variables: a registry URI another test left
    behind would send the training run's registration elsewhere."""
    return {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}


def train(python: Path, tracking_uri: str, artifacts: Path, reference: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [
            str(python),
            "-W",
            "ignore",
            "-c",
            TRAIN,
            tracking_uri,
            artifacts.as_uri(),
            str(reference),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={
            **clean_environ(),
            "PYTHONPATH": str(repo),
            "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        },
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"training the demo model failed:\n{done.stderr[-3000:]}")


def register_copy(
    world: World, name: str, requirements: dict[str, str], tags: dict[str, str], where: Path
) -> None:
    """The champion's model files registered again as `name`'s champion, with some of its
    logged requirement lines replaced (`old line -> new lines`) and these version tags:
    a champion logged with other pins, without training again."""
    import mlflow.artifacts
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=world.tracking_uri)
    champion = client.get_model_version_by_alias("churn", "champion")
    local = Path(
        mlflow.artifacts.download_artifacts(
            artifact_uri=client.get_model_version_download_uri("churn", champion.version),
            dst_path=str(where / name),
            tracking_uri=world.tracking_uri,
        )
    )
    text = (local / "requirements.txt").read_text()
    for old, new in requirements.items():
        assert old in text, text
        text = text.replace(old, new)
    (local / "requirements.txt").write_text(text)
    client.create_registered_model(name)
    version = client.create_model_version(name, source=str(local), tags=tags)
    client.set_registered_model_alias(name, "champion", version.version)
