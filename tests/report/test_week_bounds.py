"""Which week a check run belongs to, future weeks refused, /reports/latest, and a
week with no data: the report of that week, and nothing of the weeks around it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from checks.interface import Status
from daemon.config import Schedule, parse_config
from daemon.jobs import JobContext
from daemon.replay import replay
from daemon.report import http
from daemon.report.deliver import BuiltReport, build_report, run_report_command
from daemon.report.gather import gather
from daemon.report.model import Health
from daemon.report.queries import load_runs
from daemon.report.render import render_report, render_text
from daemon.report.weeks import parse_week
from daemon.runs import RunOutcome
from daemon.schedule import JobRunner
from daemon.stages import JobFn, JobSpec, Stage
from daemon.store.tables import CheckRun, JobRun, Model
from tests.checks.frames import churn_settings
from tests.report.conftest import MakeCtx

# W48 is Mon 2026-11-23 .. Sun 11-29; the shift begins on Sunday the 29th.
SHIFT = date(2026, 11, 29)


def _daily_drift(
    sessions: sessionmaker[Session], first: date, last: date, name: str = "buyer"
) -> None:
    """A daily drift run per day from `first` to `last`, each filed by its window's end
    (the next midnight); the days from SHIFT on drift, the others do not."""
    with sessions() as session, session.begin():
        model = Model(name=name, created_at=datetime(2026, 10, 1, tzinfo=UTC))
        session.add(model)
        session.flush()
        day = first
        while day <= last:
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            shifted = day >= SHIFT
            session.add(
                CheckRun(
                    model_id=model.id,
                    kind="drift",
                    status=Status.ALERT if shifted else Status.OK,
                    window_start=start,
                    window_end=start + timedelta(days=1),
                    ran_at=start + timedelta(days=1, minutes=5),
                    duration_s=1.0,
                    rows=1000,
                    summary={"share": 0.5 if shifted else 0.0, "covers": day.isoformat()},
                )
            )
            day += timedelta(days=1)


def test_daily_windows_belong_to_the_week_of_their_data(make_ctx: MakeCtx) -> None:
    ctx = make_ctx()
    _daily_drift(ctx.sessions, date(2026, 11, 15), date(2026, 12, 1))
    for label in ("2026-W47", "2026-W48"):
        week = parse_week(label)
        with ctx.sessions() as session:
            (runs,) = load_runs(session, week).values()
        # Each day of the week once, labelled by the day the window covers.
        assert [r.day for r in runs] == list(week.days)
        assert [r.summary["covers"] for r in runs] == [d.isoformat() for d in week.days]

    w48 = parse_week("2026-W48")
    with ctx.sessions() as session:
        data = gather(session, ctx.settings, w48, w48.end)
    (buyer,) = data.models
    # The window ending Mon 11-30 00:00 holds Sunday's shift: it is W48's last day.
    assert buyer.drift_share[-1] == 0.5 and buyer.drift_share[:-1] == (0.0,) * 6
    assert buyer.counts["drift"].alert == 1
    w47 = parse_week("2026-W47")
    with ctx.sessions() as session:
        assert gather(session, ctx.settings, w47, w47.end).models[0].counts["drift"].alert == 0


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_future_week_is_refused_and_latest_is_the_last_ended_week(
    store_url: str, make_ctx: MakeCtx, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ctx = make_ctx()
    ctx = replace(
        ctx,
        settings=parse_config(
            {
                "service": {"state_dir": str(tmp_path / "var")},
                "store": {"url": store_url},
                "report": {"directory": str(tmp_path / "reports")},
            },
            environ={},
        ),
    )
    now = datetime(2026, 12, 2, 9, tzinfo=UTC)  # Wednesday of W49
    code = run_report_command(ctx.settings, "2027-W10", send=False, now=now)
    assert code == 2
    err = capsys.readouterr().err
    assert "2027-W10" in err and "after now" in err and "2026-W48" in err
    assert not list(Path(ctx.settings.report.directory).glob("*2027-W10*"))
    # The week in progress may be built (so far); a past week too.
    assert run_report_command(ctx.settings, "2026-W49", send=False, now=now) == 0
    assert run_report_command(ctx.settings, "2026-W47", send=False, now=now) == 0
    # Built by other means (the demo), a later week is still not the latest.
    build_report(ctx, "2026-W52", now)
    latest = http.handle(ctx, "/reports/latest", now=now)
    assert latest is not None and latest.status == 200
    assert b"2026-W47" in latest.body and b"2026-W49" not in latest.body
    later = http.handle(ctx, "/reports/latest", now=datetime(2026, 12, 14, tzinfo=UTC))
    assert later is not None and b"2026-W49" in later.body


def test_a_week_without_data_is_not_called_healthy(
    make_ctx: MakeCtx, engine: Engine, tmp_path: Path
) -> None:
    ctx = make_ctx()
    settings = churn_settings(
        tmp_path,
        {"kind": "file", "path": str(tmp_path / "reference.parquet")},
        str(engine.url),
        {"drift": {"thresholds": "calibrated"}},
        report={"directory": str(tmp_path / "reports")},
    )
    _daily_drift(ctx.sessions, date(2026, 11, 16), date(2026, 11, 22), name="churn")  # W47
    week = parse_week("2026-W49")
    with ctx.sessions() as session:
        data = gather(session, settings, week, week.end)
    (churn,) = data.models
    assert churn.health is Health.NO_DATA and data.no_data == ("churn",)
    assert not data.actions
    page = render_report(data)
    assert "every model is healthy" not in page and "no data for: churn" in page
    assert "runs a week" not in page
    assert "no data for: churn" in render_text(data)
    w47 = parse_week("2026-W47")
    with ctx.sessions() as session:
        policy = gather(session, settings, w47, w47.end).models[0].drift_policy
    # The drift runs whose window lies in W47, not the schedule's hourly 168.
    assert policy is not None and policy.runs_per_week == 7


def test_reports_and_the_outbox_go_under_state_dir(make_ctx: MakeCtx, tmp_path: Path) -> None:
    from daemon.alerts.channels.file import FileSender
    from daemon.alerts.delivery import build_sender

    state = tmp_path / "elsewhere" / "state"
    settings = parse_config({"service": {"state_dir": str(state)}}, environ={})
    assert settings.report.directory == Path("reports")  # the default, relative
    assert settings.report_directory == state / "reports"
    ctx = replace(make_ctx(), settings=settings)
    built = build_report(ctx, "2026-W47", datetime(2026, 11, 30, tzinfo=UTC))
    assert built.path == state / "reports" / "mlmaint-report-2026-W47.html"
    assert built.path.is_file()
    absolute = parse_config(
        {"service": {"state_dir": str(state)}, "report": {"directory": str(tmp_path / "r")}},
        environ={},
    )
    assert absolute.report_directory == tmp_path / "r"
    import httpx

    with httpx.Client() as client:
        sender, _ = build_sender(settings, "outbox", lambda: client)
    assert isinstance(sender, FileSender) and sender.path == state / "outbox.jsonl"


def test_daemon_health_counts_the_jobs_of_that_week(make_ctx: MakeCtx) -> None:
    """Two weeks (and a few hours) of runs, recorded by the job runner as the daemon
    runs them: each week's report counts its own, built on time or ten days late."""
    ctx = make_ctx()
    w45, w46, w47 = parse_week("2026-W45"), parse_week("2026-W46"), parse_week("2026-W47")
    failing = {
        (Stage.SAMPLE, datetime(2026, 11, 11, 6, tzinfo=UTC)),
        (Stage.SAMPLE, datetime(2026, 11, 12, 6, tzinfo=UTC)),
        (Stage.SAMPLE, datetime(2026, 11, 20, 12, tzinfo=UTC)),
        (Stage.FRAMEWORKS, datetime(2026, 11, 22, tzinfo=UTC)),  # W47's last scan
    }

    def resolve(stage: Stage) -> JobFn:
        def run(_ctx: JobContext, _model: str | None, now: datetime) -> object:
            if (stage, now) in failing:
                raise RuntimeError(f"{stage} broke at {now:%d %H:%M}")
            return None

        return run

    jobs = (
        JobSpec(stage=Stage.SAMPLE, model="buyer", schedule=Schedule(every=timedelta(hours=6))),
        JobSpec(stage=Stage.FRAMEWORKS, model=None, schedule=Schedule(every=timedelta(days=1))),
    )
    ran: list[tuple[str, datetime, RunOutcome]] = []
    replay(
        JobRunner(ctx, resolve=resolve),
        jobs,
        w46.start - timedelta(seconds=1),
        w47.end + timedelta(hours=6),  # W48 begins: two sample runs, one scan
        on_run=lambda spec, at, outcome: ran.append((spec.id, at, outcome)),
    )
    assert len(ran) == 2 * (28 + 7) + 2 + 1
    assert sum(outcome is RunOutcome.FAILED for *_, outcome in ran) == 4

    def jobs_of(built: BuiltReport) -> dict[str, tuple[int, int, str, datetime | None]]:
        # The last success is the run's end: its start and the (sub-second) duration.
        return {
            j.job_id: (
                j.runs,
                j.failures,
                j.last_status,
                j.last_success_at and j.last_success_at.replace(second=0, microsecond=0),
            )
            for j in built.data.daemon.jobs
        }

    on_time = build_report(ctx, w47, w47.end + timedelta(hours=8))
    assert jobs_of(on_time) == {
        "frameworks": (7, 1, "failed", datetime(2026, 11, 21, tzinfo=UTC)),
        "sample:buyer": (28, 1, "ok", datetime(2026, 11, 22, 18, tzinfo=UTC)),
    }
    [scan] = [j for j in on_time.data.daemon.jobs if j.job_id == "frameworks"]
    assert scan.last_error == "RuntimeError: frameworks broke at 22 00:00"
    # W48's first scan succeeded: nothing to fix, though W47 ended on a failure.
    assert on_time.data.daemon.failing == ()
    assert not [a for a in on_time.data.actions if a.text.startswith("Job ")]
    page = on_time.path.read_text()
    assert "Runs and failures in the week, from the job history" in page
    assert "job history begins" not in page

    late = build_report(ctx, w46, w47.end + timedelta(days=10))
    assert jobs_of(late) == {
        "frameworks": (7, 0, "ok", datetime(2026, 11, 15, tzinfo=UTC)),
        "sample:buyer": (28, 2, "ok", datetime(2026, 11, 15, 18, tzinfo=UTC)),
    }
    # The totals since the store began: both weeks and W48's first hours.
    with ctx.sessions() as session:
        assert session.get_one(JobRun, "sample:buyer").runs == 58

    before = build_report(ctx, w45, w47.end + timedelta(days=10))
    assert before.data.daemon.jobs == ()
    assert before.data.daemon.history_since == w46.start
    page = before.path.read_text()
    assert "No job run is recorded in this week" in page
    assert "The job history begins 2026-11-09 00:00 UTC" in page
