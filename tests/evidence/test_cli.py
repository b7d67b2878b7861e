"""`mlmaint evidence NAME --at TIME`: a past window's evidence from the stored rows.

The store is a real SQLite file with sampled predictions; the command runs as a
user runs it (config file, CliRunner). Evidently's report is built once here
(`--evidently`, seconds) and once when configured per alert firing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from checks.interface import CheckKind, CheckResult, Status
from daemon.alerts.policy import apply_findings
from daemon.checking.records import KindRun, store_runs
from daemon.checking.run import run_checks
from daemon.cli import main
from daemon.config import load_config, parse_config
from daemon.evidence.retention import SWEPT
from daemon.evidence.write import evidently_path, page_path
from daemon.jobs import JobContext
from daemon.report import csp, http
from daemon.store import migrate
from daemon.store.engine import make_engine, session_factory
from daemon.store.features import stored_row
from daemon.store.models import ensure_model
from daemon.store.tables import CheckRun, Prediction
from tests.checks.frames import window

AT = datetime(2026, 11, 19, 12, tzinfo=UTC)
STAMP = "2026-11-19T12:00:00Z"
FEATURES = ("age", "income", "visits", "plan", "region")


def store_config(tmp_path: Path) -> Path:
    """A config with `churn` (a reference file) and `fresh` (no reference), a store with
    a drifted day of churn's predictions ending at AT."""
    ref_path = tmp_path / "reference.csv"
    window(1500, 1).rename(columns={"label": "churned"}).to_csv(ref_path, index=False)
    db = tmp_path / "store.db"
    engine = make_engine(f"sqlite:///{db}")
    migrate.upgrade(engine)
    sessions = session_factory(engine)
    rows = window(600, 2, shift=1.0)
    with sessions.begin() as session:
        mid = ensure_model(session, "churn", AT)
        for i, row in enumerate(rows.to_dict("records")):
            session.add(
                Prediction(
                    model_id=mid,
                    prediction_id=str(row["prediction_id"]),
                    ts=AT - timedelta(hours=20) + timedelta(seconds=i),
                    **stored_row(
                        session,
                        mid,
                        ("age", "income", "visits"),
                        {k: row[k] for k in FEATURES},
                        AT,
                    ),
                    prediction=str(row["prediction"]),
                    score=row["score"],
                    label=None,
                )
            )
    engine.dispose()
    config = tmp_path / "config.toml"
    schema = """
[models.schema]
numeric = ["age", "income", "visits"]
categorical = ["plan", "region"]
score = "score"
label = "churned"
"""
    config.write_text(
        f"""
[service]
state_dir = "{tmp_path / "state"}"
[store]
url = "sqlite:///{db}"
[report]
base_url = "https://mlmaint.example.org"
[[models]]
name = "churn"
source = {{ kind = "http" }}
[models.reference]
kind = "file"
path = "{ref_path}"
{schema}
[models.checks]
min_rows = 50
[[models]]
name = "fresh"
source = {{ kind = "http" }}
[models.reference]
kind = "snapshot"
{schema}
"""
    )
    return config


