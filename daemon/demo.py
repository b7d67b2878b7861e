"""`mlmaint demo`: six weeks of a simulated production, replayed in a few minutes.

A churn classifier is trained on labelled history, registered in MLflow and put
in production. Each simulated day its traffic is written to JSON Lines prediction
logs (the model's file source, with a few malformed rows, as real logs have) and
the labels of two days before are pushed to the daemon's HTTP API. The daemon's
own jobs (daemon/schedule.py), the same ones `mlmaint run` schedules, then run at
their configured times in simulated time: sampling, checks, alerts through the
outbox, the retrain policy and the local executor, the framework scan and the
weekly report. Halfway through, the customers' behaviour shifts: the drift
checks fire, performance decays, the model is retrained and promoted, and the
checks of the following days compare with the new version.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pandas as pd
from sqlalchemy import func, select

from checks.interface import Status
from daemon import simulation as sim
from daemon.config import Settings, load_config
from daemon.demo_world import (
    MODEL,
    START,
    Production,
    SimClock,
    local_index,
    push_labels,
    write_config,
)
from daemon.jobs import JobContext
from daemon.store import migrate
from daemon.store.tables import CheckRun, Model, RejectedRow, RetrainJob

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class DayLine:
    day: int
    date: str
    drifted_truth: bool
    drift: str
    drift_share: float | None
    quality: str
    performance: str
    estimated: str
    operations: str
    version: str | None


def finish_retrains(ctx: JobContext, now: datetime) -> None:
    """A retrain runs for real seconds while simulated time races: let it finish."""
    from daemon.retraining.job import active_jobs, wait_for_jobs

    if not active_jobs(ctx):
        return
    # The job's findings reach the alert policy with its recorded end.
    wait_for_jobs(ctx, now, timeout_s=600)
    with ctx.sessions() as session:
        job = session.scalars(select(RetrainJob).order_by(RetrainJob.id.desc()).limit(1)).one()
    print(
        f"   retrain job {job.job_uid[:8]} ({job.trigger}): {job.state}, "
        f"registered v{job.registered_version}, "
        + ("promoted to champion" if job.promoted else "not promoted")
        + (f": {job.error}" if job.error else ""),
        flush=True,
    )


def _status(runs: dict[str, CheckRun], kind: str) -> str:
    run = runs.get(kind)
    return str(Status(run.status).value) if run is not None else "-"


def _day_line(ctx: JobContext, scenario: sim.Scenario, day: int) -> DayLine:
    end = scenario.day_start(day + 1)
    with ctx.sessions() as session:
        rows = session.scalars(
            select(CheckRun)
            .join(Model)
            .where(Model.name == MODEL, CheckRun.window_end == end, CheckRun.segment.is_(None))
        ).all()
    runs = {r.kind: r for r in rows}
    drift = runs.get("drift")
    share = drift.summary.get("share") if drift is not None else None
    perf = runs.get("performance")
    est = runs.get("estimated_performance")

    def metric(run: CheckRun | None) -> str:
        if run is None:
            return "-"
        value = run.summary.get("value", run.summary.get("estimated"))
        text = f"{value:.3f}" if isinstance(value, float) else ""
        return f"{Status(run.status).value} {text}".strip()

    return DayLine(
        day=day,
        date=f"{scenario.day_start(day):%a %Y-%m-%d}",
        drifted_truth=scenario.drifted(day),
        drift=_status(runs, "drift"),
        drift_share=float(share) if isinstance(share, int | float) else None,
        quality=_status(runs, "quality"),
        performance=metric(perf),
        estimated=metric(est),
        operations=_status(runs, "operations"),
        version=drift.model_version if drift is not None else None,
    )


def _print_day(line: DayLine) -> None:
    share = f"{line.drift_share:.2f}" if line.drift_share is not None else "  - "
    truth = "drift injected" if line.drifted_truth else "clean"
    print(
        f"day {line.day:2d} {line.date}  {truth:14s}  drift={line.drift:17s} share={share}  "
        f"quality={line.quality:17s} perf={line.performance:22s} est={line.estimated:22s} "
        f"ops={line.operations:17s} v{line.version or '?'}",
        flush=True,
    )


def _print_causes(ctx: JobContext, scenario: sim.Scenario, day: int) -> None:
    """Why performance fell on the day: each feature, by how its drift follows roc_auc."""
    from checks.interface import CheckKind
    from daemon.checking.causes import cause_words, rank_stored
    from daemon.checking.specs import decay_spec

    model = ctx.settings.model(MODEL)
    metric = decay_spec(model).metric.value
    end = scenario.day_start(day + 1)
    with ctx.sessions() as session:
        told = rank_stored(session, model, CheckKind.PERFORMANCE, metric, end)
    if told is None:
        print(f"   causes of day {day}: no stored {metric}", flush=True)
        return
    print(f"   causes of day {day}: {cause_words(told)}", flush=True)
    # Every feature, those drifting less as roc_auc falls (r < 0) last: never named.
    print(
        f"   ranking of day {day} ({told.windows} windows): "
        + ", ".join(f"{c.subject} r={c.r:+.2f}" for c in told.ranked),
        flush=True,
    )


def quiet_libraries() -> None:
    """The demo prints its own story: no progress bars or library chatter."""
    import warnings

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    import mlflow  # noqa: F401  (configures its loggers on import; quiet them after)

    for name in ("mlflow", "alembic", "httpx", "evidently"):
        logging.getLogger(name).setLevel(logging.ERROR)


@contextmanager
def one_openmp_thread() -> Iterator[None]:
    """One OpenMP thread for the demo's training and scoring, here and in its retrain job.

    Its data is small (4,800 rows to train on, 1,500 to score a day): one thread does
    it as fast as two, while OpenMP's spinning workers on a busy machine (a test run
    beside the demo, 2 shared cores) made the first training 6 s instead of 0.4 s and
    a day's scoring 0.2 to 1.7 s instead of 0.02 s. The retrain job's process reads
    OMP_NUM_THREADS (the local executor passes it on). A value the user set is kept.
    """
    from threadpoolctl import threadpool_limits

    if "OMP_NUM_THREADS" in os.environ:
        yield
        return
    os.environ["OMP_NUM_THREADS"] = "1"  # read by an OpenMP runtime loaded from here on
    try:
        with threadpool_limits(limits=1, user_api="openmp"):  # and by one loaded already
            yield
    finally:
        os.environ.pop("OMP_NUM_THREADS", None)


def run_demo(workdir: Path, *, days: int = 42, seed: int = 7, serve_port: int | None = None) -> int:
    """Replay the scenario; returns the process exit status (0 when the story holds).

    With `serve_port`, the page at / and the reports stay served on that port after
    the story until the process is interrupted.
    """
    with one_openmp_thread():
        return _replay(workdir, days=days, seed=seed, serve_port=serve_port)


def _replay(workdir: Path, *, days: int, seed: int, serve_port: int | None) -> int:
    from daemon.api import ApiServer
    from daemon.replay import replay
    from daemon.retraining.versions import register_initial_version
    from daemon.schedule import JobRunner
    from daemon.service_http import add_page
    from daemon.stages import build_jobs

    began = time.perf_counter()
    quiet_libraries()
    if workdir.exists():
        shutil.rmtree(workdir)
    (workdir / "logs").mkdir(parents=True)
    token = secrets.token_urlsafe(24)
    index = local_index().start()
    settings = load_config(
        write_config(workdir, index_url=index.url), environ={"MLMAINT_DEMO_API_TOKEN": token}
    )
    logging.getLogger().setLevel(logging.WARNING)
    # Labels come back the same day here, so realized performance is visible each day.
    scenario = sim.Scenario(
        start=START, days=days, drift_day=days // 2, seed=seed, label_delay_days=0
    )
    ctx = JobContext.from_settings(settings)
    migrate.upgrade(ctx.engine)
    print(
        f"mlmaint demo: {days} simulated days from {START:%Y-%m-%d}, drift injected from day "
        f"{scenario.drift_day}; state in {workdir}",
        flush=True,
    )

    outcome = register_initial_version(ctx, MODEL, sim.training_frame(scenario), START)
    metrics = ", ".join(f"{k}={v:.3f}" for k, v in outcome.training_metrics.items())
    print(
        f"trained and registered {MODEL} v{outcome.registered_version} "
        f"({outcome.state.value}, {metrics})",
        flush=True,
    )
    sync_frameworks(ctx, START)
    index.stop()

    production = Production(settings, scenario, workdir / "logs")
    clock = SimClock(START)
    server = ApiServer(ctx, host="127.0.0.1", port=serve_port or 0, clock=clock)
    add_page(server)
    server.start()
    client = httpx.Client(
        base_url=f"http://127.0.0.1:{server.port}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    runner = JobRunner(ctx)
    jobs = build_jobs(settings)
    served: dict[int, pd.DataFrame] = {}
    lines: list[DayLine] = []
    runs = 0
    try:
        for day in range(days):
            clock.now = scenario.day_start(day + 1)
            served[day] = production.serve(day)
            labelled = day - scenario.label_delay_days
            if labelled in served:
                push_labels(client, served.pop(labelled))
            runs += replay(
                runner,
                jobs,
                scenario.day_start(day) + timedelta(microseconds=1),
                scenario.day_start(day + 1),
            )
            finish_retrains(ctx, scenario.day_start(day + 1))
            line = _day_line(ctx, scenario, day)
            lines.append(line)
            _print_day(line)
            if day == scenario.drift_day:
                _print_causes(ctx, scenario, day)
        end = scenario.day_start(days)
        _frameworks(ctx, end)
        status = _summary(ctx, settings, scenario, lines, runs)
        latest = _last_report(ctx, end)
        print(f"weekly reports of {days // 7} simulated weeks in {latest.parent}; latest: {latest}")
        _page_and_evidence(ctx, scenario, end, workdir, server.url if serve_port else None)
        print(f"demo finished in {time.perf_counter() - began:.0f}s", flush=True)
        if serve_port:
            _serve_until_interrupted(server.url)
    finally:
        client.close()
        server.stop()
        index.stop()
        ctx.close()
    return status


def _page_and_evidence(
    ctx: JobContext, scenario: sim.Scenario, end: datetime, workdir: Path, live: str | None
) -> None:
    """Where to look: the page at / (live, or a snapshot of it) and the drift day's evidence."""
    from daemon.api.page.http import overview
    from daemon.private import write_private

    snapshot = write_private(workdir / "page.html", overview(ctx, end).body).resolve()
    if live:
        print(f"page: {live}/ (served until Ctrl-C; a snapshot: {snapshot})")
    else:
        print(f"page: {snapshot} (a snapshot; `mlmaint demo --serve 8787` keeps it live)")
    day = scenario.drift_day
    with ctx.sessions() as session:
        found = session.execute(
            select(CheckRun.id, CheckRun.evidence_path)
            .where(
                CheckRun.kind == "drift",
                CheckRun.window_end > scenario.day_start(day),
                CheckRun.window_end <= scenario.day_start(day + 1),
                CheckRun.evidence_path.is_not(None),
            )
            .order_by(CheckRun.window_end)
        ).first()
    if found is None:
        print(f"evidence of day {day}: none (no alerting drift run that day)")
    else:
        print(f"evidence of day {day}: {Path(str(found.evidence_path)).resolve()}")


