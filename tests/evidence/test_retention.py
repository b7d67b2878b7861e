"""Evidence retention: the oldest pages go, by age and by total size, and their links say so.

Pages are planted as check runs write them (named by window end, referenced by
a stored drift run); the retention job is run through the job table, as the
scheduler runs it. A swept run's link answers 410 naming the command that
builds the page again; a run that never had a page, 404; an unknown run, 404.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from checks.interface import CheckKind, CheckResult, Status
from daemon.checking.records import KindRun, store_runs
from daemon.config import ConfigError, Settings, parse_config
from daemon.evidence.retention import SWEPT, doomed, evidence_files, sweep
from daemon.evidence.write import evidence_dir, evidently_path, page_path
from daemon.jobs import JobContext
from daemon.replay import replay
from daemon.report import http
from daemon.retention import SweepAllOutcome
from daemon.runs import RunOutcome
from daemon.sampling.outcomes import PurgeOutcome
from daemon.schedule import JobRunner
from daemon.stages import JobFn, Stage, build_jobs, job_function
from daemon.store.tables import CheckRun, JobHistory
from tests.evidence.frames import END

PAGE = 10_000


def settings(
    tmp_path: Path,
    models: tuple[str, ...] = ("churn",),
    service: dict[str, object] | None = None,
    **evidence: object,
) -> Settings:
    return parse_config(
        {
            "service": {"state_dir": str(tmp_path / "state"), **(service or {})},
            "evidence": evidence,
            "models": [
                {
                    "name": name,
                    "source": {"kind": "http"},
                    "schema": {"numeric": ["age"], "categorical": []},
                }
                for name in models
            ],
        },
        "<test>",
        {},
    )


def plant(
    ctx: JobContext,
    days_ago: int,
    *,
    size: int = PAGE,
    alert: bool = True,
    model: str = "churn",
    hours: int = 0,
) -> int:
    """A stored drift run of `model`'s window ending `days_ago` (and `hours`) before
    END, with its page."""
    end = END - timedelta(days=days_ago, hours=hours)
    path = page_path(evidence_dir(ctx), model, end) if alert else None
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * size)
    result = CheckResult(
        kind=CheckKind.DRIFT, status=Status.ALERT if alert else Status.OK, rows=100
    )
    with ctx.sessions.begin() as session:
        runs = store_runs(
            session,
            model,
            {CheckKind.DRIFT: KindRun(result=result, duration_s=0.1, evidence_path=path)},
            start=end - timedelta(days=1),
            end=end,
        )
    run_id = runs[CheckKind.DRIFT].run_id
    assert run_id is not None
    return run_id


def test_the_retention_job_sweeps_old_pages_then_the_oldest_beyond_the_size(
    tmp_path: Path, engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    ctx = JobContext(
        settings=settings(tmp_path, max_age="30d", max_total=f"{5 * PAGE}B"),
        engine=engine,
        sessions=session_factory,
    )
    ages = [45, 40, 31, 20, 10, 8, 6, 4, 3, 1]
    runs = {age: plant(ctx, age) for age in ages}
    # Evidently's report beside the oldest kept-by-age page, and a file no run knows.
    beside = evidently_path(page_path(evidence_dir(ctx), "churn", END - timedelta(days=20)))
    beside.write_bytes(b"e" * PAGE)
    orphan = evidence_dir(ctx) / "churn" / "notes.html"
    orphan.write_bytes(b"o")
    quiet = plant(ctx, 2, alert=False)

    outcome = job_function(Stage.SWEEP)(ctx, None, END)

    kept = {p.path.name for p in evidence_files(evidence_dir(ctx))}
    # Older than 30 days: 45, 40, 31. Then the oldest until <= 5 pages' bytes: 20 (and
    # Evidently's report of that window), 10, 8: 6, 4, 3, 1 and the 1-byte orphan stay
    # (the orphan is aged by its mtime: now, by the wall clock, is after END).
    expected = {page_path(Path(), "churn", END - timedelta(days=a)).name for a in (6, 4, 3, 1)}
    assert kept == expected | {"notes.html"}
    assert sum(p.stat().st_size for p in evidence_dir(ctx).rglob("*.html")) <= 5 * PAGE
    assert outcome.evidence.deleted == 7  # type: ignore[attr-defined]
    assert outcome.evidence.runs_cleared == 6  # type: ignore[attr-defined]
    with session_factory() as session:
        stored = {
            r.id: (r.evidence_path, r.summary)
            for r in session.scalars(select(CheckRun).where(CheckRun.id.in_(runs.values())))
        }
    for age, run_id in runs.items():
        path, summary = stored[run_id]
        if age > 6:
            assert path is None and summary[SWEPT] == END.isoformat(), age
        else:
            assert path is not None and Path(path).is_file() and SWEPT not in summary, age

    # What the links answer now.
    swept = http.handle(ctx, f"/reports/evidence/{runs[31]}")
    assert swept is not None and swept.status == 410
    body = swept.body.decode()
    assert "removed by the evidence retention" in body
    assert "mlmaint evidence churn --at 2026-10-19T12:00:00Z" in body
    live = http.handle(ctx, f"/reports/evidence/{runs[1]}")
    assert live is not None and live.status == 200 and live.body == b"x" * PAGE
    never = http.handle(ctx, f"/reports/evidence/{quiet}")
    assert (
        never is not None
        and never.status == 404
        and "has no evidence page" in (never.body.decode())
    )
    unknown = http.handle(ctx, "/reports/evidence/987654")
    assert (
        unknown is not None
        and unknown.status == 404
        and "no check run 987654" in (unknown.body.decode())
    )
    # A page deleted by hand (the path still stored) is gone, not a server error.
    Path(str(stored[runs[1]][0])).unlink()
    by_hand = http.handle(ctx, f"/reports/evidence/{runs[1]}")
    assert by_hand is not None and by_hand.status == 410
    no_report = http.handle(ctx, f"/reports/evidence/{runs[3]}/evidently")
    assert no_report is not None and no_report.status == 404
    assert "--evidently" in no_report.body.decode()

    # Swept again at once: nothing more to do.
    again = job_function(Stage.SWEEP)(ctx, None, END)
    assert again.evidence.deleted == 0  # type: ignore[attr-defined]


def test_a_retention_cycle_of_three_models_sweeps_once_within_the_bounds(
    tmp_path: Path,
    engine: Engine,
    session_factory: sessionmaker[Session],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Three models' retention jobs purge their own rows; one sweep bounds the pages
    of all three (by age, then size) and the job history (by age)."""
    models = ("churn", "buyer", "fraud")
    ctx = JobContext(
        settings=settings(
            tmp_path,
            models,
            service={"job_history": "7d", "retention_schedule": {"cron": "15 3 * * *"}},
            max_age="30d",
            max_total=f"{5 * PAGE}B",
        ),
        engine=engine,
        sessions=session_factory,
    )
    # Each model's pages a few hours apart from the others', so the oldest is one.
    for hours, model in enumerate(models):
        for days in (40, 12, 6, 2):
            plant(ctx, days, model=model, hours=hours)
    fire = datetime(2026, 11, 20, 3, 15, tzinfo=UTC)  # the next 03:15 after END
    with session_factory.begin() as session:
        for days in (9, 8, 6):
            session.add(
                JobHistory(
                    job_id="deliver",
                    stage=Stage.DELIVER.value,
                    model=None,
                    started_at=fire - timedelta(days=days),
                    finished_at=fire - timedelta(days=days),
                    duration_s=0.1,
                    outcome=RunOutcome.OK,
                )
            )

    returned: list[tuple[Stage, object]] = []

    def recording(stage: Stage) -> JobFn:
        fn = job_function(stage)

        def run(c: JobContext, model: str | None, now: datetime) -> object:
            result = fn(c, model, now)
            returned.append((stage, result))
            return result

        return run

    jobs = tuple(j for j in build_jobs(ctx.settings) if j.stage in (Stage.RETENTION, Stage.SWEEP))
    ran: list[tuple[str, datetime, RunOutcome]] = []
    caplog.set_level(logging.INFO, logger="daemon.evidence.retention")
    count = replay(
        JobRunner(ctx, resolve=recording),
        jobs,
        END,
        END + timedelta(days=1),
        on_run=lambda spec, at, outcome: ran.append((spec.id, at, outcome)),
    )

    assert count == 4
    assert ran == [
        ("retention:churn", fire, RunOutcome.OK),
        ("retention:buyer", fire, RunOutcome.OK),
        ("retention:fraud", fire, RunOutcome.OK),
        ("sweep", fire, RunOutcome.OK),
    ]
    assert [stage for stage, _ in returned].count(Stage.SWEEP) == 1
    sweeps = [r for r in caplog.records if r.getMessage().startswith("evidence sweep:")]
    assert len(sweeps) == 1, [r.getMessage() for r in caplog.records]
    for stage, result in returned:
        if stage is Stage.RETENTION:
            assert isinstance(result, PurgeOutcome) and not hasattr(result, "evidence")
    [swept] = [result for stage, result in returned if stage is Stage.SWEEP]
    assert isinstance(swept, SweepAllOutcome)
    # 40 days old (3 pages) by age; then 9 pages left for 5 pages' bytes: the three
    # 12-day ones and the oldest 6-day one (fraud's, three hours older).
    assert (swept.evidence.deleted, swept.evidence.kept, swept.evidence.runs_cleared) == (7, 5, 7)
    kept = evidence_files(evidence_dir(ctx))
    assert sum(f.size for f in kept) <= 5 * PAGE
    assert all(fire - f.written <= timedelta(days=30) for f in kept)
    assert sorted(f.path.relative_to(evidence_dir(ctx)).parts[0] for f in kept) == [
        "buyer",
        "buyer",
        "churn",
        "churn",
        "fraud",
    ]
    assert {fire - f.written for f in kept} == {
        timedelta(days=6, hours=h + 15, minutes=15) for h in (0, 1)
    } | {timedelta(days=2, hours=h + 15, minutes=15) for h in (0, 1, 2)}
    # The history: the 9- and 8-day-old runs went (older than 7 days), the 6-day-old
    # one and this cycle's four runs stay.
    assert swept.job_runs_deleted == 2
    with session_factory() as session:
        history = session.execute(
            select(JobHistory.job_id, JobHistory.started_at).order_by(
                JobHistory.started_at, JobHistory.id
            )
        ).all()
    assert [tuple(row) for row in history] == [
        ("deliver", fire - timedelta(days=6)),
        ("retention:churn", fire),
        ("retention:buyer", fire),
        ("retention:fraud", fire),
        ("sweep", fire),
    ]


