"""Private state under umask 022: files 0600 or 0640, directories closed to others.

Each case runs in a subprocess with umask 022 (the usual login umask), so the
test process's umask cannot help. The library run does not go through the CLI:
the write sites must be private on their own. The CLI run checks the umask set
at its entry, the backstop for files third-party code creates.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# Store, WAL, SHM and leader lock, evidence, the weekly report, a snapshot, the alert
# file, MLflow's store and artifact root.
LIBRARY_RUN = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime, timedelta
    from pathlib import Path

    import numpy as np
    import pandas as pd

    from checks.interface import CheckKind
    from daemon.alerts.channels.file import FileSender
    from daemon.alerts.channels.interface import Outgoing
    from daemon.alerts.message import Message, to_json
    from daemon.checking.run import run_checks
    from daemon.config import parse_config
    from daemon.jobs import JobContext
    from daemon.leader import FileLock
    from daemon.report.deliver import build_report
    from daemon.report.weeks import parse_week
    from daemon.retraining.specs import artifact_location, tracking_uri
    from daemon.store import migrate
    from daemon.store.engine import make_engine, session_factory
    from retrain.snapshot import write_snapshot

    root = Path(sys.argv[1])
    now = datetime(2026, 11, 19, 12, tzinfo=UTC)
    settings = parse_config(
        {
            "service": {"state_dir": str(root / "state")},
            "store": {"url": f"sqlite:///{root}/state/db/mlmaint.db"},
            "report": {"directory": str(root / "state" / "reports")},
            "mlflow": {
                "tracking_uri": f"sqlite:///{root}/state/mlflow/mlflow.db",
                "artifact_root": str(root / "state" / "artifacts"),
            },
            "models": [
                {
                    "name": "churn",
                    "source": {"kind": "http"},
                    "schema": {"numeric": ["age"], "categorical": ["plan"], "score": "score"},
                    "reference": {"kind": "snapshot"},
                    "checks": {"min_rows": 50},
                }
            ],
        },
        "<test>",
        {},
    )
    engine = make_engine(settings.store.url)
    migrate.upgrade(engine)
    ctx = JobContext(settings=settings, engine=engine, sessions=session_factory(engine))


    def frame(n, seed, shift):
        rng = np.random.default_rng(seed)
        return pd.DataFrame(
            {
                "prediction_id": [f"{seed}-{i}" for i in range(n)],
                "timestamp": [now - timedelta(minutes=i) for i in range(n)],
                "age": rng.normal(40 + 10 * shift, 10, n),
                "plan": rng.choice(["a", "b", "c"], n),
                "score": rng.random(n),
            }
        )


    cycle = run_checks(
        ctx, settings.model("churn"), now, frame(300, 2, 1.0), frame(300, 1, 0.0),
        kinds=[CheckKind.DRIFT],
    )
    assert cycle.runs[CheckKind.DRIFT].evidence_path is not None, cycle
    build_report(ctx, parse_week("2026-W47"), now + timedelta(days=5))
    write_snapshot(frame(50, 3, 0.0), root / "state" / "snapshots" / "churn", ["age", "plan"])
    message = Outgoing(
        notification_id=1, channel="file", kind="test", scope="churn",
        payload=to_json(Message(title="t", text="x")), created_at=now, attempt=0,
    )
    FileSender(root / "state" / "alerts" / "alerts.jsonl").send(message, now)
    FileLock(root / "state" / "db" / "mlmaint.db").try_acquire()
    from mlflow import MlflowClient

    MlflowClient(tracking_uri(settings)).create_experiment(
        "churn", artifact_location=artifact_location(settings, "churn")
    )
    # Hold a connection open: the WAL and SHM exist while the store is in use.
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT count(*) FROM check_runs")
        print("\\n".join(str(p) for p in sorted((root / "state").rglob("*"))))
    """
)


def run_under_umask(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.run(
        args,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        # The test process's own umask is left alone: only the child has 022.
        umask=0o022,
    )


def assert_private(root: Path) -> list[Path]:
    seen = sorted(root.rglob("*"))
    loose = []
    for path in seen:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if path.is_dir():
            if mode & 0o007 or mode & 0o020:
                loose.append(f"{path} is a directory with mode {mode:o}")
        elif mode not in (0o600, 0o640):
            loose.append(f"{path} has mode {mode:o}")
    assert not loose, "\n".join(loose)
    return seen


def test_library_writes_are_private_under_umask_022(tmp_path: Path) -> None:
    done = run_under_umask([sys.executable, "-c", LIBRARY_RUN, str(tmp_path)], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    state = tmp_path / "state"
    seen = {p.relative_to(state).as_posix() for p in assert_private(state)}
    # Every kind of file the brief names was made, so each was checked.
    for expected in ("db/mlmaint.db", "db/mlmaint.db-wal", "db/mlmaint.db-shm"):
        assert expected in done.stdout.replace(str(state) + "/", ""), done.stdout
    assert "reports/mlmaint-report-2026-W47.html" in seen
    assert any(p.startswith("evidence/churn/drift-") for p in seen), seen
    assert any(p.startswith("snapshots/churn/") and p.endswith(".parquet") for p in seen)
    assert "alerts/alerts.jsonl" in seen
    assert {"db/mlmaint.db.lock", "mlflow/mlflow.db", "artifacts"} <= seen


def test_existing_store_open_to_others_is_tightened(tmp_path: Path) -> None:
    from daemon.store.engine import make_engine

    database = tmp_path / "old.db"
    database.touch()
    database.chmod(0o644)
    make_engine(f"sqlite:///{database}").dispose()
    # Others lose their bits; a group the operator granted keeps its read.
    assert stat.S_IMODE(database.stat().st_mode) == 0o640


@pytest.mark.parametrize(("given", "expected"), [(0o022, 0o027), (0o077, 0o077)])
def test_cli_sets_a_private_umask(tmp_path: Path, given: int, expected: int) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[service]\nstate_dir = "{tmp_path / "state"}"\n'
        f'[store]\nurl = "sqlite:///{tmp_path}/state/mlmaint.db"\n'
    )
    script = textwrap.dedent(
        f"""
        import os
        os.umask({given:#o})
        from daemon.cli import main
        try:
            main(["--config", {str(config)!r}, "db", "upgrade"])
        except SystemExit as exc:
            assert not exc.code, exc.code
        print(oct(os.umask(0)))
        """
    )
    done = run_under_umask([sys.executable, "-c", script], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == oct(expected)
    assert_private(tmp_path / "state")
