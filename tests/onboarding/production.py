"""The harness of the end-to-end tests: a user's production day by day, and their registry.

`Production` is the user's side (serving, logs, labels over the real HTTP API)
and the daemon's jobs run through its JobRunner at each day's end. The user
onboards by the README's section "Monitor a model you already have" (its
config, its `db upgrade` and `onboard` lines, taken from README.md), then
tunes retraining once (`tune_retraining`).
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pandas as pd
from click.testing import CliRunner
from sqlalchemy import func, select

from daemon.api import ApiServer
from daemon.cli import main
from daemon.config import Settings, load_config
from daemon.jobs import JobContext
from daemon.retraining.job import active_jobs
from daemon.runs import RunOutcome
from daemon.schedule import JobRunner
from daemon.stages import JobSpec, Stage, build_jobs
from daemon.store.tables import CheckMetric, CheckRun, Model, RetrainJob
from tests.onboarding import readme, world
from tests.onboarding.conftest import UsersRegistries

TOKEN = "end-to-end-token"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def readme_config(store_url: str) -> str:
    """The section's config.toml, with this test's store instead of its SQLite file."""
    setup = readme.shell_blocks()[0]
    text = re.search(r"<<'TOML'\n(.*?)\nTOML\n", setup, flags=re.S)
    assert text is not None, "the README section writes config.toml with a heredoc"
    config = text.group(1)
    assert 'url = "sqlite:///state/mlmaint.db"' in config
    return config.replace('url = "sqlite:///state/mlmaint.db"', f'url = "{store_url}"') + "\n"


def expanded(line: list[str], cwd: Path) -> list[str]:
    """The README's words as bash expands them in `cwd` ($PWD, $(ls ...))."""
    words = " ".join(shlex.quote(w) if "$" not in w else f'"{w}"' for w in line)
    done = subprocess.run(
        ["bash", "-c", f"printf '%s\\0' {words}"],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.split("\0")[:-1]


@dataclass
class Production:
    """The user's side (serving, logs, labels) and the daemon's jobs, day by day."""

    home: Path
    name: str
    task: str
    start: datetime
    model: object
    settings: Settings | None = None
    ctx: JobContext | None = None
    server: ApiServer | None = None
    http: httpx.Client | None = None
    clock: Clock = field(default_factory=lambda: Clock(datetime.now(UTC)))
    jobs: dict[Stage, JobSpec] = field(default_factory=dict)
    runner: JobRunner | None = None
    # Seconds per stage (and for the user's side), reported at the end of a test.
    seconds: dict[str, float] = field(default_factory=dict)

    def spent(self, what: str, since: float) -> None:
        self.seconds[what] = self.seconds.get(what, 0.0) + time.monotonic() - since

    def day_start(self, day: int) -> datetime:
        return self.start + timedelta(days=day)

    def write_day(self, day: int, frame: pd.DataFrame) -> pd.DataFrame:
        return world.write_log(
            self.home / "logs" / f"predictions-{day:03d}.jsonl",
            frame.drop(columns=["label"]),
            self.model,
            task=self.task,
            start=self.day_start(day),
            seconds=22 * 3600,
            prefix=f"d{day:03d}",
        ).assign(label=frame["label"].to_numpy())

    def start_daemon(self) -> None:
        self.settings = load_config(self.home / "config.toml", environ={"MLMAINT_API_TOKEN": TOKEN})
        self.ctx = JobContext.from_settings(self.settings)
        self.server = ApiServer(self.ctx, host="127.0.0.1", port=0, clock=self.clock)
        self.server.start()
        self.http = httpx.Client(
            base_url=f"http://127.0.0.1:{self.server.port}",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=60,
        )
        self.runner = JobRunner(self.ctx, clock=self.clock)
        self.jobs = {s.stage: s for s in build_jobs(self.settings) if s.model in (None, self.name)}

    def stop(self) -> None:
        if self.http is not None:
            self.http.close()
        if self.server is not None:
            self.server.stop()
        if self.ctx is not None:
            self.ctx.close()

    def run(self, stage: Stage, now: datetime) -> None:
        assert self.runner is not None
        began = time.monotonic()
        outcome = self.runner(self.jobs[stage], now, force=True)
        self.spent(stage.value, began)
        assert outcome is RunOutcome.OK, f"job {stage.value} at {now}: {outcome}"

    def assert_sampled(self, served: pd.DataFrame) -> None:
        """The day's log rows are all in the store; else the rejections say why."""
        from daemon.store.tables import Prediction, RejectedRow

        assert self.ctx is not None
        ids = list(served["prediction_id"])
        with self.ctx.sessions() as session:
            stored = session.scalar(
                select(func.count())
                .select_from(Prediction)
                .where(Prediction.prediction_id.in_([ids[0], ids[-1]]))
            )
            rejected = session.execute(
                select(RejectedRow.reason, RejectedRow.detail).limit(3)
            ).all()
        assert stored == 2, f"the log's rows were not sampled: {rejected}"

    def push_labels(self, served: pd.DataFrame) -> int:
        assert self.http is not None
        body = "".join(
            json.dumps({"prediction_id": pid, "label": world._plain(y)}) + "\n"
            for pid, y in zip(served["prediction_id"], served["label"], strict=True)
        )
        response = self.http.post(
            f"/v1/models/{self.name}/labels",
            content=body.encode(),
            headers={"Content-Type": "application/x-ndjson"},
        )
        assert response.status_code == 202, response.text
        # Every label finds its sampled prediction.
        assert response.json()["joined"] == len(served), response.text
        return int(response.json()["accepted"])

    def live_day(self, day: int, frame: pd.DataFrame) -> datetime:
        """One day of production: log, sample, labels, checks, alerts, retrain policy."""
        began = time.monotonic()
        served = self.write_day(day, frame)
        self.spent("serving and logging", began)
        end = self.day_start(day + 1)
        self.clock.now = end
        self.run(Stage.SAMPLE, end)
        self.assert_sampled(served)
        began = time.monotonic()
        assert self.push_labels(served) == len(served)
        self.spent("labels over HTTP", began)
        self.run(Stage.CHECKS, end)
        self.run(Stage.RETRAIN_POLICY, end)
        self.finish_retrains(end)
        self.run(Stage.DELIVER, end)
        return end

    def finish_retrains(self, now: datetime, timeout_s: float = 300) -> None:
        """The poll job, until the local executor's job has ended (it runs for real)."""
        assert self.ctx is not None
        limit = time.monotonic() + timeout_s
        while active_jobs(self.ctx, self.name):
            assert time.monotonic() < limit, "the retrain job did not end"
            time.sleep(0.5)
            self.run(Stage.RETRAIN_POLL, now)

    def runs(self, kind: str) -> list[CheckRun]:
        assert self.ctx is not None
        with self.ctx.sessions() as session:
            return list(
                session.scalars(
                    select(CheckRun)
                    .join(Model)
                    .where(Model.name == self.name, CheckRun.kind == kind)
                    .order_by(CheckRun.window_end, CheckRun.id)
                )
            )

    def metrics(self, run: CheckRun) -> dict[tuple[str, str], CheckMetric]:
        assert self.ctx is not None
        with self.ctx.sessions() as session:
            rows = session.scalars(select(CheckMetric).where(CheckMetric.run_id == run.id))
            return {(m.subject, m.name): m for m in rows}

    def model_row(self) -> Model:
        assert self.ctx is not None
        with self.ctx.sessions() as session:
            return session.scalars(select(Model).where(Model.name == self.name)).one()

    def jobs_done(self) -> list[RetrainJob]:
        assert self.ctx is not None
        with self.ctx.sessions() as session:
            return list(
                session.scalars(
                    select(RetrainJob)
                    .join(Model)
                    .where(Model.name == self.name)
                    .order_by(RetrainJob.id)
                )
            )

    def outbox(self) -> list[dict[str, object]]:
        path = self.home / "state" / "outbox.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def onboard_by_the_readme(
    home: Path, store_url: str, name: str, extra: tuple[str, ...] = ()
) -> str:
    """The section's config, `mlmaint db upgrade` and `mlmaint onboard` line; its output."""
    (home / "config.toml").write_text(readme_config(store_url))
    runner = CliRunner()
    env = {"MLMAINT_API_TOKEN": TOKEN}
    config = ["--config", str(home / "config.toml")]
    upgrade = runner.invoke(main, [*config, *readme.command("db")], env=env)
    assert upgrade.exit_code == 0, upgrade.output
    line = expanded(readme.command("onboard"), home)
    if name != "churn":
        # The same command for the user's other model.
        line = [
            name if w == "churn" else w.replace("models:/churn@", f"models:/{name}@") for w in line
        ]
    done = runner.invoke(main, [*config, *line, *extra], env=env)
    assert done.exit_code == 0, done.output
    return done.output


def tune_retraining(home: Path) -> None:
    """The user's one edit: retrain on the last 3 days only (a market that changed)."""
    config = home / "config.toml"
    text = config.read_text()
    assert text.rstrip().splitlines()[-1].startswith("params = "), "retrain is the last table"
    config.write_text(text.rstrip("\n") + '\nrecent_labelled = "3d"\ninclude_reference = false\n')


def user_world(
    home: Path, registries: UsersRegistries, name: str, task: str, train: pd.DataFrame
) -> tuple[str, str, object]:
    """The user's registry in `home` (a copy of the module's), and their model loaded."""
    logged = registries.log(name, task, train)
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(logged.database, home / "mlflow.db")
    uri = f"sqlite:///{home / 'mlflow.db'}"  # where the README's config looks
    return uri, logged.version, world.load_users_model(uri, name, logged.version)


def as_users_frame(holdout: pd.DataFrame) -> pd.DataFrame:
    """A holdout's typed rows back in the user's own types (bool, int), as they serve them."""
    x = holdout.loc[:, list(world.FEATURES)].copy()
    x["is_student"] = x["is_student"] == "true"
    x["plan_code"] = x["plan_code"].astype(int)
    return x
