"""SQL source: keyset pages from a production table, late rows within the lag picked up."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import create_engine, text

from daemon.jobs import JobContext
from daemon.sampling import sample_predictions
from tests.sampling.conftest import T0, row

Factory = Callable[..., JobContext]
COLUMNS = "prediction_id, timestamp, age, income, city, prediction, score, latency_ms, error"


def _insert(url: str, rows: list[dict[str, object]]) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE IF NOT EXISTS preds (prediction_id TEXT, timestamp TEXT, age REAL,"
                " income REAL, city TEXT, prediction REAL, score REAL, latency_ms REAL, error TEXT)"
            )
        )
        conn.execute(
            text(
                f"INSERT INTO preds ({COLUMNS}) VALUES (:prediction_id, :timestamp, :age,"
                " :income, :city, :prediction, :score, :latency_ms, :error)"
            ),
            rows,
        )
    engine.dispose()


def test_pages_and_late_rows(ctx_factory: Factory, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'prod.db'}"
    ts = lambda i: (T0 + timedelta(seconds=i)).isoformat()  # noqa: E731
    _insert(url, [row(i, timestamp=ts(i)) for i in range(95)])
    ctx = ctx_factory(
        {
            "kind": "sql",
            "url": url,
            "table": "preds",
            "cursor_column": "timestamp",
            "lag": "1m",
            "batch_size": 20,
        }
    )
    first = sample_predictions(ctx, "churn", T0)
    assert (first.read, first.sampled) == (95, 95)
    # A row committed late, stamped 30 s before the newest one, and new rows.
    _insert(url, [row(500, timestamp=ts(64)), *(row(i, timestamp=ts(i)) for i in range(95, 100))])
    second = sample_predictions(ctx, "churn", T0)
    assert second.sampled == 6
    assert second.duplicates == 0 and second.skipped == 0
    assert sample_predictions(ctx, "churn", T0).sampled == 0
