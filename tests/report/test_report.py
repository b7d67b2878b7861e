"""The weekly report on SQLite and PostgreSQL: gathered figures, the archived page,
its escaping and self-containment, the HTTP handlers, the job and its delivery."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from daemon.alerts.delivery import deliver_pending
from daemon.jobs import JobContext
from daemon.report import http
from daemon.report.deliver import build_report, due_week, weekly_report, write_weekly_reports
from daemon.report.gather import gather
from daemon.report.model import ActionKind, Health
from daemon.report.weeks import Week, WeekError, parse_week, week_containing, weeks_between
from daemon.store.tables import Notification, Report
from tests.report.conftest import WEEK, MakeCtx, Slack, Smtp
from tests.report.seed import XSS, Seeded

ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
# Nothing loads from elsewhere; links (href) are checked apart: absolute, under base_url.
EXTERNAL = re.compile(r"""(?:src|action|poster|data)\s*=\s*["']?\s*(?:https?:)?//""", re.I)
HREF = re.compile(r"""href\s*=\s*["']([^"']*)["']""", re.I)


def test_gather_a_multi_model_week(seeded: tuple[JobContext, Seeded], week: Week) -> None:
    ctx, _ = seeded
    with ctx.sessions() as session:
        data = gather(session, ctx.settings, week, week.end)
    by_name = {m.name: m for m in data.models}
    assert by_name["model-00"].health is Health.ALERTING
    assert by_name["model-01"].health is Health.DEGRADED
    assert by_name["model-02"].health is Health.HEALTHY
    assert data.health_counts == {"healthy": 1, "degraded": 1, "alerting": 1, "no data": 0}

    drifting = by_name["model-00"]
    assert {f.column for f in drifting.top_drift} == {XSS, "monthly_charges", "usage_gb"}
    top = drifting.top_drift[0]
    assert top.method == "wasserstein" and top.threshold == pytest.approx(0.1)
    assert 0.5 < top.drifted_share < 0.7
    assert drifting.drift_share[0] == 0.0 and drifting.drift_share[-1] == pytest.approx(3 / 7)
    perf = drifting.performance
    assert perf.metric == "roc_auc" and perf.baseline == pytest.approx(0.82)
    assert perf.last_estimated is not None and perf.last_estimated < 0.78
    assert perf.realized.count(None) == 0 and perf.alert_runs > 0
    assert by_name["model-02"].performance.alert_runs == 0
    assert drifting.latency_p95[0] is not None and drifting.latency_threshold == 250
    assert [r.registered_version for r in drifting.retrains] == ["4"]
    assert drifting.retrains[0].champion_version == "3" and not drifting.retrains[0].promoted
    assert {(a.kind, a.state, a.resolved_this_week) for a in drifting.alerts} == {
        ("drift", "firing", False),
        ("operations", "resolved", True),
    }
    # Sunday 23:00-24:00 included: its window ends at the week's end (next Monday 00:00).
    assert len(drifting.evidence) == 5
    assert by_name["model-01"].quality[0].column == "usage_gb"
    assert drifting.sampled == 7 * 1500 and drifting.rejected == {"type": 21}

    (env,) = data.frameworks
    assert [v.package for v in env.vulnerable] == ["torch"]
    assert env.vulnerable[0].advisories == ("GHSA-53q9-r3pm-6pq6", "PYSEC-2025-41")
    assert [e.package for e in env.eol] == ["python"]
    assert [o.package for o in env.outdated] == ["scikit-learn"]

    assert data.daemon.notifications["dead"] == 1 and data.daemon.rejected == 63
    assert data.daemon.failed_notifications[0][2] == "slack: 404 channel_not_found"
    texts = [a.text for a in data.actions]
    assert data.actions[0].kind is ActionKind.RETRAIN and "model-00" in texts[0]
    # The degraded model's action names every feature that drifted, not only the first.
    named = texts[0].split("; drifting: ", 1)[1].rstrip(")").split(", ")
    assert sorted(named) == sorted([XSS, "monthly_charges", "usage_gb"]), texts[0]
    # One advisory listed under two ids (GHSA and PYSEC) is one advisory to clear.
    assert "Upgrade torch from 2.5.1 to 2.6.0 to clear 1 advisory (serving)" in texts
    assert any("model-01" in t and "usage_gb" in t for t in texts)
    assert any("frameworks" in t and "ConnectError" in t for t in texts)


