"""kill -9 of the leader mid-check: the new leader runs that cycle once, no gap.

Two daemons on one PostgreSQL store. The leader's check is caught mid-run by a real
slow input: a transaction of the test holds `check_runs` locked, so the leader's
checks block where they store their runs (their start is committed, their end is
not). The leader is killed there; the standby takes over, runs that cycle again with
the dead leader's `now` (the same window end), once, and the cycles after it as usual.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from daemon.cadence import GRID_EPOCH
from daemon.store.engine import make_engine
from tests.conftest import drop_pg_database, new_pg_database, pg_url
from tests.service.harness import Daemon, NotifySocket, write_config

PERIOD = timedelta(seconds=8)


@pytest.fixture
def pg_store(pg_template: str) -> Iterator[str]:
    name = new_pg_database(pg_template)
    yield pg_url(name)
    drop_pg_database(name)


def _wait(predicate: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {timeout}s")


def _model(tmp_path: Path) -> str:
    # No reference: every check stores an insufficient_data run (fast, and still a run).
    return f"""
[[models]]
name = "churn"
source = {{ kind = "http" }}
reference = {{ kind = "file", path = "{tmp_path / "missing.parquet"}" }}
[models.schema]
numeric = ["age"]
categorical = ["city"]
[models.checks]
schedule = {{ every = "{int(PERIOD.total_seconds())}s" }}
"""


def _ends(store: Engine) -> dict[str, list[datetime]]:
    with store.connect() as conn:
        rows = conn.execute(
            text("SELECT kind, window_end FROM check_runs ORDER BY kind, window_end")
        ).all()
    out: dict[str, list[datetime]] = {}
    for kind, end in rows:
        out.setdefault(kind, []).append(end)
    return out


def _job(store: Engine, job_id: str) -> tuple[str, datetime] | None:
    with store.connect() as conn:
        row = conn.execute(
            text("SELECT last_status, last_started_at FROM job_runs WHERE job_id = :j"),
            {"j": job_id},
        ).first()
    return None if row is None else (row[0], row[1])


def _cycle(at: datetime) -> int:
    return (at - GRID_EPOCH) // PERIOD


def test_kill_9_mid_check_the_new_leader_runs_that_cycle_once(
    tmp_path: Path, pg_store: str
) -> None:
    config = write_config(tmp_path / "config.toml", pg_store, extra=_model(tmp_path))
    store = make_engine(pg_store)
    notify_a, notify_b = NotifySocket(), NotifySocket()
    first = Daemon(config, notify_a)
    second: Daemon | None = None
    blocker = store.connect()
    try:
        notify_a.wait_for(lambda m: m.get("STATUS", "").startswith("leader:"), timeout=20)
        # The first cycle runs at start (the job never ran) and completes.
        _wait(lambda: "drift" in _ends(store), 20, "the first drift run")
        first_end = _ends(store)["drift"][0]
        second = Daemon(config, notify_b)
        notify_b.wait_for(lambda m: m.get("STATUS", "").startswith("standby:"), timeout=20)

        blocker.begin()
        blocker.execute(text("LOCK TABLE check_runs IN ACCESS EXCLUSIVE MODE"))

        def caught() -> bool:
            job = _job(store, "checks:churn")
            return job is not None and job[0] == "running" and job[1] > first_end

        _wait(caught, PERIOD.total_seconds() * 2 + 5, "the leader's next check")
        time.sleep(0.5)  # well inside the check, blocked on its store write
        job = _job(store, "checks:churn")
        assert job is not None
        stuck_at = job[1]
        first.kill()  # kill -9 mid-check
        blocker.rollback()
        blocker.close()

        notify_b.wait_for(lambda m: m.get("STATUS", "").startswith("leader:"), timeout=30)
        # The cycle after the killed one runs too, on its own schedule.
        _wait(
            lambda: any(_cycle(e) > _cycle(stuck_at) for e in _ends(store).get("drift", [])),
            PERIOD.total_seconds() * 2 + 5,
            "the next cycle on the new leader",
        )
        time.sleep(1.0)
    finally:
        blocker.close()
        first.kill()
        if second is not None:
            assert second.stop() == 0, second.log()
        notify_a.close()
        notify_b.close()
    ends = _ends(store)
    store.dispose()

    # The new leader re-ran the killed cycle of each check, once, with its `now`.
    again = re.findall(
        r"job (\S+): the run started at (\S+) by a leader that did not finish it runs again",
        second.log(),
    )
    assert ("checks:churn", stuck_at.isoformat()) in again, second.log()
    assert max(Counter(job for job, _ in again).values()) == 1, again
    killed = (GRID_EPOCH + _cycle(stuck_at) * PERIOD).isoformat()
    assert ("checks:churn", killed) not in {(j, c) for j, _, c in first.job_lines()}
    assert [o for j, o, c in second.job_lines() if (j, c) == ("checks:churn", killed)] == ["ok"]

    # Stored check runs: the killed cycle once, at the dead leader's window end, and
    # one run per cycle from the first to the last: no gap, no duplicate.
    assert ends["drift"].count(stuck_at) == 1, ends["drift"]
    for kind, kind_ends in ends.items():
        cycles = [_cycle(e) for e in kind_ends]
        assert cycles == list(range(cycles[0], cycles[0] + len(cycles))), (kind, kind_ends)
        assert _cycle(stuck_at) in cycles, (kind, kind_ends)
