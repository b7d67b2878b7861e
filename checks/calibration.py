"""Thresholds calibrated from the reference itself, for a stated false-alarm rate.

Why: Evidently compares a distance with a fixed 0.1 (Wasserstein normed,
Jensen-Shannon, ...) at every window size. A distance between two samples of
one population shrinks like 1/sqrt(n), so the same 0.1 flags most clean
windows of 120 rows and misses real shifts in windows of 100,000. Here each
column's threshold is the score that a window of *its* size, drawn from the
reference's own population, exceeds with a known, small probability.

How (drift, distance methods):

- **Null by resampling.** For each column and each size of a fixed grid,
  `REPLICATES` windows are drawn with replacement from the reference and scored
  against the whole reference by the very code that scores a real window, or
  by an exact shortcut of it (`wasserstein_resampled`, `jensenshannon_binned`,
  `jensenshannon_counts`; tests hold them equal). The scores are Evidently's:
  only the threshold is ours.
- **The reference's own noise.** A resampled window differs from the
  reference by the window's noise alone; a real one also by the reference's
  own sampling error, which is the same for every window checked against it.
  Adding the two in quadrature would hold the rate on average over references
  but not for an unlucky one: a reference whose mean sits 2 standard errors
  off (common in one column of ten) would then flag one clean window in ten.
  So the two are added as distances (Wasserstein, Jensen-Shannon, Hellinger
  and energy are metrics), each at its own size, the reference's at a ten
  times stricter level: the rate holds for the reference in hand unless that
  reference is itself a 1-in-1,000 draw (per column, at a 1% rate on one
  column). At 1% the bench's lognormal reference of 20,000 rows, a 1-in-300
  draw, alarmed 4 windows in 100 at n = 100,000. This costs power only where
  the window is about as large as the reference or larger.
- **The tail, fitted.** A 1% false-alarm rate over 25 columns needs a
  per-column tail of 0.04%, which no affordable number of replicates shows
  directly. Above the replicates' 90% quantile the excess is fitted by a
  generalized Pareto law (peaks over threshold), its shape kept at or above
  the exponential's. A scaled chi-square matched to two moments was tried
  first: it put the 0.2% quantile 5-10% low, doubling the false alarms.
- **Between and beyond the grid.** The fitted quantile is interpolated log-log
  between grid sizes and extended with the score's own scaling beyond them:
  score**power goes as 1/n (power 2 for Wasserstein, Jensen-Shannon,
  Hellinger and energy distances, square roots of quadratic forms; 1 for PSI
  and Kullback-Leibler, quadratic forms themselves, whose square roots are
  added as distances).
- **Many columns.** The false-alarm rate is a dataset-level rate: each of the
  m judged columns gets rate / m (Bonferroni), which holds whatever the
  columns' correlation. Dataset drift (a share of drifted columns) is rarer
  still.
- **p-value tests** (KS, chi-square, z, ... which Evidently picks for
  references of up to 1,000 rows) already account for both sample sizes; the
  calibrated mode applies the same Bonferroni split to their level.

Performance bands follow NannyML: the labelled (or, for the label-free
estimate, scored) reference is cut into chunks of a grid of sizes, the metric
is computed per chunk, and the band at a window's size is the chunks' mean
plus or minus k standard deviations (or a quantile of the standardized chunk
values). Chunks are cut from a seeded shuffle, since a reference file may be
sorted by anything, and the spread at size s is corrected for sampling
without replacement and scaled as 1/sqrt(n) between and beyond the grid. As
for drift, the reference's own error (its one-row spread over sqrt(N)) is added
to the window's, not in quadrature.

All of this is computed once per reference version (the daemon stores it with
the reference's digest), never per window.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from checks.drift import (
    ColumnSpec,
    _Column,
    _score,
    _sorted_histogram,
    default_method,
    sturges_edges,
)
from checks.interface import TaskKind
from checks.methods import METHODS, ColumnKind, Method
from checks.performance import (
    NEEDS_SCORE,
    TASK_METRICS,
    Band,
    Metric,
    estimate,
    metric_values,
    realized_arrays,
)
from checks.reference import (
    CategoricalStats,
    FloatArray,
    NumericStats,
    ReferenceStats,
    numeric_values,
)

# Bump when the method changes: a stored calibration of another version is recomputed.
CALIBRATION_VERSION = 1
# Window sizes simulated (those above the reference's size are skipped).
DRIFT_GRID = (20, 50, 100, 200, 500, 1_000)
REPLICATES = 1_000
# The share of replicates whose excess is fitted (100 of 1,000).
TAIL_SHARE = 0.1
# The reference's own error is judged this many times more strictly than a window's.
REFERENCE_LEVEL = 10.0
# Chunk sizes for the performance bands; a size needs at least MIN_CHUNKS chunks.
BAND_GRID = (50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000)
MIN_CHUNKS = 8
# Chunks per size (more shuffles when one partition gives fewer).
BAND_CHUNKS = 64

# score ** POWER scales as 1/n under no drift (see the module docstring).
POWER: Mapping[Method, float] = {
    Method.WASSERSTEIN: 2.0,
    Method.JENSENSHANNON: 2.0,
    Method.HELLINGER: 2.0,
    Method.ENERGY: 2.0,
    Method.PSI: 1.0,
    Method.KL_DIV: 1.0,
}


class CalibrationError(ValueError):
    """A stored calibration that cannot be read (another version, a damaged payload)."""


# --------------------------------------------------------------------------- drift


@dataclass(frozen=True, kw_only=True)
class NullTail:
    """The upper tail of a column's score on clean windows, at each simulated size.

    Above its `TAIL_SHARE` quantile `u`, the score's excess is fitted by a
    generalized Pareto law (scale `beta`, shape `xi`, by the method of moments).
    """

    column: str
    method: Method
    power: float
    reference_rows: int
    sizes: tuple[int, ...]
    u: tuple[float, ...]
    beta: tuple[float, ...]
    xi: tuple[float, ...]

    def _quantile(self, i: int, alpha: float) -> float:
        ratio = TAIL_SHARE / alpha
        if ratio <= 1:
            return self.u[i]
        xi, beta = self.xi[i], self.beta[i]
        if xi < 1e-9:
            return self.u[i] + beta * math.log(ratio)
        return float(self.u[i] + beta / xi * (ratio**xi - 1))

    def sampling(self, size: float, alpha: float) -> float:
        """The score a sample of `size` rows exceeds with probability alpha, against the
        population it was drawn from (the reference standing in for it)."""
        logs = np.log(np.asarray(self.sizes, dtype=np.float64))
        values = np.log([self._quantile(i, alpha) for i in range(len(self.sizes))])
        x = math.log(max(size, 1.0))
        # Beyond the grid, score**power keeps its 1/n scaling.
        if x <= logs[0]:
            return math.exp(values[0] - (x - logs[0]) / self.power)
        if x >= logs[-1]:
            return math.exp(values[-1] - (x - logs[-1]) / self.power)
        return math.exp(float(np.interp(x, logs, values)))

    def threshold(self, n: int, alpha: float) -> float:
        """The score a clean window of n rows exceeds with probability at most alpha.

        The window's own noise and the reference's are added as distances (the
        triangle inequality), each at its own size. The reference's error
        repeats in every window, so it is taken at a level REFERENCE_LEVEL times
        stricter: unless the reference itself is a 1-in-(REFERENCE_LEVEL/alpha)
        draw, the rate holds for *this* reference, window after window, not only
        on average over references.
        """
        half = self.power / 2  # score ** half is a distance
        window = self.sampling(n, alpha) ** half
        reference = self.sampling(self.reference_rows, alpha / REFERENCE_LEVEL) ** half
        return float((window + reference) ** (1 / half))


def fit_tail(scores: FloatArray) -> tuple[float, float, float]:
    """(u, beta, xi): the TAIL_SHARE quantile and a generalized Pareto fit of the excess.

    The shape is kept in [0, 0.5]: never lighter than exponential (a score whose
    tail is Gaussian-like is then judged a little conservatively), and the
    method of moments needs a finite variance.
    """
    u = float(np.quantile(scores, 1 - TAIL_SHARE))
    excess = scores[scores > u] - u
    if excess.size < 2:
        return u, 0.0, 0.0
    mean, var = float(np.mean(excess)), float(np.var(excess, ddof=1))
    if not var > 0:
        return u, mean, 0.0
    ratio = mean * mean / var
    xi = min(max(0.5 * (1 - ratio), 0.0), 0.5)
    beta = mean if xi == 0 else 0.5 * mean * (ratio + 1)
    return u, beta, xi


@dataclass(frozen=True, kw_only=True)
class DriftCalibration:
    """The null tails of every calibrated column of one reference version."""

    columns: Mapping[str, NullTail]
    replicates: int
    seed: int
    # Why a column has no tail (a constant column, a method that is a p-value test).
    skipped: Mapping[str, str] = field(default_factory=dict)

    def tail(self, column: str, method: Method) -> NullTail | None:
        found = self.columns.get(column)
        return found if found is not None and found.method is method else None


def reference_method(spec: ColumnSpec, stats: NumericStats | CategoricalStats) -> Method:
    """The method a clean window of this column gets (values seen in the reference only)."""
    if spec.method is not None:
        return spec.method
    values = stats.nunique if isinstance(stats, NumericStats) else len(stats.counts)
    return default_method(spec.kind, stats.n, values)


def wasserstein_resampled(ref_sorted: FloatArray, index: np.ndarray) -> FloatArray:
    """Unnormalized W1 between the reference and each window ref_sorted[index[r]].

    `index` holds sorted positions into the reference, one row per window.
    Equal to scipy's `wasserstein_distance` (and checks.drift's merge) up to
    rounding, in O(n) per window after an O(N) setup instead of O(N + n) each:
    on each interval between consecutive window values the window's CDF is a
    constant level L, and the integral of |L - F_ref| splits where F_ref
    crosses L, each part a difference of H(x) = integral of F_ref up to x,
    which prefix sums give. Every point is a reference value, so F_ref there
    is a table lookup, not a search.
    """
    big_n = ref_sorted.size
    n = index.shape[1]
    prefix = np.r_[0.0, np.cumsum(ref_sorted)]
    # right[i]: how many reference values are <= ref_sorted[i].
    right = np.searchsorted(ref_sorted, ref_sorted, side="right")
    first = np.zeros((index.shape[0], 1), dtype=np.int64)
    last = np.full((index.shape[0], 1), big_n - 1, dtype=np.int64)
    ia = np.concatenate([first, index], axis=1)
    ib = np.concatenate([index, last], axis=1)
    j = np.arange(n + 1)
    level = j / n
    # F_ref(x) >= j/n from the k-th reference value on, k = ceil(j N / n); the crossing
    # is kept inside [a, b].
    k = np.maximum(-((-j * big_n) // n) - 1, 0)
    ix = np.clip(np.broadcast_to(k, ia.shape), ia, ib)

    def h(i: np.ndarray) -> FloatArray:
        x = ref_sorted[i]
        c = right[i]
        return np.asarray((c * x - prefix[c]) / big_n)

    a, b, xs = ref_sorted[ia], ref_sorted[ib], ref_sorted[ix]
    ha, hb, hx = h(ia), h(ib), h(ix)
    below = level * (xs - a) - (hx - ha)
    above = (hb - hx) - level * (b - xs)
    return np.asarray((below + above).sum(axis=1))


def jensenshannon_counts(ref_p: FloatArray, counts: FloatArray) -> FloatArray:
    """scipy's `jensenshannon(ref_p, row)` for each row of `counts`, at once."""
    from scipy.special import rel_entr

    q = counts / counts.sum(axis=1, keepdims=True)
    p = np.broadcast_to(ref_p / ref_p.sum(), q.shape)
    m = (p + q) / 2.0
    js = (rel_entr(p, m).sum(axis=1) + rel_entr(q, m).sum(axis=1)) / 2.0
    return np.asarray(np.sqrt(js))


