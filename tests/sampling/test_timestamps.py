"""Plausible time: the same answer for a timestamp on every path, never a 500.

Year 9999, epoch milliseconds, 0001, 1900 and 2099 are outside the default
window (1 day ahead, retention back) and rejected as implausible_timestamp,
whether they come in a JSON Lines or CSV file, a pushed JSON array or pushed
JSON Lines; a naive timestamp means UTC everywhere. A cap per window is set, so
a time past any window's end would overflow it, as it once did.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from daemon.api import ApiServer
from daemon.config import Secret
from daemon.jobs import JobContext
from daemon.sampling import SampleOutcome, sample_predictions
from daemon.store.tables import Prediction
from tests.sampling.conftest import row

Factory = Callable[..., JobContext]
TOKEN = "a-test-token-of-32-bytes-length!"
NOW = datetime.now(UTC).replace(microsecond=0)
SAMPLING = {"max_rows_per_window": 10}

IMPLAUSIBLE: dict[str, object] = {
    "year_9999": "9999-12-31T23:59:59Z",
    "naive_9999": "9999-12-31T23:59:59",
    "epoch_ms": int(NOW.timestamp() * 1000),
    "year_0001": "0001-01-01T00:00:00Z",
    "year_1900": "1900-01-01T00:00:00+00:00",
    "year_2099": "2099-06-01T00:00:00Z",
}
NAIVE = (NOW - timedelta(hours=1)).replace(tzinfo=None).isoformat()
EPOCH_S = int((NOW - timedelta(hours=2)).timestamp())


def _rows(prefix: str) -> list[dict[str, object]]:
    bad = [
        row(i, prediction_id=f"{prefix}-{name}", timestamp=ts)
        for i, (name, ts) in enumerate(IMPLAUSIBLE.items())
    ]
    good = [
        row(100, prediction_id=f"{prefix}-naive", timestamp=NAIVE),
        row(101, prediction_id=f"{prefix}-epoch-s", timestamp=EPOCH_S),
    ]
    return [*bad, *good]


def _csv(rows: list[dict[str, object]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: "" if v is None else v for k, v in r.items()} for r in rows)
    return out.getvalue()


def _file(ctx_factory: Factory, tmp_path: Path, fmt: str) -> SampleOutcome:
    path = tmp_path / fmt / f"preds.{fmt}"
    path.parent.mkdir()
    rows = _rows(f"file-{fmt}")
    if fmt == "csv":
        path.write_text(_csv(rows))
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    source = {"kind": "files", "glob": str(path), "format": fmt}
    ctx = ctx_factory(source, sampling=SAMPLING)
    # The file is settled (no writer can still be on its last line) ten minutes on.
    return sample_predictions(ctx, "churn", NOW + timedelta(minutes=10))


def _pushed(ctx_factory: Factory, kind: str) -> dict[str, object]:
    ctx = ctx_factory({"kind": "http"}, sampling=SAMPLING)
    server = ApiServer(ctx, port=0, token=Secret(TOKEN, "test"), clock=lambda: NOW).start()
    rows = _rows(f"http-{kind}")
    if kind == "array":
        body, content_type = json.dumps(rows), "application/json"
    else:
        body, content_type = "\n".join(json.dumps(r) for r in rows), "application/x-ndjson"
    try:
        answer = httpx.post(
            server.url + "/v1/models/churn/predictions",
            content=body,
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": content_type},
            timeout=30,
        )
    finally:
        server.stop()
    assert answer.status_code == 202, answer.text
    got: dict[str, object] = answer.json()
    return got


@pytest.mark.parametrize("path", ["jsonl", "csv", "array", "ndjson"])
def test_every_path_gives_the_same_answer(ctx_factory: Factory, tmp_path: Path, path: str) -> None:
    if path in ("jsonl", "csv"):
        out = _file(ctx_factory, tmp_path, path)
        sampled, rejected = out.sampled, dict(out.rejected)
    else:
        got = _pushed(ctx_factory, path)
        sampled, rejected = int(got["sampled"]), dict(got["reasons"])  # type: ignore[call-overload]
    assert (sampled, rejected) == (2, {"implausible_timestamp": len(IMPLAUSIBLE)})
    ctx = ctx_factory({"kind": "http"})
    with ctx.engine.connect() as conn:
        stored = dict(conn.execute(select(Prediction.prediction_id, Prediction.ts)).tuples().all())
    (naive,) = [ts for pid, ts in stored.items() if pid.endswith("-naive")]
    # Naive means UTC, on every path (the store hands back naive UTC on SQLite).
    assert naive.replace(tzinfo=UTC) == datetime.fromisoformat(NAIVE).replace(tzinfo=UTC)