def test_evidence_command_rebuilds_a_window_and_gives_a_swept_run_its_page_back(
    tmp_path: Path,
) -> None:
    config = store_config(tmp_path)
    settings = load_config(config, environ={})
    ctx = JobContext.from_settings(settings)
    # A drift run of that window whose page retention swept.
    swept = CheckResult(kind=CheckKind.DRIFT, status=Status.ALERT, rows=600)
    with ctx.sessions.begin() as session:
        runs = store_runs(
            session,
            "churn",
            {CheckKind.DRIFT: KindRun(result=swept, duration_s=0.1)},
            start=AT - timedelta(days=1),
            end=AT,
        )
        run_id = runs[CheckKind.DRIFT].run_id
        row = session.get_one(CheckRun, run_id)
        row.summary = {SWEPT: "2026-12-20T03:15:00+00:00"}
    assert http.handle(ctx, f"/reports/evidence/{run_id}").status == 410  # type: ignore[union-attr]

    result = CliRunner().invoke(main, ["--config", str(config), "evidence", "churn", "--at", STAMP])
    assert result.exit_code == 0, result.output
    printed = Path(result.stdout.strip().splitlines()[-1])
    assert printed == page_path(settings.service.state_dir / "evidence", "churn", AT)
    page = printed.read_text(encoding="utf-8")
    assert ">age</h3>" in page and "600 rows" in page
    assert "churn: window ending 2026-11-19 12:00 UTC, 600 rows, alert (age" in result.stderr
    with ctx.sessions() as session:
        row = session.get_one(CheckRun, run_id)
        assert row.evidence_path == str(printed) and SWEPT not in row.summary
    served = http.handle(ctx, f"/reports/evidence/{run_id}")
    assert served is not None and served.status == 200 and served.body == printed.read_bytes()
    ctx.close()

    out = tmp_path / "elsewhere" / "page.html"
    result = CliRunner().invoke(
        main, ["--config", str(config), "evidence", "churn", "--at", STAMP, "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == str(out) and ">age</h3>" in out.read_text()

    unknown = CliRunner().invoke(main, ["--config", str(config), "evidence", "nope", "--at", STAMP])
    assert unknown.exit_code == 2 and "unknown model 'nope'" in unknown.output
    bad = CliRunner().invoke(main, ["--config", str(config), "evidence", "churn", "--at", "soon"])
    assert bad.exit_code == 2 and "expected an ISO time" in bad.output
    ahead = CliRunner().invoke(
        main, ["--config", str(config), "evidence", "churn", "--at", "2099-01-01T00:00:00Z"]
    )
    assert ahead.exit_code == 2 and "is in the future" in ahead.output, ahead.output
    fresh = CliRunner().invoke(main, ["--config", str(config), "evidence", "fresh", "--at", STAMP])
    assert fresh.exit_code == 1 and "reference" in fresh.output


def test_evidence_command_writes_evidentlys_report_on_demand_and_the_page_links_it(
    tmp_path: Path,
) -> None:
    config = store_config(tmp_path)
    settings = load_config(config, environ={})
    ctx = JobContext.from_settings(settings)
    page = page_path(tmp_path / "state" / "evidence", "churn", AT)
    # The check job's drift run of that window, with its page where the job writes it.
    drifted = CheckResult(kind=CheckKind.DRIFT, status=Status.ALERT, rows=600)
    with ctx.sessions.begin() as session:
        runs = store_runs(
            session,
            "churn",
            {CheckKind.DRIFT: KindRun(result=drifted, duration_s=0.1, evidence_path=page)},
            start=AT - timedelta(days=1),
            end=AT,
        )
    run_id = runs[CheckKind.DRIFT].run_id

    result = CliRunner().invoke(
        main, ["--config", str(config), "evidence", "churn", "--at", STAMP, "--evidently"]
    )
    assert result.exit_code == 0, result.output
    printed = Path(result.stdout.strip().splitlines()[-1])
    assert printed == evidently_path(page) and page.is_file()
    report = printed.read_text(encoding="utf-8")
    # Evidently's page: megabytes of its UI, scripts allowed by hash only.
    assert printed.stat().st_size > 1_000_000
    policy = csp.written_policy(report)
    assert policy is not None and "'sha256-" in policy and "age" in report
    # mlmaint's page now links the report as served, under base_url, instead of naming
    # the command that would write it.
    link = f"https://mlmaint.example.org/reports/evidence/{run_id}/evidently"
    text = page.read_text(encoding="utf-8")
    assert f'<a href="{link}">Evidently\'s full report</a>' in text
    assert "mlmaint evidence churn" not in text
    served = http.handle(ctx, link.removeprefix("https://mlmaint.example.org"))
    assert served is not None and served.status == 200 and served.body == printed.read_bytes()
    # Built again without --evidently, the page still links the report on disk.
    again = CliRunner().invoke(main, ["--config", str(config), "evidence", "churn", "--at", STAMP])
    assert again.exit_code == 0, again.output
    assert f'href="{link}"' in page.read_text(encoding="utf-8")
    ctx.close()
    # A window with no report: the page says how to write one.
    earlier = "2026-11-19T11:00:00Z"
    other = CliRunner().invoke(
        main, ["--config", str(config), "evidence", "churn", "--at", earlier]
    )
    assert other.exit_code == 0, other.output
    other_page = Path(other.stdout.strip().splitlines()[-1]).read_text(encoding="utf-8")
    assert f"<code>mlmaint evidence churn --at {earlier} --evidently</code>" in other_page
    assert "/evidently" not in other_page.replace(" --evidently", "")


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_evidentlys_report_once_per_alert_firing_when_configured(
    tmp_path: Path, engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    settings = parse_config(
        {
            "service": {"state_dir": str(tmp_path / "state")},
            "report": {"base_url": "https://mlmaint.example.org"},
            "evidence": {"evidently_on_firing": True},
            "models": [
                {
                    "name": "churn",
                    "source": {"kind": "http"},
                    "schema": {"numeric": ["age", "income"], "categorical": ["plan"]},
                    "checks": {"min_rows": 50, "drift": {"thresholds": "evidently"}},
                }
            ],
        },
        "<test>",
        {},
    )
    ctx = JobContext(settings=settings, engine=engine, sessions=session_factory)
    model = settings.model("churn")
    reference = window(1500, 1)
    first = run_checks(
        ctx, model, AT, window(400, 2, shift=1.0), reference, kinds=[CheckKind.DRIFT]
    )
    run = first.runs[CheckKind.DRIFT]
    assert run.evidence_path is not None and run.run_id is not None
    report = evidently_path(run.evidence_path)
    assert report.is_file()
    link = f"https://mlmaint.example.org/reports/evidence/{run.run_id}/evidently"
    assert f'href="{link}"' in run.evidence_path.read_text(encoding="utf-8")
    served = http.handle(ctx, link.removeprefix("https://mlmaint.example.org"))
    assert served is not None and served.status == 200 and served.body == report.read_bytes()
    with session_factory.begin() as session:
        apply_findings(session, settings, first.findings, AT)

    # Still firing an hour later: mlmaint's page, no second Evidently report.
    later = AT + timedelta(hours=1)
    second = run_checks(
        ctx, model, later, window(400, 3, shift=1.0), reference, kinds=[CheckKind.DRIFT]
    )
    again = second.runs[CheckKind.DRIFT]
    assert again.evidence_path is not None and again.evidence_path.is_file()
    assert not evidently_path(again.evidence_path).exists()
    assert "/evidently" not in again.evidence_path.read_text(encoding="utf-8")
    with session_factory() as session:
        assert session.scalar(select(CheckRun.evidence_path).where(CheckRun.id == run.run_id))
