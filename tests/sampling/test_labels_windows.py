"""Labels join their predictions whichever arrives first; windows have the agreed columns."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

from daemon.jobs import JobContext
from daemon.sampling import (
    ingest_label_records,
    ingest_labels,
    ingest_records,
    purge_expired,
    sample_predictions,
    sampled,
)
from daemon.store.tables import IngestCount, PendingLabel, Prediction
from daemon.store.windows import iter_window, load_window
from tests.sampling.conftest import T0, row, write_jsonl

Factory = Callable[..., JobContext]
END = T0 + timedelta(days=1)


def test_labels_before_and_after_their_prediction(ctx_factory: Factory, tmp_path: Path) -> None:
    ctx = ctx_factory(
        {"kind": "files", "glob": str(tmp_path / "preds*.jsonl")},
        labels={"kind": "files", "glob": str(tmp_path / "labels*.jsonl")},
    )
    model = ctx.settings.model("churn")
    early = ingest_label_records(ctx, "churn", [{"prediction_id": "p1", "label": 1}], T0)
    assert (early.joined, early.pending) == (0, 1)
    write_jsonl(tmp_path / "preds.jsonl", [row(i) for i in range(10)])
    out = sample_predictions(ctx, "churn", T0)
    assert out.labels_joined == 1
    write_jsonl(
        tmp_path / "labels.jsonl",
        [
            {"prediction_id": "p2", "label": 0},
            {"prediction_id": "p3", "label": True},
            {"prediction_id": "p4", "label": "NaN"},
            {"prediction_id": "p5"},
            {"prediction_id": "later", "label": 1},
        ],
    )
    late = ingest_labels(ctx, "churn", T0 + timedelta(days=20))
    assert (late.read, late.joined, late.pending) == (5, 2, 1)
    assert dict(late.rejected) == {"missing_label": 1, "non_finite": 1}
    frame = load_window(ctx, model, T0, END)
    labels = dict(zip(frame["prediction_id"], frame["label"], strict=True))
    assert labels["p1"] == 1.0 and labels["p2"] == 0.0 and labels["p3"] == 1.0
    assert np.isnan(labels["p6"])
    labelled = load_window(ctx, model, T0, END, labelled_only=True)
    assert sorted(labelled["prediction_id"]) == ["p1", "p2", "p3"]
    with ctx.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(PendingLabel)) == 1


def test_window_columns_and_types(ctx_factory: Factory) -> None:
    ctx = ctx_factory({"kind": "http"})
    model = ctx.settings.model("churn")
    rows = [row(i) for i in range(25)]
    rows[4]["error"] = "timeout"
    rows[5]["score"] = None
    rows[6]["age"] = None
    rows[7]["city"] = 'say "hi"\n'
    out = ingest_records(ctx, "churn", rows, T0)
    assert out.sampled == 25
    frame = load_window(ctx, model, T0, END)
    assert list(frame.columns) == [
        "prediction_id",
        "timestamp",
        "age",
        "income",
        "city",
        "prediction",
        "score",
        "label",
        "latency_ms",
        "error",
        "memory_mb",
    ]
    assert str(frame["timestamp"].dtype).startswith("datetime64") and frame["timestamp"].dt.tz
    assert frame["timestamp"].iloc[3] == pd.Timestamp(T0 + timedelta(seconds=3))
    for col in ("age", "income", "prediction", "score", "label", "latency_ms", "memory_mb"):
        assert frame[col].dtype == np.float64, col
    # Categoricals are plain canonical text, as every reference is typed (checks/typed.py).
    assert frame["city"].dtype == object
    assert frame["error"].iloc[4] == "timeout" and frame["error"].iloc[0] is None
    assert np.isnan(frame["score"].iloc[5]) and np.isnan(frame["age"].iloc[6])
    assert frame["city"].iloc[7] == 'say "hi"\n'
    chunks = list(iter_window(ctx, model, T0, END, chunk_rows=10))
    assert [len(c) for c in chunks] == [10, 10, 5]
    small = load_window(ctx, model, T0, END, chunk_rows=7)
    pd.testing.assert_frame_equal(small, frame)
    part = load_window(ctx, model, T0 + timedelta(seconds=5), T0 + timedelta(seconds=8))
    assert list(part["prediction_id"]) == ["p5", "p6", "p7"]
    empty = load_window(ctx, model, END, END + timedelta(days=1))
    assert list(empty.columns) == list(frame.columns) and len(empty) == 0
    with pytest.raises(ValueError, match="naive"):
        load_window(ctx, model, datetime(2026, 1, 1), END)


def test_multiclass_predictions_and_labels_are_strings(ctx_factory: Factory) -> None:
    ctx = ctx_factory({"kind": "http"}, task="multiclass_classification")
    rows = [row(i, prediction=["cat", "dog"][i % 2]) for i in range(4)]
    ingest_records(ctx, "churn", rows, T0)
    ingest_label_records(ctx, "churn", [{"prediction_id": "p0", "label": "dog"}], T0)
    frame = load_window(ctx, ctx.settings.model("churn"), T0, END)
    assert list(frame["prediction"]) == ["cat", "dog", "cat", "dog"]
    assert frame["label"].iloc[0] == "dog" and frame["label"].iloc[1] is None


def test_hash_sampling_keeps_the_same_ids_for_predictions_and_labels(
    ctx_factory: Factory,
) -> None:
    ctx = ctx_factory({"kind": "http"}, sampling={"rate": 0.3})
    rows = [row(i) for i in range(1000)]
    out = ingest_records(ctx, "churn", rows, T0)
    expected = {r["prediction_id"] for r in rows if sampled(str(r["prediction_id"]), 0.3)}
    assert out.sampled == len(expected) and 220 < out.sampled < 380
    assert out.skipped == 1000 - out.sampled
    labels = [{"prediction_id": f"p{i}", "label": 1} for i in range(1000)]
    lab = ingest_label_records(ctx, "churn", labels, T0)
    assert (lab.joined, lab.pending, lab.skipped) == (len(expected), 0, 1000 - len(expected))


def test_cap_per_window_keeps_the_same_rows_whatever_the_order(ctx_factory: Factory) -> None:
    ctx = ctx_factory({"kind": "http"}, sampling={"max_rows_per_window": 50, "window": "1h"})
    rows = [row(i) for i in range(300)]
    for start in range(0, 300, 60):
        ingest_records(ctx, "churn", rows[start : start + 60][::-1], T0)
    with ctx.engine.connect() as conn:
        kept = set(conn.scalars(select(Prediction.prediction_id)))
        capped = conn.scalar(
            select(func.sum(IngestCount.count)).where(IngestCount.outcome == "capped")
        )
    from daemon.sampling.selection import id_hash

    best = sorted((str(r["prediction_id"]) for r in rows), key=id_hash)[:50]
    assert kept == set(best) and capped == 250


def test_retention_purges_rows_and_keeps_counters(ctx_factory: Factory) -> None:
    ctx = ctx_factory({"kind": "http"}, sampling={"retention": "7d"})
    old = [row(i, timestamp=(T0 - timedelta(days=10)).isoformat()) for i in range(30)]
    new = [row(i) for i in range(100, 110)]
    # Each stored when it was recent: rows older than retention are refused at ingest.
    ingest_records(ctx, "churn", old, T0 - timedelta(days=10))
    ingest_records(ctx, "churn", new, T0)
    ghost = [{"prediction_id": "ghost", "label": 1}]
    ingest_label_records(ctx, "churn", ghost, T0 - timedelta(days=9))
    out = purge_expired(ctx, "churn", T0 + timedelta(days=3), batch_size=7)
    assert (out.predictions, out.pending_labels) == (30, 1)
    with ctx.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Prediction)) == 10
        assert (
            conn.scalar(select(func.sum(IngestCount.count)).where(IngestCount.outcome == "sampled"))
            == 40
        )
