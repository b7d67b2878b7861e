"""Health that reflects writes: /healthz and /metrics after a failed and a good write,
and `mlmaint status` when it cannot read the store."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from daemon.health import Snapshot, healthz
from daemon.metrics import LiveState, exposition, make_registry
from daemon.store.write_health import WriteHealth
from tests.service.harness import MLMAINT, write_config

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)


class Probe:
    """What /healthz and /metrics read from the service, with a WriteHealth of its own."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.writes = WriteHealth()
        self.registry: CollectorRegistry = make_registry(engine, self.live)

    def snapshot(self) -> Snapshot:
        return Snapshot(
            version="t",
            role="leader",
            started_at=NOW,
            scheduler_alive=True,
            heartbeat_age_s=0.1,
            stall_limit_s=60,
            next_runs={},
            running=(),
            status="leader",
            writes=self.writes.snapshot(),
        )

    def live(self) -> LiveState:
        return LiveState(
            leader=True,
            scheduler_alive=True,
            heartbeat_age_s=0.1,
            runs={},
            failures={},
            missed={},
            overlapping={},
            duration_sum_s={},
            bookkeeping_errors=0,
            writes=self.writes.snapshot(),
        )


def _samples(probe: Probe) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(exposition(probe.registry).decode()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


CHURN = (("model", "churn"), ("stream", "predictions"))


def test_health_turns_unhealthy_on_a_failed_write_and_back_on_the_next_good_one(
    engine: Engine,
) -> None:
    probe = Probe(engine)
    status, _, body = healthz(probe, now=NOW)
    assert status == 200, body
    assert json.loads(body)["store"]["writes"] == {}

    probe.writes.ok("churn", "predictions", NOW - timedelta(seconds=30))
    probe.writes.ok("fraud", "predictions", NOW - timedelta(seconds=5))
    assert healthz(probe, now=NOW)[0] == 200
    got = _samples(probe)
    assert got[("mlmaint_store_up", ())] == 1
    assert got[("mlmaint_store_write_ok", CHURN)] == 1
    assert got[("mlmaint_store_write_failures_total", CHURN)] == 0

    # One failed write of one model: unhealthy from that write on.
    probe.writes.failed(
        "churn", "predictions", NOW - timedelta(seconds=2), "database or disk is full"
    )
    status, _, body = healthz(probe, now=NOW)
    health = json.loads(body)
    assert status == 503 and health["status"] == "unhealthy"
    assert health["store"]["reachable"] is True and health["store"]["writes_ok"] is False
    churn = health["store"]["writes"]["churn"]["predictions"]
    assert churn["ok"] is False and churn["error"] == "database or disk is full"
    assert churn["age_s"] == 2.0 and churn["failures"] == 1
    assert churn["last_ok_at"] == (NOW - timedelta(seconds=30)).isoformat()
    assert health["store"]["writes"]["fraud"]["predictions"]["ok"] is True
    got = _samples(probe)
    # store_up no longer says 1 while writes fail; the read alone is store_reachable.
    assert got[("mlmaint_store_up", ())] == 0
    assert got[("mlmaint_store_reachable", ())] == 1
    assert got[("mlmaint_store_write_ok", CHURN)] == 0
    assert got[("mlmaint_store_write_failures_total", CHURN)] == 1
    assert got[("mlmaint_store_last_write_timestamp_seconds", CHURN)] == NOW.timestamp() - 2
    assert (
        got[("mlmaint_store_last_successful_write_timestamp_seconds", CHURN)]
        == NOW.timestamp() - 30
    )

    # The next write that commits turns it back.
    probe.writes.ok("churn", "predictions", NOW)
    status, _, body = healthz(probe, now=NOW)
    assert status == 200, body
    got = _samples(probe)
    assert got[("mlmaint_store_up", ())] == 1
    assert got[("mlmaint_store_write_ok", CHURN)] == 1
    assert got[("mlmaint_store_write_failures_total", CHURN)] == 1


def test_status_exits_69_when_it_cannot_read_the_store(tmp_path: Path) -> None:
    dead = write_config(
        tmp_path / "dead.toml", "postgresql://postgres@127.0.0.1:1/none?connect_timeout=2"
    )
    done = subprocess.run(
        [MLMAINT, "--config", str(dead), "status"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 69, (done.stdout, done.stderr)
    assert "store unreachable:" in done.stdout
    assert "mlmaint status: cannot read the store postgresql" in done.stderr
    # A SQLite store not there, then an empty file (no schema), cannot be read either.
    empty = write_config(tmp_path / "empty.toml", f"sqlite:///{tmp_path / 'empty.db'}")
    done = subprocess.run(
        [MLMAINT, "--config", str(empty), "status"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 69, (done.stdout, done.stderr)
    # Not there: said, and not created by looking.
    assert "does not exist" in done.stderr and not (tmp_path / "empty.db").exists()
    (tmp_path / "empty.db").write_bytes(b"")
    done = subprocess.run(
        [MLMAINT, "--config", str(empty), "status"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 69, (done.stdout, done.stderr)
    assert "no such table" in done.stderr
