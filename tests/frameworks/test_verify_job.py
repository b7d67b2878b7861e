"""`frameworks verify` on a real model, real wheels and a loopback index (the worker side).

The verification runs as the local executor runs it: `python -m
retrain.verify.run` under the "current" environment's interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from checks.frameworks.verdict import Verdict
from checks.interface import TaskKind
from retrain.snapshot import write_snapshot
from retrain.verify.spec import Dataset, VerifyOutcome, VerifySpec
from tests.frameworks import verify_world as vw

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[vw.World]:
    where = tmp_path_factory.mktemp("verify-world")
    wheels = vw.build_wheels(where)
    index_dir = vw.simple_index(wheels, where / "index")
    with vw.serve(index_dir) as url:
        python = vw.current_env(where / "current-env", url)
        uri = f"sqlite:///{where / 'mlflow.db'}"
        reference = where / "reference.parquet"
        vw.train(python, uri, where / "artifacts", reference)
        yield vw.World(
            index_url=url,
            current_python=python,
            tracking_uri=uri,
            reference=reference,
            wheels=wheels,
            env_root=where / "state" / "verify-envs",
        )


def spec_for(world: vw.World, upgrade: str, snapshots: Path) -> VerifySpec:
    import pandas as pd

    frame = pd.read_parquet(world.reference)
    ref = write_snapshot(frame, snapshots, [*vw.FEATURES, "label"])
    return VerifySpec(
        verification_id=uuid.uuid4().hex,
        model="churn",
        registered_model="churn",
        alias="champion",
        tracking_uri=world.tracking_uri,
        task=TaskKind.BINARY,
        features=vw.FEATURES,
        label="label",
        upgrades=(upgrade,),
        index_url=world.index_url,
        datasets=(Dataset(name="reference", data=ref),),
        env_root=str(world.env_root),
        deadline=datetime.now(UTC) + timedelta(minutes=10),
        latency_rows=50,
    )


def run_verify(world: vw.World, spec: VerifySpec, tmp: Path) -> tuple[VerifyOutcome, float]:
    (tmp / "spec.json").write_text(spec.to_json())
    started = time.monotonic()
    done = subprocess.run(
        [
            str(world.current_python),
            "-m",
            "retrain.verify.run",
            str(tmp / "spec.json"),
            str(tmp / "out.json"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**vw.clean_environ(), "PYTHONPATH": str(ROOT)},
        check=False,
    )
    elapsed = time.monotonic() - started
    text = (tmp / "out.json").read_text() if (tmp / "out.json").exists() else ""
    assert done.returncode == 0, done.stderr[-3000:] + text
    return VerifyOutcome.from_json(text), elapsed


def test_patch_upgrade_is_safe(world: vw.World, tmp_path: Path) -> None:
    spec = spec_for(world, f"{vw.PACKAGE}==1.0.1", tmp_path / "snap")
    outcome, elapsed = run_verify(world, spec, tmp_path)
    print(f"verify {spec.upgrades[0]}: {elapsed:.1f}s wall, job {outcome.duration_s:.1f}s")
    assert outcome.verdict is Verdict.SAFE, outcome
    assert outcome.current_versions == {vw.PACKAGE: "1.0.0"}
    assert outcome.candidate_versions == {vw.PACKAGE: "1.0.1"}
    assert outcome.installed == (f"{vw.PACKAGE}==1.0.1",)
    c = outcome.comparison
    assert c.max_abs_diff == 0.0
    assert c.rows == 400
    assert c.metric is not None and c.metric.current == c.metric.candidate
    assert c.current is not None and c.current.p95_ms > 0 and c.current.peak_rss_mb > 50
    # The same plan again, from the same interpreter, is the cached environment.
    assert not outcome.env_reused
    again = subprocess.run(
        [
            str(world.current_python),
            "-c",
            "import sys; from pathlib import Path; from retrain.verify import candidate as c; "
            "e = c.build(Path(sys.argv[1]), c.Plan(install=(sys.argv[2],), changes=(), "
            "skipped=()), sys.argv[3]); print(e.reused, e.key)",
            str(world.env_root),
            outcome.installed[0],
            world.index_url,
        ],
        capture_output=True,
        text=True,
        env={**vw.clean_environ(), "PYTHONPATH": str(ROOT)},
        check=True,
    )
    assert again.stdout.split() == ["True", outcome.env_key]


def test_changed_function_changes_predictions(world: vw.World, tmp_path: Path) -> None:
    spec = spec_for(world, f"{vw.PACKAGE}==2.0.0", tmp_path / "snap")
    outcome, _ = run_verify(world, spec, tmp_path)
    assert outcome.verdict is Verdict.CHANGES_PREDICTIONS, outcome
    assert outcome.candidate_versions == {vw.PACKAGE: "2.0.0"}
    diff = outcome.comparison.max_abs_diff
    assert diff is not None and 0.01 < diff < 1.0
    assert 0 < outcome.comparison.changed_share < 1


def test_unavailable_version_fails_to_install(world: vw.World, tmp_path: Path) -> None:
    spec = spec_for(world, f"{vw.PACKAGE}==9.9.9", tmp_path / "snap")
    outcome, _ = run_verify(world, spec, tmp_path)
    assert outcome.verdict is Verdict.FAILS_TO_INSTALL
    assert "9.9.9" in (outcome.comparison.error or "")
    # A failed build is not cached.
    built = [d for d in world.env_root.iterdir() if d.is_dir()]
    assert all((d / ".mlmaint-ready").exists() for d in built), built
    assert VerifyOutcome.from_json(outcome.to_json()) == outcome


CONFIG = """
[service]
state_dir = "{state}"
[store]
url = "{store}"
[mlflow]
tracking_uri = "{mlflow}"
artifact_root = "{artifacts}"
[executor]
kind = "local"
python = "{python}"
timeout = "10m"
[frameworks]
index_url = "{index}"
advisory_db = "{advisories}"
[[frameworks.environments]]
name = "churn-model"
kind = "mlflow_model"
model = "churn"
[[models]]
name = "churn"
source = {{ kind = "http" }}
schema = {{ numeric = ["x1", "x2"], score = "score" }}
"""


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_cli_verifies_the_release_that_clears_the_advisory(
    world: vw.World, tmp_path: Path, sqlite_template: Path
) -> None:
    """`mlmaint frameworks` finds the advisory on the champion's logged requirements;
    `mlmaint frameworks verify churn` proves its fix on the model, stores the verdict,
    recommends it and tells the advisory's alert."""
    from click.testing import CliRunner
    from sqlalchemy import select

    from daemon.cli import main
    from daemon.config import load_config
    from daemon.jobs import JobContext
    from daemon.retraining.records import model_row
    from daemon.store.engine import transaction
    from daemon.store.tables import Alert, FrameworkVerification
    from tests.conftest import new_sqlite_url
    from tests.frameworks.conftest import osv_record

    advisories = tmp_path / "osv"
    advisories.mkdir()
    record = osv_record("PYSEC-2026-1", vw.PACKAGE, "0", "1.0.1", aliases=["CVE-2026-0001"])
    (advisories / "PYSEC-2026-1.json").write_text(json.dumps(record))
    config = tmp_path / "config.toml"
    config.write_text(
        CONFIG.format(
            state=world.env_root.parent,
            store=new_sqlite_url(sqlite_template, tmp_path),
            mlflow=world.tracking_uri,
            artifacts=tmp_path / "artifacts",
            python=world.current_python,
            index=world.index_url,
            advisories=advisories,
        )
    )
    settings = load_config(config, environ={})
    ctx = JobContext.from_settings(settings)
    try:
        with transaction(ctx.sessions) as session:
            row = model_row(session, "churn", datetime.now(UTC))
            row.reference_uri = str(world.reference)
        runner = CliRunner()
        scan = runner.invoke(main, ["--config", str(config), "frameworks", "--format", "json"])
        assert scan.exit_code == 1, scan.output
        assert "PYSEC-2026-1" in scan.output
        # An index that does not answer: exit 2 naming it, and no verdict (nothing was tried).
        closed = tmp_path / "closed.toml"
        closed.write_text(config.read_text().replace(world.index_url, closed_port_url()))
        down = runner.invoke(
            main,
            [
                "--config",
                str(closed),
                "frameworks",
                "verify",
                "churn",
                "--upgrade",
                f"{vw.PACKAGE}==1.0.1",
            ],
        )
        assert down.exit_code == 2, down.output
        assert f"the package index {closed_port_url()} did not answer" in down.stderr
        # A version the index does not have: exit 2 before anything is built, naming those it has.
        started = time.monotonic()
        missing = runner.invoke(
            main,
            [
                "--config",
                str(config),
                "frameworks",
                "verify",
                "churn",
                "--upgrade",
                f"{vw.PACKAGE}==9.9.9",
            ],
        )
        assert missing.exit_code == 2, missing.output
        assert time.monotonic() - started < 10
        assert (
            f"{vw.PACKAGE}==9.9.9 is not on the package index {world.index_url}; "
            "it has 1.0.0, 1.0.1, 2.0.0" in missing.stderr
        )
        with ctx.sessions() as session:
            assert session.scalars(select(FrameworkVerification)).all() == []
        started = time.monotonic()
        result = runner.invoke(main, ["--config", str(config), "frameworks", "verify", "churn"])
        elapsed = time.monotonic() - started
        print(f"mlmaint frameworks verify churn: {elapsed:.1f}s\n{result.output}")
        assert result.exit_code == 0, result.output
        assert f"recommended: {vw.PACKAGE}==1.0.1 (verified safe on churn)" in result.output
        with ctx.sessions() as session:
            (stored,) = session.scalars(select(FrameworkVerification)).all()
            alerts = session.scalars(select(Alert)).all()
        assert (stored.package, stored.installed, stored.target, stored.verdict) == (
            vw.PACKAGE,
            "1.0.0",
            "1.0.1",
            "safe",
        )
        assert stored.max_abs_diff == 0.0
        headline = f"{vw.PACKAGE} 1.0.0 → 1.0.1 clears PYSEC-2026-1; predictions identical to 1e-06"
        assert stored.summary.startswith(headline), stored.summary
        outcome = VerifyOutcome.from_json(str(stored.outcome["json"]))
        assert outcome.installed == (f"{vw.PACKAGE}==1.0.1",)
        assert any(n.startswith("reference: 400 rows") for n in outcome.notes)
        assert any("no holdout logged with the champion" in n for n in outcome.notes)
        (alert,) = [a for a in alerts if a.subject.startswith(vw.PACKAGE)]
        assert f"Verified: {headline}" in alert.summary
        # Nothing left behind: no lock files, no job folders, no replay data.
        state = world.env_root.parent
        assert list(world.env_root.glob("*.lock")) == []
        assert list((state / "verify-jobs").iterdir()) == []
        assert list((state / "verify-data").iterdir()) == []
    finally:
        ctx.close()


