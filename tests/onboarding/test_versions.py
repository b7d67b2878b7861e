"""Every registered version reaches the store at onboarding, with its aliases.

The user registered `churn` twice by hand in a real MLflow tracking store (a
SQLite database in a temp dir): version 1, never served, and version 2, behind
the `champion` alias. Onboarding follows the alias, and records both versions:
the page at /models/churn and /v1/models/churn list 2 (serving, @champion) and 1
(no alias), on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from daemon.cli import main
from daemon.config import load_config
from daemon.jobs import JobContext
from daemon.store.tables import Model, RegistryVersion
from tests.onboarding import world
from tests.onboarding.conftest import binary_frame, config_text, new_registry
from tests.page.dom import parse
from tests.page.test_page import serving

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

TOKEN = "onboarding-versions-token"
NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def registry(mlflow_template: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    directory = tmp_path_factory.mktemp("two-versions")
    uri = new_registry(mlflow_template, directory)
    versions = world.log_users_models(
        uri,
        directory,
        [
            # The user's first try, registered and never served: no alias.
            world.UsersModel(
                name="churn",
                task="binary_classification",
                train=binary_frame(600, seed=31),
                alias=False,
            ),
            world.UsersModel(
                name="churn", task="binary_classification", train=binary_frame(900, seed=32)
            ),
        ],
    )
    assert versions == {"churn": "2"}
    return uri


def test_onboarding_records_every_registered_version_with_its_aliases(
    tmp_path: Path, store_url: str, registry: str
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(config_text(tmp_path, store_url, registry))
    reference = tmp_path / "reference.csv"
    binary_frame(800, seed=33).to_csv(reference, index=False)
    done = CliRunner().invoke(
        main,
        [
            "--config",
            str(config),
            "onboard",
            "churn",
            "--model-uri",
            "models:/churn@champion",
            "--reference",
            str(reference),
        ],
        env={"MLMAINT_API_TOKEN": TOKEN},
    )
    assert done.exit_code == 0, done.output
    assert "serving version 2 (champion)" in done.output

    settings = load_config(config, environ={"MLMAINT_API_TOKEN": TOKEN})
    ctx = JobContext.from_settings(settings)
    try:
        with ctx.sessions() as session:
            model = session.scalars(select(Model).where(Model.name == "churn")).one()
            assert model.current_version == "2"
            stored = {
                row.version: (row.aliases, row.run_id, row.registered_at)
                for row in session.scalars(
                    select(RegistryVersion).where(RegistryVersion.model_id == model.id)
                )
            }
        assert set(stored) == {"1", "2"}
        assert stored["2"][0] == ["champion"] and stored["1"][0] == []
        # Each from its own run, registered in the last minutes (the registry's clock).
        assert stored["1"][1] and stored["2"][1] and stored["1"][1] != stored["2"][1]
        for _, _, registered_at in stored.values():
            assert registered_at is not None
            assert abs((datetime.now(UTC) - registered_at).total_seconds()) < 600

        with serving(ctx, NOW) as server:
            page = httpx.get(server.url + "/models/churn")
            api = httpx.get(
                server.url + "/v1/models/churn", headers={"Authorization": f"Bearer {TOKEN}"}
            )
        assert page.status_code == 200 and api.status_code == 200, (page.text, api.text)

        table = parse(page.text).one("section", data_model="churn").one("table", cls="versions")
        rows = {r.attrs["data-version"]: r for r in table.find_all("tr", cls="version")}
        assert list(rows) == ["2", "1"]
        assert "serving" in rows["2"].classes and "serving" not in rows["1"].classes
        assert rows["2"].text().count("@champion") == 1
        assert "@" not in rows["1"].text()
        assert "registered outside mlmaint" in rows["1"].text()
        assert "in the MLflow registry" not in rows["1"].text()  # its registration time

        versions = api.json()["versions"]
        assert [
            (v["version"], v["aliases"], v["serving"], bool(v["run_id"])) for v in versions
        ] == [("2", ["champion"], True, True), ("1", [], False, True)]
        assert all(str(v["registered_at"]).endswith("Z") for v in versions)
    finally:
        ctx.close()
