"""File sources end to end on SQLite and PostgreSQL: resume, rotation, bad rows, formats."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select

from daemon.jobs import JobContext
from daemon.sampling import reading, sample_predictions, sampling_status
from daemon.store.tables import Prediction, RejectedRow
from tests.sampling.conftest import T0, row, write_jsonl

Factory = Callable[..., JobContext]


def _stored(ctx: JobContext) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(Prediction)) or 0)


def test_growing_and_rotated_logs_are_read_once(ctx_factory: Factory, tmp_path: Path) -> None:
    ctx = ctx_factory({"kind": "files", "glob": str(tmp_path / "preds.jsonl*"), "batch_size": 40})
    log = tmp_path / "preds.jsonl"
    write_jsonl(log, [row(i) for i in range(100)])
    now = datetime.now(UTC)
    first = sample_predictions(ctx, "churn", now)
    assert (first.read, first.sampled, first.duplicates) == (100, 100, 0)
    assert first.new_categories == 0

    write_jsonl(log, [row(i) for i in range(100, 150)], mode="a")
    grown = sample_predictions(ctx, "churn", now)
    assert (grown.read, grown.sampled) == (50, 50)

    log.rename(tmp_path / "preds.jsonl.1")
    write_jsonl(log, [row(i) for i in range(150, 160)])
    rotated = sample_predictions(ctx, "churn", now)
    assert (rotated.read, rotated.sampled) == (10, 10)
    assert sample_predictions(ctx, "churn", now).read == 0
    assert _stored(ctx) == 160


def test_bad_rows_are_counted_per_reason_and_kept(ctx_factory: Factory, tmp_path: Path) -> None:
    ctx = ctx_factory({"kind": "files", "glob": str(tmp_path / "*.jsonl")})
    log = tmp_path / "preds.jsonl"
    rows = [row(i) for i in range(20)]
    rows += [
        row(100, age=float("nan")),
        row(101, city="x" * 10_000_000),
        row(102, extra=1),
        row(103, age="old"),
        {k: v for k, v in row(104).items() if k != "income"},
        row(105, timestamp="yesterday"),
        row(106, prediction_id=""),
        row(107, city="marseille"),
    ]
    write_jsonl(log, rows)
    with log.open("a") as f:
        f.write('{"prediction_id": "p999", "timestamp": "2026-')
    now = datetime.now(UTC)
    out = sample_predictions(ctx, "churn", now)
    assert out.sampled == 21
    assert out.new_categories == 1
    assert dict(out.rejected) == {
        "bad_timestamp": 1,
        "extra_column": 1,
        "missing_column": 1,
        "missing_id": 1,
        "non_finite": 1,
        "oversize_string": 1,
        "wrong_type": 1,
    }
    # The cut-short last line waits for its writer, then counts once it has settled.
    later = sample_predictions(ctx, "churn", now + timedelta(minutes=10))
    assert dict(later.rejected) == {"truncated": 1}
    with ctx.engine.connect() as conn:
        reasons = sorted(conn.scalars(select(RejectedRow.reason)))
        raw = conn.scalar(select(RejectedRow.raw).where(RejectedRow.reason == "oversize_string"))
    assert len(reasons) == 8 and "truncated" in reasons
    assert raw is not None and len(raw) <= 2001
    (status,) = sampling_status(ctx)
    assert status.sampled == 21 and status.rejected["truncated"] == 1
    assert status.rejected["non_finite"] == 1 and status.new_categories == 1


def test_csv_with_a_wrong_column_and_a_good_one(ctx_factory: Factory, tmp_path: Path) -> None:
    ctx = ctx_factory({"kind": "files", "glob": str(tmp_path / "*.csv"), "format": "csv"})
    header = "prediction_id,timestamp,age,income,city,prediction,score,latency_ms,error"
    ts = (T0 + timedelta(hours=10)).isoformat()
    good = [header, *(f"g{i},{ts},{30 + i},100.5,paris,1,0.9,2.5," for i in range(5))]
    good.append(f"g9,{ts},nan,1,lyon,0,0.1,2,")
    good.append(f'g10,{ts},41,1,"lyon, north",0,0.1,2,boom')
    (tmp_path / "a.csv").write_text("\n".join(good) + "\n")
    wrong = [header.replace("age", "agee"), *(f"w{i},{ts},1,2,lyon,0,0.1,2," for i in range(3))]
    os.utime(tmp_path / "a.csv", (1, 1))
    (tmp_path / "b.csv").write_text("\n".join(wrong) + "\n")
    out = sample_predictions(ctx, "churn", datetime.now(UTC))
    assert out.sampled == 6
    assert dict(out.rejected) == {"missing_column": 3, "non_finite": 1}
    from daemon.store.windows import load_window

    frame = load_window(
        ctx,
        ctx.settings.model("churn"),
        T0 - timedelta(days=1),
        T0 + timedelta(days=1),
    )
    assert sorted(frame["prediction_id"]) == ["g0", "g1", "g10", "g2", "g3", "g4"]
    g10 = frame[frame["prediction_id"] == "g10"].iloc[0]
    assert g10["city"] == "lyon, north" and g10["error"] == "boom" and g10["age"] == 41.0


def test_parquet_files(ctx_factory: Factory, tmp_path: Path) -> None:
    ctx = ctx_factory(
        {"kind": "files", "glob": str(tmp_path / "*.parquet"), "format": "parquet", "batch_size": 7}
    )
    rows = [row(i) for i in range(30)]
    rows[3]["age"] = float("inf")
    table = pa.Table.from_pylist(rows)
    pq.write_table(table, tmp_path / "a.parquet", row_group_size=10)
    out = sample_predictions(ctx, "churn", datetime.now(UTC))
    assert (out.read, out.sampled, dict(out.rejected)) == (30, 29, {"non_finite": 1})
    assert sample_predictions(ctx, "churn", datetime.now(UTC)).read == 0


def test_a_redelivered_row_is_stored_once(ctx_factory: Factory, tmp_path: Path) -> None:
    ctx = ctx_factory({"kind": "files", "glob": str(tmp_path / "*.jsonl")})
    write_jsonl(tmp_path / "a.jsonl", [row(i) for i in range(10)])
    write_jsonl(tmp_path / "b.jsonl", [row(i) for i in range(5, 15)])
    out = sample_predictions(ctx, "churn", datetime.now(UTC))
    assert (out.sampled, out.duplicates) == (15, 5)
    assert _stored(ctx) == 15
    assert json.loads(json.dumps(dict(out.rejected))) == {}


def test_a_chunk_stored_in_parts_keeps_counts_and_rows(
    ctx_factory: Factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Parts of 4 rows in chunks of 10: bad rows, a duplicate and the settled truncated
    # tail fall in different parts, and each chunk still commits whole with its watermark.
    monkeypatch.setattr(reading, "PART_ROWS", 4)
    ctx = ctx_factory({"kind": "files", "glob": str(tmp_path / "*.jsonl"), "batch_size": 10})
    rows = [row(i) for i in range(22)]
    rows[2] = row(2, age=float("nan"))
    rows[9] = row(9, extra=1)
    rows[13] = row(5)  # the id of row 5 again
    write_jsonl(tmp_path / "a.jsonl", rows)
    with (tmp_path / "a.jsonl").open("a") as f:
        f.write('{"prediction_id": "p999", "timestamp": "2026-')
    out = sample_predictions(ctx, "churn", datetime.now(UTC) + timedelta(minutes=10))
    assert (out.read, out.sampled, out.duplicates) == (22, 19, 1)
    assert dict(out.rejected) == {"extra_column": 1, "non_finite": 1, "truncated": 1}
    assert _stored(ctx) == 19
    assert sample_predictions(ctx, "churn", datetime.now(UTC) + timedelta(minutes=10)).read == 0
    (status,) = sampling_status(ctx)
    assert status.sampled == 19 and status.rejected["truncated"] == 1