def _row_counts(index: np.ndarray, bins: int) -> FloatArray:
    """Per row of `index` (values in [0, bins)), how often each value occurs."""
    reps = index.shape[0]
    flat = (index + bins * np.arange(reps)[:, None]).ravel()
    return np.bincount(flat, minlength=reps * bins).reshape(reps, bins).astype(np.float64)


def jensenshannon_binned(ref_sorted: FloatArray, windows: FloatArray) -> FloatArray:
    """Evidently's binned Jensen-Shannon of each window row that lies in the reference's range.

    Sturges bins span reference and window together; a window inside the
    reference's range leaves the edges to the sizes alone.
    """
    size = windows.shape[1]
    edges = sturges_edges(float(ref_sorted[0]), float(ref_sorted[-1]), int(ref_sorted.size + size))
    bins = edges.size - 1
    index = np.clip(np.searchsorted(edges, windows, side="right") - 1, 0, bins - 1)
    return jensenshannon_counts(_sorted_histogram(ref_sorted, edges), _row_counts(index, bins))


def _rng(seed: int, column: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(column.encode())])


def _null_scores(
    spec: ColumnSpec,
    method: Method,
    stats: NumericStats | CategoricalStats,
    size: int,
    reps: int,
    rng: np.random.Generator,
) -> FloatArray:
    """Scores of `reps` clean windows of `size` rows, resampled from the reference."""
    if isinstance(stats, CategoricalStats):
        keys = np.array(list(stats.counts), dtype=object)
        p = np.array(list(stats.counts.values()), dtype=np.float64) / stats.n
        draws = rng.multinomial(size, p, size=reps)
        if method is Method.JENSENSHANNON:
            return jensenshannon_counts(p, draws.astype(np.float64))
        out = np.empty(reps)
        for r in range(reps):
            seen = draws[r] > 0
            counts = pd.Series(draws[r][seen].astype(np.int64), index=keys[seen])
            out[r] = _score(method, _Column.from_counts(stats, counts))
        return out
    ref = stats.sorted
    if stats.uniques.size and stats.nunique <= stats.uniques.size:
        # Few distinct values: draw counts per value, then lay the values out sorted.
        ref_counts = np.diff(np.searchsorted(ref, np.r_[stats.uniques, np.inf], side="left"))
        draws = rng.multinomial(size, ref_counts / ref.size, size=reps)
        if method is Method.JENSENSHANNON and stats.nunique <= 20:
            # Evidently bins 20 or fewer distinct values by value.
            return jensenshannon_counts(ref_counts.astype(np.float64), draws.astype(np.float64))
        if method is Method.WASSERSTEIN:
            # Each value stands at the first of its equal reference values: same distance.
            first = np.searchsorted(ref, stats.uniques, side="left")
            index = np.vstack([np.repeat(first, d) for d in draws])
            return wasserstein_resampled(ref, index) / max(stats.std, 0.001)
        windows = np.vstack([np.repeat(stats.uniques, d) for d in draws])
    else:
        index = np.sort(rng.integers(0, ref.size, size=(reps, size)), axis=1)
        if method is Method.WASSERSTEIN:
            return wasserstein_resampled(ref, index) / max(stats.std, 0.001)
        windows = ref[index]
    if method is Method.JENSENSHANNON and stats.nunique > 20:
        return jensenshannon_binned(ref, windows)
    return np.array([_score(method, _Column.from_sorted(stats, w)) for w in windows])