def closed_port_url() -> str:
    """A loopback port nobody listens on (bound once, then closed)."""
    import socket

    global _CLOSED
    if _CLOSED is None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            _CLOSED = f"http://127.0.0.1:{sock.getsockname()[1]}"
    return _CLOSED


_CLOSED: str | None = None


MORE_MODELS = """
[[models]]
name = "churn-pins"
source = {{ kind = "http" }}
schema = {{ numeric = ["x1", "x2"], score = "score" }}
[[models]]
name = "churn-broken"
source = {{ kind = "http" }}
schema = {{ numeric = ["x1", "x2"], score = "score" }}
"""


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_cli_verifies_each_upgrade_from_the_logged_pin(
    world: vw.World, tmp_path: Path, sqlite_template: Path
) -> None:
    """Champions logged with other pins than the current environment holds:
    - `churn-pins` pins 1.0.1 and carries the reference it was onboarded with (no
      holdout): two --upgrade options give two verdicts, each from 1.0.1, the lower
      one labelled a downgrade, and nothing speaks of a holdout;
    - `churn-broken` also pins a package the index lacks: its own requirements do not
      install, so no verdict is stored, the error says why, and the walk stops."""
    import pandas as pd
    from click.testing import CliRunner
    from sqlalchemy import select

    from daemon.cli import main
    from daemon.config import load_config
    from daemon.jobs import JobContext
    from daemon.retraining.records import model_row
    from daemon.store.engine import transaction
    from daemon.store.tables import FrameworkVerification
    from retrain import registry
    from tests.conftest import new_sqlite_url

    reference = write_snapshot(
        pd.read_parquet(world.reference), tmp_path / "snap", [*vw.FEATURES, "label"]
    )
    onboarded = {
        registry.TAG_REFERENCE: reference.uri,
        registry.TAG_REFERENCE_DIGEST: reference.sha256,
    }
    pin = f"{vw.PACKAGE}==1.0.0"
    vw.register_copy(world, "churn-pins", {pin: f"{vw.PACKAGE}==1.0.1"}, onboarded, tmp_path)
    vw.register_copy(world, "churn-broken", {pin: f"{pin}\nmlmaint-missing-dep==1.0"}, {}, tmp_path)
    config = tmp_path / "config.toml"
    config.write_text(
        (CONFIG + MORE_MODELS).format(
            state=world.env_root.parent,
            store=new_sqlite_url(sqlite_template, tmp_path),
            mlflow=world.tracking_uri,
            artifacts=tmp_path / "artifacts",
            python=world.current_python,
            index=world.index_url,
            advisories=tmp_path,
        )
    )
    ctx = JobContext.from_settings(load_config(config, environ={}))
    runner = CliRunner()

    def verify(model: str, *targets: str) -> tuple[int, str, str]:
        args = ["--config", str(config), "frameworks", "verify", model]
        for target in targets:
            args += ["--upgrade", f"{vw.PACKAGE}=={target}"]
        result = runner.invoke(main, args)
        return result.exit_code, result.stdout, result.stderr

    try:
        with transaction(ctx.sessions) as session:
            for name in ("churn-pins", "churn-broken"):
                model_row(session, name, datetime.now(UTC)).reference_uri = str(world.reference)

        code, out, err = verify("churn-broken", "1.0.1", "2.0.0")
        assert code == 2, out + err
        (line,) = err.strip().splitlines()
        assert "the champion's own logged requirements do not install" in line, err
        assert "mlmaint-missing-dep==1.0" in line and "no verdict on the upgrade" in line
        with ctx.sessions() as session:
            assert session.scalars(select(FrameworkVerification)).all() == []

        code, out, err = verify("churn-pins", "1.0.0", "2.0.0")
        print(out)
        assert code == 1, out + err
        assert f"{vw.PACKAGE} 1.0.1 → 1.0.0 (downgrade)" in out
        assert f"{vw.PACKAGE} 1.0.1 → 2.0.0" in out and "1.0.1 → 2.0.0 (downgrade)" not in out
        # A downgrade is verified when asked, never recommended.
        assert "recommended:" not in out
        with ctx.sessions() as session:
            rows = session.scalars(
                select(FrameworkVerification).order_by(FrameworkVerification.target)
            ).all()
        assert [(r.installed, r.target, r.verdict) for r in rows] == [
            ("1.0.1", "1.0.0", "safe"),
            ("1.0.1", "2.0.0", "changes predictions"),
        ]
        for row in rows:
            outcome = VerifyOutcome.from_json(str(row.outcome["json"]))
            assert outcome.logged_versions == {vw.PACKAGE: "1.0.1"}
            said = [*outcome.notes, row.summary]
            assert any("no holdout logged with the champion" in n for n in said), said
            assert not [n for n in said if "holdout" in n.replace("no holdout", "")], said
            assert outcome.comparison.metric is not None
            assert outcome.comparison.metric.dataset == "reference"
        assert "holdout" not in out.replace("no holdout", "")
    finally:
        ctx.close()


