"""Soak: the demo configuration through simulated days in one process, and an idle daemon.

    .venv/bin/python tests/benchmarks/bench_soak.py [--days 50] [--drift-day 10]
        [--from-day 20] [--skip-idle] [--skip-soak]

Part 1 starts `mlmaint run` (the shipped config.toml, its state in a temp dir) under
a fake NOTIFY_SOCKET: start to READY=1 and the idle RSS after 10 s, against the
budgets of the service issue (3 s, 250 MB).

Part 2 replays the demo's simulated production day by day through the daemon's own
jobs (daemon.schedule.replay, as `mlmaint demo` does), in one process, and after
every day prints RSS (after a gc.collect()), Python objects tracked by the gc,
loaded modules, open file descriptors, threads, checked-out store connections and
the champion version served.

What "flat" means here. The first alerting drift day does things no earlier day
did, once per process: it writes the first evidence page (mlmaint's own; Evidently,
with plotly and pydantic.v1, about 175k Python objects and 80+ MB, is imported
only when its report is asked for), the first retrain fits and logs a model,
and the simulated serving side loads the new MLflow version. Those are
warm-up costs, not growth, so the budget (growth under 10%) is measured over a
window that starts after them: by default from day 20 to day 50 of a 50-day run
whose drift starts on day 10, i.e. 30 simulated days of steady operation (daily
checks, sampling, labels, alert delivery, weekly reports and framework scans).
The growth from day 5 to the last day, one-off costs included, is printed too.
"""

from __future__ import annotations

import argparse
import gc
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

READY_BUDGET_S = 3.0
IDLE_RSS_BUDGET_MB = 250.0
GROWTH_BUDGET = 0.10
# Python objects the gc tracks may wobble (caches of SQLAlchemy statements, pools);
# a leak of per-day objects shows as steady growth well above this.
OBJECTS_BUDGET = 0.01