def calibrate_column(
    spec: ColumnSpec,
    reference: ReferenceStats,
    *,
    seed: int = 0,
    replicates: int = REPLICATES,
    grid: Sequence[int] = DRIFT_GRID,
) -> NullTail | str:
    """The null tail of one column, or why it has none."""
    stats: NumericStats | CategoricalStats | None = (
        reference.numeric.get(spec.name)
        if spec.kind is ColumnKind.NUMERIC
        else reference.categorical.get(spec.name)
    )
    if stats is None or stats.n == 0:
        return "no values in the reference"
    method = reference_method(spec, stats)
    if METHODS[method].p_value:
        return f"{method.value} is a p-value test: its level is split across the columns"
    if method not in POWER:
        return f"{method.value} cannot be calibrated"
    rng = _rng(seed, spec.name)
    sizes, us, betas, xis = [], [], [], []
    for size in grid:
        if size > max(stats.n, grid[0]):
            break
        with np.errstate(all="ignore"):
            scores = _null_scores(spec, method, stats, size, replicates, rng)
        scores = scores[np.isfinite(scores)]
        if scores.size < replicates // 2:
            continue
        u, beta, xi = fit_tail(scores)
        if u > 0 and beta > 0:
            sizes.append(size)
            us.append(u)
            betas.append(beta)
            xis.append(xi)
    if not sizes:
        return "the reference column is constant: no spread to calibrate against"
    return NullTail(
        column=spec.name,
        method=method,
        power=POWER[method],
        reference_rows=stats.n,
        sizes=tuple(sizes),
        u=tuple(us),
        beta=tuple(betas),
        xi=tuple(xis),
    )


