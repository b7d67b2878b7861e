"""A user's own model, end to end, on SQLite and PostgreSQL, through the daemon's own jobs.

The model is the user's scikit-learn Pipeline (6 numeric inputs, a bool and an
int-coded categorical), logged with `mlflow.sklearn.log_model` and registered
with alias champion: mlmaint never trained it. It is onboarded by the README's
section "Monitor a model you already have" (its config and its `db upgrade`
and `onboard` lines, taken from README.md), then production runs day by day:
the serving side writes a JSONL log of 5,000 predictions, labels come over the
real HTTP API, and the daemon's jobs run through its JobRunner at the day's
end (sampling, the four check jobs, alert delivery to the file channel, the
retrain policy and polling, with the local executor).

The one thing the user tunes after onboarding is retraining for a market that
changed: train on the last 3 days only (`recent_labelled`, `include_reference`).
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
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
from daemon.tables import fmt_value
from tests.onboarding import readme, world
from tests.onboarding.conftest import binary_frame, new_registry, regression_frame

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

TOKEN = "end-to-end-token"
ROWS = 5_000
CLEAN_DAYS = 20


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
    home: Path, template: Path, name: str, task: str, train: pd.DataFrame
) -> tuple[str, str, object]:
    home.mkdir(parents=True, exist_ok=True)
    uri = new_registry(template, home)
    assert uri == f"sqlite:///{home / 'mlflow.db'}"  # where the README's config looks
    versions = world.log_users_models(
        uri, home, [world.UsersModel(name=name, task=task, train=train)]
    )
    return uri, versions[name], world.load_users_model(uri, name, versions[name])


@pytest.fixture
def in_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """~/monitor-churn: the working directory the README's relative paths are in."""
    home = tmp_path / "monitor-churn"
    home.mkdir()
    monkeypatch.chdir(home)
    yield home


def as_users_frame(holdout: pd.DataFrame) -> pd.DataFrame:
    """A holdout's typed rows back in the user's own types (bool, int), as they serve them."""
    x = holdout.loc[:, list(world.FEATURES)].copy()
    x["is_student"] = x["is_student"] == "true"
    x["plan_code"] = x["plan_code"].astype(int)
    return x


def test_a_users_binary_pipeline_end_to_end(
    in_home: Path, store_url: str, mlflow_template: Path
) -> None:
    from sklearn.metrics import roc_auc_score

    began = time.monotonic()
    _uri, version, pipeline = user_world(
        in_home, mlflow_template, "churn", "binary_classification", binary_frame(4000, 1)
    )
    binary_frame(ROWS, 2).to_csv(in_home / "reference.csv", index=False)
    days = CLEAN_DAYS + 5
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    prod = Production(
        home=in_home,
        name="churn",
        task="binary_classification",
        start=now - timedelta(days=days),
        model=pipeline,
    )
    # The README's `--sample` is the first log file: the serving side has written one.
    first = binary_frame(ROWS, 100)
    prod.write_day(0, first)
    output = onboard_by_the_readme(in_home, store_url, "churn")
    assert 'categorical = ["is_student", "plan_code"]' in output
    tune_retraining(in_home)
    prod.start_daemon()
    try:
        onboarded = prod.model_row()
        assert onboarded.current_version == version and onboarded.reference_sha256

        # 20 clean windows of 5,000 rows: no drift alert.
        for day in range(CLEAN_DAYS):
            prod.live_day(day, first if day == 0 else binary_frame(ROWS, 100 + day))
        drift = prod.runs("drift")
        assert len(drift) == CLEAN_DAYS
        assert [r.rows for r in drift] == [ROWS] * CLEAN_DAYS
        false_alarms = {
            (r.window_end.isoformat(), s): m.value
            for r in drift
            for (s, n), m in prod.metrics(r).items()
            if m.alerting
        }
        assert false_alarms == {}, f"drift alerts on clean windows: {false_alarms}"
        # The figures: each column's largest score over the clean windows, and its threshold.
        largest: dict[str, tuple[float, float]] = {}
        for r in drift:
            for (subject, _name), m in prod.metrics(r).items():
                if m.value is not None and m.threshold is not None:
                    top = max(m.value, largest.get(subject, (0.0, 0.0))[0])
                    largest[subject] = (top, m.threshold)
        print(
            "largest drift score on 20 clean windows of 5,000 rows: "
            + ", ".join(f"{c} {v:.3f}/{t:.3f}" for c, (v, t) in largest.items())
        )
        assert [r.status for r in drift] == ["ok"] * CLEAN_DAYS
        assert not [m for m in prod.outbox() if "drift" in json.dumps(m)]
        assert prod.jobs_done() == []

        # A new market: incomes shifted and churning for other reasons.
        for day in range(CLEAN_DAYS, CLEAN_DAYS + 3):
            end = prod.live_day(day, binary_frame(ROWS, 100 + day, shifted=True, concept="b"))
            if day == CLEAN_DAYS:
                shifted = prod.runs("drift")[-1]
                assert shifted.status == "alert"
                assert prod.metrics(shifted)[("income", "wasserstein")].alerting
                assert any("income" in json.dumps(m) for m in prod.outbox())
        jobs = prod.jobs_done()
        # Inputs shifted and the performance fell: the job names both.
        assert [j.trigger for j in jobs] == ["drift_and_decay"], [
            (j.trigger, j.error) for j in jobs
        ]
        job = jobs[0]
        assert job.state == "succeeded", job.log_tail
        assert job.outcome is not None and job.promoted, job.outcome
        # The champion's recorded score is its own predict_proba's AUC on the holdout.
        holdout = pd.read_parquet(job.spec["holdout"]["uri"])  # type: ignore[index]
        proba = pipeline.predict_proba(as_users_frame(holdout))[:, 1]  # type: ignore[attr-defined]
        truth = (holdout["label"] == "1").astype(int)
        assert job.outcome["champion_version"] == version
        assert abs(job.outcome["champion_score"] - roc_auc_score(truth, proba)) < 1e-9
        assert job.outcome["challenger_score"] > job.outcome["champion_score"]
        promoted = prod.model_row()
        assert promoted.current_version == job.registered_version != version
        # The promotion reaches the file channel, with the score before and after.
        told = [m for m in prod.outbox() if "promot" in json.dumps(m).lower()]
        assert told, prod.outbox()
        assert fmt_value(job.outcome["champion_score"]) in json.dumps(told[-1])

        # The user rolls back: the next decision does not promote.
        back = CliRunner().invoke(
            main,
            ["--config", str(in_home / "config.toml"), "retrain", "rollback", "churn"],
            env={"MLMAINT_API_TOKEN": TOKEN},
        )
        assert back.exit_code == 0, back.output
        restored = prod.model_row()
        assert restored.current_version == version
        assert restored.reference_sha256 == onboarded.reference_sha256
        for day in range(CLEAN_DAYS + 3, days):
            end = prod.live_day(day, binary_frame(ROWS, 100 + day, shifted=True, concept="b"))
        assert prod.runs("drift")[-1].model_version == version
        from daemon.retraining.job import retrain_policy

        assert prod.ctx is not None
        retrain_policy(prod.ctx, "churn", end, manual=True)
        prod.finish_retrains(end)
        prod.run(Stage.DELIVER, end)
        later = prod.jobs_done()[1:]
        # Pinned: the policy submitted nothing on the failing days after the rollback; the
        # manual retrain registered its challenger and did not promote it.
        assert [j.trigger for j in later] == ["manual"], [(j.trigger, j.outcome) for j in later]
        assert later[0].state == "succeeded" and not later[0].promoted, later[0].outcome
        assert prod.model_row().current_version == version
    finally:
        prod.stop()
    elapsed = time.monotonic() - began
    parts = ", ".join(f"{k} {v:.0f}s" for k, v in sorted(prod.seconds.items()))
    print(f"binary end to end on {store_url.split(':')[0]}: {elapsed:.0f}s ({parts})")


