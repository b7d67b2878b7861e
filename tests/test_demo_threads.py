"""The demo trains and scores its small data on one OpenMP thread, its retrain job too."""

from __future__ import annotations

import os

import pytest
from threadpoolctl import threadpool_info

from daemon.demo import one_openmp_thread
from retrain.executors.local import job_env


def _openmp_threads() -> set[int]:
    return {int(lib["num_threads"]) for lib in threadpool_info() if lib["user_api"] == "openmp"}


def test_the_demo_runs_one_openmp_thread_here_and_in_its_retrain_job(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sklearn.ensemble  # noqa: F401  (loads scikit-learn's OpenMP runtime)

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    with one_openmp_thread():
        assert _openmp_threads() == {1}
        # What the local executor hands a retrain job it starts.
        assert job_env(os.environ)["OMP_NUM_THREADS"] == "1"
    assert "OMP_NUM_THREADS" not in os.environ


def test_a_thread_count_the_user_set_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    before = _openmp_threads()
    with one_openmp_thread():
        assert os.environ["OMP_NUM_THREADS"] == "3"
        assert _openmp_threads() == before
    assert os.environ["OMP_NUM_THREADS"] == "3"
