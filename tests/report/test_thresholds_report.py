"""The weekly report says how each threshold was set and what a week of clean data costs:
the drift thresholds' basis, the expected false alarms at the configured cadence, and the
performance band (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from daemon.checking.job import check_model
from daemon.config import ModelSettings, Settings
from daemon.jobs import JobContext
from daemon.report.deliver import build_report
from daemon.report.figures import drift_policy
from daemon.report.gather import gather
from daemon.report.weeks import parse_week
from tests.checks.frames import churn_settings, window

WEEK = "2026-W47"


def _settings(tmp_path: Path, ref_path: Path, url: str, checks: dict[str, object]) -> Settings:
    return churn_settings(
        tmp_path,
        {"kind": "file", "path": str(ref_path)},
        url,
        checks,
        report={"directory": str(tmp_path / "reports")},
    )


def test_the_report_states_thresholds_and_expected_false_alarms(
    tmp_path: Path, engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    ref_path = tmp_path / "reference.parquet"
    window(5_000, 1).rename(columns={"label": "churned"}).to_parquet(ref_path)
    settings = _settings(tmp_path, ref_path, str(engine.url), {"drift": {"evidence": False}})
    ctx = JobContext(settings=settings, engine=engine, sessions=session_factory)
    week = parse_week(WEEK)
    frames = [window(600, 40 + day, shift=0.6 if day == 3 else 0.0) for day in range(7)]

    def load(
        session: Session, model: ModelSettings, start: datetime, end: datetime
    ) -> pd.DataFrame:
        return frames.pop(0)

    for day in range(7):
        check_model(ctx, "churn", week.start + timedelta(days=day, hours=12), load_window=load)
    with ctx.sessions() as session:
        data = gather(session, ctx.settings, week, week.end)
    (model,) = data.models
    policy = model.drift_policy
    # The drift runs whose window lies in the week (7 daily), not the hourly schedule's 168.
    assert policy is not None and policy.calibrated and policy.runs_per_week == 7
    assert policy.expected_false_alarms is not None
    assert abs(policy.expected_false_alarms - 0.07) < 1e-9
    top = {f.column: f for f in model.top_drift}
    assert top["age"].basis == "at n=600, calibrated for 1% false alarms"
    # Realized and estimated performance each have their own band: each row its own.
    realized, estimated = model.performance.rows
    assert (realized.label, estimated.label) == ("realized", "estimated")
    for row in (realized, estimated):
        assert row.basis is not None and row.basis.startswith("band at n="), row
    assert realized.threshold is not None and estimated.threshold is not None
    assert realized.threshold != estimated.threshold

    page = build_report(ctx, WEEK, week.end + timedelta(hours=1)).path.read_text("utf-8")
    assert "Drift thresholds calibrated from the reference for 1% false alarms per check run" in (
        page
    )
    assert "at 7 runs a week, at most 0.07 runs a week are expected to flag a column" in page
    assert "at n=600, calibrated for 1% false alarms" in page
    table = page.split('<table class="performance">', 1)[1].split("</table>", 1)[0]
    shown = [
        (cells[1], cells[4].split("<br>")[0])
        for line in table.split("<tr>")[2:]
        if (cells := re.findall(r"<td[^>]*>(.*?)</td>", line))
    ]
    assert shown == [
        ("realized", f"{realized.threshold:.3g}"),
        ("estimated", f"{estimated.threshold:.3g}"),
    ], table


def test_the_expected_false_alarms_follow_the_cadence_and_the_mode(tmp_path: Path) -> None:
    week = parse_week(WEEK)
    ref = tmp_path / "reference.parquet"
    cron = _settings(
        tmp_path,
        ref,
        "sqlite://",
        {
            "schedule": {"cron": "0 */6 * * *"},
            "drift": {"false_alarm_rate": 0.02, "persistence": {"failing": 2, "windows": 3}},
        },
    ).model("churn")
    policy = drift_policy(cron, week)
    assert policy is not None and policy.runs_per_week == 28
    assert policy.expected_false_alarms is not None
    assert abs(policy.expected_false_alarms - 0.56) < 1e-9
    assert "beyond its threshold in 2 of 3 windows" in policy.sentence()
    evidently = _settings(tmp_path, ref, "sqlite://", {"drift": {"thresholds": "evidently"}}).model(
        "churn"
    )
    policy = drift_policy(evidently, week)
    assert policy is not None and policy.expected_false_alarms is None
    assert "the false-alarm rate is unknown" in policy.sentence()
