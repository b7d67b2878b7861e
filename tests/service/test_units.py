"""The unit file, sd_notify, the metrics collector and `mlmaint status`."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from checks.interface import Status
from daemon.cli import main
from daemon.health import Snapshot, healthz
from daemon.metrics import exposition, make_registry
from daemon.service import Notifier
from daemon.store.tables import (
    Alert,
    AlertState,
    CheckMetric,
    CheckRun,
    IngestCount,
    JobRun,
    Model,
    Notification,
    NotificationState,
)
from tests.conftest import new_sqlite_url
from tests.service.harness import write_config

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)


@pytest.fixture
def home_dir() -> Iterator[Path]:
    """A directory outside /tmp (which the unit's PrivateTmp hides): under $HOME."""
    path = Path(tempfile.mkdtemp(prefix="mlmaint-unit-", dir=Path.home()))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def service_venv(home: Path) -> Path:
    """An installed mlmaint outside /tmp for the unit to start: the checkout running the
    tests may itself lie under /tmp (a fresh clone), which the sandbox rightly refuses."""
    exe = home / "venv" / "bin" / "mlmaint"
    exe.parent.mkdir(parents=True, exist_ok=True)
    exe.write_text(f'#!/bin/sh\nexec {shutil.which("mlmaint") or sys.executable} "$@"\n')
    exe.chmod(0o755)
    return exe


def _analyze() -> str:
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing: apt-get install systemd"
    return analyze


def test_installed_unit_passes_systemd_analyze_verify(tmp_path: Path, home_dir: Path) -> None:
    analyze = _analyze()
    # The config, its state and its outbox in a home directory: bound into the sandbox.
    config = write_config(home_dir / "config.toml", "sqlite:///var/mlmaint.db")
    unit = tmp_path / "unit" / "mlmaint.service"
    result = CliRunner().invoke(
        main,
        [
            "--config",
            str(config),
            "service",
            "install",
            "--output",
            str(unit),
            "--credential",
            "db-password=/etc/mlmaint/db-password",
            "--exec",
            str(service_venv(home_dir)),
        ],
    )
    assert result.exit_code == 0, result.output
    text = unit.read_text()
    for line in (
        "Type=notify",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "Restart=on-failure",
        "WatchdogSec=",
        "DynamicUser=yes",
        "StateDirectory=mlmaint",
        "ProtectSystem=strict",
        # Home directories stay hidden but for the configured paths bound back: the
        # outbox's directory, which holds the config and the state directory too.
        "ProtectHome=tmpfs",
        f"BindPaths={home_dir.resolve()}\n",
        "PrivateTmp=yes",
        "LimitNOFILE=65536",
        "NoNewPrivileges=yes",
        "EnvironmentFile=-/etc/mlmaint/mlmaint.env",
        "LoadCredential=db-password:/etc/mlmaint/db-password",
        f"--config {config.resolve()} run",
    ):
        assert line in text, line
    assert "${" not in text
    verify = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert verify.returncode == 0, verify.stderr
    assert verify.stderr.strip() == "", verify.stderr

    # The check is real: a broken unit fails it.
    broken = tmp_path / "unit" / "broken.service"
    broken.write_text(
        text.replace("Type=notify", "Type=bogus").replace("ExecStart=", "ExecStart=relative/")
    )
    bad = subprocess.run(
        [analyze, "verify", str(broken)], capture_output=True, text=True, timeout=60
    )
    assert bad.returncode != 0


def _install(config: Path, unit: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        main, ["--config", str(config), "service", "install", "--output", str(unit), *args]
    )
    return result.exit_code, result.output


def test_the_unit_opens_the_configured_paths_outside_the_state_directory(
    tmp_path: Path, home_dir: Path
) -> None:
    secret = home_dir / "db-password"
    secret.write_text("pw\n")
    config = home_dir / "config.toml"
    config.write_text(
        f"""
[service]
state_dir = "/srv/mlmaint"
[store]
url = "sqlite:////srv/mlmaint/mlmaint.db"
password = {{ file = "{secret}" }}
[mlflow]
tracking_uri = "sqlite:////srv/mlmaint/mlflow.db"
artifact_root = "/srv/mlflow-artifacts"
[executor]
python = "{sys.executable}"
[report]
directory = "reports"
[frameworks]
advisory_db = "/srv/advisories"
[[alerts.channels]]
name = "outbox"
kind = "file"
path = "/var/lib/mlmaint/outbox.jsonl"
[[models]]
name = "churn"
source = {{ kind = "files", glob = "/srv/logs/churn/*/predictions-*.jsonl" }}
reference = {{ kind = "file", path = "/srv/refs/churn.parquet" }}
retrain = {{ python_path = ["{home_dir / "trainers"}"] }}
[models.schema]
numeric = ["tenure"]
categorical = ["plan"]
"""
    )
    unit = tmp_path / "unit" / "mlmaint.service"
    code, out = _install(config, unit, "--user", "mlmaint", "--exec", str(service_venv(home_dir)))
    assert code == 0, out
    text = unit.read_text()
    lines = text.splitlines()
    # Written outside the StateDirectory: read-write, once for the directory holding
    # the state, the store and the tracking database.
    assert lines.count("ReadWritePaths=/srv/mlmaint") == 1
    assert "ReadWritePaths=/srv/mlflow-artifacts" in lines
    # Read only: the log directory before the first wildcard, the reference, the
    # advisories; in the home directory: bound back under ProtectHome=tmpfs.
    assert "ReadOnlyPaths=-/srv/logs/churn" in lines
    assert "ReadOnlyPaths=-/srv/refs/churn.parquet" in lines
    assert "ReadOnlyPaths=-/srv/advisories" in lines
    assert "ProtectHome=tmpfs" in lines
    assert f"BindReadOnlyPaths={config.resolve()}" in lines
    assert f"BindReadOnlyPaths={secret.resolve()}" in lines
    trainers = f"BindReadOnlyPaths={(home_dir / 'trainers').resolve()}"
    assert trainers in lines
    assert lines[lines.index(trainers) - 1] == "# models[0].retrain.python_path[0]"
    # Each line says which key it is for.
    assert lines[lines.index("ReadOnlyPaths=-/srv/logs/churn") - 1] == "# models[0].source.glob"
    # Relative paths and the StateDirectory itself need nothing.
    assert "reports" not in text.split("[Install]")[0].split("PrivateTmp=yes")[1]
    assert "/var/lib/mlmaint" not in text.split("PrivateTmp=yes")[1]
    assert "LimitNOFILE=65536" in lines
    assert "User=mlmaint" in lines
    assert "warning: service.state_dir: /srv/mlmaint does not exist" in out
    assert "warning: models[0].retrain.python_path[0]:" in out
    verify = subprocess.run(
        [_analyze(), "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert verify.returncode == 0, verify.stderr
    assert verify.stderr.strip() == "", verify.stderr

    # With DynamicUser the service cannot own /srv/mlmaint: the install says so.
    code, out = _install(
        config, tmp_path / "dynamic.service", "--exec", str(service_venv(home_dir))
    )
    assert code == 0, out
    assert "DynamicUser=yes" in (tmp_path / "dynamic.service").read_text()
    assert "cannot own /srv/mlflow-artifacts, /srv/mlmaint: pass --user" in out


def test_the_unit_refuses_paths_that_private_tmp_hides(tmp_path: Path, home_dir: Path) -> None:
    config = home_dir / "config.toml"
    config.write_text(
        """
[[alerts.channels]]
name = "outbox"
kind = "file"
path = "/tmp/mlmaint/outbox.jsonl"
[[models]]
name = "churn"
source = { kind = "files", glob = "/var/tmp/logs/*.jsonl" }
[models.schema]
numeric = ["tenure"]
"""
    )
    unit = tmp_path / "mlmaint.service"
    code, out = _install(config, unit)
    assert code == 78, out
    assert "alerts.channels[0].path: /tmp/mlmaint is under /tmp" in out
    assert "models[0].source.glob: /var/tmp/logs is under /var/tmp" in out
    assert "PrivateTmp" in out
    assert not unit.exists()


def test_notifier_speaks_to_an_abstract_socket() -> None:
    name = f"mlmaint-notify-{uuid.uuid4().hex[:8]}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(2)
    try:
        notifier = Notifier({"NOTIFY_SOCKET": "@" + name, "WATCHDOG_USEC": "3000000"})
        assert notifier.watchdog_usec == 3_000_000
        assert notifier.notify(READY=1, STATUS="ready, 3 jobs")
        assert sock.recv(4096) == b"READY=1\nSTATUS=ready, 3 jobs"
        notifier.close()
    finally:
        sock.close()
    # The watchdog is meant for another process: not ours to ping.
    other = Notifier({"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"})
    assert other.watchdog_usec is None or os.getpid() == 1
    assert not Notifier({}).notify(READY=1)


def _fill(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        model = Model(name="churn", created_at=NOW)
        s.add(model)
        s.flush()
        old = CheckRun(
            model_id=model.id,
            kind="drift",
            status=Status.OK,
            window_start=NOW - timedelta(days=2),
            window_end=NOW - timedelta(days=1),
            ran_at=NOW - timedelta(days=1),
            duration_s=1.0,
            rows=500,
            summary={"share": 0.1},
        )
        new = CheckRun(
            model_id=model.id,
            kind="drift",
            status=Status.ALERT,
            window_start=NOW - timedelta(days=1),
            window_end=NOW,
            ran_at=NOW,
            duration_s=2.5,
            rows=800,
            summary={"share": 0.5},
        )
        perf = CheckRun(
            model_id=model.id,
            kind="performance",
            status=Status.OK,
            window_start=NOW - timedelta(days=1),
            window_end=NOW,
            ran_at=NOW,
            duration_s=0.5,
            rows=300,
            summary={},
        )
        s.add_all([old, new, perf])
        s.flush()
        s.add_all(
            [
                CheckMetric(
                    run_id=new.id,
                    subject="dataset",
                    name="drifted_share",
                    value=0.6,
                    threshold=0.5,
                    alerting=True,
                ),
                CheckMetric(
                    run_id=new.id,
                    subject="age",
                    name="p_value",
                    value=0.001,
                    threshold=0.05,
                    alerting=True,
                ),
                CheckMetric(
                    run_id=perf.id,
                    subject="model",
                    name="roc_auc",
                    value=0.81,
                    threshold=None,
                    alerting=False,
                ),
            ]
        )
        s.add(
            Alert(
                fingerprint="f" * 32,
                scope="churn",
                kind="drift",
                subject="age",
                state=AlertState.FIRING,
                severity="warning",
                summary="age drifted",
                details={},
                first_fired_at=NOW,
                last_fired_at=NOW,
                last_seen_at=NOW,
            )
        )
        s.add_all(
            [
                IngestCount(
                    model_id=model.id,
                    day="2026-03-02",
                    stream="predictions",
                    outcome="sampled",
                    count=900,
                ),
                IngestCount(
                    model_id=model.id,
                    day="2026-03-01",
                    stream="predictions",
                    outcome="sampled",
                    count=100,
                ),
                IngestCount(
                    model_id=model.id,
                    day="2026-03-02",
                    stream="predictions",
                    outcome="rejected:schema",
                    count=7,
                ),
            ]
        )
        s.add(
            Notification(
                channel="outbox",
                kind="firing",
                scope="churn",
                payload={},
                state=NotificationState.PENDING,
                created_at=NOW - timedelta(minutes=5),
                next_attempt_at=NOW,
            )
        )
        s.add(
            JobRun(
                job_id="checks:churn",
                last_started_at=NOW,
                last_finished_at=NOW,
                last_success_at=NOW,
                last_status="ok",
                last_duration_s=2.5,
                runs=4,
                failures=1,
            )
        )


def _samples(engine: Engine) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = exposition(make_registry(engine)).decode()
    assert "_created" not in text
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_metrics_read_the_latest_results_from_the_store(
    engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    _fill(session_factory)
    got = _samples(engine)
    assert got[("mlmaint_store_up", ())] == 1
    assert got[("mlmaint_drift_share", (("model", "churn"),))] == 0.6
    assert (
        got[("mlmaint_check_status", (("kind", "drift"), ("model", "churn"), ("status", "alert")))]
        == 1
    )
    assert got[("mlmaint_check_rows", (("kind", "drift"), ("model", "churn")))] == 800
    assert (
        got[
            (
                "mlmaint_performance",
                (("metric", "roc_auc"), ("model", "churn"), ("subject", "model")),
            )
        ]
        == 0.81
    )
    assert (
        got[
            (
                "mlmaint_alerts_firing",
                (("kind", "drift"), ("scope", "churn"), ("severity", "warning")),
            )
        ]
        == 1
    )
    assert (
        got[("mlmaint_sampled_rows_total", (("model", "churn"), ("stream", "predictions")))] == 1000
    )
    assert (
        got[
            (
                "mlmaint_rejected_rows_total",
                (("model", "churn"), ("reason", "schema"), ("stream", "predictions")),
            )
        ]
        == 7
    )
    assert got[("mlmaint_job_runs_total", (("job", "checks:churn"),))] == 4
    assert got[("mlmaint_job_failures_total", (("job", "checks:churn"),))] == 1
    assert got[("mlmaint_job_last_success_timestamp_seconds", (("job", "checks:churn"),))] == (
        NOW.timestamp()
    )
    assert got[("mlmaint_outbox_notifications", (("channel", "outbox"), ("state", "pending")))] == 1


def test_metrics_and_health_when_the_store_is_down(tmp_path: Path) -> None:
    dead = create_engine(
        "postgresql+psycopg://postgres@127.0.0.1:1/none", connect_args={"connect_timeout": 2}
    )
    got = _samples(dead)
    assert got == {("mlmaint_store_up", ()): 0, ("mlmaint_store_reachable", ()): 0}

    class Probe:
        engine = dead
        registry = make_registry(dead)

        def snapshot(self) -> Snapshot:
            return Snapshot(
                version="t",
                role="leader",
                started_at=NOW,
                scheduler_alive=True,
                heartbeat_age_s=0.1,
                stall_limit_s=60,
                next_runs={},
                running=(),
                status="leader",
            )

    status, _, body = healthz(Probe())
    assert status == 503
    assert b'"reachable": false' in body
    dead.dispose()


def test_status_prints_the_store_picture(sqlite_template: Path, tmp_path: Path) -> None:
    url = new_sqlite_url(sqlite_template, tmp_path)
    engine = create_engine(url)
    _fill(sessionmaker(engine))
    engine.dispose()
    config = write_config(tmp_path / "config.toml", url)
    result = CliRunner().invoke(main, ["--config", str(config), "status"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "no daemon runs on this store" in out
    assert "checks:churn" in out and "ok" in out
    assert "drift share 0.60" in out
    assert "alerts firing: 1" in out
    assert "outbox: outbox pending 1" in out
