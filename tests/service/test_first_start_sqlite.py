"""A daemon's first start on a SQLite store with two models: they sample side by side.

Each model's log holds last week's predictions with their labels (integers, as a
serving app that knows the truth writes them) and, between the days, blocks of
rows from before the schema gained a feature (refused: a missing column). The
sampling of both models is due at start and runs at once on the scheduler's
workers; every chunk of a log is one transaction. A chunk of refused rows only
reads the kept rejects before writing them: that transaction used to begin
deferred and fail "database is locked" the moment the other model had written.
Then the first-start backfill checks the week, once the model's sampling has
succeeded: a first sampling that failed leaves nothing half-counted, and the
backfill runs after the next one.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from checks.interface import CheckKind
from daemon.store.engine import make_engine, session_factory
from daemon.store.tables import CheckRun, IngestCount, Model, Prediction, RejectedRow
from tests.checks.frames import CATEGORICAL, NUMERIC, window
from tests.conftest import new_sqlite_url
from tests.service.harness import Daemon, NotifySocket, write_config

PER_DAY = 150
DAYS = 7
# Rows of the log's old format between the days: one chunk of them a day.
OLD_ROWS = 50
BATCH = 50


def write_log(path: Path, first_day: datetime, seed: int) -> None:
    """A serving app's JSONL log: DAYS days of PER_DAY predictions with their labels,
    each day followed by OLD_ROWS rows without the `visits` feature."""
    with path.open("w", encoding="utf-8") as fh:
        for day in range(DAYS):
            frame = window(PER_DAY, seed + day)
            start = first_day + timedelta(days=day)
            for i, row in enumerate(frame.to_dict("records")):
                record: dict[str, object] = {c: row[c] for c in (*NUMERIC, *CATEGORICAL)}
                record.update(
                    prediction_id=f"p{day}-{i}",
                    timestamp=(start + timedelta(seconds=i * 500)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    prediction=int(row["prediction"]),
                    score=round(float(row["score"]), 6),
                    churned=int(row["label"]),
                    latency_ms=round(float(row["latency_ms"]), 2),
                )
                fh.write(json.dumps(record) + "\n")
            for i in range(OLD_ROWS):
                old = {c: row[c] for c in ("age", "income", *CATEGORICAL)}
                old.update(
                    prediction_id=f"old{day}-{i}",
                    timestamp=(start + timedelta(hours=23, seconds=i)).strftime(
                        "%Y-%m-%dT%H:%M:%SZ"
                    ),
                    prediction=0,
                    score=0.5,
                    churned=0,
                )
                fh.write(json.dumps(old) + "\n")


def model_toml(name: str, logs: Path, reference: Path, sampling: str = "") -> str:
    return f"""
[[models]]
name = "{name}"
source = {{ kind = "files", glob = "{logs}/*.jsonl", batch_size = {BATCH} }}
[models.schema]
numeric = ["age", "income", "visits"]
categorical = ["plan", "region"]
score = "score"
label = "churned"
latency = "latency_ms"
[models.reference]
kind = "file"
path = "{reference}"
{sampling}
[models.checks]
min_rows = 50
[models.checks.drift]
evidence = false
[models.checks.performance]
bootstrap = 30
min_labelled = 100
"""


def first_start(tmp_path: Path, sqlite_template: Path, sampling: str = "") -> tuple[str, Path]:
    """Two models' logs and a daemon config on a fresh SQLite store; (url, config)."""
    url = new_sqlite_url(sqlite_template, tmp_path)
    reference = tmp_path / "reference.parquet"
    window(1500, 1).rename(columns={"label": "churned"}).to_parquet(reference)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    models = []
    for seed, name in ((200, "buyer"), (300, "seller")):
        logs = tmp_path / name
        logs.mkdir()
        write_log(logs / "predictions.jsonl", today - timedelta(days=DAYS), seed)
        models.append(model_toml(name, logs, reference, sampling if name == "seller" else ""))
    config = write_config(
        tmp_path / "daemon.toml",
        url,
        extra_service="workers = 4",
        checks='backfill = "7d"',
        extra="".join(models),
    )
    return url, config


def stored(url: str, name: str) -> dict[str, object]:
    """What the store holds of a model: its counters, rows, labels, rejects, drift runs."""
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            mid = session.scalar(select(Model.id).where(Model.name == name))
            counts = {
                f"{stream} {outcome}": n
                for stream, outcome, n in session.execute(
                    select(IngestCount.stream, IngestCount.outcome, func.sum(IngestCount.count))
                    .where(IngestCount.model_id == mid)
                    .group_by(IngestCount.stream, IngestCount.outcome)
                )
            }
            rows, labelled = session.execute(
                select(func.count(), func.count(Prediction.label)).where(Prediction.model_id == mid)
            ).one()
            rejects = session.scalar(
                select(func.count()).select_from(RejectedRow).where(RejectedRow.model_id == mid)
            )
            drift = session.execute(
                select(CheckRun.window_end, CheckRun.rows).where(
                    CheckRun.model_id == mid,
                    CheckRun.kind == CheckKind.DRIFT.value,
                    CheckRun.backfill.is_(True),
                )
            ).all()
            performance = session.scalars(
                select(CheckRun.status).where(
                    CheckRun.model_id == mid,
                    CheckRun.kind == CheckKind.PERFORMANCE.value,
                    CheckRun.backfill.is_(True),
                )
            ).all()
    finally:
        engine.dispose()
    return {
        "counts": {k: int(v) for k, v in counts.items()},
        "rows": int(rows),
        "labelled": int(labelled),
        "rejects": int(rejects or 0),
        "drift": sorted((end.replace(tzinfo=UTC), n) for end, n in drift),
        "performance": sorted(performance),
    }


