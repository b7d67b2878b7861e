"""Reference statistics on disk: the same numbers back, a stale file is a miss, one per model.

And the drift tests' scipy-free Jensen-Shannon distance equals scipy's bit for bit.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from checks.drift.stattests import jensenshannon
from checks.reference import ReferenceStats
from daemon.checking.references import reference_stats, stats_file_key
from daemon.checking.stats_file import load_stats, save_stats, stats_path
from tests.checks.frames import churn_settings, window


def _same(a: ReferenceStats, b: ReferenceStats) -> None:
    assert (a.digest, a.rows, a.columns) == (b.digest, b.rows, b.columns)
    assert list(a.numeric) == list(b.numeric)
    for name, col in a.numeric.items():
        other = b.numeric[name]
        assert np.array_equal(col.sorted, other.sorted)
        assert np.array_equal(col.uniques, other.uniques)
        assert (col.rows, col.missing, col.nunique) == (other.rows, other.missing, other.nunique)
        assert col.std == other.std or (np.isnan(col.std) and np.isnan(other.std))
    assert {k: dict(v.counts) for k, v in a.categorical.items()} == {
        k: dict(v.counts) for k, v in b.categorical.items()
    }
    assert [list(v.counts) for v in a.categorical.values()] == [
        list(v.counts) for v in b.categorical.values()
    ]
    assert (a.calibration is None) == (b.calibration is None)
    if a.calibration is not None and b.calibration is not None:
        assert np.array_equal(a.calibration.x, b.calibration.x)
        assert np.array_equal(a.calibration.y, b.calibration.y)
        assert a.calibration.rows == b.calibration.rows


def test_stored_statistics_come_back_equal(tmp_path: Path) -> None:
    model = churn_settings(tmp_path, {"kind": "snapshot"}).model("churn")
    directory = tmp_path / "cache"
    frame = window(2000, 1)
    frame.loc[:10, "age"] = np.nan  # missing values are counted, not stored
    built = reference_stats(model, frame, directory=directory)
    files = list(directory.glob("*.npz"))
    assert len(files) == 1 and files[0].stat().st_mode & 0o777 == 0o600
    assert built.calibration is not None
    key = stats_file_key(model)
    loaded = load_stats(directory, model.name, built.digest, key, built.frame)
    assert loaded is not None
    _same(built, loaded)
    # A second process asks reference_stats again: the file answers, with equal numbers.
    again = reference_stats(model, frame, directory=directory)
    _same(built, again)


def test_stale_or_foreign_files_are_misses(tmp_path: Path) -> None:
    model = churn_settings(tmp_path, {"kind": "snapshot"}).model("churn")
    directory = tmp_path / "cache"
    built = reference_stats(model, window(500, 1), directory=directory)
    key = stats_file_key(model)
    path = stats_path(directory, model.name, built.digest, key)
    # Another layout, or another digest: not this file's.
    assert load_stats(directory, model.name, built.digest, "0" * 64, built.frame) is None
    with np.load(path) as stored:
        arrays = dict(stored)
    head = json.loads(bytes(arrays["header"]).decode())
    head["version"] = 0
    arrays["header"] = np.frombuffer(json.dumps(head).encode(), dtype=np.uint8)
    np.savez(path, **arrays)
    assert load_stats(directory, model.name, built.digest, key, built.frame) is None
    path.write_bytes(b"not an npz")
    assert load_stats(directory, model.name, built.digest, key, built.frame) is None


def test_one_reference_kept_per_model(tmp_path: Path) -> None:
    settings = churn_settings(tmp_path, {"kind": "snapshot"})
    model = settings.model("churn")
    other = model.model_copy(update={"name": "other"})
    directory = tmp_path / "cache"
    reference_stats(other, window(500, 1), directory=directory)
    first = reference_stats(model, window(500, 1), directory=directory)
    second = reference_stats(model, window(500, 2), directory=directory)
    key = stats_file_key(model)
    assert not stats_path(directory, model.name, first.digest, key).exists()
    assert stats_path(directory, model.name, second.digest, key).exists()
    assert len(list(directory.glob("*.npz"))) == 2  # the other model's stays
    save_stats(directory, model.name, second, key)
    assert len(list(directory.glob("*.npz"))) == 2


def test_a_changed_task_does_not_read_the_old_statistics(tmp_path: Path) -> None:
    from checks.interface import TaskKind

    model = churn_settings(tmp_path, {"kind": "snapshot"}).model("churn")
    regression = model.model_copy(update={"task": TaskKind.REGRESSION})
    assert stats_file_key(model) != stats_file_key(regression)
    directory = tmp_path / "cache"
    frame = window(500, 1)
    binary = reference_stats(model, frame, directory=directory)
    assert binary.calibration is not None
    assert reference_stats(regression, frame, directory=directory).calibration is None


@pytest.mark.parametrize("seed", range(5))
def test_jensenshannon_equals_scipy(seed: int) -> None:
    from scipy.spatial import distance

    rng = np.random.default_rng(seed)
    np_errors = np.seterr(invalid="ignore", divide="ignore")
    try:
        _compare(rng, distance.jensenshannon)
    finally:
        np.seterr(**np_errors)


def _compare(rng: np.random.Generator, scipy_js: object) -> None:
    assert callable(scipy_js)
    for i in range(2000):
        k = int(rng.integers(1, 40))
        p, q = rng.random(k), rng.random(k)
        if i % 3 == 0:
            p[rng.integers(0, k)] = 0
        if i % 5 == 0:
            q[rng.integers(0, k)] = 0
        if i % 7 == 0:
            p, q = p / p.sum(), np.round(q, 3)
        if i % 11 == 0:
            q = p * (1 + rng.normal(0, 1e-9, k))  # near-equal bins take scipy's log1p branch
        want = float(scipy_js(p, q))
        got = jensenshannon(p, q)
        assert got == want or (np.isnan(got) and np.isnan(want)), (p, q)
