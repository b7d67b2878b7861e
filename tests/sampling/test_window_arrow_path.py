"""The Arrow (ADBC) window path on SQLite files gives the same frame as the row path."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from daemon.jobs import JobContext
from daemon.sampling import ingest_label_records, ingest_records
from daemon.store import windows
from daemon.store.windows import iter_window, load_window
from tests.sampling.conftest import T0, row

Factory = Callable[..., JobContext]
CLASSES = ("cat", "dog", "bird")


def _rows(n: int) -> list[dict[str, object]]:
    rows = []
    for i in range(n):
        r = row(i, prediction=CLASSES[i % 3])
        # NULLs first for longer than a batch, then values: the Arrow path must not
        # take a column's type from an all-NULL first batch.
        r["score"] = None if i < 40 or i % 5 == 0 else i / n
        r["error"] = "timeout" if i >= 40 and i % 7 == 0 else None
        r["latency_ms"] = None if i % 11 == 0 else 1.5 + i
        r["city"] = ("paris", "lyon", "nice")[i % 3]
        if i % 13 == 0:
            r["age"] = None
        rows.append(r)
    return rows


def test_arrow_path_matches_row_path(ctx_factory: Factory, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = ctx_factory({"kind": "http"}, task="multiclass_classification")
    model = ctx.settings.model("churn")
    n = 120
    assert ingest_records(ctx, "churn", _rows(n), T0).sampled == n
    labels = [{"prediction_id": f"p{i}", "label": CLASSES[(i + 1) % 3]} for i in range(50, n, 2)]
    assert ingest_label_records(ctx, "churn", labels, T0).joined == len(labels)
    # [T0 + 10 s, T0 + 100 s): both bounds fall on a row.
    start, end = T0 + timedelta(seconds=10), T0 + timedelta(seconds=100)

    def both(**kwargs: object) -> tuple[pd.DataFrame, pd.DataFrame]:
        fast = load_window(ctx, model, start, end, **kwargs)  # type: ignore[arg-type]
        with monkeypatch.context() as m:
            m.setattr(windows, "_sqlite_file", lambda _engine: None)
            rows = load_window(ctx, model, start, end, **kwargs)  # type: ignore[arg-type]
        return fast, rows

    for kwargs in ({}, {"chunk_rows": 16}, {"labelled_only": True}, {"limit": 33}):
        fast, slow = both(**kwargs)
        pd.testing.assert_frame_equal(fast, slow)
    fast, _ = both(chunk_rows=16)
    assert len(fast) == 90
    assert fast["prediction_id"].iloc[0] == "p10" and fast["prediction_id"].iloc[-1] == "p99"
    assert fast["prediction"].iloc[:3].tolist() == ["dog", "bird", "cat"]
    assert fast["label"].iloc[:40].isna().all()
    assert fast.set_index("prediction_id").loc["p51", "label"] is None
    assert fast.set_index("prediction_id").loc["p52", "label"] == "bird"
    assert fast["score"].iloc[:30].isna().all() and fast["score"].iloc[31] == 41 / n
    assert fast["error"].iloc[:30].isna().all()
    assert fast.set_index("prediction_id").loc["p42", "error"] == "timeout"
    assert fast["error"].dtype == object and fast["prediction_id"].dtype == object
    assert fast["memory_mb"].isna().all() and fast["memory_mb"].dtype == np.float64
    assert fast["city"].dtype == "category"
    assert set(fast["city"].cat.categories) == {"paris", "lyon", "nice"}
    assert fast.set_index("prediction_id")["age"].isna()["p13"]
    assert str(fast["timestamp"].dtype) == "datetime64[us, UTC]"
    assert fast["timestamp"].iloc[0] == pd.Timestamp(start)
    chunks = list(iter_window(ctx, model, start, end, chunk_rows=16))
    assert [len(c) for c in chunks] == [16] * 5 + [10]
    pd.testing.assert_frame_equal(
        pd.concat(chunks, ignore_index=True), fast, check_categorical=False
    )
    empty_fast, empty_rows = both(labelled_only=True, limit=0)
    assert len(empty_fast) == 0
    pd.testing.assert_frame_equal(empty_fast, empty_rows)