def rss_mb(pid: int | str = "self", field: str = "VmRSS") -> float:
    """A memory figure of /proc/PID/status in MB: VmRSS, or RssAnon (heap, not files)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field}")


def fds(pid: int | str = "self") -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def idle_daemon(runs: int = 3) -> tuple[float, float]:
    import subprocess

    from tests.service.harness import Daemon, NotifySocket

    ready: list[float] = []
    rss = 0.0
    for i in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            state = Path(tmp)
            text = (REPO / "config.toml").read_text()
            text = text.replace('state_dir = "var"', f'state_dir = "{state}/var"')
            text = text.replace("sqlite:///var/", f"sqlite:///{state}/var/")
            text = text.replace("http_port = 8787", "http_port = 0")
            config = state / "config.toml"
            config.write_text(text)
            subprocess.run(
                [sys.executable, "-m", "daemon.cli", "--config", str(config), "db", "upgrade"],
                check=True,
                capture_output=True,
                cwd=state,
            )
            notify = NotifySocket()
            daemon = Daemon(config, notify)
            try:
                notify.wait_for(lambda m: m.get("READY") == "1", timeout=30)
                ready.append(time.monotonic() - daemon.started)
                if i == runs - 1:
                    time.sleep(10)
                    rss = rss_mb(daemon.pid)
            finally:
                code = daemon.stop()
                notify.close()
            assert code == 0, daemon.log()
    return statistics.median(ready), rss


@dataclass(frozen=True)
class Day:
    day: int
    rss: float
    anon: float
    objects: int
    modules: int
    fds: int
    threads: int
    checked_out: int
    runs: int
    served: str
    evidence: int


def soak(days: int, drift_day: int) -> tuple[list[Day], int]:
    import logging

    import httpx

    from daemon import demo, demo_world
    from daemon import simulation as sim
    from daemon.api import ApiServer
    from daemon.config import load_config
    from daemon.jobs import JobContext
    from daemon.replay import replay
    from daemon.retraining.versions import register_initial_version
    from daemon.schedule import JobRunner
    from daemon.stages import build_jobs
    from daemon.store import migrate

    demo.quiet_libraries()
    workdir = Path(tempfile.mkdtemp(prefix="mlmaint-soak-"))
    (workdir / "logs").mkdir(parents=True)
    token = secrets.token_urlsafe(24)
    settings = load_config(
        demo_world.write_config(workdir), environ={"MLMAINT_DEMO_API_TOKEN": token}
    )
    logging.getLogger().setLevel(logging.WARNING)
    scenario = sim.Scenario(start=demo_world.START, days=days, drift_day=drift_day, seed=7)
    ctx = JobContext.from_settings(settings)
    migrate.upgrade(ctx.engine)
    register_initial_version(ctx, demo_world.MODEL, sim.training_frame(scenario), demo_world.START)
    production = demo_world.Production(settings, scenario, workdir / "logs")
    clock = demo_world.SimClock(demo_world.START)
    server = ApiServer(ctx, host="127.0.0.1", port=0, clock=clock).start()
    client = httpx.Client(
        base_url=f"http://127.0.0.1:{server.port}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    runner = JobRunner(ctx)
    jobs = build_jobs(settings)
    served = {}
    rows: list[Day] = []
    runs = 0
    print(
        "  day      RSS MB  anon MB  py objects  modules  fds  threads  conns out  job runs  "
        "served  evidence",
        flush=True,
    )
    try:
        for day in range(days):
            clock.now = scenario.day_start(day + 1)
            served[day] = production.serve(day)
            labelled = day - scenario.label_delay_days
            if labelled in served:
                demo_world.push_labels(client, served.pop(labelled))
            runs += replay(
                runner,
                jobs,
                scenario.day_start(day) + timedelta(microseconds=1),
                scenario.day_start(day + 1),
            )
            # As in the demo: a retrain runs for real seconds while simulated time races.
            demo.finish_retrains(ctx, scenario.day_start(day + 1))
            gc.collect()
            row = Day(
                day=day + 1,
                rss=rss_mb(),
                anon=rss_mb(field="RssAnon"),
                objects=len(gc.get_objects()),
                modules=len(sys.modules),
                fds=fds(),
                threads=threading.active_count(),
                checked_out=ctx.engine.pool.checkedout(),  # type: ignore[attr-defined]
                runs=runs,
                served=f"v{production._version or '?'}",
                evidence=sum(1 for _ in (workdir / "evidence").rglob("*.html")),
            )
            if rows and row.threads != rows[-1].threads:
                names = sorted(t.name for t in threading.enumerate())
                print(f"       threads now: {', '.join(names)}", flush=True)
            rows.append(row)
            mark = "  <- drift starts" if day == drift_day else ""
            print(
                f"  {row.day:>3}  {row.rss:10.1f}  {row.anon:7.1f}  {row.objects:>10}  "
                f"{row.modules:>7}  "
                f"{row.fds:>3}  {row.threads:>7}  {row.checked_out:>9}  {row.runs:>8}  "
                f"{row.served:>6}  {row.evidence:>8}{mark}",
                flush=True,
            )
    finally:
        client.close()
        server.stop()
        ctx.close()
        shutil.rmtree(workdir, ignore_errors=True)
    return rows, sum(runner.stats.failures.values())


def slope_mb_per_day(rows: list[Day]) -> float:
    """Least-squares slope of RSS over the days: steadier than two end points."""
    xs = [r.day for r in rows]
    ys = [r.rss for r in rows]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0


def report(rows: list[Day], failures: int, drift_day: int, from_day: int) -> bool:
    by_day = {r.day: r for r in rows}
    last = rows[-1]
    base = by_day[min(from_day, last.day)]
    window = [r for r in rows if r.day >= base.day]
    early = by_day[min(5, last.day)]
    before = by_day[min(drift_day, last.day)]
    print(f"job runs {last.runs}, failed runs {failures}")
    print(
        f"one-off, before the window: RSS day {early.day} -> day {before.day} (before drift) "
        f"{early.rss:.1f} -> {before.rss:.1f} MB; day {before.day} -> day {base.day} (first "
        f"evidence report, retrain, new champion loaded) -> {base.rss:.1f} MB "
        f"({base.rss - before.rss:+.1f} MB, {base.modules - before.modules:+d} modules, "
        f"{base.objects - before.objects:+d} Python objects, {base.fds - before.fds:+d} fds)"
    )
    print(
        f"including those one-off costs, RSS day {early.day} -> day {last.day}: "
        f"{early.rss:.1f} -> {last.rss:.1f} MB, {(last.rss - early.rss) / early.rss:+.1%} "
        "(not the budgeted figure)"
    )
    growth = (last.rss - base.rss) / base.rss
    slope = slope_mb_per_day(window)
    peak = max(r.rss for r in window)
    print(
        f"steady window day {base.day} -> day {last.day} ({last.day - base.day} simulated days, "
        f"after the first drift, evidence report and retrain): RSS {base.rss:.1f} -> "
        f"{last.rss:.1f} MB, growth {growth:+.1%}, budget {GROWTH_BUDGET:.0%}, ratio "
        f"{max(growth, 0) / GROWTH_BUDGET:.2f}; peak {peak:.1f} MB; fitted slope "
        f"{slope:+.2f} MB/day ({slope * 30 / base.rss:+.1%} per 30 days); in the window: "
        f"champion served {' -> '.join(dict.fromkeys(r.served for r in window))}, "
        f"{last.evidence - base.evidence} evidence reports, {last.runs - base.runs} job runs"
    )
    obj_growth = (last.objects - base.objects) / base.objects
    print(
        f"steady window Python objects {base.objects} -> {last.objects} ({obj_growth:+.2%}, "
        f"budget {OBJECTS_BUDGET:.0%}); modules {base.modules} -> {last.modules}; fds "
        f"{base.fds} -> {last.fds} (max {max(r.fds for r in window)}); threads {base.threads} "
        f"-> {last.threads} (max {max(r.threads for r in window)}); store connections checked "
        f"out at the end of every day: max {max(r.checked_out for r in rows)}"
    )
    return (
        growth < GROWTH_BUDGET
        and obj_growth < OBJECTS_BUDGET
        and max(r.fds for r in window) <= base.fds
        and max(r.threads for r in window) <= base.threads
        and max(r.checked_out for r in rows) == 0
        and failures == 0
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=50)
    parser.add_argument("--drift-day", type=int, default=10)
    parser.add_argument(
        "--from-day", type=int, default=None, help="first day of the budgeted window"
    )
    parser.add_argument("--skip-soak", action="store_true")
    parser.add_argument("--skip-idle", action="store_true")
    args = parser.parse_args()
    ok = True
    if not args.skip_idle:
        ready, rss = idle_daemon()
        print(
            f"start to READY (median of 3): {ready:.2f} s, budget {READY_BUDGET_S:.1f} s, "
            f"ratio {ready / READY_BUDGET_S:.2f}"
        )
        print(
            f"idle daemon RSS after 10 s: {rss:.1f} MB, budget {IDLE_RSS_BUDGET_MB:.0f} MB, "
            f"ratio {rss / IDLE_RSS_BUDGET_MB:.2f}"
        )
        ok &= ready < READY_BUDGET_S and rss < IDLE_RSS_BUDGET_MB
    if not args.skip_soak:
        from_day = args.drift_day + 10 if args.from_day is None else args.from_day
        rows, failures = soak(args.days, args.drift_day)
        ok &= report(rows, failures, args.drift_day, from_day)
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
