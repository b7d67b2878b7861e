"""A model mlmaint did not train: its versions on the page, and its alerts shown once.

The user logged and registered versions by hand and onboarded the one behind the
alias; the store learns of it through onboarding's own writer
(`record_reference`, without MLflow), then of a retrain job that compared a
challenger against it. The page must show the serving version with its alias
before any job or check ran, and each version the store names after.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from daemon.api.page.versions import known_versions
from daemon.onboarding.reference import record_reference
from daemon.report.model import PinRow, RetrainRow
from daemon.store.tables import Alert, AlertState
from tests.page.dom import Element, parse
from tests.page.seed import _finished, context, seed
from tests.page.test_page import serving

NOW = datetime.fromisoformat("2026-03-02T12:00:00+00:00")


def version_rows(page: str, model: str) -> dict[str, Element]:
    section = parse(page).one("section", data_model=model)
    table = section.one("table", cls="versions")
    return {r.attrs["data-version"]: r for r in table.find_all("tr", cls="version")}


def test_a_version_registered_by_hand_shows_as_serving_before_any_job(
    tmp_path: Path, engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    ctx = context(tmp_path, engine, session_factory)
    # Onboarding recorded version 2 (the user's champion) as serving; no job, no check.
    record_reference(engine, None, "churn", "2", None, NOW)
    with serving(ctx, NOW) as server:
        overview = httpx.get(server.url + "/")
        detail = httpx.get(server.url + "/models/churn")
    for page in (overview.text, detail.text):
        rows = version_rows(page, "churn")
        assert list(rows) == ["2"]
        assert "serving" in rows["2"].classes
        assert "@champion" in rows["2"].text()
        assert "registered outside mlmaint" in rows["2"].text()
        assert "No retraining job yet." in parse(page).one("section", data_model="churn").text()

    # A retrain job registers 3 and compares it with 2, which keeps serving.
    _finished(
        ctx,
        tmp_path,
        "drift",
        NOW + timedelta(hours=1),
        {
            "registered_version": "3",
            "promoted": False,
            "champion_version": "2",
            "metric": "roc_auc",
            "challenger_score": 0.7,
            "champion_score": 0.8,
            "reason": "challenger 0.7000 is not better than champion 0.8000",
        },
    )
    with serving(ctx, NOW + timedelta(hours=3)) as server:
        detail = httpx.get(server.url + "/models/churn")
    rows = version_rows(detail.text, "churn")
    assert list(rows) == ["3", "2"]
    assert "serving" in rows["2"].classes and "@champion" in rows["2"].text()
    assert "serving" not in rows["3"].classes
    assert "trained by mlmaint (drift), not promoted" in rows["3"].text()
    assert "registered outside mlmaint, compared as champion" in rows["2"].text()


def test_a_models_page_lists_each_firing_alert_once(
    tmp_path: Path, engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    ctx = context(tmp_path, engine, session_factory)
    seeded = seed(ctx, tmp_path)
    with ctx.sessions() as session:
        firing = session.scalars(
            select(Alert).where(Alert.state == AlertState.FIRING, Alert.scope == seeded.model)
        ).all()
    assert len(firing) >= 2
    with serving(ctx, seeded.now) as server:
        page = parse(httpx.get(server.url + f"/models/{seeded.model}").text)
    for alert in firing:
        shown = page.find_all(data_alert_id=str(alert.id))
        assert len(shown) == 1, (alert.subject, len(shown))
        # Once, in full: its summary and the command that acknowledges it.
        assert alert.summary in shown[0].text()
        assert f"mlmaint alerts ack {alert.id}" in shown[0].text()


def _job(version: str, champion: str | None, promoted: bool, hour: int) -> RetrainRow:
    return RetrainRow(
        job_uid=f"job-{version}",
        trigger="cadence",
        state="succeeded",
        created_at=NOW + timedelta(hours=hour),
        finished_at=None,
        registered_version=version,
        champion_version=champion,
        metric=None,
        champion_score=None,
        challenger_score=None,
        promoted=promoted,
        reason="",
        error=None,
    )


def test_known_versions_are_newest_first_with_the_pin_and_the_serving_one() -> None:
    jobs = [_job("10", "2", True, 1), _job("11", "10", False, 2)]
    pin = PinRow(version="2", since=NOW, until=None, by="ops", holds=True)
    found = known_versions("2", pin, jobs)
    # Numeric order, not text order ("10" after "2" as text).
    assert [v.version for v in found] == ["11", "10", "2"]
    serving_now = {v.version for v in found if v.serving}
    assert serving_now == {"2"} and {v.version for v in found if v.pinned} == {"2"}
    assert found[2].trained_by is None and found[1].trained_by == jobs[0]
    # An expired pin names no pinned version.
    expired = PinRow(version="2", since=NOW, until=NOW, by="ops", holds=False)
    assert not any(v.pinned for v in known_versions("2", expired, jobs))