def test_report_is_archived_escaped_self_contained_and_served(
    seeded: tuple[JobContext, Seeded], week: Week
) -> None:
    ctx, _ = seeded
    now = week.end + timedelta(hours=8)
    built = build_report(ctx, WEEK, now)
    page = built.path.read_text("utf-8")
    assert built.path.parent == ctx.settings.report.directory
    # The feature name from data shows escaped, and the page runs no script at all.
    assert ESCAPED in page and XSS not in page
    assert "<script" not in page.lower()
    assert EXTERNAL.search(page) is None
    # Every link works from the archived file and the attachment: in-page, or absolute
    # under report.base_url (the evidence pages included).
    base = ctx.settings.report.base_url.rstrip("/") + "/"
    hrefs = HREF.findall(page)
    assert any("/reports/evidence/" in h for h in hrefs)
    assert all(h.startswith(("#", base)) for h in hrefs), [
        h for h in hrefs if not h.startswith(("#", base))
    ]
    assert "<link" not in page.lower() and "@import" not in page
    assert page.count('src="data:image/svg+xml;base64,') == 3
    for section in ("Summary", "Models", "Frameworks", "Daemon health", "Top drifting features"):
        assert section in page
    # The actions name every drifting feature of a degraded model, escaped like the rest.
    actions = page.split('<ol class="actions">', 1)[1].split("</ol>", 1)[0]
    [retrain] = [li for li in actions.split("<li>") if "Retrain model-00" in li]
    assert all(c in retrain for c in ("usage_gb", "monthly_charges", ESCAPED)), retrain
    # The retrain job says what failed, in words.
    assert (
        '<td class="mono" title="drift_and_decay">rt-20260101-<br>'
        '<span class="muted">drift and performance decay</span></td>'
    ) in page

    # Rebuilding replaces the archived row; the store and the file agree.
    again = build_report(ctx, WEEK, now + timedelta(minutes=5))
    with ctx.sessions() as session:
        rows = session.execute(select(Report)).scalars().all()
    assert [r.week for r in rows] == [WEEK] and rows[0].html == again.path.read_bytes()
    assert rows[0].summary["health"] == {"healthy": 1, "degraded": 1, "alerting": 1, "no data": 0}
    # One torch advisory under two ids: one advisory, one vulnerable package.
    assert (rows[0].summary["advisories"], rows[0].summary["vulnerable_packages"]) == (1, 1)

    latest = http.handle(ctx, "/reports/latest")
    assert latest is not None and latest.status == 200 and latest.body == again.path.read_bytes()
    assert "default-src 'none'" in latest.headers["Content-Security-Policy"]
    by_week = http.handle(ctx, f"/reports/{WEEK}")
    assert by_week is not None and by_week.body == latest.body
    index = http.handle(ctx, "/reports/")
    assert index is not None and f"href='{WEEK}'" in index.body.decode()
    redirect = http.handle(ctx, "/reports")
    assert redirect is not None and redirect.status == 301
    missing = http.handle(ctx, "/reports/2020-W01")
    assert missing is not None and missing.status == 404
    assert http.handle(ctx, "/healthz") is None
    # Each model says whether it has evidence pages, by its name: no "none" that reads
    # as the whole report's.
    assert "drift evidence of model-00, window ending" in page
    quiet = re.findall(r"No evidence page for (\S+) this week: none of its drift checks", page)
    assert quiet and "model-00" not in quiet, quiet
    run_id = int(re.findall(r'href="https?://[^"/]+/reports/evidence/(\d+)"', page)[0])
    evidence = http.handle(ctx, f"/reports/evidence/{run_id}")
    assert evidence is not None and evidence.status == 200 and b"evidence" in evidence.body


