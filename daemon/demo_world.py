"""The demo's simulated world: its config, its clock, and the production that serves.

`mlmaint demo` (daemon/demo.py) and the soak benchmark replay this world: a
churn model served from MLflow, its traffic written to JSON Lines logs, its
labels pushed to the daemon's HTTP API, in simulated time.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import numpy as np
import pandas as pd

from daemon import simulation as sim
from daemon.config import Settings

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from daemon.frameworks.local_index import LocalIndex

MODEL = "churn"
START = datetime(2026, 10, 12, tzinfo=UTC)  # a Monday, six weeks before the report's week

DEMO_CONFIG = """\
# Written by `mlmaint demo`: the shipped config.toml's demo model, with its state
# under this directory and cadences suited to a replay of whole days.
[service]
state_dir = "{state}"
log_level = "WARNING"
api_token = {{ env = "MLMAINT_DEMO_API_TOKEN" }}
http_port = 0
# The replay waits for a retrain job at the end of its day (it runs for real seconds,
# a simulated day for a fraction of one): polling it more often sees it still running.
retrain_poll_schedule = {{ every = "6h" }}

[store]
url = "sqlite:///{state}/mlmaint.db"

[mlflow]
tracking_uri = "sqlite:///{state}/mlflow.db"
artifact_root = "{state}/mlflow-artifacts"

[alerts]
repeat_interval = "24h"
cooldown = "12h"
delivery_every = "6h"

[[alerts.channels]]
name = "outbox"
kind = "file"
path = "outbox.jsonl"

[report]
schedule = {{ cron = "0 8 * * mon", timezone = "UTC" }}
directory = "reports"

[frameworks]
schedule = {{ cron = "30 6 * * mon", timezone = "UTC" }}
advisory_db = "{advisories}"
{index}
[[frameworks.environments]]
name = "demo-venv"
kind = "python"
path = "{python}"

[[frameworks.environments]]
name = "serving-image"
kind = "requirements"
path = "{state}/serving-requirements.txt"

[[frameworks.environments]]
name = "churn-model"
kind = "mlflow_model"
model = "churn"
alias = "champion"

[[models]]
name = "churn"
task = "binary_classification"

[models.source]
kind = "files"
glob = "{state}/logs/predictions-*.jsonl"
format = "jsonl"

[models.labels]
kind = "http"

[models.schema]
numeric = ["tenure_months", "monthly_charges", "support_calls", "usage_gb"]
categorical = ["plan", "region"]
score = "score"
latency = "latency_ms"
error = "error"
model_version = "model_version"

[models.sampling]
rate = 1.0
schedule = {{ cron = "0 */6 * * *", timezone = "UTC" }}

[models.checks]
schedule = {{ cron = "0 0 * * *", timezone = "UTC" }}
window = "1d"
min_rows = 200

[models.checks.performance]
min_labelled = 300
bootstrap = 100

[models.checks.operations]
max_latency_p99_ms = 150
max_error_rate = 0.02

[models.retrain]
trainer = "sklearn"
target = "sklearn.ensemble.HistGradientBoostingClassifier"
params = {{ max_iter = 150 }}
failing_runs = 2
min_interval = "7d"
recent_labelled = "10d"
promote_margin = 0.0
schedule = {{ cron = "0 1 * * *", timezone = "UTC" }}
"""


class SimClock:
    """Simulated time for the HTTP API, so pushed labels carry the replayed date."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


# The serving image was pinned long ago and patched piecemeal since: its pins have
# collected advisories, fallen majors behind, and one of them was yanked.
SERVING_REQUIREMENTS = """\
# serving image, pinned in 2021, patched since
mlflow==2.9.0
numpy==1.21.0
pandas==1.3.5
pillow==9.5.0
requests==2.32.0
scikit-learn==0.24.0
torch==1.13.0
"""


