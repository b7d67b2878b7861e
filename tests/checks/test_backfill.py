"""Backfill and replay: past windows checked from the stored rows, once per window end.

Fourteen days of predictions are stored (the second week drifted), then checked
through `mlmaint check --from --to --every 1d` on SQLite and PostgreSQL: one
drift run per day, and the same command again changes nothing. A report built
afterwards for the first week shows its predictions and its runs. The daemon's
first-start backfill is the function the service calls, with a fixed clock.
"""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from checks.interface import CheckKind, CheckResult, Measure, Status
from daemon.checking.backfill import (
    BackgroundBackfill,
    first_start_backfill,
    first_start_ends,
    models_to_backfill,
    parse_time,
    window_ends,
)
from daemon.checking.records import KindRun, store_runs
from daemon.config import parse_config
from daemon.jobs import JobContext
from daemon.retraining.decide import policy_decision
from daemon.store.models import ensure_model
from daemon.store.tables import CheckMetric, CheckRun, IngestCount, Model
from tests.checks.frames import (
    CATEGORICAL,
    NUMERIC,
    START,
    churn_config,
    churn_config_file,
    window,
)
from tests.checks.stored import stored_prediction

DAYS = 14
PER_DAY = 150
# START is Monday 2026-01-05: the first week of rows is ISO week 2026-W02.
WEEK = "2026-W02"
CHECKS = {
    "min_rows": 50,
    # Evidently's page costs seconds per alerting window; the evidence has tests of its own.
    "drift": {"evidence": False},
    "performance": {"bootstrap": 30, "min_labelled": 100},
    "operations": {"max_latency_p95_ms": 1000},
}


def _config(tmp_path: Path, url: str, ref_path: Path, backfill: str = "7d") -> dict[str, object]:
    reference = {"kind": "file", "path": str(ref_path)}
    report = {"directory": str(tmp_path / "reports")}
    return {
        **churn_config(tmp_path, reference, url, CHECKS, report=report),
        "checks": {"backfill": backfill},
    }


def _toml(tmp_path: Path, url: str, ref_path: Path) -> Path:
    """The same settings as a config file for the CLI."""
    return churn_config_file(
        tmp_path,
        url,
        ref_path,
        sections=f'[report]\ndirectory = "{tmp_path / "reports"}"',
        checks="""
[models.checks]
min_rows = 50
[models.checks.drift]
evidence = false
[models.checks.performance]
bootstrap = 30
min_labelled = 100
[models.checks.operations]
max_latency_p95_ms = 1000
""",
    )