def test_a_users_regression_pipeline_uses_its_metric_and_follows_the_version(
    in_home: Path, store_url: str, mlflow_template: Path
) -> None:
    rows = 2_000
    _uri, version, pipeline = user_world(
        in_home, mlflow_template, "spend", "regression", regression_frame(3000, 1)
    )
    regression_frame(rows, 2).to_csv(in_home / "reference.csv", index=False)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    prod = Production(
        home=in_home,
        name="spend",
        task="regression",
        start=now - timedelta(days=8),
        model=pipeline,
    )
    first = regression_frame(rows, 100)
    prod.write_day(0, first)
    onboard_by_the_readme(in_home, store_url, "spend", ("--metric", "mae"))
    tune_retraining(in_home)
    prod.start_daemon()
    try:
        onboarded = prod.model_row()
        reference = pd.read_parquet(str(onboarded.reference_uri))
        v1_baseline = float(np.mean(np.abs(reference["label"] - reference["prediction"])))
        for day in range(2):
            prod.live_day(day, first if day == 0 else regression_frame(rows, 100 + day))
        clean = prod.runs("performance")[-1]
        assert clean.status == "ok", json.dumps(clean.summary)
        assert abs(prod.metrics(clean)[("mae", "baseline")].value - v1_baseline) < 1e-9
        for day in range(2, 5):
            prod.live_day(day, regression_frame(rows, 100 + day, shifted=True, concept="b"))
        decayed = prod.runs("performance")[-1]
        assert decayed.status == "alert"
        assert prod.metrics(decayed)[("mae", "value")].alerting  # the configured metric
        jobs = prod.jobs_done()
        # Inputs shifted and the performance fell: the job names both.
        assert [j.trigger for j in jobs] == ["drift_and_decay"], [
            (j.trigger, j.error) for j in jobs
        ]
        job = jobs[0]
        assert job.state == "succeeded" and job.outcome is not None, job.log_tail
        # Promotion on mae, lower is better.
        assert job.outcome["metric"] == "mae"
        assert job.outcome["challenger_score"] < job.outcome["champion_score"]
        assert job.promoted
        holdout = pd.read_parquet(job.spec["holdout"]["uri"])  # type: ignore[index]
        predicted = pipeline.predict(as_users_frame(holdout))  # type: ignore[attr-defined]
        champion_mae = float(np.mean(np.abs(holdout["label"].astype(float) - predicted)))
        assert abs(job.outcome["champion_score"] - champion_mae) < 1e-9
        v2_reference = pd.read_parquet(str(prod.model_row().reference_uri))
        v2_baseline = float(np.mean(np.abs(v2_reference["label"] - v2_reference["prediction"])))
        prod.live_day(5, regression_frame(rows, 105, shifted=True, concept="b"))
        on_v2 = prod.runs("performance")[-1]
        assert on_v2.model_version == job.registered_version
        assert abs(prod.metrics(on_v2)[("mae", "baseline")].value - v2_baseline) < 1e-9

        back = CliRunner().invoke(
            main,
            ["--config", str(in_home / "config.toml"), "retrain", "rollback", "spend"],
            env={"MLMAINT_API_TOKEN": TOKEN},
        )
        assert back.exit_code == 0, back.output
        # The next check compares with the rolled-back-to version's reference.
        prod.live_day(6, regression_frame(rows, 106, shifted=True, concept="b"))
        after = prod.runs("performance")[-1]
        assert after.model_version == version
        assert abs(prod.metrics(after)[("mae", "baseline")].value - v1_baseline) < 1e-9
    finally:
        prod.stop()
