"""Build, archive and send the weekly report; the scheduled job and its catch-up.

A report is archived twice: as a file under `report.directory` (a relative one
under service.state_dir) and in the `reports` table (so any daemon of an HA
pair can serve it). Sending goes
through the alerts' transactional outbox: a Slack summary with a link, and an
email with an email-safe summary inline and the full report attached. The
`reports` row is what makes the job idempotent: its `sent_at`, set in the
transaction that queues the messages, marks a week as sent, so the weekly run and
the catch-up at start-up send a week once, and a week that was built but not sent
(a failed send, `mlmaint report` without --send) is built again and sent. Without
a report channel a built week is done. Rebuilding a week by hand replaces it.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from daemon.alerts.message import Attachment, Message
from daemon.alerts.policy import enqueue_message
from daemon.cadence import cycle_start, trigger_for
from daemon.config import EX_CONFIG, Schedule, Settings
from daemon.jobs import JobContext
from daemon.private import write_private
from daemon.report.gather import gather
from daemon.report.model import WeekReport
from daemon.report.render import render_email, render_report, render_text
from daemon.report.weeks import (
    Week,
    WeekError,
    last_complete_week,
    parse_week,
    require_started,
    week_containing,
    weeks_between,
)
from daemon.store.engine import transaction
from daemon.store.tables import Report

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class BuiltReport:
    week: str
    path: Path
    link: str
    data: WeekReport
    notification_ids: tuple[int, ...] = ()


def report_timezone(settings: Settings) -> str:
    return settings.report.schedule.timezone


def report_path(settings: Settings, week: str) -> Path:
    return settings.report_directory / f"mlmaint-report-{week}.html"


def report_link(settings: Settings, week: str) -> str:
    from daemon.links import report_url

    return report_url(settings.report.base_url, week)


def build_report(ctx: JobContext, week: str | Week, now: datetime) -> BuiltReport:
    """Gather, render and archive one week (file and store); replaces an earlier build."""
    started = time.monotonic()
    settings = ctx.settings
    target = parse_week(week, report_timezone(settings)) if isinstance(week, str) else week
    link = report_link(settings, target.label)
    with ctx.sessions() as session:
        data = gather(session, settings, target, now)
    html = render_report(data, link=link).encode("utf-8")
    path = report_path(settings, target.label)
    write_private(path, html)
    with transaction(ctx.sessions) as session:
        row = session.execute(
            select(Report).where(Report.week == target.label)
        ).scalar_one_or_none()
        if row is None:
            row = Report(week=target.label, created_at=now, path=str(path), summary={}, html=None)
            session.add(row)
        row.created_at = now
        row.path = str(path)
        row.summary = data.summary()
        row.html = html
    log.info(
        "report %s: %d model(s), %d action(s), %s in %.2fs",
        target.label,
        len(data.models),
        len(data.actions),
        path,
        time.monotonic() - started,
    )
    return BuiltReport(week=target.label, path=path, link=link, data=data)


def send_report(ctx: JobContext, built: BuiltReport, now: datetime) -> tuple[int, ...]:
    """Queue the Slack summary and the email on the configured channels (the outbox).

    The week's `reports` row is marked sent in the same transaction: either the
    messages are queued and the week is sent, or neither.
    """
    settings = ctx.settings
    title = f"mlmaint weekly report {built.week}"
    text = render_text(built.data, link=built.link)
    ids: list[int] = []
    scope = f"report:{built.week}"
    with transaction(ctx.sessions) as session:
        if settings.report.slack_channel:
            ids.append(
                enqueue_message(
                    session,
                    settings,
                    settings.report.slack_channel,
                    Message(title=title, text=text, link=built.link),
                    now,
                    kind="report",
                    scope=scope,
                )
            )
        if settings.report.email_channel:
            attachment = Attachment(
                filename=built.path.name,
                content_type="text/html",
                content=built.path.read_bytes(),
            )
            ids.append(
                enqueue_message(
                    session,
                    settings,
                    settings.report.email_channel,
                    Message(
                        title=title,
                        text=text,
                        html=render_email(built.data, link=built.link),
                        link=built.link,
                        attachments=(attachment,),
                    ),
                    now,
                    kind="report",
                    scope=scope,
                )
            )
        if ids:
            row = session.execute(
                select(Report).where(Report.week == built.week)
            ).scalar_one_or_none()
            if row is None:
                raise LookupError(f"report {built.week} is not in the store; build it first")
            row.sent_at = now
    return tuple(ids)


# --------------------------------------------------------------------------- schedule


def last_fire_time(schedule: Schedule, now: datetime) -> datetime:
    """The schedule's latest fire time at or before `now`, as the scheduler counts cycles.

    The scheduler's own trigger, so crontab weekdays mean what they mean there
    (Sunday = 0 or 7; APScheduler 3's `from_crontab` counts Monday as 0).
    """
    fired = cycle_start(trigger_for(schedule), now)
    return fired if fired is not None else now


def due_week(settings: Settings, now: datetime) -> Week:
    """The week the latest scheduled run reports on: the last one complete at that time."""
    fired = last_fire_time(settings.report.schedule, now)
    return last_complete_week(fired, report_timezone(settings))


def weekly_report(ctx: JobContext, now: datetime) -> BuiltReport | None:
    """The scheduled job, also run at start-up: build and send the due week once.

    A daemon that was down at the scheduled time produces the missed report on
    its next start. A week already sent is left alone; one built but not sent
    (its send failed, or it was built by hand) is built again and sent. Without a
    report channel, a built week is done.
    """
    settings = ctx.settings
    if not settings.report.enabled:
        return None
    week = due_week(settings, now)
    sends = bool(settings.report.slack_channel or settings.report.email_channel)
    with ctx.sessions() as session:
        row = session.execute(
            select(Report.id, Report.sent_at).where(Report.week == week.label)
        ).first()
    if row is not None and (row.sent_at is not None or not sends):
        log.debug("report %s already %s", week.label, "sent" if sends else "built")
        return None
    built = build_report(ctx, week, now)
    ids = send_report(ctx, built, now)
    return BuiltReport(
        week=built.week, path=built.path, link=built.link, data=built.data, notification_ids=ids
    )


def write_weekly_reports(ctx: JobContext, start: datetime, end: datetime, now: datetime) -> Path:
    """Build the report of every week overlapping [start, end) and return the latest's path.

    For the demo, which replays weeks in a minute: nothing is sent.
    """
    weeks = weeks_between(start, end, report_timezone(ctx.settings))
    if not weeks:
        raise ValueError(f"no week between {start.isoformat()} and {end.isoformat()}")
    return [build_report(ctx, week, now) for week in weeks][-1].path


def run_report_command(
    settings: Settings, week: str | None, *, send: bool, now: datetime | None = None
) -> int:
    """`mlmaint report [--week 2026-W47] [--send]`: build a week, print its path."""
    from daemon.store import migrate
    from daemon.store.engine import StoreError

    moment = now or datetime.now(UTC)
    ctx = JobContext.from_settings(settings)
    try:
        migrate.require_current(ctx.engine)
        target = parse_week(week, report_timezone(settings)) if week else due_week(settings, moment)
        require_started(target, moment)
        built = build_report(ctx, target, moment)
        if send:
            ids = send_report(ctx, built, moment)
            print(f"queued {len(ids)} notification(s) in the outbox", file=sys.stderr)
    except WeekError as exc:
        print(f"report: {exc}", file=sys.stderr)
        return 2
    except StoreError as exc:
        print(str(exc), file=sys.stderr)
        return EX_CONFIG
    finally:
        ctx.close()
    print(built.path)
    return 0


def current_week(settings: Settings, now: datetime) -> Week:
    return week_containing(now, report_timezone(settings))
