"""A week checked after the fact: the report still shows each segment's week.

Seven daily windows of `churn`, cut by region, checked as a backfill (as `mlmaint
check --from` or a first start does): from the fourth day, apac's labels no longer
follow the scores. A backfill fires no alert, so the segments had no voice in the
report; now its Segments table gives each segment its windows, its alerting
windows by kind and its latest alerting measure (SQLite and PostgreSQL).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from daemon.checking.job import check_model
from daemon.report.deliver import build_report
from tests.checks.frames import START
from tests.checks.test_segments import _frame, regions_context


def test_a_backfilled_week_shows_each_segments_windows_and_latest_alert(
    tmp_path: Path, engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    ctx = regions_context(tmp_path, engine, session_factory)
    # ISO week 2026-W02 is Monday 5 to Sunday 11 January: windows ending 6 to 12 January.
    for day in range(1, 8):
        frame = _frame(2000, 10 + day, decay_in="apac" if day >= 4 else None)
        check_model(
            ctx,
            "churn",
            START + timedelta(days=day),
            load_window=lambda *_, f=frame: f,
            backfill=True,
            alert=False,  # as `mlmaint check --from` runs it
        )
    built = build_report(ctx, "2026-W02", START + timedelta(days=30))
    [model] = built.data.models
    assert model.alerts == (), "a backfill fires no alert: the segments need their own table"
    rows = {s.segment: s for s in model.segments}
    assert list(rows) == ["region=apac", "region=eu", "region=us"]
    assert all(s.windows == 7 for s in rows.values())
    apac = rows["region=apac"]
    assert apac.alerting.get("performance", 0) >= 3, apac
    assert apac.latest is not None
    assert apac.latest.startswith("performance: roc_auc ") or apac.latest.startswith(
        "estimated_performance: "
    ), apac.latest
    assert "below threshold" in apac.latest
    assert apac.latest.endswith("(window ending 2026-01-12 00:00)"), apac.latest
    for healthy in ("region=eu", "region=us"):
        assert "performance" not in rows[healthy].alerting, rows[healthy]
    html = built.path.read_text(encoding="utf-8")
    assert "<h4>Segments</h4>" in html
    assert "region=apac" in html and apac.alerting_windows in html


def test_a_segments_latest_alert_is_told_by_its_decay_and_its_statistics_name() -> None:
    from datetime import UTC, datetime

    from daemon.report.queries import MetricRow
    from daemon.report.segments import _Run, rows_of

    end = datetime(2026, 12, 7, tzinfo=UTC)
    z = MetricRow(
        subject="prediction",
        name="z",
        value=0.0,
        threshold=0.00125,
        alerting=True,
        detail="Z-test p_value",
    )
    auc = MetricRow(
        subject="roc_auc",
        name="value",
        value=0.40,
        threshold=0.53,
        alerting=True,
        detail="baseline 0.7",
    )
    drift = _Run(segment="region=east", kind="drift", alerting=True, window_end=end, metrics=[z])
    decay = _Run(
        segment="region=east", kind="performance", alerting=True, window_end=end, metrics=[auc]
    )
    [both] = rows_of([drift, decay])
    assert both.latest == (
        "performance: roc_auc 0.4 below threshold 0.53 (window ending 2026-12-07 00:00)"
    )
    [alone] = rows_of([drift])
    assert alone.latest == (
        "drift: prediction Z-test p_value 0 below threshold 0.00125 "
        "(window ending 2026-12-07 00:00)"
    )
