"""Fleet: 100 models x 25 features x 10,000-row windows, one full check cycle.

Run on demand: .venv/bin/python tests/benchmarks/bench_fleet.py [models] [--multivariate]
With --workers N [--rows R]: the cycle on 1..N `checks` worker processes (fleet_workers.py).
Drift, quality, realized and estimated performance and operations for every
model, and multivariate drift (off by default) with --multivariate (targets:
< 60 s on 2 cores, RSS < 1.5 GB). Reference statistics are built once per model
(as per model version in the daemon) and timed apart; the multivariate check's
fit of the reference falls in the check cycle (first run of a reference version).
"""

from __future__ import annotations

import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from daemon.checking.references import reference_stats
from daemon.checking.run import run_checks
from daemon.config import ModelSettings

N_NUM, N_CAT, ROWS = 20, 5, 10_000


def model(i: int, multivariate: bool = False) -> ModelSettings:
    return ModelSettings.model_validate(
        {
            "name": f"model-{i}",
            "source": {"kind": "http"},
            "schema": {
                "numeric": [f"n{j}" for j in range(N_NUM)],
                "categorical": [f"c{j}" for j in range(N_CAT)],
                "score": "score",
                "latency": "latency_ms",
                "error": "error",
                "memory": "memory_mb",
            },
            "checks": {
                "drift": {"evidence": False},
                "multivariate": {"enabled": multivariate},
            },
        }
    )


def window(seed: int, drift: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data: dict[str, object] = {
        f"n{j}": rng.normal(0.3 * drift * (j % 5 == 0), 1.0, ROWS) for j in range(N_NUM)
    }
    cats = np.array(["a", "b", "c", "d"], dtype=object)
    for j in range(N_CAT):
        data[f"c{j}"] = cats[rng.integers(0, 4, ROWS)]
    x = np.asarray(data["n0"]) + np.asarray(data["n1"])
    score = 1 / (1 + np.exp(-x))
    data.update(
        prediction=(score >= 0.5).astype(float),
        score=score,
        label=(rng.random(ROWS) < score).astype(float),
        latency_ms=rng.gamma(4, 5, ROWS),
        error=np.where(rng.random(ROWS) < 0.01, "boom", None),
        memory_mb=rng.normal(300, 5, ROWS),
    )
    return pd.DataFrame(data)


def main() -> None:
    if "--workers" in sys.argv:
        from tests.benchmarks.fleet_workers import main as on_workers

        on_workers(sys.argv[1:])
        return
    numbers = [a for a in sys.argv[1:] if not a.startswith("--")]
    count = int(numbers[0]) if numbers else 100
    multivariate = "--multivariate" in sys.argv
    kinds = 6 if multivariate else 5
    models = [model(i, multivariate) for i in range(count)]
    t0 = time.perf_counter()
    refs = [reference_stats(m, window(10_000 + i, False)) for i, m in enumerate(models)]
    t1 = time.perf_counter()
    now = datetime(2026, 1, 1, tzinfo=UTC)
    windows = [window(i, i % 3 == 0) for i in range(count)]
    t2 = time.perf_counter()
    firing = 0
    for m, ref, frame in zip(models, refs, windows, strict=True):
        cycle = run_checks(None, m, now, frame, ref)
        assert len(cycle.runs) == kinds, cycle.runs.keys()
        firing += len(cycle.firing)
    t3 = time.perf_counter()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{count} models x {N_NUM + N_CAT} features x {ROWS:,} rows, {kinds} check kinds each")
    print(f"  reference statistics: {t1 - t0:7.2f} s (once per model version)")
    print(f"  check cycle:          {t3 - t2:7.2f} s ({firing} firing findings)")
    print(f"  peak RSS:             {rss_mb:7.0f} MB")


if __name__ == "__main__":
    main()
