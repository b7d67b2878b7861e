"""The demo's simulated serving side, on its own: scores with the champion, writes logs."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from daemon import simulation as sim
from daemon.config import load_config
from daemon.demo_world import MODEL, START, Production, write_config
from daemon.jobs import JobContext
from daemon.retraining.versions import register_initial_version
from daemon.store import migrate

# MLflow's advice on type hints and pickled models is not the demo's to act on.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_production_loads_the_champion_once_while_its_version_serves(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    settings = load_config(write_config(tmp_path), environ={"MLMAINT_DEMO_API_TOKEN": "t" * 32})
    scenario = replace(sim.Scenario(start=START, days=3), rows_per_day=50)
    ctx = JobContext.from_settings(settings)
    try:
        migrate.upgrade(ctx.engine)
        register_initial_version(ctx, MODEL, sim.training_frame(scenario, n=600), START)
    finally:
        ctx.close()
    production = Production(settings, scenario, tmp_path / "logs")

    served = [production.serve(day) for day in range(2)]
    first, version = production._champion()
    again, _ = production._champion()

    # The same loaded model every day: loading it again costs a tenth of a second a day.
    assert again is first and version == "1"
    assert all(set(frame["model_version"]) == {"1"} for frame in served)
    logged = (tmp_path / "logs" / f"predictions-{START:%Y%m%d}.jsonl").read_text().splitlines()
    assert len(logged) == 50 and json.loads(logged[0])["model_version"] == "1"
