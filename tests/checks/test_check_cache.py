"""The check cache: safe under the scheduler's threads, one per context, reloads a new reference."""

from __future__ import annotations

import random
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from checks.calibration import ReferenceCalibration
from checks.interface import CheckKind
from checks.reference import ReferenceStats, build_reference
from daemon.checking.cache import CheckCache
from daemon.checking.job import check_model
from daemon.checking.references import WindowLoader, reference_stats
from daemon.config import ModelSettings
from daemon.jobs import JobContext
from tests.checks.frames import CATEGORICAL, NUMERIC, START, churn_settings, window

THREADS = 8
ROUNDS = 3_000
KEYS = 40
SIZE = 8
DRIFT = CheckKind.DRIFT


@pytest.fixture
def busy_switching() -> Iterator[None]:
    """Threads switch every microsecond, so an unguarded read-modify-write is interleaved."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def _stats(count: int) -> list[ReferenceStats]:
    base = build_reference(window(50, 1), NUMERIC, CATEGORICAL, digest="base")
    return [replace(base, digest=f"d{i}") for i in range(count)]


def test_threads_hammering_get_and_put_keep_the_bound_and_the_entries(
    busy_switching: None,
) -> None:
    cache = CheckCache(size=SIZE, calibrations=SIZE)
    stats = _stats(KEYS)
    calibrations = [ReferenceCalibration() for _ in range(KEYS)]
    start = threading.Barrier(THREADS)
    failures: list[str] = []
    gets = [0] * THREADS

    def hammer(worker: int) -> None:
        rng = random.Random(worker)
        start.wait()
        try:
            for _ in range(ROUNDS):
                i = rng.randrange(KEYS)
                key = (f"d{i}", "layout")
                owner = f"model-{rng.randrange(KEYS // 2)}" if rng.random() < 0.3 else None
                found = cache.get(key, owner=owner)
                gets[worker] += 1
                if found is None:
                    found = cache.put(key, stats[i])
                if found is not stats[i]:
                    failures.append(f"{key} held {found.digest}")
                built = cache.reference(key, lambda i=i: stats[i])  # type: ignore[misc]
                gets[worker] += 1
                if built is not stats[i]:
                    failures.append(f"{key} built as {built.digest}")
                cache.put_calibration(f"c{i}", calibrations[i])
                held = cache.calibration(f"c{rng.randrange(KEYS)}")
                if held is not None and held not in calibrations:
                    failures.append("a calibration nobody stored")
                if len(cache) > SIZE:
                    failures.append(f"{len(cache)} references kept, bound {SIZE}")
        except Exception as exc:  # a corrupted OrderedDict raises (KeyError, RuntimeError)
            failures.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=hammer, args=(w,)) for w in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not failures, failures[:5]
    assert len(cache) <= SIZE
    # Every lookup counted once: no hit or miss lost to an interleaved `+= 1`.
    assert cache.hits + cache.misses == sum(gets)
    assert len(cache._calibrations) <= SIZE
    for i in range(KEYS):
        found = cache.get((f"d{i}", "layout"))
        assert found is None or found is stats[i]


def test_an_lru_drops_the_least_recently_used() -> None:
    cache = CheckCache(size=2)
    a, b, c = _stats(3)
    cache.put(("a",), a)
    cache.put(("b",), b)
    assert cache.get(("a",)) is a  # now b is the least recently used
    cache.put(("c",), c)
    assert cache.get(("b",)) is None
    assert cache.get(("a",)) is a and cache.get(("c",)) is c
    assert len(cache) == 2


def test_two_contexts_do_not_share_a_cache(tmp_path: Path) -> None:
    settings = churn_settings(tmp_path, {"kind": "snapshot"})
    first = JobContext.from_settings(settings)
    second = JobContext.from_settings(settings)
    try:
        assert first.check_cache is not second.check_cache
        model = settings.model("churn")
        stats = reference_stats(model, window(300, 1), cache=first.check_cache)
        assert len(first.check_cache) == 1 and len(second.check_cache) == 0
        assert reference_stats(model, window(300, 1), cache=second.check_cache) is not stats
        # A reload (new settings on the same context) keeps the service's cache.
        assert replace(first, settings=settings).check_cache is first.check_cache
    finally:
        first.close()
        second.close()


def _loader(frame: pd.DataFrame) -> WindowLoader:
    def load(
        session: Session, model: ModelSettings, start: datetime, end: datetime
    ) -> pd.DataFrame:
        return frame

    return load


def test_a_reference_rewritten_on_disk_is_reloaded(
    tmp_path: Path, engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    ref_path = tmp_path / "reference.parquet"
    window(1_000, 1).rename(columns={"label": "churned"}).to_parquet(ref_path)
    settings = churn_settings(
        tmp_path,
        {"kind": "file", "path": str(ref_path)},
        str(engine.url),
        checks={"drift": {"evidence": False}},
    )
    ctx = JobContext(settings=settings, engine=engine, sessions=session_factory)
    cache = ctx.check_cache
    shifted = window(400, 2, shift=1.0)
    load = _loader(shifted)

    def age_alerts(at: datetime) -> bool:
        cycle = check_model(ctx, "churn", at, kinds=[DRIFT], load_window=load, alert=False)
        return any(m.alerting for m in cycle.result(DRIFT).measures if m.subject == "age")

    assert age_alerts(START)
    assert age_alerts(START + timedelta(hours=1))
    assert (cache.misses, cache.hits) == (1, 1)  # the second run reused the statistics

    # A new version of the file (a new reference, a later mtime): read and summarised anew.
    window(1_000, 3, shift=1.0).rename(columns={"label": "churned"}).to_parquet(ref_path)
    assert not age_alerts(START + timedelta(hours=2))
    assert cache.misses == 2
    assert len(cache) == 1  # the superseded reference is not kept
