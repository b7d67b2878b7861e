"""The poison row against the real daemon (`mlmaint run`), on SQLite and PostgreSQL.

One log: 1,000 good rows, a row with a NUL, one with a lone surrogate, then
2,000 good rows. The daemon's sampling job stores the 3,000 good rows,
quarantines the two poison rows with their reasons, and its next cycles run
clean: no failed job, nothing new read.
"""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import create_engine, func, select

from daemon.store.tables import Prediction, RejectedRow
from tests.sampling.conftest import row, write_jsonl
from tests.service.harness import Daemon, write_config

MODEL = """
[[models]]
name = "churn"
task = "binary_classification"
source = {{ kind = "files", glob = "{glob}" }}
[models.schema]
numeric = ["age", "income"]
categorical = ["city"]
score = "score"
latency = "latency_ms"
error = "error"
[models.sampling]
schedule = {{ every = "1s" }}
"""


def test_the_daemon_stores_every_good_row_and_quarantines_the_poison(
    store_url: str, tmp_path: Path
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    good = [row(i) for i in range(3000)]
    poison = [
        row(5000, prediction_id="poison-nul", city="par\x00is"),
        row(5001, prediction_id="poison-surrogate", city="\ud800"),
    ]
    write_jsonl(logs / "preds.jsonl", [*good[:1000], *poison, *good[1000:]])
    config = write_config(
        tmp_path / "config.toml", store_url, extra=MODEL.format(glob=logs / "*.jsonl")
    )
    daemon = Daemon(config, None)
    try:
        daemon.wait_log(r"sampled model=churn read=3002 sampled=3000 rejected=2", timeout=60)
        first = daemon.log().index("sampled model=churn read=3002")
        # Two more cycles after it, each clean.
        deadline_log = r"sampled model=churn read=0 sampled=0 rejected=0[\s\S]*" * 2
        daemon.wait_log(deadline_log, timeout=30)
    finally:
        code = daemon.stop()
    assert code == 0, daemon.log()
    log = daemon.log()
    assert not re.search(r"job sample:churn failed", log), log[first:]
    engine = create_engine(store_url)
    try:
        with engine.connect() as conn:
            stored = conn.scalar(select(func.count()).select_from(Prediction))
            kept = sorted(conn.execute(select(RejectedRow.reason)).scalars())
    finally:
        engine.dispose()
    assert stored == 3000
    assert kept == ["lone_surrogate", "nul_character"]
