"""Performance bands, as NannyML cuts them: the metric on chunks of the reference.

Chunks are cut from a seeded shuffle, since a reference file may be sorted by
anything; `Band` (checks/performance/bands.py) scales the chunks' spread to a
window's size.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from checks.interface import TaskKind
from checks.performance.bands import Band
from checks.performance.estimation import estimate
from checks.performance.metrics import (
    NEEDS_SCORE,
    TASK_METRICS,
    Metric,
    metric_values,
    realized_arrays,
)
from checks.reference import FloatArray, ReferenceStats, numeric_values

# Chunk sizes for the performance bands; a size needs at least MIN_CHUNKS chunks.
BAND_GRID = (50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000)
MIN_CHUNKS = 8
# Chunks per size (more shuffles when one partition gives fewer).
BAND_CHUNKS = 64


def _chunks(rows: int, size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Index sets of chunks of `size` rows: disjoint within a shuffle, BAND_CHUNKS in all."""
    per = rows // size
    out: list[np.ndarray] = []
    while len(out) < BAND_CHUNKS:
        order = rng.permutation(rows)
        out.extend(order[i * size : (i + 1) * size] for i in range(per))
        if per >= BAND_CHUNKS:
            break
    return out[: max(BAND_CHUNKS, per)]


def _band(metric: Metric, rows: int, values_at: dict[int, FloatArray]) -> Band | None:
    sizes, means, stds, z = [], [], [], []
    for size, values in values_at.items():
        v = values[np.isfinite(values)]
        if v.size < MIN_CHUNKS:
            continue
        mean, std = float(np.mean(v)), float(np.std(v, ddof=1))
        if not std > 0:
            continue
        sizes.append(size)
        means.append(mean)
        stds.append(std)
        z.extend(((v - mean) / std).tolist())
    if not sizes:
        return None
    return Band(
        metric=metric,
        reference_rows=rows,
        sizes=tuple(sizes),
        means=tuple(means),
        stds=tuple(stds),
        z=tuple(sorted(z)),
    )


def _band_sizes(rows: int) -> list[int]:
    return [s for s in BAND_GRID if s * MIN_CHUNKS <= rows]


def realized_band(
    task: TaskKind, metric: Metric, reference: pd.DataFrame, *, seed: int = 0
) -> Band | None:
    """The metric on chunks of the labelled reference, at each chunk size."""
    arrays = realized_arrays(reference, task)
    if arrays is None:
        return None
    label, prediction, score = arrays
    if metric not in _metrics_of(task, score is not None):
        return None
    rows = label.size
    rng = np.random.default_rng([seed, 1])
    values_at: dict[int, FloatArray] = {}
    for size in _band_sizes(rows):
        vals = []
        for idx in _chunks(rows, size, rng):
            w = np.ones((1, size))
            s = score[idx] if score is not None else None
            vals.append(
                float(metric_values(task, (metric,), label[idx], prediction[idx], s, w)[metric][0])
            )
        values_at[size] = np.asarray(vals)
    return _band(metric, rows, values_at)


def _metrics_of(task: TaskKind, has_score: bool) -> tuple[Metric, ...]:
    """The task's metrics that these rows can give (ROC AUC and log loss need a score)."""
    return tuple(m for m in TASK_METRICS[task] if has_score or m not in NEEDS_SCORE)


def estimated_band(
    metric: Metric,
    reference: ReferenceStats,
    *,
    decision_threshold: float = 0.5,
    seed: int = 0,
) -> Band | None:
    """CBPE's estimate on chunks of the scored reference, at each chunk size."""
    from checks.interface import PREDICTION, SCORE

    calibration = reference.calibration
    frame = reference.frame
    if calibration is None or SCORE not in frame:
        return None
    scores = numeric_values(frame[SCORE])
    keep = ~np.isnan(scores)
    scores = scores[keep]
    predicted = None
    if PREDICTION in frame:
        pred = numeric_values(frame[PREDICTION])[keep]
        if not np.isnan(pred).any():
            predicted = pred
    if predicted is None:
        predicted = (scores >= decision_threshold).astype(np.float64)
    probabilities = calibration(scores)
    rows = scores.size
    rng = np.random.default_rng([seed, 2])
    values_at: dict[int, FloatArray] = {}
    for size in _band_sizes(rows):
        values_at[size] = np.asarray(
            [
                estimate(probabilities[idx], scores[idx], predicted[idx])[metric]
                for idx in _chunks(rows, size, rng)
            ]
        )
    return _band(metric, rows, values_at)
