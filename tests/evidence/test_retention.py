"""Evidence retention: the oldest pages go, by age and by total size, and their links say so.

Pages are planted as check runs write them (named by window end, referenced by
a stored drift run); the retention job is run through the job table, as the
scheduler runs it. A swept run's link answers 410 naming the command that
builds the page again; a run that never had a page, 404; an unknown run, 404.
"""

from __future__ import annotations

from datetime import timedelta
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
from daemon.report import http
from daemon.stages import Stage, job_function
from daemon.store.tables import CheckRun
from tests.evidence.frames import END

PAGE = 10_000


def settings(tmp_path: Path, **evidence: object) -> Settings:
    return parse_config(
        {
            "service": {"state_dir": str(tmp_path / "state")},
            "evidence": evidence,
            "models": [
                {
                    "name": "churn",
                    "source": {"kind": "http"},
                    "schema": {"numeric": ["age"], "categorical": []},
                }
            ],
        },
        "<test>",
        {},
    )


def plant(ctx: JobContext, days_ago: int, *, size: int = PAGE, alert: bool = True) -> int:
    """A stored drift run of the window ending `days_ago` before END, with its page."""
    end = END - timedelta(days=days_ago)
    path = page_path(evidence_dir(ctx), "churn", end) if alert else None
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * size)
    result = CheckResult(
        kind=CheckKind.DRIFT, status=Status.ALERT if alert else Status.OK, rows=100
    )
    with ctx.sessions.begin() as session:
        runs = store_runs(
            session,
            "churn",
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

    outcome = job_function(Stage.RETENTION)(ctx, "churn", END)

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
    again = job_function(Stage.RETENTION)(ctx, "churn", END)
    assert again.evidence.deleted == 0  # type: ignore[attr-defined]


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