def test_the_bounds_pick_the_oldest_first(tmp_path: Path) -> None:
    """Age alone, size alone, and a directory that does not exist yet."""
    root = tmp_path / "evidence"
    assert sweep(None, root, now=END, max_age=timedelta(days=1), max_total=1).deleted == 0
    for days in (5, 3, 2, 0):
        path = page_path(root, "m", END - timedelta(days=days))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"y" * 100)
    files = evidence_files(root)
    assert [f.written for f in files] == sorted(f.written for f in files)
    by_age = doomed(files, now=END, max_age=timedelta(days=2, hours=12), max_total=10**9)
    assert [END - f.written for f in by_age] == [timedelta(days=5), timedelta(days=3)]
    by_size = doomed(files, now=END, max_age=timedelta(days=365), max_total=250)
    assert [END - f.written for f in by_size] == [timedelta(days=5), timedelta(days=3)]
    outcome = sweep(None, root, now=END, max_age=timedelta(days=365), max_total=100)
    assert outcome.deleted == 3 and outcome.kept == 1 and outcome.kept_bytes == 100
    (survivor,) = evidence_files(root)
    assert survivor.written == END


def test_sizes_and_ages_parse_with_the_key_in_errors() -> None:
    parsed = parse_config({"evidence": {"max_total": "2GiB", "max_age": "12h"}}, "<t>", {})
    assert parsed.evidence.max_total == 2 * 2**30
    assert parsed.evidence.max_age == timedelta(hours=12)
    assert parsed.evidence.evidently_on_firing is False
    with pytest.raises(ConfigError, match=r"evidence\.max_total"):
        parse_config({"evidence": {"max_total": "lots"}}, "<t>", {})
    with pytest.raises(ConfigError, match=r"evidence\.max_age"):
        parse_config({"evidence": {"max_age": "0s"}}, "<t>", {})