def test_a_celery_worker_runs_the_verification(world: vw.World, tmp_path: Path) -> None:
    """The Celery executor's path: the `mlmaint.verify` task on a real worker (Redis),
    the worker running in the current environment, as a GPU worker would."""
    import redis

    from retrain.verify.executors import run_celery

    broker, backend = "redis://127.0.0.1:6379/13", "redis://127.0.0.1:6379/14"
    client = redis.Redis(host="127.0.0.1", port=6379, socket_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        pytest.fail(f"Redis is not reachable on 127.0.0.1:6379 ({exc})", pytrace=False)
    queue = f"mlmaint-verify-{uuid.uuid4().hex[:10]}"
    log = tmp_path / "worker.log"
    with log.open("wb") as fh:
        worker = subprocess.Popen(
            [
                str(world.current_python),
                "-m",
                "retrain.worker",
                "--broker",
                broker,
                "--backend",
                backend,
                "--queue",
                queue,
                "--hostname",
                f"{queue}@localhost",
            ],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env={**vw.clean_environ(), "PYTHONPATH": str(ROOT)},
            cwd=ROOT,
            start_new_session=True,
        )
    try:
        limit = time.monotonic() + 60
        while "ready." not in log.read_text(errors="replace"):
            if worker.poll() is not None or time.monotonic() > limit:
                pytest.fail(f"the worker did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        spec = spec_for(world, f"{vw.PACKAGE}==2.0.0", tmp_path / "snap")
        outcome = run_celery(broker, backend, queue, spec, timeout_s=240)
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, 9)
            worker.wait(timeout=10)
        client.delete(queue)
        client.close()
    assert outcome.verdict is Verdict.CHANGES_PREDICTIONS
    assert outcome.candidate_versions == {vw.PACKAGE: "2.0.0"}
    diff = outcome.comparison.max_abs_diff
    assert diff is not None and 0.01 < diff < 1.0
