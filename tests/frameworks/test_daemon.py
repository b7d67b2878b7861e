"""The frameworks job on the real store (SQLite and PostgreSQL), a loopback index, the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from checks.frameworks.advisories import parse_record
from checks.frameworks.policy import FindingKind
from daemon.cli import main
from daemon.config import Settings, Severity, parse_config
from daemon.frameworks.inventory import inventory_environment
from daemon.frameworks.job import demo_scan, scan_frameworks
from daemon.frameworks.mirror import (
    SHIPPED_SNAPSHOT,
    import_advisory_path,
    load_index,
    mirror_size,
    store_advisories,
)
from daemon.jobs import JobContext
from daemon.store.tables import Alert, AlertState, FrameworkFinding, Notification
from tests.conftest import new_sqlite_url
from tests.frameworks.conftest import FakeIndex, json_api, osv_record

NOW = datetime(2026, 11, 25, 6, 30, tzinfo=UTC)
CRITICAL = [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]


def _settings(url: str, frameworks: dict[str, object]) -> Settings:
    return parse_config({"store": {"url": url}, "frameworks": frameworks})


def _advisory_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "osv"
    (folder / "pillow").mkdir(parents=True)
    (folder / "pillow" / "PYSEC-1.json").write_text(
        json.dumps(osv_record("PYSEC-1", "Pillow", "0", "9.0.1", severity=CRITICAL))
    )
    (folder / "numpy.yaml").write_text(
        "id: GHSA-n\nmodified: 2024-01-01T00:00:00Z\naffected:\n"
        "- package: {ecosystem: PyPI, name: numpy}\n"
        "  ranges:\n  - type: ECOSYSTEM\n    events:\n    - introduced: '0'\n    - fixed: 1.22.0\n"
    )
    return folder


def test_mirror_roundtrip(session_factory: sessionmaker[Session], tmp_path: Path) -> None:
    folder = _advisory_dir(tmp_path)
    assert import_advisory_path(session_factory, folder) == 2
    assert import_advisory_path(session_factory, folder) == 0
    newer = parse_record(
        {**osv_record("PYSEC-1", "pillow", "0", "9.1.0"), "modified": "2025-01-01T00:00:00Z"}
    )
    assert store_advisories(session_factory, [newer], "sync") == 1
    index = load_index(session_factory, ["pillow", "numpy", "torch"])
    assert index.records == 2
    (match,) = index.match("pillow", "9.0.5")
    assert match.fixed == "9.1.0"
    assert mirror_size(session_factory) == 2


def test_scan_alerts_new_vulnerabilities_then_survives_an_outage(
    engine: Engine, session_factory: sessionmaker[Session], tmp_path: Path, fake_index: FakeIndex
) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("pillow==8.4.0\nnumpy==1.26.4\n")
    settings = _settings(
        "sqlite://",
        {
            "online": True,
            "index_url": fake_index.url,
            "advisory_db": str(_advisory_dir(tmp_path)),
            "environments": [{"name": "prod", "kind": "requirements", "path": str(requirements)}],
        },
    )
    ctx = JobContext(settings=settings, engine=engine, sessions=session_factory)
    fake_index.json(
        "/pypi/pillow/json",
        json_api(
            "pillow",
            {"8.4.0": ("2021-10-15T00:00:00Z", False), "10.0.0": ("2023-07-01T00:00:00Z", False)},
        ),
    )
    fake_index.json(
        "/pypi/numpy/json", json_api("numpy", {"1.26.4": ("2024-02-05T00:00:00Z", False)})
    )
    with httpx.Client(timeout=0.5) as http:
        first = scan_frameworks(ctx, NOW, http=http)
        (alert,) = first.alerts
        assert alert.firing and alert.severity is Severity.CRITICAL and alert.kind == "framework"
        assert alert.subject == "pillow:PYSEC-1" and "upgrade to 10.0.0" in alert.summary
        # The alert was committed with the finding, and its notification is in the outbox.
        with session_factory() as session:
            stored = session.scalars(select(Alert)).one()
            assert stored.fingerprint == alert.fingerprint and stored.state == AlertState.FIRING
            assert session.scalar(select(func.count()).select_from(Notification)) == 1
        (report,) = first.reports
        assert {f.kind for f in report.findings} == {
            FindingKind.VULNERABLE,
            FindingKind.MAJOR_BEHIND,
            FindingKind.STALE,
        }

        # A day later, past the TTL, the index answers 500 and then times out.
        fake_index.fault("/pypi/numpy/json", "500")
        fake_index.fault("/pypi/pillow/json", "slow")
        second = scan_frameworks(ctx, NOW + timedelta(days=1), http=http)
    assert second.alerts == ()  # nothing new
    (report,) = second.reports
    (outage,) = [f for f in report.findings if f.kind is FindingKind.SOURCE_UNAVAILABLE]
    assert (
        "unavailable" in outage.detail and "using cached releases for 2 package(s)" in outage.detail
    )
    # The cache still gives the upgrade target and the versions behind.
    assert FindingKind.MAJOR_BEHIND in {f.kind for f in report.findings}
    assert next(p for p in report.packages if p.name == "pillow").recommended == "10.0.0"
    with session_factory() as session:
        rows = session.scalars(select(FrameworkFinding)).all()
    vuln = next(r for r in rows if r.kind == "vulnerable")
    assert vuln.first_seen_at == NOW and vuln.scanned_at == NOW + timedelta(days=1)
    assert vuln.advisory_ids["ids"] == ["PYSEC-1"] and vuln.recommended == "10.0.0"


def test_cli_exit_codes_and_formats(sqlite_template: Path, tmp_path: Path) -> None:
    url = new_sqlite_url(sqlite_template, tmp_path)
    folder = _advisory_dir(tmp_path)
    clean = tmp_path / "clean.txt"
    clean.write_text("somepkg==1.0\n")
    vulnerable = tmp_path / "vuln.txt"
    vulnerable.write_text("pillow==8.4.0\n")

    def run(path: Path, *args: str) -> tuple[int, str, str]:
        config = tmp_path / f"{path.stem}.toml"
        config.write_text(
            f'[store]\nurl = "{url}"\n[frameworks]\nadvisory_db = "{folder}"\n'
            f'[[frameworks.environments]]\nname = "e"\nkind = "requirements"\npath = "{path}"\n'
        )
        result = CliRunner().invoke(main, ["--config", str(config), "frameworks", *args])
        return result.exit_code, result.stdout, result.stderr

    assert run(clean)[0] == 0
    code, out, _ = run(vulnerable)
    assert code == 1 and "PYSEC-1" in out
    code, out, _ = run(vulnerable, "--format", "cyclonedx")
    assert code == 1 and json.loads(out)["vulnerabilities"][0]["id"] == "PYSEC-1"
    code, out, _ = run(vulnerable, "--format", "json")
    (finding,) = json.loads(out)["environments"][0]["findings"]
    assert finding["kind"] == "vulnerable" and finding["rule"] == "advisory"
    code, _, err = run(tmp_path / "missing.txt")
    assert code == 2 and "cannot inventory" in err
    # A configured advisory database that is not there stops the scan, naming it.
    folder.rename(tmp_path / "moved")
    code, out, err = run(vulnerable)
    assert code == 2 and out == "", out
    assert f"advisory_db {folder} does not exist" in err


def test_cyclonedx_lists_each_advisory_once_per_component(
    sqlite_template: Path, tmp_path: Path
) -> None:
    """Two environments pinning the same release, two records of one advisory (PYSEC and
    GHSA aliasing each other): one vulnerability entry, the other id as a reference."""
    url = new_sqlite_url(sqlite_template, tmp_path)
    folder = _advisory_dir(tmp_path)
    ghsa = osv_record("GHSA-pppp-1111-2222", "pillow", "0", "9.0.1", aliases=["PYSEC-1"])
    (folder / "pillow" / "GHSA-pppp-1111-2222.json").write_text(json.dumps(ghsa))
    paths = []
    for name in ("serving", "training"):
        path = tmp_path / f"{name}.txt"
        path.write_text("pillow==8.4.0\n")
        paths.append(
            f'[[frameworks.environments]]\nname = "{name}"\nkind = "requirements"\n'
            f'path = "{path}"\n'
        )
    config = tmp_path / "config.toml"
    config.write_text(
        f'[store]\nurl = "{url}"\n[frameworks]\nadvisory_db = "{folder}"\n' + "".join(paths)
    )
    result = CliRunner().invoke(
        main, ["--config", str(config), "frameworks", "--format", "cyclonedx"]
    )
    assert result.exit_code == 1, result.output
    bom = json.loads(result.stdout)
    (vuln,) = bom["vulnerabilities"]
    assert vuln["id"] == "PYSEC-1"
    assert vuln["references"] == [{"id": "GHSA-pppp-1111-2222", "source": {"name": "OSV"}}]
    assert vuln["affects"] == [{"ref": "pkg:pypi/pillow@8.4.0"}]
    assert [p["value"] for p in vuln["properties"]] == ["serving", "training"]


def test_cli_alerts_only_when_asked_and_the_daemon_alerts_the_rest(
    store_url: str, tmp_path: Path
) -> None:
    """`mlmaint frameworks` stores findings as not alerted; the daemon's scan alerts them;
    `--alert` alerts at once; a resolution is not lost to a scan that did not alert."""
    from daemon.config import load_config
    from daemon.store.engine import make_engine, session_factory

    url = store_url
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("pillow==8.4.0\n")
    config = tmp_path / "config.toml"
    config.write_text(
        f'[store]\nurl = "{url}"\n[frameworks]\nadvisory_db = "{_advisory_dir(tmp_path)}"\n'
        f'[[frameworks.environments]]\nname = "e"\nkind = "requirements"\n'
        f'path = "{requirements}"\n'
    )
    engine = make_engine(url)
    sessions = session_factory(engine)

    def stored() -> tuple[list[bool], list[AlertState]]:
        with sessions() as session:
            flags = [
                bool(r.advisory_ids.get("alerted"))
                for r in session.scalars(select(FrameworkFinding))
            ]
            states = [a.state for a in session.scalars(select(Alert))]
        return flags, states

    try:
        scan = CliRunner().invoke(main, ["--config", str(config), "frameworks"])
        assert scan.exit_code == 1, scan.output
        assert stored() == ([False], [])
        # The daemon's own scan alerts what the command stored without alerting.
        ctx = JobContext(settings=load_config(config, environ={}), engine=engine, sessions=sessions)
        daemon_scan = scan_frameworks(ctx, datetime.now(UTC))
        assert [a.subject for a in daemon_scan.alerts] == ["pillow:PYSEC-1"]
        assert stored() == ([True], [AlertState.FIRING])
        # Fixed, seen first by a scan that does not alert: the daemon still resolves it.
        requirements.write_text("pillow==10.0.0\n")
        assert CliRunner().invoke(main, ["--config", str(config), "frameworks"]).exit_code == 0
        assert stored() == ([], [AlertState.FIRING])
        resolved = scan_frameworks(ctx, datetime.now(UTC))
        assert [(a.subject, a.firing) for a in resolved.alerts] == [("pillow:PYSEC-1", False)]
        # Vulnerable again, with --alert: alerted at once.
        requirements.write_text("pillow==8.4.0\n")
        again = CliRunner().invoke(main, ["--config", str(config), "frameworks", "--alert"])
        assert again.exit_code == 1, again.output
        flags, states = stored()
        assert flags == [True] and states == [AlertState.FIRING]
    finally:
        engine.dispose()


def test_demo_scan_own_venv_and_model_against_shipped_snapshot(
    sqlite_template: Path, tmp_path: Path
) -> None:
    import sys

    from daemon.store.engine import make_engine, session_factory

    assert SHIPPED_SNAPSHOT.is_file()
    model = tmp_path / "model"
    model.mkdir()
    (model / "requirements.txt").write_text("mlflow==2.9.2\nscikit-learn==1.3.2\n")
    engine = make_engine(new_sqlite_url(sqlite_template, tmp_path))
    try:
        reports = demo_scan(
            session_factory(engine),
            NOW,
            interpreter=Path(sys.executable),
            mlflow_model_dir=model,
            advisory_source=SHIPPED_SNAPSHOT,
        )
    finally:
        engine.dispose()
    venv, logged = reports
    assert len(venv.packages) > 50
    # mlflow 2.9.2 has real PyPA advisories (e.g. PYSEC-2024-*), fixed in later releases.
    vulns = [f for f in logged.findings if f.kind is FindingKind.VULNERABLE]
    assert any(f.package == "mlflow" for f in vulns)
    assert all(f.recommended for f in vulns if f.package == "mlflow")


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_mlflow_model_by_alias_gives_the_logged_requirements(tmp_path: Path) -> None:
    import mlflow
    from mlflow import MlflowClient
    from sklearn.linear_model import LogisticRegression

    from checks.frameworks.inventory import parse_requirements
    from daemon.config import EnvironmentKind, EnvironmentSettings

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.create_experiment("fw", artifact_location=str(tmp_path / "artifacts"))
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        with mlflow.start_run(experiment_id=experiment):
            mlflow.sklearn.log_model(
                LogisticRegression().fit([[0.0], [1.0]], [0, 1]),
                name="model",
                pip_requirements=["scikit-learn==1.3.2", "numpy==1.26.4", "pandas>=2"],
                registered_model_name="churn",
            )
        client.set_registered_model_alias("churn", "champion", "1")
    finally:
        # Not None: MLflow 3 would drop MLFLOW_TRACKING_URI from the environment.
        mlflow.set_tracking_uri(previous)
    # The file MLflow wrote, read straight from the artifact store on disk.
    (logged,) = (tmp_path / "artifacts").rglob("requirements.txt")
    env = EnvironmentSettings(name="champion", kind=EnvironmentKind.MLFLOW_MODEL, model="churn")
    found = inventory_environment(env, uri)
    expected = {p.name: p.version for p in parse_requirements(logged.read_text(), "logged")}
    assert found.versions() == expected
    assert expected["scikit-learn"] == "1.3.2" and expected["pandas"] is None
    assert found.target == "models:/churn@champion" and found.python_version is not None


def test_verify_keeps_third_party_warnings_off_the_output() -> None:
    """attrs' and MLflow's notices raised while a verification runs are not printed;
    mlmaint's own warnings still are."""
    import warnings

    from daemon.frameworks.cli import quiet_third_party

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with quiet_third_party():
            for category, module in (
                (DeprecationWarning, "attr._make"),
                (UserWarning, "mlflow.pyfunc"),
                (FutureWarning, "pandas.core.frame"),
                (UserWarning, "daemon.frameworks.verify"),
            ):
                warnings.warn_explicit(f"from {module}", category, "x.py", 1, module=module)
    assert [str(w.message) for w in seen] == ["from daemon.frameworks.verify"]