def test_weekly_job_catches_up_once_and_delivers_email_and_slack(
    make_ctx: MakeCtx, week: Week, smtp: Smtp, slack: Slack, tmp_path: Path
) -> None:
    ctx = make_ctx(
        report={
            "email_channel": "mail",
            "slack_channel": "team",
            "base_url": "https://mlmaint.example.org",
        },
        channels=[
            {
                "name": "mail",
                "kind": "email",
                "host": "127.0.0.1",
                "port": smtp.port,
                "tls": "none",
                "recipients": ["ml-team@example.org"],
            },
            {"name": "team", "kind": "slack", "webhook_url": {"env": "HOOK"}},
        ],
        environ={"HOOK": slack.url},
    )
    from tests.report.seed import seed_week

    seed_week(ctx.sessions, week, models=2, evidence_dir=tmp_path / "evidence")
    # Monday 07:00, before the 08:00 run: the due week is still the one before.
    assert due_week(ctx.settings, week.end + timedelta(hours=7)).label == "2026-W46"
    # The daemon was down at 08:00 and starts at 09:30: the missed report is produced.
    now = week.end + timedelta(hours=9, minutes=30)
    built = weekly_report(ctx, now)
    assert built is not None and built.week == WEEK and len(built.notification_ids) == 2
    assert weekly_report(ctx, now + timedelta(hours=1)) is None
    with ctx.sessions() as session:
        assert session.execute(select(func.count()).select_from(Report)).scalar_one() == 1

    outcome = deliver_pending(ctx, now, only=built.notification_ids)
    assert outcome.sent == 2, outcome.errors
    (raw,) = smtp.mailbox.messages
    mail = email.message_from_bytes(raw, policy=email.policy.default)
    assert WEEK in mail["Subject"]
    body = mail.get_body(preferencelist=("html",))
    assert body is not None
    summary = body.get_content()
    assert "Actions this week" in summary and "Retrain model-00" in summary
    assert "https://mlmaint.example.org/reports/2026-W47" in summary
    assert "<img" not in summary and "<style" not in summary
    (attachment,) = list(mail.iter_attachments())
    assert attachment.get_filename() == built.path.name
    assert attachment.get_payload(decode=True) == built.path.read_bytes()
    (post,) = slack.posts
    assert "https://mlmaint.example.org/reports/2026-W47" in json_text(post)
    assert "Retrain model-00" in json_text(post)
    with ctx.sessions() as session:
        states = (
            session.execute(
                select(Notification.state).where(Notification.id.in_(built.notification_ids))
            )
            .scalars()
            .all()
        )
    assert [str(s) for s in states] == ["sent", "sent"]


def json_text(post: dict[str, object]) -> str:
    import json

    return json.dumps(post)


def test_weeks_parse_and_bound_in_the_report_time_zone() -> None:
    week = parse_week("2026-W47", "Europe/Berlin")
    assert week.monday.isoformat() == "2026-11-16"
    assert week.start == datetime(2026, 11, 15, 23, tzinfo=UTC)
    assert week.end - week.start == timedelta(days=7)
    assert parse_week("2026-W53").label == "2026-W53"
    for bad in ("2026-47", "2025-W53", "2026-W00", "w47"):
        with pytest.raises(WeekError):
            parse_week(bad)
    assert week_containing(datetime(2026, 1, 1, tzinfo=UTC)).label == "2026-W01"
    span = weeks_between(datetime(2026, 11, 18, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
    assert [w.label for w in span] == ["2026-W47", "2026-W48", "2026-W49"]


def test_write_reports_covers_every_simulated_week(make_ctx: MakeCtx, week: Week) -> None:
    ctx = make_ctx()
    from tests.report.seed import seed_week

    seed_week(ctx.sessions, week, models=1, every=timedelta(hours=6))
    latest = write_weekly_reports(ctx, week.start - timedelta(days=3), week.end, week.end)
    assert latest.name == "mlmaint-report-2026-W47.html"
    written = sorted(p.name for p in latest.parent.glob("*.html"))
    assert written == ["mlmaint-report-2026-W46.html", "mlmaint-report-2026-W47.html"]
    assert "model-00" in latest.read_text()


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_report_command_builds_a_past_week(
    store_url: str, engine: object, week: Week, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from daemon.cli import main
    from daemon.store.engine import session_factory
    from tests.report.seed import seed_week

    assert isinstance(engine, Engine)
    seed_week(session_factory(engine), week, models=1, every=timedelta(hours=6))
    config = tmp_path / "config.toml"
    config.write_text(f'[store]\nurl = "{store_url}"\n[report]\ndirectory = "{tmp_path / "out"}"\n')
    runner = CliRunner()
    done = runner.invoke(main, ["--config", str(config), "report", "--week", WEEK])
    assert done.exit_code == 0, done.output
    path = Path(done.stdout.strip().splitlines()[-1])
    assert path == tmp_path / "out" / "mlmaint-report-2026-W47.html" and path.is_file()
    bad = runner.invoke(main, ["--config", str(config), "report", "--week", "2026-47"])
    assert bad.exit_code == 2 and "not an ISO week" in bad.output
