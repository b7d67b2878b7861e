"""The README's "Monitor a model you already have", run word for word.

The section's shell blocks are taken from README.md and run by bash as they
stand, in a home directory of the test's own that holds what the section says
the user has: `~/monitor-churn` with their MLflow database (their Pipeline
registered as `churn`, alias champion), `reference.csv`, prediction logs of
the last day and `labels.jsonl`. The one liberty: `mlmaint run`, which the
section runs in a terminal of its own, runs in the background until its first
sampling pass is done, and gets SIGTERM at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.onboarding import readme, world
from tests.onboarding.conftest import binary_frame

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

# Between the section's blocks: the daemon in the background, ready once it has
# sampled the logs; stopped with SIGTERM when the section's commands are done.
HARNESS = """\
set -euo pipefail
cd {root}
{setup}
( {daemon} ) > daemon.log 2>&1 &
DAEMON=$!
for _ in $(seq 240); do
    if mlmaint status --format json 2>/dev/null | python3 -c '
import json, sys
jobs = json.load(sys.stdin).get("jobs", [])
sys.exit(0 if any(j["job_id"] == "sample:churn" and j["status"] == "ok" for j in jobs) else 1)
'; then break; fi
    if ! kill -0 $DAEMON 2>/dev/null; then
        echo "the daemon stopped" >&2; cat daemon.log >&2; exit 1
    fi
    sleep 1
done
echo "=== look"
{look}
kill -TERM $DAEMON
wait $DAEMON
echo "daemon exit $?"
"""


def users_home(home: Path, template: Path) -> Path:
    """~/monitor-churn as the section assumes it: their MLflow, reference, logs, labels."""
    monitor = home / "monitor-churn"
    monitor.mkdir(parents=True)
    shutil.copyfile(template, monitor / "mlflow.db")
    uri = f"sqlite:///{monitor / 'mlflow.db'}"
    versions = world.log_users_models(
        uri,
        home,
        [world.UsersModel(name="churn", task="binary_classification", train=binary_frame(3000, 1))],
    )
    binary_frame(2000, 2).to_csv(monitor / "reference.csv", index=False)
    model = world.load_users_model(uri, "churn", versions["churn"])
    # Two log files of the last 20 hours, as the serving side wrote them.
    now = datetime.now(UTC).replace(microsecond=0)
    labels = []
    for part, seed in enumerate((3, 4)):
        frame = binary_frame(1000, seed)
        start = now - timedelta(hours=20 - 10 * part)
        day = start.strftime("%Y-%m-%d-%H")
        served = world.write_log(
            monitor / "logs" / f"predictions-{day}.jsonl",
            frame.drop(columns=["label"]),
            model,
            task="binary_classification",
            start=start,
            seconds=9 * 3600,
            prefix=f"r{part}",
        )
        labels += [
            {"prediction_id": pid, "label": int(y)}
            for pid, y in zip(served["prediction_id"], frame["label"], strict=True)
        ]
    (monitor / "labels.jsonl").write_text("".join(json.dumps(x) + "\n" for x in labels))
    return monitor


def test_the_readme_section_works_word_for_word(mlflow_template: Path, tmp_path: Path) -> None:
    blocks = readme.shell_blocks()
    assert len(blocks) == 3, "setup and onboarding, the daemon, looking"
    setup, daemon, look = blocks
    assert daemon.strip() == "mlmaint run"
    home = tmp_path / "home"
    monitor = users_home(home, mlflow_template)
    script = HARNESS.format(root=readme.ROOT, setup=setup, daemon=daemon.strip(), look=look)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLMAINT_", "MLFLOW_"))}
    env["HOME"] = str(home)
    done = subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=420, check=False
    )
    daemon_log = (monitor / "daemon.log").read_text() if (monitor / "daemon.log").exists() else ""
    report = (
        f"stdout:\n{done.stdout[-6000:]}\nstderr:\n{done.stderr[-6000:]}\n"
        f"daemon:\n{daemon_log[-3000:]}"
    )
    if os.environ.get("MLMAINT_README_OUT"):
        Path(os.environ["MLMAINT_README_OUT"]).write_text(report)
    assert done.returncode == 0, report
    out = done.stdout + done.stderr

    # db upgrade: the store and its revision.
    assert "sqlite:///state/mlmaint.db: at " in out, report
    # onboard: the table it appended, then what it recorded.
    assert "[[models]]" in out and 'categorical = ["is_student", "plan_code"]' in out, report
    assert "churn: serving version 1 (champion); reference " in out, report
    config = (monitor / "config.toml").read_text()
    assert config.count("[[models]]") == 1
    assert f'glob = "{monitor}/logs/predictions-*.jsonl"' in config
    # The daemon sampled both logs, took the labels and stopped cleanly.
    assert '"accepted": 2000' in out.replace('"accepted":2000', '"accepted": 2000'), report
    assert "daemon exit 0" in out, report
    looked = done.stdout.split("=== look", 1)[1]
    assert "sample:churn" in looked and "churn" in looked
    # check churn: every drift column judged and within its threshold (clean logs).
    # `check` prints one table per kind under "KIND: STATUS".
    assert "\ndrift: " in looked, report
    drift = looked.split("\ndrift: ", 1)[1].split("\n\n", 1)[0]
    assert drift.startswith("ok"), drift
    assert "wasserstein" in drift and "dataset" in drift, drift
    assert " alert" not in drift, drift
    assert (monitor / "state" / "references" / "churn").is_dir()