def _serve_until_interrupted(url: str) -> None:
    print(f"serving {url}/ until Ctrl-C", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("stopped")


def _last_report(ctx: JobContext, end: datetime) -> Path:
    """The scheduled job built each Monday's report; the last week ends with the replay."""
    from daemon.report.deliver import build_report
    from daemon.report.weeks import weeks_between

    last = weeks_between(START, end, ctx.settings.report.schedule.timezone)[-1]
    return build_report(ctx, last, end).path


def sync_frameworks(ctx: JobContext, now: datetime) -> None:
    """`mlmaint frameworks sync` against the demo's local index: the scans that follow
    read the release cache offline."""
    from daemon.frameworks.sync import run_sync

    outcome = run_sync(ctx, now)
    for line in [*outcome.lines(), *outcome.error_lines()]:
        print(f"frameworks sync: {line}", flush=True)


def _frameworks(ctx: JobContext, now: datetime) -> None:
    """The day's framework scan once more, printed: this venv and the model's requirements."""
    from checks.frameworks.output import render_table
    from daemon.frameworks.job import scan_frameworks

    outcome = scan_frameworks(ctx, now)
    print("\n== frameworks ==")
    print(render_table(outcome.reports).rstrip())
    for error in outcome.errors:
        print(f"  could not inventory {error}")


def _summary(
    ctx: JobContext, settings: Settings, scenario: sim.Scenario, lines: list[DayLine], runs: int
) -> int:
    flagged = [ln for ln in lines if ln.drift == Status.ALERT.value]
    print("\n== summary ==")
    print(f"jobs run: {runs}")
    with ctx.sessions() as session:
        rejected: dict[str, int] = dict(
            session.execute(  # type: ignore[arg-type]
                select(RejectedRow.reason, func.count()).group_by(RejectedRow.reason)
            ).all()
        )
        jobs = session.scalars(select(RetrainJob).order_by(RetrainJob.created_at)).all()
    from daemon.sampling import sampling_status

    for model_status in sampling_status(ctx):
        for text in model_status.lines():
            print(f"sampling: {text}")
    print(
        "rejected rows kept for inspection: "
        + (", ".join(f"{k}={v}" for k, v in rejected.items()) or "none")
    )
    drifted_days = [ln.date for ln in flagged]
    print(f"drifted days ({len(drifted_days)}): {', '.join(drifted_days) or 'none'}")
    false_alarms = [ln.date for ln in flagged if not ln.drifted_truth]
    print(f"drift flagged on clean days: {', '.join(false_alarms) or 'none'}")
    for job in jobs:
        print(
            f"retrain job {job.job_uid[:8]} trigger={job.trigger} state={job.state} "
            f"version={job.registered_version} promoted={job.promoted}"
            + (f" error={job.error}" if job.error else "")
        )
    outbox = [ch for ch in settings.alerts.channels if ch.kind == "file"]
    kinds: Counter[str] = Counter()
    decisions: list[str] = []
    for channel in outbox:
        relative = getattr(channel, "path", None)
        path = None if relative is None else settings.state_path(Path(relative))
        if path is not None and path.exists():
            for raw in Path(path).read_text().splitlines():
                line = json.loads(raw)
                kinds[str(line.get("kind", "?"))] += 1
                payload = line.get("payload") or {}
                # The retrain decisions people were told of, as the channel sent them.
                decisions.extend(
                    f"{item.get('subject')}: {item.get('summary')}"
                    for item in payload.get("items", ())
                    if item.get("kind") == "retrain" and item.get("change") == "notice"
                )
            print(f"outbox {path}: " + ", ".join(f"{k}={v}" for k, v in sorted(kinds.items())))
    for text in decisions:
        print(f"decision told: {text}")
    promoted_told = any(text.startswith("promotion: ") for text in decisions)
    ok = bool(flagged) and not false_alarms and kinds.get("firing", 0) > 0 and promoted_told
    if not ok:
        print("demo: the story did not hold (see above)", file=sys.stderr)
    return 0 if ok else 1