def write_config(state: Path, *, index_url: str | None = None) -> Path:
    """The demo's config; `index_url`: the local index `frameworks sync` reads."""
    from daemon.frameworks.mirror import shipped_advisory_source

    (state / "serving-requirements.txt").write_text(SERVING_REQUIREMENTS)
    path = state / "config.toml"
    path.write_text(
        DEMO_CONFIG.format(
            state=state.resolve(),
            python=sys.executable,
            advisories=shipped_advisory_source().resolve(),
            index=f'index_url = "{index_url}"\n' if index_url else "",
        )
    )
    return path


def local_index() -> LocalIndex:
    """The demo's package index on loopback: real PyPI release histories shipped with
    the package, as they stood when the replay starts."""
    from checks.frameworks.releases import load_history
    from daemon.frameworks.local_index import LocalIndex

    return LocalIndex(load_history(), as_of=START)


class Production:
    """The simulated serving side: scores traffic with the champion, writes logs."""

    def __init__(self, settings: Settings, scenario: sim.Scenario, logs: Path) -> None:
        self.settings = settings
        self.scenario = scenario
        self.logs = logs
        self._model: object | None = None
        self._version: str | None = None
        self._client: MlflowClient | None = None

    def _champion(self) -> tuple[object, str]:
        """The serving model, loaded again only when the alias moved to another version."""
        import mlflow.pyfunc
        from mlflow import MlflowClient

        if self._client is None:
            self._client = MlflowClient(tracking_uri=self.settings.mlflow.tracking_uri)
        # MLflow 3 gives the version as an int: compared as text with the loaded one.
        version = str(self._client.get_model_version_by_alias(MODEL, "champion").version)
        if version != self._version:
            mlflow.set_tracking_uri(self.settings.mlflow.tracking_uri)
            self._model = mlflow.pyfunc.load_model(f"models:/{MODEL}/{version}")
            self._version = version
        assert self._model is not None
        return self._model, version

    def serve(self, day: int) -> pd.DataFrame:
        """Score the day's traffic, write its log file; returns the rows with labels."""
        frame = sim.traffic(self.scenario, day)
        model, version = self._champion()
        features = frame.loc[:, [*sim.NUMERIC, *sim.CATEGORICAL]]
        predict = model.predict  # type: ignore[attr-defined]
        score = np.asarray(predict(features), dtype=np.float64)
        frame["score"] = score.round(5)
        frame["prediction"] = (score >= 0.5).astype(int)
        frame["model_version"] = version
        frame["label"] = sim.labels(self.scenario, day, frame)
        self._write_log(day, frame)
        return frame

    def _write_log(self, day: int, frame: pd.DataFrame) -> None:
        out = frame.drop(columns=["label"]).copy()
        out["timestamp"] = out["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        lines = out.to_json(orient="records", lines=True).splitlines()
        if day % 7 == 3:
            # Real logs are never clean: a wrong type, a NaN score, a missing feature.
            lines.append(
                json.dumps(
                    {
                        **json.loads(lines[0]),
                        "prediction_id": f"bad-{day}-1",
                        "tenure_months": "twelve",
                    }
                )
            )
            lines.append(
                lines[1]
                .replace('"score":', '"score":NaN,"x_score":')
                .replace(f'"{json.loads(lines[1])["prediction_id"]}"', f'"bad-{day}-2"')
            )
            broken = json.loads(lines[2])
            broken.pop("usage_gb")
            broken["prediction_id"] = f"bad-{day}-3"
            lines.append(json.dumps(broken))
        path = self.logs / f"predictions-{self.scenario.day_start(day):%Y%m%d}.jsonl"
        path.write_text("\n".join(lines) + "\n")


def push_labels(client: httpx.Client, frame: pd.DataFrame) -> int:
    body = "\n".join(
        json.dumps({"prediction_id": pid, "label": int(label)})
        for pid, label in zip(frame["prediction_id"], frame["label"], strict=True)
    )
    response = client.post(
        f"/v1/models/{MODEL}/labels",
        content=body.encode(),
        headers={"Content-Type": "application/x-ndjson"},
    )
    response.raise_for_status()
    return int(response.json().get("accepted", 0))
