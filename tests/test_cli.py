"""The CLI's start-up stays light and unfinished commands say so."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "mlflow", "evidently", "sklearn", "matplotlib", "pandas")


def _imported_modules(code: str) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


def test_daemon_import_and_help_do_not_import_heavy_frameworks() -> None:
    imported = _imported_modules(
        "import daemon, daemon.cli, daemon.config, daemon.jobs\n"
        "from click.testing import CliRunner\n"
        "CliRunner().invoke(daemon.cli.main, ['--help'])"
    )
    assert imported, "importtime printed nothing"
    assert not imported & set(HEAVY), sorted(imported & set(HEAVY))


def test_help_is_fast() -> None:
    mlmaint = Path(sys.executable).parent / "mlmaint"
    start = time.perf_counter()
    proc = subprocess.run([str(mlmaint), "--help"], capture_output=True, text=True, check=True)
    elapsed = time.perf_counter() - start
    assert "demo" in proc.stdout and "db" in proc.stdout
    assert elapsed < 1.0, f"mlmaint --help took {elapsed:.2f}s"


def test_db_upgrade_then_current_on_a_new_sqlite_file(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f'[store]\nurl = "sqlite:///{tmp_path}/new.db"\n')
    run = [sys.executable, "-m", "daemon.cli", "--config", str(config), "db"]
    before = subprocess.run([*run, "current"], capture_output=True, text=True, check=False)
    # A store that is not there is said, and not created by looking at it.
    assert before.returncode == 69 and "does not exist" in before.stderr, before.stderr
    assert not (tmp_path / "new.db").exists()
    up = subprocess.run([*run, "upgrade"], capture_output=True, text=True, check=False)
    assert up.returncode == 0, up.stderr
    after = subprocess.run([*run, "current"], capture_output=True, text=True, check=False)
    assert after.returncode == 0 and "up to date" in after.stdout
    check = subprocess.run([*run, "check"], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stderr


def test_db_upgrade_then_current_on_postgresql(tmp_path: Path) -> None:
    import uuid

    from sqlalchemy import text

    from tests.conftest import _pg_admin, drop_pg_database, pg_url

    name = f"mlmaint_t_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    try:
        url = pg_url(name).replace("postgresql+psycopg", "postgresql")
        config = tmp_path / "c.toml"
        config.write_text(f'[store]\nurl = "{url}"\n')
        run = [sys.executable, "-m", "daemon.cli", "--config", str(config), "db"]
        up = subprocess.run([*run, "upgrade"], capture_output=True, text=True, check=False)
        assert up.returncode == 0, up.stderr
        after = subprocess.run([*run, "current"], capture_output=True, text=True, check=False)
        assert after.returncode == 0 and "up to date" in after.stdout
        check = subprocess.run([*run, "check"], capture_output=True, text=True, check=False)
        assert check.returncode == 0, check.stderr
    finally:
        drop_pg_database(name)
