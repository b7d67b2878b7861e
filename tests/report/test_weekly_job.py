"""The weekly job's schedule arithmetic and its idempotency: a week is done once sent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from daemon.alerts.message import Message
from daemon.alerts.policy import enqueue_message
from daemon.cadence import cycle_start, trigger_for
from daemon.config import Schedule, parse_config
from daemon.jobs import JobContext
from daemon.report.deliver import build_report, due_week, last_fire_time, send_report, weekly_report
from daemon.report.weeks import Week
from daemon.store.tables import Notification, Report
from tests.report.conftest import WEEK, MakeCtx
from tests.report.seed import seed_week

# Monday 2026-11-23, just after a 07:00 run: the first day after 2026-W47.
MONDAY_RUN = datetime(2026, 11, 23, 7, 0, 30, tzinfo=UTC)


@pytest.mark.parametrize("dow", ["1", "mon", "MON", "1-1", "mon-mon", "7,1", "sun,1"])
def test_due_week_follows_the_schedulers_crontab_weekdays(dow: str) -> None:
    schedule = Schedule(cron=f"0 7 * * {dow}", timezone="UTC")
    settings = parse_config(
        {"report": {"schedule": schedule.model_dump(mode="json")}}, "<test>", {}
    )
    fired = last_fire_time(schedule, MONDAY_RUN)
    assert fired == datetime(2026, 11, 23, 7, tzinfo=UTC)
    assert fired == cycle_start(trigger_for(schedule), MONDAY_RUN)
    assert due_week(settings, MONDAY_RUN).label == WEEK
    # Half a minute before the run, the due week is still the one before.
    assert due_week(settings, MONDAY_RUN - timedelta(minutes=1)).label == "2026-W46"


@pytest.mark.parametrize("dow", ["0", "sun", "7"])
def test_sunday_is_zero_or_seven_as_in_crontab(dow: str) -> None:
    # Sunday 2026-11-22 23:30 in Berlin is Sunday 22:30 UTC, the last evening of W47.
    schedule = Schedule(cron=f"30 23 * * {dow}", timezone="Europe/Berlin")
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    assert last_fire_time(schedule, now) == datetime(2026, 11, 22, 22, 30, tzinfo=UTC)


def test_an_interval_schedule_fires_on_the_schedulers_grid() -> None:
    schedule = Schedule(every=timedelta(days=7))
    now = MONDAY_RUN + timedelta(days=2)
    # The grid starts on a Monday at midnight UTC.
    assert last_fire_time(schedule, now) == datetime(2026, 11, 23, tzinfo=UTC)


def _mailing_ctx(make_ctx: MakeCtx, tmp_path: Path) -> JobContext:
    """Both report channels, writing into files (real channels, no network)."""
    return make_ctx(
        report={"email_channel": "mail", "slack_channel": "team"},
        channels=[
            {"name": "mail", "kind": "file", "path": str(tmp_path / "mail.jsonl")},
            {"name": "team", "kind": "file", "path": str(tmp_path / "team.jsonl")},
        ],
    )


def _counts(ctx: JobContext) -> tuple[int, int]:
    with ctx.sessions() as session:
        reports = session.execute(select(func.count()).select_from(Report)).scalar_one()
        queued = session.execute(
            select(func.count()).select_from(Notification).where(Notification.kind == "report")
        ).scalar_one()
    return reports, queued


def _sent_at(ctx: JobContext, label: str) -> datetime | None:
    with ctx.sessions() as session:
        sent: datetime | None = session.execute(
            select(Report.sent_at).where(Report.week == label)
        ).scalar_one()
    return sent


def test_a_failed_send_is_retried_by_the_next_run(
    make_ctx: MakeCtx, week: Week, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = _mailing_ctx(make_ctx, tmp_path)
    seed_week(ctx.sessions, week, models=1, every=timedelta(hours=6))
    now = week.end + timedelta(hours=8, seconds=5)

    def fail_on_email(*args: object, **kwargs: object) -> int:
        message = args[3]
        assert isinstance(message, Message)
        if message.attachments:
            raise OSError("outbox unavailable")
        return enqueue_message(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("daemon.report.deliver.enqueue_message", fail_on_email)
    with pytest.raises(OSError):
        weekly_report(ctx, now)
    # Built and archived, but nothing queued: the Slack row rolled back with the email's.
    assert _counts(ctx) == (1, 0)
    assert _sent_at(ctx, WEEK) is None

    monkeypatch.setattr("daemon.report.deliver.enqueue_message", enqueue_message)
    built = weekly_report(ctx, now + timedelta(minutes=5))
    assert built is not None and built.week == WEEK and len(built.notification_ids) == 2
    assert _counts(ctx) == (1, 2)
    assert _sent_at(ctx, WEEK) == now + timedelta(minutes=5)
    assert weekly_report(ctx, now + timedelta(hours=1)) is None
    assert _counts(ctx) == (1, 2)


def test_a_week_built_by_hand_is_still_sent_by_the_job(
    make_ctx: MakeCtx, week: Week, tmp_path: Path
) -> None:
    ctx = _mailing_ctx(make_ctx, tmp_path)
    seed_week(ctx.sessions, week, models=1, every=timedelta(hours=6))
    # `mlmaint report --week 2026-W47` without --send, on the Sunday evening.
    build_report(ctx, WEEK, week.end - timedelta(hours=3))
    assert _counts(ctx) == (1, 0) and _sent_at(ctx, WEEK) is None
    now = week.end + timedelta(hours=8, seconds=5)
    built = weekly_report(ctx, now)
    assert built is not None and len(built.notification_ids) == 2
    assert _counts(ctx) == (1, 2) and _sent_at(ctx, WEEK) == now
    # Sent by hand again (`--send`): queued again, sent_at moves on; the job stays put.
    later = now + timedelta(hours=2)
    assert len(send_report(ctx, build_report(ctx, WEEK, later), later)) == 2
    assert _sent_at(ctx, WEEK) == later
    assert weekly_report(ctx, later + timedelta(minutes=1)) is None
    assert _counts(ctx) == (1, 4)


def test_without_a_report_channel_a_built_week_is_done(make_ctx: MakeCtx, week: Week) -> None:
    ctx = make_ctx()
    seed_week(ctx.sessions, week, models=1, every=timedelta(hours=6))
    now = week.end + timedelta(hours=8, seconds=5)
    built = weekly_report(ctx, now)
    assert built is not None and built.notification_ids == ()
    assert _sent_at(ctx, WEEK) is None
    assert weekly_report(ctx, now + timedelta(hours=1)) is None
    assert _counts(ctx) == (1, 0)