def backfilled(today: datetime) -> list[tuple[datetime, int]]:
    """The week's daily windows, each ending at a UTC midnight, each one day of the log."""
    return [(today - timedelta(days=DAYS - 1 - i), PER_DAY) for i in range(DAYS)]


def expected_counts() -> dict[str, int]:
    """Each row counted once; the labels the rows carried count as labels joined."""
    return {
        "predictions sampled": DAYS * PER_DAY,
        "predictions rejected:missing_column": DAYS * OLD_ROWS,
        "labels joined": DAYS * PER_DAY,
    }


def test_two_models_sample_side_by_side_on_a_first_start(
    tmp_path: Path, sqlite_template: Path
) -> None:
    url, config = first_start(tmp_path, sqlite_template)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    notify = NotifySocket()
    daemon = Daemon(config, notify)
    try:
        notify.wait_for(lambda m: m.get("STATUS", "").startswith("leader:"), timeout=30)
        for name in ("buyer", "seller"):
            done = daemon.wait_log(rf"backfill {name}: (\d+) of 7 window\(s\) checked", 120)
            assert done.group(1) == "7", daemon.log()
    finally:
        code = daemon.stop()
        notify.close()
    log = daemon.log()
    assert code == 0, log
    assert "database is locked" not in log, log
    sampled = {(job, outcome) for job, outcome, _ in daemon.job_lines() if job.startswith("sample")}
    assert sampled == {("sample:buyer", "ok"), ("sample:seller", "ok")}, log
    for name in ("buyer", "seller"):
        held = stored(url, name)
        # Each row counted once, in the transaction that stored it.
        assert held["counts"] == expected_counts(), (name, held["counts"])
        assert held["rows"] == held["labelled"] == DAYS * PER_DAY, (name, held)
        assert held["rejects"] == DAYS * OLD_ROWS
        assert held["drift"] == backfilled(today), (name, held["drift"])
        # The labels the log carries are the realized performance's.
        assert len(held["performance"]) == DAYS
        assert "insufficient_data" not in held["performance"], held["performance"]


def test_a_first_start_backfill_runs_after_a_failed_first_sampling(
    tmp_path: Path, sqlite_template: Path
) -> None:
    # The seller's log is read every 2 seconds; until the test opens the gate, the store
    # refuses the last write of its batches (the watermark), as a full disk would.
    url, config = first_start(
        tmp_path, sqlite_template, sampling='[models.sampling]\nschedule = { every = "2s" }'
    )
    database = url.removeprefix("sqlite:///")
    gate = sqlite3.connect(database)
    gate.executescript(
        """
        CREATE TABLE test_gate (open INTEGER);
        CREATE TRIGGER test_gate_watermarks BEFORE INSERT ON watermarks
        WHEN (SELECT count(*) FROM test_gate) = 0
             AND NEW.model_id = (SELECT id FROM models WHERE name = 'seller')
        BEGIN SELECT RAISE(ABORT, 'the store refused the write (test gate closed)'); END;
        """
    )
    gate.close()
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    notify = NotifySocket()
    daemon = Daemon(config, notify)
    try:
        notify.wait_for(lambda m: m.get("STATUS", "").startswith("leader:"), timeout=30)
        daemon.wait_log(r"job sample:seller failed", 60)
        daemon.wait_log(r"backfill buyer: 7 of 7 window\(s\) checked", 120)
        # The failed batch left nothing: no rows, no counts, no kept rejects.
        held = stored(url, "seller")
        assert (held["counts"], held["rows"], held["rejects"]) == ({}, 0, 0), held
        assert held["drift"] == [], held
        assert "backfill seller: checking" not in daemon.log()
        opened = sqlite3.connect(database)
        with opened:
            opened.execute("INSERT INTO test_gate VALUES (1)")
        opened.close()
        done = daemon.wait_log(r"backfill seller: (\d+) of 7 window\(s\) checked", 120)
        assert done.group(1) == "7", daemon.log()
    finally:
        code = daemon.stop()
        notify.close()
    log = daemon.log()
    assert code == 0, log
    # Checked after the sampling that read the log, not after the one that failed.
    assert log.index("sampled model=seller") < log.index("backfill seller: checking"), log
    held = stored(url, "seller")
    assert held["counts"] == expected_counts(), held["counts"]
    assert held["rows"] == held["labelled"] == DAYS * PER_DAY
    assert held["drift"] == backfilled(today), held["drift"]
