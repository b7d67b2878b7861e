"""Files known by identity: a rotation during a read loses and duplicates nothing.

The file source knows files by (device, inode) and a hash of their head, never by
path. A log renamed between the glob and the stat (app.log -> app.log.1, a new
app.log) keeps its place in the watermark and is resumed under its new name; a
row retention purged does not come back when its file turns up renamed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from daemon.config import FileSource
from daemon.jobs import JobContext
from daemon.sampling import purge_expired, sample_predictions
from daemon.sampling.files import FORGET_AFTER, read_files
from daemon.sampling.records import WatermarkAhead, model_id_of
from daemon.store.tables import Prediction, Watermark
from tests.sampling.conftest import row, write_jsonl

Factory = Callable[..., JobContext]


def _run(
    source: FileSource, state: dict[str, object], now: datetime, glob: Callable[[str], list[str]]
) -> tuple[list[str], dict[str, object]]:
    """One read, each chunk "committed" with its state as the sampler does."""
    ids: list[str] = []
    for chunk in read_files(source, state, now, glob):
        ids.extend(str(json.loads(line)["prediction_id"]) for line in chunk.lines)
        state = chunk.state
    return ids, state


def test_a_rename_between_the_glob_and_the_stat_loses_and_repeats_nothing(
    tmp_path: Path,
) -> None:
    log = tmp_path / "app.log"
    source = FileSource(kind="files", glob=str(tmp_path / "app.log*"), batch_size=25)
    now = datetime.now(UTC) + timedelta(hours=1)  # every file settled

    def plain(pattern: str) -> list[str]:
        return sorted(str(p) for p in tmp_path.glob("app.log*"))

    write_jsonl(log, [row(i) for i in range(60)])
    first, state = _run(source, {}, now, plain)
    write_jsonl(log, [row(i) for i in range(60, 110)], mode="a")

    def rotating(pattern: str) -> list[str]:
        # The glob saw app.log; before the stat, the writer rotated it and started anew.
        found = plain(pattern)
        log.rename(tmp_path / "app.log.1")
        write_jsonl(log, [row(i) for i in range(110, 170)])
        return found

    second, state = _run(source, state, now, rotating)
    third, state = _run(source, state, now, plain)
    fourth, _ = _run(source, state, now, plain)
    read = first + second + third + fourth
    assert sorted(read) == sorted(f"p{i}" for i in range(170)), "each row exactly once"
    assert (len(first), len(second), len(third), len(fourth)) == (60, 60, 50, 0)


def test_a_known_file_out_of_sight_is_kept_then_forgotten(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    source = FileSource(kind="files", glob=str(tmp_path / "app.log*"))
    now = datetime.now(UTC) + timedelta(hours=1)
    write_jsonl(log, [row(i) for i in range(10)])
    _, state = _run(source, {}, now, lambda p: [str(log)])
    _, state = _run(source, state, now, lambda p: [])
    files = state["files"]
    assert isinstance(files, dict) and len(files) == 1
    (entry,) = files.values()
    assert entry["offset"] == log.stat().st_size and "missing_since" in entry
    _, state = _run(source, state, now + FORGET_AFTER + timedelta(seconds=1), lambda p: [])
    assert state["files"] == {}


def test_rotation_then_purge_brings_no_row_back(ctx_factory: Factory, tmp_path: Path) -> None:
    ctx = ctx_factory({"kind": "files", "glob": str(tmp_path / "preds.jsonl*"), "batch_size": 40})
    log = tmp_path / "preds.jsonl"
    write_jsonl(log, [row(i) for i in range(100)])
    now = datetime.now(UTC)
    assert sample_predictions(ctx, "churn", now).sampled == 100
    purged = purge_expired(ctx, "churn", now + timedelta(days=91))
    assert purged.predictions == 100
    log.rename(tmp_path / "preds.jsonl.1")
    write_jsonl(log, [row(i) for i in range(100, 110)])
    rotated = sample_predictions(ctx, "churn", now)
    assert (rotated.read, rotated.sampled) == (10, 10)
    with ctx.engine.connect() as conn:
        ids = set(conn.scalars(select(Prediction.prediction_id)))
    assert ids == {f"p{i}" for i in range(100, 110)}


def test_a_watermark_from_a_newer_mlmaint_is_refused(ctx_factory: Factory, tmp_path: Path) -> None:
    ctx = ctx_factory({"kind": "files", "glob": str(tmp_path / "*.jsonl")})
    now = datetime.now(UTC)
    sample_predictions(ctx, "churn", now)
    with ctx.engine.begin() as conn:
        model_id = model_id_of(conn, "churn")
        conn.execute(Watermark.__table__.delete())
        conn.execute(
            insert(Watermark).values(
                model_id=model_id, stream="predictions", state={}, version=99, updated_at=now
            )
        )
        assert conn.scalar(select(func.count()).select_from(Watermark)) == 1
    with pytest.raises(WatermarkAhead, match="written by a newer mlmaint"):
        sample_predictions(ctx, "churn", now)
