"""Segments: a model that decays in one region while its totals look fine."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from checks.interface import CheckKind, SchemaMismatch, Status
from checks.segments import OTHER, segmentation
from daemon.api import ApiServer
from daemon.checking.job import check_model
from daemon.config.common import ConfigError
from daemon.jobs import JobContext
from daemon.store.tables import Alert, AlertState, CheckRun
from tests.checks.frames import START, churn_settings, window

REGIONS = ["eu", "us", "apac"]


def _frame(n: int, seed: int, *, decay_in: str | None = None) -> pd.DataFrame:
    """Churn windows over three regions; in `decay_in` the labels no longer follow the
    scores (shuffled among its rows: the churn rate stays, the ranking is lost)."""
    frame = window(n, seed)
    rng = np.random.default_rng(seed + 1000)
    frame["region"] = rng.choice(REGIONS, n, p=[0.55, 0.39, 0.06]).astype(object)
    if decay_in is not None:
        rows = np.flatnonzero(frame["region"].to_numpy() == decay_in)
        frame.loc[rows, "label"] = rng.permutation(frame.loc[rows, "label"].to_numpy())
    return frame


def test_segments_are_the_references_top_values_and_other() -> None:
    ref = pd.DataFrame({"region": ["eu"] * 5 + ["us"] * 3 + ["apac"] * 3 + ["latam", None]})
    cut = segmentation(ref, "region", 2)
    # Ties by value: apac before us at 3 each.
    assert cut.values == ("eu", "apac") and cut.names == ("eu", "apac", OTHER)
    window_ = pd.DataFrame({"region": ["us", "eu", None, "mars", "apac"], "x": range(5)})
    parts = dict(cut.split(window_))
    assert list(parts["eu"]["x"]) == [1] and list(parts["apac"]["x"]) == [4]
    # The rest, a value never seen and a missing one included, is "other".
    assert list(parts[OTHER]["x"]) == [0, 2, 3]
    with pytest.raises(SchemaMismatch, match="lacks column"):
        segmentation(ref, "plan", 2)


def test_segments_must_be_categorical_columns(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"models\[0\]: checks.segments: 'age' not among"):
        churn_settings(tmp_path, {"kind": "snapshot"}, checks={"segments": ["age"]})


def regions_context(
    tmp_path: Path, engine: Engine, session_factory: sessionmaker[Session]
) -> JobContext:
    """`churn` cut by region, its reference of 6,000 rows over the three regions."""
    ref = _frame(6000, 1).rename(columns={"label": "churned"})
    ref_path = tmp_path / "reference.parquet"
    ref.to_parquet(ref_path)
    settings = churn_settings(
        tmp_path,
        {"kind": "file", "path": str(ref_path)},
        engine.url.render_as_string(hide_password=False),
        checks={
            "min_rows": 50,
            "segments": ["region"],
            # Evidently's fixed drift thresholds: no drift calibration per slice here.
            "drift": {"thresholds": "evidently"},
            "performance": {"bootstrap": 50, "min_labelled": 50},
        },
    )
    return JobContext(settings=settings, engine=engine, sessions=session_factory)


def test_one_region_decays_and_only_that_segment_alerts(
    tmp_path: Path, engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    ctx = regions_context(tmp_path, engine, session_factory)
    frame = _frame(2000, 2, decay_in="apac")
    now = START + timedelta(days=1)
    cycle = check_model(ctx, "churn", now, load_window=lambda *_: frame)

    # The totals hold: apac is a sixteenth of the rows.
    assert cycle.result(CheckKind.PERFORMANCE).status is Status.OK
    segments = {c.segment: c for c in cycle.segments}
    # No "other": the reference holds no region beyond the three.
    assert set(segments) == {"region=eu", "region=us", "region=apac"}
    for name, part in segments.items():
        assert set(part.runs) == {
            CheckKind.DRIFT,
            CheckKind.QUALITY,
            CheckKind.PERFORMANCE,
            CheckKind.ESTIMATED_PERFORMANCE,
        }
        decayed = part.result(CheckKind.PERFORMANCE).status is Status.ALERT
        assert decayed is (name == "region=apac"), name
    apac = segments["region=apac"]
    assert 0.04 * 2000 < apac.rows < 0.08 * 2000
    with session_factory() as session:
        firing = session.scalars(select(Alert).where(Alert.state == AlertState.FIRING)).all()
        stored = session.execute(select(CheckRun.kind, CheckRun.segment, CheckRun.status)).all()
    decay = [a for a in firing if a.kind in ("performance", "estimated_performance")]
    # One alert of its own, named by its segment; the model's roc_auc does not fire.
    assert [a.subject for a in decay] == ["region=apac/roc_auc"], [a.subject for a in firing]
    assert decay[0].summary.startswith("in region=apac: roc_auc ")
    assert not [a for a in firing if "/" not in a.subject and a.kind == "performance"]
    assert (CheckKind.PERFORMANCE.value, "region=apac", Status.ALERT) in stored
    assert (CheckKind.PERFORMANCE.value, None, Status.OK) in stored
    # Operations are the service's: no segment runs them.
    assert all(seg is None for kind, seg, _ in stored if kind == CheckKind.OPERATIONS.value)

    # /v1: the whole windows by default, a segment's on asking.
    with ApiServer(ctx, port=0, clock=lambda: now) as server:
        url = f"{server.url}/v1/models/churn/checks"
        total = httpx.get(url, params={"kind": "performance"}).json()
        part_ = httpx.get(url, params={"kind": "performance", "segment": "region=apac"}).json()
        # A segment never stored is a 404 naming the stored ones, not an empty answer.
        unknown = httpx.get(url, params={"segment": "region=mars"})
        bare = httpx.get(url, params={"segment": "apac"})
    assert unknown.status_code == 404 and bare.status_code == 404
    assert unknown.json()["error"] == (
        "unknown segment 'region=mars' for model 'churn': its runs have segments "
        "region=apac, region=eu, region=us; segmented by region; a segment is written "
        "COLUMN=VALUE; a value the reference holds fewer than min_rows = 50 rows of is not "
        "checked (`mlmaint check churn` lists those)"
    )
    assert total["segment"] is None and [r["status"] for r in total["runs"]] == ["ok"]
    assert part_["segment"] == "region=apac" and [r["status"] for r in part_["runs"]] == ["alert"]
    assert {m["value"] for m in part_["measures"]} != {m["value"] for m in total["measures"]}

    # The next day apac is healthy again: its alert resolves, on its own fingerprint.
    later = now + timedelta(days=1)
    misses = ctx.check_cache.misses
    check_model(ctx, "churn", later, load_window=lambda *_: _frame(2000, 3))
    # The whole reference and each slice were kept: nothing was built again.
    assert ctx.check_cache.misses == misses
    with session_factory() as session:
        alert = session.scalars(select(Alert).where(Alert.subject == "region=apac/roc_auc")).one()
    assert alert.state is not AlertState.FIRING
    # A window of another length is printed, not stored: its segments neither (trial of
    # issue 19: a 7d segment run replaced the stored daily one).
    with session_factory() as session:
        before = session.scalar(select(func.count()).select_from(CheckRun))
    unstored = check_model(
        ctx,
        "churn",
        later,
        window=timedelta(days=7),
        load_window=lambda *_: _frame(2000, 4, decay_in="apac"),
        alert=False,
        store=False,
    )
    assert unstored.segments and all(
        r.run_id is None for part in unstored.segments for r in part.runs.values()
    )
    # A past window's segment runs are a backfill's, like the whole window's.
    check_model(
        ctx,
        "churn",
        now - timedelta(days=1),
        load_window=lambda *_: _frame(2000, 5),
        alert=False,
        backfill=True,
    )
    with session_factory() as session:
        after = session.scalar(select(func.count()).select_from(CheckRun))
        past = session.execute(
            select(CheckRun.segment, CheckRun.backfill).where(
                CheckRun.window_end == now - timedelta(days=1)
            )
        ).all()
    assert after == before + len(past) and past
    assert {seg for seg, _ in past} >= {None, "region=apac"}
    assert all(backfill for _, backfill in past), past
