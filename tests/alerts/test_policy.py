"""The alert policy on SQLite and PostgreSQL: fire once, repeat, resolve after the
cooldown, flapping stays quiet, grouping per scope, routing, quiet hours, acks."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from checks.interface import CheckKind
from daemon.alerts.acks import ack
from daemon.alerts.finding import Finding, StageKind
from daemon.alerts.jobs import alert_cycle
from daemon.alerts.policy import apply_findings, quiet_until
from daemon.config import QuietHours, Severity
from daemon.store.tables import Alert, AlertState, Notification, NotificationAlert
from tests.alerts.conftest import MakeCtx, make_settings

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def drift(subject: str, firing: bool, scope: str = "churn", **kw: object) -> Finding:
    return Finding(
        scope=scope,
        kind=CheckKind.DRIFT,
        subject=subject,
        firing=firing,
        summary=f"{subject} drifted" if firing else f"{subject} is stable",
        value=0.31 if firing else 0.02,
        threshold=0.1,
        link="http://127.0.0.1:8787/evidence/1.html",
        **kw,  # type: ignore[arg-type]
    )


def file_settings(outbox: Path, **alerts: object) -> dict[str, object]:
    return {
        "repeat_interval": "24h",
        "cooldown": "1h",
        "channels": [{"name": "outbox", "kind": "file", "path": str(outbox)}],
        **alerts,
    }


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(ln) for ln in path.read_text().splitlines()] if path.exists() else []


def test_a_week_with_a_flapping_feature(make_ctx: MakeCtx, tmp_path: Path) -> None:
    """Hourly checks for 7 days: `flap` clears for one check in every 3 (inside the
    1 h cooldown), `steady` fires all week, `fine` never fires. Then all clear."""
    outbox = tmp_path / "outbox.jsonl"
    ctx = make_ctx(make_settings(file_settings(outbox)))
    hours = 7 * 24
    for h in range(hours):
        now = T0 + timedelta(hours=h)
        findings = [drift("flap", h % 3 != 1), drift("steady", True), drift("fine", False)]
        alert_cycle(ctx, now, findings)
    end = T0 + timedelta(hours=hours)
    for h in range(3):
        alert_cycle(ctx, end + timedelta(hours=h), [drift("flap", False), drift("steady", False)])

    sent = lines(outbox)
    per_alert: dict[str, list[tuple[str, datetime]]] = {}
    for line in sent:
        payload = line["payload"]
        assert isinstance(payload, dict)
        for item in payload["items"]:
            per_alert.setdefault(item["subject"], []).append(
                (item["change"], datetime.fromisoformat(str(line["created_at"])))
            )
    assert set(per_alert) == {"flap", "steady"}
    for subject, events in per_alert.items():
        changes = Counter(c for c, _ in events)
        assert changes == {"firing": 1, "repeat": 6, "resolved": 1}, (subject, changes)
        announced = [t for c, t in events if c != "resolved"]
        gaps = [b - a for a, b in itertools.pairwise(announced)]
        assert all(g >= timedelta(hours=24) for g in gaps), (subject, gaps)
        assert events[-1][0] == "resolved"
        # Announced only after the cooldown: one hour after the last check that fired.
        assert events[-1][1] == end + timedelta(hours=1)
    # The two alerts changed together, so each cycle sent one grouped message.
    assert len(sent) == 8
    assert all(len(line["payload"]["items"]) == 2 for line in sent)  # type: ignore[index]
    with ctx.sessions() as s:
        flap = s.scalars(select(Alert).where(Alert.subject == "flap")).one()
        assert flap.state == AlertState.RESOLVED
        # Fired again after each one-check clearing (h = 2, 5, ... 167), never announced.
        assert flap.fire_count == 1 + 56


def test_one_message_per_scope_per_cycle_and_the_links(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx = make_ctx(make_settings(file_settings(tmp_path / "o.jsonl")))
    with ctx.sessions() as s, s.begin():
        out = apply_findings(
            s,
            ctx.settings,
            [drift(f"f{i}", True) for i in range(5)] + [drift("x", True, scope="fraud")],
            T0,
        )
    assert out.fired == 6 and len(out.notification_ids) == 2
    with ctx.sessions() as s:
        rows = s.scalars(select(Notification).order_by(Notification.id)).all()
        assert [(r.scope, r.kind, len(r.payload["items"])) for r in rows] == [  # type: ignore[arg-type]
            ("churn", "firing", 5),
            ("fraud", "firing", 1),
        ]
        links = s.execute(select(NotificationAlert)).all()
        assert len(links) == 6


def test_routing_by_severity_and_model(make_ctx: MakeCtx, tmp_path: Path) -> None:
    settings = make_settings(
        {
            "channels": [
                {"name": "all", "kind": "file", "path": str(tmp_path / "all.jsonl")},
                {
                    "name": "pager",
                    "kind": "file",
                    "path": str(tmp_path / "pager.jsonl"),
                    "min_severity": "critical",
                },
                {
                    "name": "fraud-team",
                    "kind": "file",
                    "path": str(tmp_path / "fraud.jsonl"),
                    "models": ["fraud"],
                },
            ]
        }
    )
    ctx = make_ctx(settings)
    findings = [
        drift("a", True),
        drift("b", True, severity=Severity.CRITICAL),
        drift("c", True, scope="fraud"),
    ]
    alert_cycle(ctx, T0, findings)
    subjects = {
        name: sorted(
            i["subject"] for ln in lines(tmp_path / f"{name}.jsonl") for i in ln["payload"]["items"]
        )  # type: ignore[index, union-attr]
        for name in ("all", "pager", "fraud")
    }
    assert subjects == {"all": ["a", "b", "c"], "pager": ["b"], "fraud": ["c"]}


def test_escalation_is_announced_at_once(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx = make_ctx(make_settings(file_settings(tmp_path / "o.jsonl")))
    with ctx.sessions() as s, s.begin():
        apply_findings(s, ctx.settings, [drift("a", True)], T0)
        same = apply_findings(s, ctx.settings, [drift("a", True)], T0 + timedelta(hours=1))
        up = apply_findings(
            s, ctx.settings, [drift("a", True, severity=Severity.CRITICAL)], T0 + timedelta(hours=2)
        )
    assert same.notification_ids == () and up.escalated == 1


def test_quiet_hours_hold_non_critical_until_the_end(make_ctx: MakeCtx, tmp_path: Path) -> None:
    outbox = tmp_path / "o.jsonl"
    quiet = {"start": "22:00", "end": "07:00", "timezone": "Europe/Berlin"}
    ctx = make_ctx(make_settings(file_settings(outbox, quiet_hours=quiet)))
    night = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)  # 00:30 in Berlin
    alert_cycle(ctx, night, [drift("warn", True)])
    alert_cycle(ctx, night, [drift("crit", True, scope="fraud", severity=Severity.CRITICAL)])
    assert [ln["scope"] for ln in lines(outbox)] == ["fraud"]
    morning = datetime(2026, 3, 3, 6, 0, tzinfo=UTC)  # 07:00 in Berlin
    alert_cycle(ctx, morning - timedelta(minutes=1))
    assert len(lines(outbox)) == 1
    alert_cycle(ctx, morning)
    assert [ln["scope"] for ln in lines(outbox)] == ["fraud", "churn"]


def test_quiet_until_handles_windows_across_midnight() -> None:
    q = QuietHours(start="22:00", end="07:00", timezone="UTC")
    assert quiet_until(q, datetime(2026, 1, 1, 21, 59, tzinfo=UTC)) is None
    assert quiet_until(q, datetime(2026, 1, 1, 23, 0, tzinfo=UTC)) == datetime(
        2026, 1, 2, 7, tzinfo=UTC
    )
    assert quiet_until(q, datetime(2026, 1, 2, 3, 0, tzinfo=UTC)) == datetime(
        2026, 1, 2, 7, tzinfo=UTC
    )
    day = QuietHours(start="12:00", end="13:00", timezone="UTC")
    assert quiet_until(day, datetime(2026, 1, 1, 12, 30, tzinfo=UTC)) == datetime(
        2026, 1, 1, 13, tzinfo=UTC
    )


def test_ack_silences_repeats_until_resolved_or_until(make_ctx: MakeCtx, tmp_path: Path) -> None:
    outbox = tmp_path / "o.jsonl"
    ctx = make_ctx(make_settings(file_settings(outbox, cooldown="0s")))
    alert_cycle(ctx, T0, [drift("a", True), drift("b", True, scope="fraud")])
    with ctx.sessions() as s, s.begin():
        a = s.scalars(select(Alert).where(Alert.subject == "a")).one()
        b = s.scalars(select(Alert).where(Alert.subject == "b")).one()
        ack(s, a.id, T0, note="known, fix deploying")
        ack(s, b.id, T0, until=T0 + timedelta(hours=30))
    for day in range(1, 3):
        alert_cycle(
            ctx, T0 + timedelta(days=day), [drift("a", True), drift("b", True, scope="fraud")]
        )
    kinds = [(ln["scope"], ln["kind"]) for ln in lines(outbox)]
    # churn acked until it resolves: no repeat; fraud acked 30 h: repeat on day 2 only.
    assert kinds == [("churn", "firing"), ("fraud", "firing"), ("fraud", "repeat")]
    alert_cycle(ctx, T0 + timedelta(days=3), [drift("a", False)])
    assert [ln["kind"] for ln in lines(outbox) if ln["scope"] == "churn"][-1] == "resolved"
    with ctx.sessions() as s:
        a = s.scalars(select(Alert).where(Alert.subject == "a")).one()
        assert a.acked_at is None


def test_refire_after_a_sent_resolution_is_news(make_ctx: MakeCtx, tmp_path: Path) -> None:
    outbox = tmp_path / "o.jsonl"
    ctx = make_ctx(make_settings(file_settings(outbox)))
    alert_cycle(ctx, T0, [drift("a", True)])
    alert_cycle(ctx, T0 + timedelta(hours=1), [drift("a", False)])
    alert_cycle(ctx, T0 + timedelta(hours=3), [drift("a", False)])
    alert_cycle(ctx, T0 + timedelta(hours=4), [drift("a", True)])
    assert [ln["kind"] for ln in lines(outbox)] == ["firing", "resolved", "firing"]


def test_repeat_intervals_per_kind(make_ctx: MakeCtx, tmp_path: Path) -> None:
    """Known advisories repeat weekly by default while drift repeats daily."""
    outbox = tmp_path / "outbox.jsonl"
    ctx = make_ctx(make_settings(file_settings(outbox)))
    advisory = Finding(
        scope="serving",
        kind=StageKind.FRAMEWORK,
        subject="torch:PYSEC-2022-43015",
        firing=True,
        summary="torch 1.13.0 is vulnerable",
    )
    for day in range(15):
        alert_cycle(ctx, T0 + timedelta(days=day), [advisory, drift("age", True)])
    changes: dict[str, Counter[str]] = {}
    for line in lines(outbox):
        for item in line["payload"]["items"]:  # type: ignore[index]
            changes.setdefault(item["kind"], Counter())[item["change"]] += 1
    assert changes["drift"] == {"firing": 1, "repeat": 14}
    assert changes["framework"] == {"firing": 1, "repeat": 2}


def decision(event_id: str, subject: str = "promotion") -> Finding:
    return Finding(
        scope="churn",
        kind=StageKind.RETRAIN,
        subject=subject,
        firing=subject == "failure",
        severity=Severity.WARNING if subject == "failure" else Severity.INFO,
        summary=f"churn: {subject} of job {event_id}",
        event_id=event_id,
    )


def test_an_event_is_told_once_and_keeps_no_firing_state(make_ctx: MakeCtx, tmp_path: Path) -> None:
    outbox = tmp_path / "outbox.jsonl"
    ctx = make_ctx(make_settings(file_settings(outbox)))
    # One cycle: a drift alert fires and a job is promoted: one message, two items.
    alert_cycle(ctx, T0, [drift("age", True), decision("job-1")])
    # The same job handed in again (a poll retried after a crash): nothing new.
    alert_cycle(ctx, T0 + timedelta(minutes=5), [decision("job-1")])
    # Another job's failure is another event, even with the same subject and summary shape.
    alert_cycle(ctx, T0 + timedelta(hours=1), [decision("job-2", "failure")])
    # Two days on: the drift alert repeats, no event does.
    alert_cycle(ctx, T0 + timedelta(days=2), [drift("age", True)])

    sent = lines(outbox)
    got = [
        [(i["subject"], i["change"]) for i in line["payload"]["items"]]  # type: ignore[index]
        for line in sent
    ]
    assert got == [
        [("age", "firing"), ("promotion", "notice")],
        [("failure", "notice")],
        [("age", "repeat")],
    ]
    assert sent[1]["title"] == "[mlmaint] [warning] churn: failure of job job-2"
    assert sent[1]["kind"] == "notice"
    with ctx.sessions() as session:
        states = {
            (a.subject, a.state)
            for a in session.scalars(select(Alert).where(Alert.kind == "retrain"))
        }
    assert states == {("promotion", AlertState.EVENT), ("failure", AlertState.EVENT)}


def test_a_past_window_neither_fires_nor_resolves(make_ctx: MakeCtx, tmp_path: Path) -> None:
    """Alerts speak of the latest checked window: findings of an older window (a past
    window checked again) are set aside, whoever hands them in."""
    from checks.interface import CheckResult, Status
    from daemon.checking.records import KindRun, store_runs

    outbox = tmp_path / "outbox.jsonl"
    ctx = make_ctx(make_settings(file_settings(outbox, cooldown="0s")))
    day = timedelta(days=1)
    latest = T0 + 10 * day
    with ctx.sessions.begin() as s:
        # A future window stored before `check` refused those is no one's present.
        for end in (T0, latest, datetime.now(UTC) + 365 * day):
            result = CheckResult(kind=CheckKind.DRIFT, status=Status.OK, rows=10)
            store_runs(
                s,
                "churn",
                {CheckKind.DRIFT: KindRun(result=result, duration_s=0.1)},
                start=end - day,
                end=end,
            )
    now_findings = [drift("a", True, window_end=latest), drift("b", True, window_end=latest)]
    with ctx.sessions.begin() as s:
        fired = apply_findings(s, ctx.settings, now_findings, latest)
    assert fired.fired == 2 and fired.stale == 0

    past = [drift("a", False, window_end=T0), drift("c", True, window_end=T0)]
    with ctx.sessions.begin() as s:
        out = apply_findings(s, ctx.settings, past, T0)
        states = {a.subject: a.state for a in s.scalars(select(Alert))}
    assert out.stale == 2 and out.resolved == 0 and out.fired == 0, out
    assert out.notification_ids == ()
    assert states == {"a": AlertState.FIRING, "b": AlertState.FIRING}

    # The latest window itself (checked again) still speaks for now.
    with ctx.sessions.begin() as s:
        cleared = apply_findings(s, ctx.settings, [drift("a", False, window_end=latest)], latest)
    assert cleared.resolved == 1 and cleared.stale == 0
