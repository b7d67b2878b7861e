"""Drift speed: ours against Evidently's Report on the same data, and 1,000,000 rows.

Run on demand: .venv/bin/python tests/benchmarks/bench_drift.py [rows] [big_rows]
(defaults 100,000 and 1,000,000; the smoke test runs it tiny).
Prints the timings, the Evidently / ours ratio (target >= 30x on 100k x 25,
verdicts identical with Evidently's thresholds), the calibrated mode's
per-window time beside Evidently's rules (target: within 1.2x) and its
one-off calibration, and the 1M x 25 time (target <= 1.5 s).
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from checks.calibration import DriftCalibration, calibrate_drift
from checks.drift import ColumnKind, ColumnSpec, DriftCheck, DriftSpec
from checks.reference import ReferenceStats, build_reference
from checks.thresholds import ThresholdMode

N_NUM, N_CAT = 20, 5


def frame(n: int, seed: int, drift: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data: dict[str, object] = {}
    for i in range(N_NUM):
        shift = 0.2 * (i % 4 == 0) if drift else 0.0
        data[f"n{i}"] = rng.normal(shift, 1.0, n)
    cats = np.array(["a", "b", "c", "d", "e", "f"], dtype=object)
    for i in range(N_CAT):
        p = np.array([0.3, 0.2, 0.2, 0.1, 0.1, 0.1])
        if drift and i % 2 == 0:
            p = np.array([0.1, 0.2, 0.2, 0.1, 0.1, 0.3])
        data[f"c{i}"] = cats[rng.choice(6, n, p=p)]
    return pd.DataFrame(data)


def spec(mode: ThresholdMode = ThresholdMode.EVIDENTLY) -> DriftSpec:
    return DriftSpec(
        columns=tuple(ColumnSpec(name=f"n{i}", kind=ColumnKind.NUMERIC) for i in range(N_NUM))
        + tuple(ColumnSpec(name=f"c{i}", kind=ColumnKind.CATEGORICAL) for i in range(N_CAT)),
        thresholds=mode,
    )


def stats_of(ref: pd.DataFrame) -> ReferenceStats:
    return build_reference(
        ref, tuple(f"n{i}" for i in range(N_NUM)), tuple(f"c{i}" for i in range(N_CAT))
    )


def ours(ref: pd.DataFrame, cur: pd.DataFrame) -> tuple[float, float, dict[str, bool]]:
    t0 = time.perf_counter()
    stats = stats_of(ref)
    t1 = time.perf_counter()
    columns = DriftCheck(spec=spec(), reference=stats).columns(cur)
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, {c.column: c.drifted for c in columns}


def per_window(
    stats: ReferenceStats,
    cur: pd.DataFrame,
    mode: ThresholdMode,
    calibration: DriftCalibration | None,
    repeats: int = 3,
) -> tuple[float, int]:
    """Best of `repeats` per-window times, and the drifted columns."""
    check = DriftCheck(spec=spec(mode), reference=stats, calibration=calibration)
    best = float("inf")
    drifted = 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        columns = check.columns(cur)
        best = min(best, time.perf_counter() - t0)
        drifted = sum(c.drifted for c in columns)
    return best, drifted


def run_evidently(ref: pd.DataFrame, cur: pd.DataFrame) -> tuple[float, dict[str, bool]]:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(
        numerical_columns=[f"n{i}" for i in range(N_NUM)],
        categorical_columns=[f"c{i}" for i in range(N_CAT)],
    )
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        snap = Report([DataDriftPreset()], include_tests=True).run(
            current_data=Dataset.from_pandas(cur, data_definition=definition),
            reference_data=Dataset.from_pandas(ref, data_definition=definition),
        )
    elapsed = time.perf_counter() - t0
    verdicts = {
        t["name"].removeprefix("Value Drift for column "): t["status"] == "FAIL"
        for t in snap.dict()["tests"]
        if t["name"].startswith("Value Drift for column ")
    }
    return elapsed, verdicts


def both_modes(ref: pd.DataFrame, cur: pd.DataFrame, target: str) -> None:
    """The one-off calibration, and the per-window time in each threshold mode."""
    stats = stats_of(ref)
    t0 = time.perf_counter()
    calibration = calibrate_drift(spec().columns, stats, workers=2)
    calibrating = time.perf_counter() - t0
    ev_run, ev_drifted = per_window(stats, cur, ThresholdMode.EVIDENTLY, None)
    cal_run, cal_drifted = per_window(stats, cur, ThresholdMode.CALIBRATED, calibration)
    print(f"  calibration:               {calibrating:8.3f} s (once per reference version)")
    print(f"  per window, Evidently's:   {ev_run:8.3f} s ({ev_drifted} drifted)")
    print(f"  per window, calibrated:    {cal_run:8.3f} s ({cal_drifted} drifted{target})")
    print(f"  calibrated / Evidently's:  {cal_run / ev_run:8.2f}x (target <= 1.2x)")


def main() -> None:
    import evidently  # noqa: F401  (import time is not part of the comparison)

    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    big = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    ref, cur = frame(rows, 1, False), frame(rows, 2, True)
    ev_time, ev_verdicts = run_evidently(ref, cur)
    prep, run, verdicts = ours(ref, cur)
    _, run2, _ = ours(ref, cur)
    best = min(run, run2)
    print(f"{rows:,} x 25 (20 numeric, 5 categorical), reference and current")
    print(f"  evidently Report:          {ev_time:8.3f} s")
    print(f"  ours, reference stats:     {prep:8.3f} s (once per model version)")
    print(f"  ours, per window:          {best:8.3f} s")
    print(f"  ratio per window:          {ev_time / best:8.1f}x")
    print(f"  ratio incl. reference:     {ev_time / (best + prep):8.1f}x")
    same = verdicts == ev_verdicts
    print(f"  verdicts identical:        {same} ({sum(verdicts.values())} drifted columns)")
    both_modes(ref, cur, "")

    ref, cur = frame(big, 3, False), frame(big, 4, True)
    print(f"{big:,} x 25, reference and current")
    both_modes(ref, cur, ", target <= 1.5 s")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
