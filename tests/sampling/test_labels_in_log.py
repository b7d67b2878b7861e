"""A prediction log that carries the label beside each prediction (the schema's `label`).

Every row is stored with its label, typed by the one label typing (a binary label
1, 1.0, "1" or True reads as the class it is); a row without one (no key, null,
an empty CSV cell, pandas' NaN) is stored without; a label the typing refuses
rejects its row with the reason, as any other column does. JSONL (clean blocks
through Arrow, dirty ones row by row), CSV, Parquet and pushed rows agree.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from daemon.jobs import JobContext
from daemon.sampling import ingest_records, sample_predictions
from daemon.store.tables import Prediction
from daemon.store.windows import load_window
from tests.sampling.conftest import T0, row, write_jsonl

Factory = Callable[..., JobContext]
N = 40


def labelled_rows() -> list[dict[str, object]]:
    """Rows as a serving app logs them: integer labels, two without one."""
    rows = [row(i, label=i % 2) for i in range(N)]
    del rows[3]["label"]
    rows[4]["label"] = None
    return rows


def stored(ctx: JobContext) -> dict[str, str | None]:
    with ctx.engine.connect() as conn:
        return dict(conn.execute(select(Prediction.prediction_id, Prediction.label)).tuples().all())


def expected() -> dict[str, str | None]:
    return {f"p{i}": None if i in (3, 4) else str(i % 2) for i in range(N)}


def _csv(path: Path, rows: list[dict[str, object]]) -> None:
    frame = pd.DataFrame(rows)
    # pandas writes the missing label as an empty cell, the others as integers.
    frame["label"] = frame["label"].astype("Int64")
    frame.to_csv(path, index=False)


def _parquet(path: Path, rows: list[dict[str, object]]) -> None:
    # A float column: the missing labels are NaN, as pandas holds them.
    pd.DataFrame(rows).to_parquet(path)


WRITERS: dict[str, tuple[str, Callable[[Path, list[dict[str, object]]], None]]] = {
    "jsonl": ("jsonl", write_jsonl),
    "csv": ("csv", _csv),
    "parquet": ("parquet", _parquet),
}


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_every_row_is_stored_with_the_label_it_carries(
    ctx_factory: Factory, tmp_path: Path, fmt: str
) -> None:
    suffix, write = WRITERS[fmt]
    ctx = ctx_factory({"kind": "files", "glob": str(tmp_path / f"*.{suffix}"), "format": fmt})
    write(tmp_path / f"preds.{suffix}", labelled_rows())
    out = sample_predictions(ctx, "churn", datetime.now(UTC))
    assert (out.read, out.sampled, dict(out.rejected)) == (N, N, {})
    assert out.labelled == N - 2
    assert stored(ctx) == expected()
    frame = load_window(ctx, ctx.settings.model("churn"), T0, T0 + timedelta(days=1))
    labels = dict(zip(frame["prediction_id"], frame["label"], strict=True))
    assert labels["p1"] == 1.0 and labels["p2"] == 0.0 and np.isnan(labels["p3"])
    # Read again: nothing new, no label counted twice.
    assert sample_predictions(ctx, "churn", datetime.now(UTC)).labelled == 0


def test_labels_of_every_spelling_and_a_refused_one_row_by_row(
    ctx_factory: Factory, tmp_path: Path
) -> None:
    ctx = ctx_factory({"kind": "files", "glob": str(tmp_path / "*.jsonl")})
    rows = labelled_rows()
    rows[5]["label"] = True
    rows[6]["label"] = "1"
    rows[7]["label"] = 0.0
    rows[8]["label"] = "maybe"  # not a class of a binary model
    rows[9]["label"] = float("nan")  # NaN, as json.dumps writes pandas' missing value
    write_jsonl(tmp_path / "preds.jsonl", rows)
    out = sample_predictions(ctx, "churn", datetime.now(UTC))
    assert (out.sampled, dict(out.rejected)) == (N - 1, {"wrong_type": 1})
    want = expected() | {"p5": "true", "p6": "1", "p7": "0", "p9": None}
    del want["p8"]
    assert stored(ctx) == want
    frame = load_window(ctx, ctx.settings.model("churn"), T0, T0 + timedelta(days=1))
    labels = dict(zip(frame["prediction_id"], frame["label"], strict=True))
    assert (labels["p5"], labels["p6"], labels["p7"]) == (1.0, 1.0, 0.0)


def test_pushed_rows_keep_their_labels_and_a_later_label_replaces_one(
    ctx_factory: Factory,
) -> None:
    from daemon.sampling import ingest_label_records

    ctx = ctx_factory({"kind": "http"})
    rows = json.loads(json.dumps(labelled_rows()))
    out = ingest_records(ctx, "churn", rows, T0 + timedelta(hours=1))
    assert (out.sampled, out.labelled, dict(out.rejected)) == (N, N - 2, {})
    assert stored(ctx) == expected()
    # Labelled when they arrived, with their rows.
    with ctx.sessions() as session:
        received = dict(
            session.execute(select(Prediction.prediction_id, Prediction.labelled_at)).tuples().all()
        )
    assert received["p1"] == T0 + timedelta(hours=1) and received["p3"] is None
    later = ingest_label_records(ctx, "churn", [{"prediction_id": "p1", "label": 0}], T0)
    assert later.joined == 1 and stored(ctx)["p1"] == "0"


def test_a_regression_log_stores_its_labels_as_numbers(
    ctx_factory: Factory, tmp_path: Path
) -> None:
    ctx = ctx_factory({"kind": "files", "glob": str(tmp_path / "*.jsonl")}, task="regression")
    rows = [row(i, prediction=100.0 + i, label=100 + 2 * i) for i in range(N)]
    write_jsonl(tmp_path / "preds.jsonl", rows)
    out = sample_predictions(ctx, "churn", datetime.now(UTC))
    assert (out.sampled, out.labelled, dict(out.rejected)) == (N, N, {})
    assert stored(ctx) == {f"p{i}": repr(float(100 + 2 * i)) for i in range(N)}
    frame = load_window(ctx, ctx.settings.model("churn"), T0, T0 + timedelta(days=1))
    gap = dict(zip(frame["prediction_id"], frame["label"] - frame["prediction"], strict=True))
    assert gap == {f"p{i}": float(i) for i in range(N)}