def _store_days(sessions: sessionmaker[Session], days: int = DAYS, start: datetime = START) -> int:
    """PER_DAY predictions a day from `start`; the second week's ages drifted."""
    stored = 0
    with sessions.begin() as session:
        mid = ensure_model(session, "churn", start)
        for day in range(days):
            frame = window(PER_DAY, 100 + day, shift=1.0 if day >= 7 else 0.0)
            for i, row in enumerate(frame.to_dict("records")):
                session.add(
                    stored_prediction(
                        session,
                        mid,
                        row,
                        start + timedelta(days=day, seconds=i * (86_000 // PER_DAY)),
                        start,
                        prediction_id=f"d{day}-{i}",
                    )
                )
                stored += 1
        # The rows came in late, all on one day after both weeks: the ingest counters
        # (kept by day of ingestion) say nothing about the weeks they belong to.
        session.add(
            IngestCount(
                model_id=mid,
                day=(start + timedelta(days=30)).date().isoformat(),
                stream="predictions",
                outcome="sampled",
                count=stored,
            )
        )
    return stored


def _reference(tmp_path: Path) -> Path:
    path = tmp_path / "reference.parquet"
    window(1500, 1).rename(columns={"label": "churned"}).to_parquet(path)
    return path


def _stored(sessions: sessionmaker[Session]) -> list[tuple[object, ...]]:
    """Every stored run with its measures, as comparable tuples."""
    with sessions() as session:
        return sorted(
            (
                r.id,
                r.kind,
                r.window_end.replace(tzinfo=None),
                str(r.status),
                r.rows,
                m.subject,
                m.name,
                m.value,
                m.threshold,
                m.alerting,
            )
            for r, m in session.execute(
                select(CheckRun, CheckMetric).join(CheckMetric, CheckMetric.run_id == CheckRun.id)
            )
        )


def _drift_ends(sessions: sessionmaker[Session]) -> list[datetime]:
    with sessions() as session:
        return [
            e.replace(tzinfo=UTC)
            for e in session.scalars(
                select(CheckRun.window_end)
                .where(CheckRun.kind == CheckKind.DRIFT.value)
                .order_by(CheckRun.window_end)
            )
        ]


def test_times_and_ranges() -> None:
    assert parse_time("2026-01-05") == datetime(2026, 1, 5, tzinfo=UTC)
    assert parse_time("2026-01-05T12:30") == datetime(2026, 1, 5, 12, 30, tzinfo=UTC)
    assert parse_time("2026-01-05T12:30Z") == datetime(2026, 1, 5, 12, 30, tzinfo=UTC)
    assert parse_time("2026-01-05T14:30+02:00") == datetime(2026, 1, 5, 12, 30, tzinfo=UTC)
    with pytest.raises(ValueError, match="not an ISO time or date: 'yesterday'"):
        parse_time("yesterday")
    day = timedelta(days=1)
    ends = window_ends(START, START + 13 * day, day)
    assert len(ends) == 14 and ends[0] == START and ends[-1] == START + 13 * day
    assert window_ends(START, START + day - timedelta(seconds=1), day) == (START,)
    with pytest.raises(ValueError, match="before it starts"):
        window_ends(START, START - day, day)


def test_backfill_14_days_through_the_cli_once_per_window(
    tmp_path: Path, store_url: str, engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    from daemon.cli import main

    stored = _store_days(session_factory)
    config = _toml(tmp_path, store_url, _reference(tmp_path))
    args = [
        "--config",
        str(config),
        "check",
        "churn",
        "--from",
        "2026-01-06",
        "--to",
        "2026-01-19",
        "--every",
        "1d",
    ]
    first = CliRunner().invoke(main, args, env={"COLUMNS": "80"})
    # The second week drifted: some window alerts (exit 1), none is an error.
    assert first.exit_code == 1, first.output
    # One line per window, each within 80 columns, as the whole output is.
    lines = first.output.splitlines()
    assert all(len(line) <= 80 for line in lines), first.output
    windows = [line for line in lines if re.match(r"2026-01-\d\d 00:00 ", line)]
    assert len(windows) == 14, first.output
    assert all(re.search(r" 150 +(ok|alert) ", line) for line in windows), first.output
    assert "14 window(s) checked" in first.output and "no alerts sent" in first.output
    # The first run replaced nothing, and does not say it did.
    assert "replaced" not in first.output, first.output
    # Not a terminal: no progress bar, no escape codes in what a pipe receives.
    assert "\x1b" not in first.output and "checking churn" not in first.output
    expected = [START + timedelta(days=d + 1) for d in range(DAYS)]
    assert _drift_ends(session_factory) == expected
    before = _stored(session_factory)
    with session_factory() as session:
        runs = session.execute(
            select(CheckRun.window_end, CheckRun.rows, CheckRun.status)
            .where(CheckRun.kind == CheckKind.DRIFT.value)
            .order_by(CheckRun.window_end)
        ).all()
        # Each window read its own day by time, not the latest rows.
        assert [r.rows for r in runs] == [PER_DAY] * DAYS and sum(r.rows for r in runs) == stored
        statuses = [str(r.status) for r in runs]
        assert set(statuses[:7]) == {"ok"} and set(statuses[8:]) == {"alert"}, statuses
        # Past windows fire no alert unless --alert is given.
        from daemon.store.tables import Alert

        assert session.scalar(select(func.count()).select_from(Alert)) == 0

    again = CliRunner().invoke(main, args)
    assert again.exit_code == 1, again.output
    assert _drift_ends(session_factory) == expected
    assert "(14 checked before, replaced)" in again.output, again.output
    # Same runs (same ids: replaced in place), same measures, same values.
    assert _stored(session_factory) == before

    # One window again by --at: still one run per window end, its measures rewritten.
    at = CliRunner().invoke(
        main, ["--config", str(config), "check", "churn", "--at", "2026-01-12T00:00Z"]
    )
    assert at.exit_code == 0, at.output
    assert "150 rows, 2026-01-11 00:00 to 2026-01-12 00:00" in " ".join(at.output.split())
    assert _stored(session_factory) == before

    # Another window length is printed, never stored: its measures would not compare
    # with the history, nor with thresholds calibrated for the configured size.
    base = ["--config", str(config), "check", "churn"]
    other = CliRunner().invoke(main, [*base, "--at", "2026-01-12", "--window", "12h"])
    assert other.exit_code == 0, other.output
    said = " ".join(other.output.split())
    assert "74 rows, 2026-01-11 12:00 to 2026-01-12 00:00" in said, said
    assert "not stored: a 12h window is not the configured 1d" in said, said
    ranged = CliRunner().invoke(
        main,
        [
            *base,
            "--from",
            "2026-01-12",
            "--to",
            "2026-01-12",
            "--window",
            "12h",
            "--format",
            "json",
        ],
    )
    assert ranged.exit_code == 0, ranged.output
    cycles = json.loads(ranged.stdout)
    assert len(cycles) == 1 and {c["stored"] for c in cycles} == {False}
    assert {r["run_id"] for c in cycles for r in c["runs"]} == {None}
    assert _stored(session_factory) == before
    # ... and never handed to the alert policy: refused before anything is checked.
    for args in ([], ["--at", "2026-01-19"], ["--from", "2026-01-18", "--to", "2026-01-19"]):
        loud = CliRunner().invoke(main, [*base, *args, "--window", "12h", "--alert"])
        assert loud.exit_code == 2, loud.output
        assert "--alert needs the configured window: a 12h window" in loud.output, loud.output

    # Backfilled windows are history: a week of drifting windows replayed starts no
    # retrain (its failing passes are no streak), whatever the clock.
    ctx = JobContext.from_settings(parse_config(_config(tmp_path, store_url, _reference(tmp_path))))
    try:
        replayed = policy_decision(ctx, "churn", START + timedelta(days=DAYS + 1))
    finally:
        ctx.close()
    assert not replayed.submit and replayed.reason.startswith("no failing pass"), replayed

    bad = CliRunner().invoke(
        main,
        ["--config", str(config), "check", "churn", "--from", "2026-01-19", "--to", "2026-01-06"],
    )
    assert bad.exit_code == 2 and "before it starts" in bad.output, bad.output
    both = CliRunner().invoke(
        main,
        ["--config", str(config), "check", "churn", "--at", "2026-01-06", "--from", "2026-01-06"],
    )
    assert both.exit_code == 2, both.output

    # --alert speaks of now: a window older than the latest stored one is refused,
    # before anything is checked, and no alert is touched.
    past = CliRunner().invoke(main, [*base, "--at", "2026-01-12", "--alert"])
    assert past.exit_code == 2 and "alerts speak of now" in past.output, past.output
    assert "latest checked window (2026-01-19 00:00 UTC)" in past.output, past.output
    replay = CliRunner().invoke(
        main, [*base, "--from", "2026-01-10", "--to", "2026-01-12", "--alert"]
    )
    assert replay.exit_code == 2 and "alerts speak of now" in replay.output, replay.output
    # A window ending in the future has no rows yet and would pass for the present.
    for args in (["--at", "2099-01-01"], ["--from", "2026-01-18", "--to", "2099-01-01"]):
        ahead = CliRunner().invoke(main, [*base, *args])
        assert ahead.exit_code == 2 and "is in the future" in ahead.output, ahead.output
    assert _stored(session_factory) == before
    with session_factory() as session:
        from daemon.store.tables import Alert

        assert session.scalar(select(func.count()).select_from(Alert)) == 0

    # The latest window may alert; a past clean window handed to the policy by any
    # caller (here the check job itself) then resolves nothing.
    latest = CliRunner().invoke(main, [*base, "--at", "2026-01-19", "--alert"])
    assert latest.exit_code == 1, latest.output
    with session_factory() as session:
        firing = set(session.scalars(select(Alert.subject).where(Alert.state == "firing")))
    assert firing, "the drifted week fires"
    from daemon.checking.job import check_model

    ctx = JobContext.from_settings(parse_config(_config(tmp_path, store_url, _reference(tmp_path))))
    try:
        clean = check_model(ctx, "churn", START + timedelta(days=3), alert=True)
    finally:
        ctx.close()
    assert not clean.firing
    with session_factory() as session:
        still = set(session.scalars(select(Alert.subject).where(Alert.state == "firing")))
    assert still == firing


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_past_week_report_shows_its_rows_and_backfilled_checks(
    tmp_path: Path, store_url: str, engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    """The report of a week built after the fact: its stored predictions and its runs."""
    from daemon.checking.backfill import check_windows
    from daemon.cli import main
    from daemon.report.deliver import build_report
    from daemon.report.model import Health

    _store_days(session_factory)
    settings = parse_config(_config(tmp_path, store_url, _reference(tmp_path)), environ={})
    ctx = JobContext(settings=settings, engine=engine, sessions=session_factory)
    built = build_report(ctx, WEEK, START + timedelta(days=40))
    churn = next(m for m in built.data.models if m.name == "churn")
    # Before any check: the week's predictions are counted by their time, not by the
    # day they were ingested; with no run it has no health to tell yet.
    assert churn.sampled == 7 * PER_DAY and built.data.daemon.sampled == 7 * PER_DAY
    assert churn.health is Health.NO_DATA
    # ... and the report says how to check them.
    assert [a.text for a in built.data.actions] == [
        f"Check the week of churn: {7 * PER_DAY:,} predictions stored, none checked "
        "(mlmaint check churn --from 2026-01-06 --to 2026-01-12)"
    ]

    # The week's window ends and the one after it: the window ending Monday midnight
    # covers Sunday, this week's; the one ending the Tuesday after is the next week's.
    ends = window_ends(START + timedelta(days=1), START + timedelta(days=8), timedelta(days=1))
    check_windows(ctx, "churn", ends)
    in_week = [e for e in ends if built.data.week.start < e <= built.data.week.end]
    config = _toml(tmp_path, store_url, _reference(tmp_path))
    done = CliRunner().invoke(main, ["--config", str(config), "report", "--week", WEEK])
    assert done.exit_code == 0, done.output
    built = build_report(ctx, WEEK, START + timedelta(days=40))
    churn = next(m for m in built.data.models if m.name == "churn")
    assert churn.sampled == 7 * PER_DAY
    assert churn.counts[CheckKind.DRIFT].runs == len(in_week) == 7
    assert churn.health is Health.HEALTHY and churn.drift_share is not None
    assert not [a for a in built.data.actions if a.text.startswith("Check the week")]
    html = Path(done.stdout.strip().splitlines()[-1]).read_text()
    overview = html.split('<table class="overview">', 1)[1].split("</table>", 1)[0]
    row = overview.split('href="#model-1">churn</a>', 1)[1].split("</tr>", 1)[0]
    assert ">healthy</span>" in row and f'<td class="num">{7 * PER_DAY:,}</td>' in row, row


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_first_start_backfills_a_never_checked_model_once(
    tmp_path: Path, store_url: str, engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    _store_days(session_factory)
    settings = parse_config(_config(tmp_path, "sqlite://", _reference(tmp_path)), environ={})
    ctx = JobContext(settings=settings, engine=engine, sessions=session_factory)
    now = START + timedelta(days=DAYS, hours=9, minutes=20)  # the clock, injected
    model = settings.model("churn")
    ends = first_start_ends(model, now, settings.checks.backfill)
    # Back to back daily windows (the model's window) ending at UTC midnight, the last
    # week of them; the scheduled checks go on from `now`.
    assert ends == tuple(START + timedelta(days=DAYS - 6 + i) for i in range(7))
    assert models_to_backfill(ctx) == ("churn",)

    worker = BackgroundBackfill(ctx, models_to_backfill(ctx), now).start()
    assert worker.join(120) and not worker.running
    (result,) = worker.results
    assert result.complete and result.runs(CheckKind.DRIFT) == 7
    assert _drift_ends(session_factory) == list(ends)
    # A week of drifted windows, replayed: no retrain streak, none due.
    assert result.alerting >= 3
    decision = policy_decision(ctx, "churn", now)
    assert not decision.submit and decision.reason.startswith("no failing pass"), decision
    before = _stored(session_factory)
    # A restart is no first start: the model has runs, nothing is backfilled again.
    assert models_to_backfill(ctx) == ()
    assert first_start_backfill(ctx, now) == ()
    assert _stored(session_factory) == before
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Model)) == 1

    off = parse_config(_config(tmp_path, "sqlite://", _reference(tmp_path), "0s"), environ={})
    assert (
        models_to_backfill(JobContext(settings=off, engine=engine, sessions=session_factory)) == ()
    )


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_stopped_backfill_keeps_the_windows_it_ran(
    tmp_path: Path, store_url: str, engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    _store_days(session_factory)
    settings = parse_config(_config(tmp_path, "sqlite://", _reference(tmp_path)), environ={})
    ctx = JobContext(settings=settings, engine=engine, sessions=session_factory)
    asked = iter([False, False, True])
    (result,) = first_start_backfill(
        ctx, START + timedelta(days=DAYS), models=["churn"], should_stop=lambda: next(asked)
    )
    assert not result.complete and len(result.cycles) == 1 and result.asked == 7
    assert len(_drift_ends(session_factory)) == 1


def test_the_shipped_config_documents_the_default_backfill() -> None:
    from daemon.config import CheckingSettings, load_config

    root = Path(__file__).resolve().parents[2]
    assert load_config(root / "config.toml", environ={}).checks == CheckingSettings()
    assert CheckingSettings().backfill == timedelta(days=7)
    with pytest.raises(Exception, match="must be >= 0"):
        parse_config({"checks": {"backfill": -5}}, environ={})


def _drift_result(value: float) -> dict[CheckKind, KindRun]:
    result = CheckResult(
        kind=CheckKind.DRIFT,
        status=Status.OK,
        rows=5,
        measures=(Measure(subject="age", name="psi", value=value, threshold=0.2),),
    )
    return {CheckKind.DRIFT: KindRun(result=result, duration_s=0.1)}


def test_two_writers_of_one_window_leave_one_run(
    engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    """A second writer of a window waits for the first, then replaces its run."""
    with session_factory.begin() as session:
        ensure_model(session, "m", START)
    first = session_factory()
    first.begin()
    store_runs(first, "m", _drift_result(0.1), start=START - timedelta(days=1), end=START)
    done = threading.Event()
    failed: list[BaseException] = []

    def second() -> None:
        try:
            with session_factory.begin() as session:
                store_runs(
                    session, "m", _drift_result(0.3), start=START - timedelta(days=1), end=START
                )
        except BaseException as exc:  # reported below, on the test's thread
            failed.append(exc)
        done.set()

    thread = threading.Thread(target=second)
    thread.start()
    try:
        # Neither finds "nothing stored" while the other writes: the second waits.
        assert not done.wait(1.0)
    finally:
        first.commit()
        first.close()
    thread.join(30)
    assert done.is_set() and not failed, failed
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(CheckRun)) == 1
        assert session.scalars(select(CheckMetric.value)).all() == [0.3]


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_background_backfill_waits_until_the_model_is_ready(
    tmp_path: Path, store_url: str, engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    """The service's thread waits for the model's first sampling before it reads."""
    _store_days(session_factory, days=3)
    settings = parse_config(_config(tmp_path, store_url, _reference(tmp_path)), environ={})
    ctx = JobContext(settings=settings, engine=engine, sessions=session_factory)
    sampled = threading.Event()
    worker = BackgroundBackfill(
        ctx, ["churn"], START + timedelta(days=3), sampled=lambda _name: int(sampled.is_set())
    ).start()
    assert not worker.join(1.0) and _drift_ends(session_factory) == []
    sampled.set()
    assert worker.join(120)
    (result,) = worker.results
    # Of the week's 7 windows, the 3 over the stored days (the rest hold no rows).
    assert result.complete and len(_drift_ends(session_factory)) == 3


def _write_log(path: Path, first_day: datetime, days: int) -> list[datetime]:
    """A serving app's JSONL log of PER_DAY predictions a day; returns their times."""
    import json

    stamps: list[datetime] = []
    with path.open("w", encoding="utf-8") as fh:
        for day in range(days):
            frame = window(PER_DAY, 200 + day)
            for i, row in enumerate(frame.to_dict("records")):
                ts = first_day + timedelta(days=day, seconds=i * (86_000 // PER_DAY))
                stamps.append(ts)
                record = {c: row[c] for c in (*NUMERIC, *CATEGORICAL)}
                record.update(
                    prediction_id=f"p{day}-{i}",
                    timestamp=ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    prediction=int(row["prediction"]),
                    score=round(float(row["score"]), 6),
                    latency_ms=round(float(row["latency_ms"]), 2),
                )
                fh.write(json.dumps(record) + "\n")
    return stamps


def test_the_daemon_backfills_on_its_first_start(tmp_path: Path, sqlite_template: Path) -> None:
    """`mlmaint run`, first start, on a log of last week's predictions: the sampling due at
    start reads them, then the backfill checks the week in seven daily windows in the
    background, and the report of that week shows its predictions and its runs."""
    from daemon.report.deliver import build_report
    from daemon.report.weeks import week_containing
    from daemon.store.engine import make_engine, session_factory
    from tests.conftest import new_sqlite_url
    from tests.service.harness import Daemon, NotifySocket, write_config

    url = new_sqlite_url(sqlite_template, tmp_path)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    stamps = _write_log(tmp_path / "predictions-1.jsonl", today - timedelta(days=7), 7)
    model = _toml(tmp_path, url, _reference(tmp_path)).read_text().split("[[models]]", 1)[1]
    source = f'source = {{ kind = "files", glob = "{tmp_path}/predictions-*.jsonl" }}'
    model = model.replace('source = { kind = "http" }', source).replace(
        'label = "churned"', 'label = "churned"\nlatency = "latency_ms"'
    )
    config = write_config(
        tmp_path / "daemon.toml", url, checks='backfill = "7d"', extra="[[models]]" + model
    )
    notify = NotifySocket()
    daemon = Daemon(config, notify)
    try:
        notify.wait_for(lambda m: m.get("STATUS", "").startswith("leader:"), timeout=20)
        daemon.wait_log(r"backfill churn: checking 7 window\(s\) of 1d", timeout=30)
        done = daemon.wait_log(r"backfill churn: (\d+) of 7 window\(s\) checked", timeout=90)
        assert done.group(1) == "7", daemon.log()
    finally:
        code = daemon.stop()
        notify.close()
    assert code == 0, daemon.log()
    log = daemon.log()
    # The backfill began after the sampling that read the log, not before it.
    assert log.index("job sample:churn ok") < log.index("backfill churn: checking"), log

    engine = make_engine(url)
    sessions = session_factory(engine)
    backfilled = [today - timedelta(days=6 - i) for i in range(7)]
    with sessions() as session:
        rows = {
            end.replace(tzinfo=UTC): n
            for end, n in session.execute(
                select(CheckRun.window_end, CheckRun.rows).where(
                    CheckRun.kind == CheckKind.DRIFT.value
                )
            )
        }
    # Each midnight once, each window its own day of the log.
    assert [rows.get(e) for e in backfilled] == [PER_DAY] * 7, rows

    # The report of a week of that log, built afterwards (the rows were read today).
    week = week_containing(today - timedelta(days=3))
    settings = parse_config(
        _config(tmp_path, url, _reference(tmp_path)) | {"report": {"directory": str(tmp_path)}},
        environ={},
    )
    ctx = JobContext(settings=settings, engine=engine, sessions=sessions)
    churn = build_report(ctx, week, datetime.now(UTC)).data.models[0]
    assert churn.sampled == sum(week.start <= t < week.end for t in stamps) > 0
    in_week = [e for e in rows if week.start < e <= week.end]
    assert churn.counts[CheckKind.DRIFT].runs == len(in_week) > 0
    engine.dispose()