def calibrate_drift(
    columns: Sequence[ColumnSpec],
    reference: ReferenceStats,
    *,
    seed: int = 0,
    replicates: int = REPLICATES,
    workers: int = 1,
) -> DriftCalibration:
    """Null tails for every column that has no threshold of its own."""
    wanted = [c for c in columns if c.threshold is None]

    def one(c: ColumnSpec) -> NullTail | str:
        return calibrate_column(c, reference, seed=seed, replicates=replicates)

    if workers > 1 and len(wanted) > 1:
        # numpy's sorts and searches release the GIL: columns run on the cores.
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(one, wanted))
    else:
        results = [one(c) for c in wanted]
    found: dict[str, NullTail] = {}
    skipped: dict[str, str] = {}
    for c, r in zip(wanted, results, strict=True):
        if isinstance(r, NullTail):
            found[c.name] = r
        else:
            skipped[c.name] = r
    return DriftCalibration(columns=found, replicates=replicates, seed=seed, skipped=skipped)


# --------------------------------------------------------------------------- performance


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


# --------------------------------------------------------------------------- stored form


@dataclass(frozen=True, kw_only=True)
class ReferenceCalibration:
    """Everything calibrated on one reference version, as stored beside its digest."""

    drift: DriftCalibration | None = None
    realized: Band | None = None
    estimated: Band | None = None
    version: int = CALIBRATION_VERSION

    def to_json(self) -> str:
        def band(b: Band | None) -> object:
            return None if b is None else {**asdict(b), "metric": b.metric.value}

        drift = None
        if self.drift is not None:
            drift = {
                "replicates": self.drift.replicates,
                "seed": self.drift.seed,
                "skipped": dict(self.drift.skipped),
                "columns": {
                    name: {**asdict(m), "method": m.method.value}
                    for name, m in self.drift.columns.items()
                },
            }
        payload = {
            "version": self.version,
            "drift": drift,
            "realized": band(self.realized),
            "estimated": band(self.estimated),
        }
        return json.dumps(payload, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ReferenceCalibration:
        try:
            payload = json.loads(text)
            version = int(payload["version"])
        except (ValueError, KeyError, TypeError) as exc:
            raise CalibrationError(f"a stored calibration is not readable: {exc}") from exc
        if version != CALIBRATION_VERSION:
            raise CalibrationError(
                f"a stored calibration has version {version}, this mlmaint reads "
                f"{CALIBRATION_VERSION} (written by another mlmaint release); it is recomputed"
            )
        try:
            return cls(
                drift=_drift_from(payload["drift"]),
                realized=_band_from(payload["realized"]),
                estimated=_band_from(payload["estimated"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CalibrationError(f"a stored calibration is damaged: {exc!r}") from exc


def _ints(values: object) -> tuple[int, ...]:
    if not isinstance(values, list):
        raise TypeError(f"expected a list, got {type(values).__name__}")
    return tuple(int(v) for v in values)


def _floats(values: object) -> tuple[float, ...]:
    if not isinstance(values, list):
        raise TypeError(f"expected a list, got {type(values).__name__}")
    return tuple(float(v) for v in values)


def _mapping(raw: object) -> Mapping[str, object]:
    if not isinstance(raw, dict):
        raise TypeError(f"expected an object, got {type(raw).__name__}")
    return raw


def _band_from(raw: object) -> Band | None:
    if raw is None:
        return None
    raw = _mapping(raw)
    return Band(
        metric=Metric(str(raw["metric"])),
        reference_rows=int(str(raw["reference_rows"])),
        sizes=_ints(raw["sizes"]),
        means=_floats(raw["means"]),
        stds=_floats(raw["stds"]),
        z=_floats(raw["z"]),
    )


def _drift_from(raw: object) -> DriftCalibration | None:
    if raw is None:
        return None
    raw = _mapping(raw)
    columns = {}
    for name, item in _mapping(raw["columns"]).items():
        m = _mapping(item)
        columns[name] = NullTail(
            column=str(m["column"]),
            method=Method(str(m["method"])),
            power=float(str(m["power"])),
            reference_rows=int(str(m["reference_rows"])),
            sizes=_ints(m["sizes"]),
            u=_floats(m["u"]),
            beta=_floats(m["beta"]),
            xi=_floats(m["xi"]),
        )
    return DriftCalibration(
        columns=columns,
        replicates=int(str(raw["replicates"])),
        seed=int(str(raw["seed"])),
        skipped={str(k): str(v) for k, v in _mapping(raw["skipped"]).items()},
    )


__all__ = [
    "CALIBRATION_VERSION",
    "CalibrationError",
    "DriftCalibration",
    "NullTail",
    "ReferenceCalibration",
    "calibrate_drift",
    "estimated_band",
    "realized_band",
    "wasserstein_resampled",
]
