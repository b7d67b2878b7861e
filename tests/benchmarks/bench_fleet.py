"""Fleet: 100 models x 25 features x 10,000-row windows, every check kind on.

Run on demand:
    .venv/bin/python tests/benchmarks/bench_fleet.py [models] [--multivariate] [--regression]
With --workers N [--rows R]: the cycle on 1..N `checks` worker processes (fleet_workers.py).

Drift, quality, realized and estimated performance (CBPE; DLE with
--regression, every model then a regression) and operations for every model,
and multivariate drift with --multivariate (targets: steady cycle < 60 s on 2
cores, RSS < 1.5 GB). Two costs are printed apart, as the daemon pays them:

- the reference side, once per reference version (its statistics, the drift
  calibration and performance bands, the multivariate fit, DLE's loss model),
  which the first cycle of a new version pays;
- the steady check cycle, what every later cycle costs: the checks alone, on
  a cache that holds the reference side.

The first cycle is the two together. Wall and CPU seconds are both printed:
on a shared machine the CPU seconds move less.
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

from daemon.checking.cache import CheckCache
from daemon.checking.loss_models import reference_loss_model
from daemon.checking.references import multivariate_reference, reference_stats
from daemon.checking.run import reference_calibration, run_checks
from daemon.checking.specs import enabled_kinds
from daemon.config import ModelSettings

N_NUM, N_CAT, ROWS = 20, 5, 10_000


def model(i: int, multivariate: bool = False, regression: bool = False) -> ModelSettings:
    return ModelSettings.model_validate(
        {
            "name": f"model-{i}",
            **({"task": "regression"} if regression else {}),
            "source": {"kind": "http"},
            "schema": {
                "numeric": [f"n{j}" for j in range(N_NUM)],
                "categorical": [f"c{j}" for j in range(N_CAT)],
                **({} if regression else {"score": "score"}),
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


def window(seed: int, drift: bool, regression: bool = False) -> pd.DataFrame:
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
    if regression:
        # The model predicts the mean; its error grows with |n2| (what DLE learns).
        mean = 3 * np.asarray(data["n0"]) + 2 * np.asarray(data["n1"])
        noise = rng.normal(0.0, 1.0, ROWS) * (0.5 + np.abs(np.asarray(data["n2"])))
        data.update(prediction=mean, label=mean + noise)
        del data["score"]
    return pd.DataFrame(data)


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(began: tuple[float, float]) -> tuple[float, float]:
    wall, cpu = _clock()
    return wall - began[0], cpu - began[1]


def main() -> None:
    if "--workers" in sys.argv:
        from tests.benchmarks.fleet_workers import main as on_workers

        on_workers(sys.argv[1:])
        return
    numbers = [a for a in sys.argv[1:] if not a.startswith("--")]
    count = int(numbers[0]) if numbers else 100
    multivariate = "--multivariate" in sys.argv
    regression = "--regression" in sys.argv
    models = [model(i, multivariate, regression) for i in range(count)]
    kinds = len(enabled_kinds(models[0]))
    now = datetime(2026, 1, 1, tzinfo=UTC)
    cache = CheckCache()  # the service's, at its default sizes
    frames = [window(10_000 + i, False, regression) for i in range(count)]
    windows = [window(i, i % 3 == 0, regression) for i in range(count)]
    # The reference side, as the first check of a reference version builds it.
    began = _clock()
    refs = [reference_stats(m, f, cache=cache) for m, f in zip(models, frames, strict=True)]
    stats = _since(began)
    began = _clock()
    for m, ref in zip(models, refs, strict=True):
        reference_calibration(m, ref, now, cache=cache)
    calibration = _since(began)
    began = _clock()
    for m, ref in zip(models, refs, strict=True):
        if multivariate:
            multivariate_reference(m, ref, cache=cache)
        reference_loss_model(m, ref, cache=cache)
    fitted = _since(began)
    # The steady cycle: the checks on a cache that holds every reference's side.
    began = _clock()
    firing = 0
    for m, ref, frame in zip(models, refs, windows, strict=True):
        cycle = run_checks(None, m, now, frame, ref, cache=cache)
        assert len(cycle.runs) == kinds, cycle.runs.keys()
        firing += len(cycle.firing)
    steady = _since(began)
    side = tuple(a + b + c for a, b, c in zip(stats, calibration, fitted, strict=True))
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    task = "regression (DLE)" if regression else "binary (CBPE)"
    print(
        f"{count} {task} models x {N_NUM + N_CAT} features x {ROWS:,} rows, "
        f"{kinds} check kinds each{' (multivariate on)' if multivariate else ''}"
    )
    print("                               wall s    cpu s")
    for name, (wall, cpu) in (
        ("reference statistics", stats),
        ("calibration and bands", calibration),
        ("multivariate fit, DLE model", fitted),
        ("reference side, per version", side),
        ("steady check cycle", steady),
    ):
        print(f"  {name:28} {wall:7.2f}  {cpu:7.2f}")
    first = side[0] + steady[0], side[1] + steady[1]
    print(f"  {'first cycle (side + checks)':28} {first[0]:7.2f}  {first[1]:7.2f}")
    print(f"  firing findings: {firing}; peak RSS: {rss_mb:.0f} MB")


if __name__ == "__main__":
    main()
