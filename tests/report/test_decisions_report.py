"""The weekly report shows the week's retrain decisions, the pin and an unmonitored model.

The decisions and the "not monitored" alert go through the alert policy as the
daemon's jobs hand them in; the report reads them back from the store.
"""

from __future__ import annotations

from datetime import timedelta

from daemon.alerts.finding import Finding, StageKind
from daemon.alerts.policy import apply_findings
from daemon.checking.findings import monitoring_finding
from daemon.config import Severity
from daemon.report.gather import gather
from daemon.report.model import ActionKind
from daemon.report.render import render_email, render_report, render_text
from daemon.report.weeks import Week
from daemon.store.engine import transaction
from daemon.store.tables import Model
from tests.report.conftest import MakeCtx


def test_the_report_shows_decisions_the_pin_and_an_unmonitored_model(
    make_ctx: MakeCtx, week: Week
) -> None:
    ctx = make_ctx()
    promoted_at = week.start + timedelta(days=1, hours=9)
    rolled_at = promoted_at + timedelta(days=1)
    until = rolled_at + timedelta(days=30)
    with transaction(ctx.sessions) as session:
        session.add(
            Model(
                name="churn",
                created_at=week.start - timedelta(days=30),
                current_version="1",
                pinned_version="1",
                pinned_at=rolled_at,
                pinned_until=until,
                pinned_by="alice",
            )
        )
        session.add(Model(name="prices", created_at=week.start - timedelta(days=30)))
    promotion = Finding(
        scope="churn",
        kind=StageKind.RETRAIN,
        subject="promotion",
        firing=False,
        severity=Severity.INFO,
        summary="churn: promoted version 2 over version 1: roc_auc 0.7706 -> 0.7812",
        event_id="job-1",
    )
    rolled = Finding(
        scope="churn",
        kind=StageKind.RETRAIN,
        subject="rollback",
        firing=False,
        severity=Severity.WARNING,
        summary="churn: rolled back from version 2 to version 1 by alice",
        event_id=f"rollback:2->1@{rolled_at.isoformat()}",
    )
    with transaction(ctx.sessions) as session:
        apply_findings(session, ctx.settings, [promotion], promoted_at)
        apply_findings(session, ctx.settings, [rolled], rolled_at)
        apply_findings(
            session,
            ctx.settings,
            [monitoring_finding("prices", "no training snapshot recorded yet")],
            promoted_at,
        )

    with ctx.sessions() as session:
        data = gather(session, ctx.settings, week, week.end)
    by_name = {m.name: m for m in data.models}
    churn, prices = by_name["churn"], by_name["prices"]
    assert [(d.subject, d.at) for d in churn.decisions] == [
        ("promotion", promoted_at),
        ("rollback", rolled_at),
    ]
    # Events are decisions, not alerts: none is counted as one.
    assert churn.alerts == () and churn.firing == 0
    assert churn.pin is not None
    assert (churn.pin.version, churn.pin.since, churn.pin.until, churn.pin.by) == (
        "1",
        rolled_at,
        until,
        "alice",
    )
    assert churn.pin.holds
    assert prices.unmonitored == (
        "prices is not monitored: no reference (no training snapshot recorded yet)"
    )
    assert prices.firing == 1
    assert any(
        a.kind is ActionKind.FIX and a.text.startswith("Give prices a reference:")
        for a in data.actions
    )

    page = render_report(data)
    assert "churn: promoted version 2 over version 1: roc_auc 0.7706 -&gt; 0.7812" in page
    assert 'Pinned</strong> to version <span class="mono">1</span>' in page
    assert f"until {until:%Y-%m-%d %H:%M} UTC" in page
    assert "Not monitored:</strong> prices is not monitored" in page
    mail = render_email(data)
    assert "pinned to version 1" in mail and "not monitored" in mail
    text = render_text(data)
    assert "Not monitored: prices is not monitored: no reference" in text
    assert f"churn is pinned to version 1 until {until:%Y-%m-%d %H:%M} UTC" in text
