"""Soak: the demo configuration through 30 simulated days in one process, and an idle daemon.

    .venv/bin/python tests/benchmarks/bench_soak.py [--days 30] [--skip-soak]

Part 1 starts `mlmaint run` (the shipped config.toml, its state in a temp dir) under
a fake NOTIFY_SOCKET: start to READY=1 and the idle RSS after 10 s, against the
budgets of the service issue (3 s, 250 MB). Part 2 replays the demo's simulated
production day by day through the daemon's own jobs (daemon.schedule.replay, as
`mlmaint demo` does) and samples RSS, open file descriptors, threads and checked-out
store connections after every day: RSS growth from day 5 (imports and caches are
warm by then) to the last day must stay under 10%, and descriptors, threads and
connections must not creep.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

READY_BUDGET_S = 3.0
IDLE_RSS_BUDGET_MB = 250.0
GROWTH_BUDGET = 0.10


def rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def fds(pid: int | str = "self") -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def idle_daemon(runs: int = 3) -> tuple[float, float]:
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
            import subprocess

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


def soak(days: int) -> list[tuple[int, float, int, int, int, int]]:
    import logging

    import httpx

    from daemon import demo
    from daemon import simulation as sim
    from daemon.api import ApiServer
    from daemon.config import load_config
    from daemon.jobs import JobContext
    from daemon.retraining import register_initial_version
    from daemon.schedule import JobRunner, build_jobs, replay
    from daemon.store import migrate

    workdir = Path(tempfile.mkdtemp(prefix="mlmaint-soak-"))
    (workdir / "logs").mkdir(parents=True)
    token = secrets.token_urlsafe(24)
    settings = load_config(demo._write_config(workdir), environ={"MLMAINT_DEMO_API_TOKEN": token})
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger().setLevel(logging.WARNING)
    scenario = sim.Scenario(start=demo.START, days=days, drift_day=days // 2, seed=7)
    ctx = JobContext.from_settings(settings)
    migrate.upgrade(ctx.engine)
    register_initial_version(ctx, demo.MODEL, sim.training_frame(scenario), demo.START)
    production = demo.Production(settings, scenario, workdir / "logs")
    clock = demo._SimClock(demo.START)
    server = ApiServer(ctx, host="127.0.0.1", port=0, clock=clock).start()
    client = httpx.Client(
        base_url=f"http://127.0.0.1:{server.port}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    runner = JobRunner(ctx)
    jobs = build_jobs(settings)
    served = {}
    rows: list[tuple[int, float, int, int, int, int]] = []
    runs = 0
    try:
        for day in range(days):
            clock.now = scenario.day_start(day + 1)
            served[day] = production.serve(day)
            labelled = day - scenario.label_delay_days
            if labelled in served:
                demo._push_labels(client, served.pop(labelled))
            runs += replay(
                runner,
                jobs,
                scenario.day_start(day) + timedelta(microseconds=1),
                scenario.day_start(day + 1),
            )
            checked_out = ctx.engine.pool.checkedout()  # type: ignore[attr-defined]
            rows.append((day + 1, rss_mb(), fds(), threading.active_count(), checked_out, runs))
            if len(rows) > 1 and rows[-1][3] != rows[-2][3]:
                names = sorted(t.name for t in threading.enumerate())
                print(f"threads now: {', '.join(names)}", flush=True)
            print(
                f"day {day + 1:>3}: rss {rows[-1][1]:7.1f} MB  fds {rows[-1][2]:>4}  "
                f"threads {rows[-1][3]:>3}  store connections out {checked_out}  "
                f"job runs {runs}",
                flush=True,
            )
    finally:
        client.close()
        server.stop()
        ctx.close()
        shutil.rmtree(workdir, ignore_errors=True)
    failures = sum(runner.stats.failures.values())
    print(f"job runs {runs}, failed runs {failures}")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=30)
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
        rows = soak(args.days)
        base = rows[min(4, len(rows) - 1)]
        last = rows[-1]
        growth = (last[1] - base[1]) / base[1]
        print(
            f"RSS day {base[0]} -> day {last[0]}: {base[1]:.1f} -> {last[1]:.1f} MB, "
            f"growth {growth:+.1%}, budget {GROWTH_BUDGET:.0%}, ratio "
            f"{max(growth, 0) / GROWTH_BUDGET:.2f}"
        )
        # Every code path is warm only after the drift day (first evidence report,
        # first retrain, the new champion loaded by the simulated serving side).
        warm = rows[min(args.days // 2, len(rows) - 1)]
        print(
            f"RSS day {warm[0]} (after the drift day) -> day {last[0]}: {warm[1]:.1f} -> "
            f"{last[1]:.1f} MB, growth {(last[1] - warm[1]) / warm[1]:+.1%}"
        )
        print(
            f"fds day {base[0]} -> {last[0]}: {base[2]} -> {last[2]}; threads {base[3]} -> "
            f"{last[3]}; store connections checked out at the end: {last[4]}"
        )
        ok &= growth < GROWTH_BUDGET and last[2] <= base[2] + 2 and last[4] == 0
        ok &= last[3] <= base[3] + 1
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
