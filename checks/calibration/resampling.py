"""Drift thresholds from clean windows resampled out of the reference itself.

Each column's null scores come from the very code that scores a real window
(checks/drift/stattests.py), or from an exact shortcut of it
(`wasserstein_resampled`, `jensenshannon_binned`, `jensenshannon_counts`;
tests hold them equal). Only the threshold is ours, never the score.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from checks.calibration.tails import DriftCalibration, NullTail, fit_tail
from checks.drift.specs import ColumnSpec
from checks.drift.stattests import column_score, default_method
from checks.drift.window import WindowColumn, sorted_histogram, sturges_edges
from checks.methods import METHODS, ColumnKind, Method
from checks.reference import CategoricalStats, FloatArray, NumericStats, ReferenceStats

# Window sizes simulated (those above the reference's size are skipped).
DRIFT_GRID = (20, 50, 100, 200, 500, 1_000)
REPLICATES = 1_000

# score ** POWER scales as 1/n under no drift (checks/calibration/__init__.py says why).
POWER: Mapping[Method, float] = {
    Method.WASSERSTEIN: 2.0,
    Method.JENSENSHANNON: 2.0,
    Method.HELLINGER: 2.0,
    Method.ENERGY: 2.0,
    Method.PSI: 1.0,
    Method.KL_DIV: 1.0,
}


def reference_method(spec: ColumnSpec, stats: NumericStats | CategoricalStats) -> Method:
    """The method a clean window of this column gets (values seen in the reference only)."""
    if spec.method is not None:
        return spec.method
    values = stats.nunique if isinstance(stats, NumericStats) else len(stats.counts)
    return default_method(spec.kind, stats.n, values)


def wasserstein_table(ref_sorted: FloatArray) -> FloatArray:
    """H at each reference position: the integral of F_ref up to that value.

    What `wasserstein_resampled` looks up for every window point; it depends on
    the reference alone, so a column's calibration computes it once for all its
    sizes.
    """
    prefix = np.r_[0.0, np.cumsum(ref_sorted)]
    # right[i]: how many reference values are <= ref_sorted[i].
    right = np.searchsorted(ref_sorted, ref_sorted, side="right")
    return np.asarray((right * ref_sorted - prefix[right]) / ref_sorted.size)


# Window points per block of rows: a block's dozen temporaries stay in the core's cache.
_BLOCK_POINTS = 16_384


def wasserstein_resampled(
    ref_sorted: FloatArray, index: np.ndarray, table: FloatArray | None = None
) -> FloatArray:
    """Unnormalized W1 between the reference and each window ref_sorted[index[r]].

    `index` holds sorted positions into the reference, one row per window;
    `table` is `wasserstein_table(ref_sorted)` when the caller keeps it.
    Equal to scipy's `wasserstein_distance` (and checks/drift/stattests.py's merge) up to
    rounding, in O(n) per window after an O(N) setup instead of O(N + n) each:
    on each interval between consecutive window values the window's CDF is a
    constant level L, and the integral of |L - F_ref| splits where F_ref
    crosses L, each part a difference of H(x) = integral of F_ref up to x,
    which prefix sums give. Every point is a reference value, so F_ref there
    is a table lookup, not a search.

    Rows are taken in blocks that fit the cache, and each interval's ends are
    gathered once (the right end of one interval is the left end of the next);
    every element is the same arithmetic on the same values as a whole-array
    pass, so the result does not depend on the blocking (tests hold it equal,
    bit for bit, to the whole-array form).
    """
    big_n = ref_sorted.size
    reps, n = index.shape
    table = wasserstein_table(ref_sorted) if table is None else table
    j = np.arange(n + 1)
    level = j / n
    # F_ref(x) >= j/n from the k-th reference value on, k = ceil(j N / n); the crossing
    # is kept inside [a, b].
    k = np.maximum(-((-j * big_n) // n) - 1, 0)
    out = np.empty(reps)
    step = max(1, _BLOCK_POINTS // (n + 1))
    for start in range(0, reps, step):
        rows = index[start : start + step]
        r = rows.shape[0]
        # Interval r, j runs from point j - 1 to point j: the reference's ends outside.
        ia = np.empty((r, n + 1), dtype=np.intp)
        ia[:, 0] = 0
        ia[:, 1:] = rows
        ib = np.empty((r, n + 1), dtype=np.intp)
        ib[:, :-1] = rows
        ib[:, -1] = big_n - 1
        ix = np.clip(k, ia, ib)
        a = np.empty((r, n + 1))
        a[:, 0] = ref_sorted[0]
        np.take(ref_sorted, rows, out=a[:, 1:])
        b = np.empty((r, n + 1))
        b[:, :-1] = a[:, 1:]
        b[:, -1] = ref_sorted[-1]
        ha = np.empty((r, n + 1))
        ha[:, 0] = table[0]
        np.take(table, rows, out=ha[:, 1:])
        hb = np.empty((r, n + 1))
        hb[:, :-1] = ha[:, 1:]
        hb[:, -1] = table[-1]
        xs = ref_sorted[ix]
        hx = table[ix]
        # below = level * (xs - a) - (hx - ha); above = (hb - hx) - level * (b - xs)
        np.subtract(xs, a, out=a)
        np.multiply(level, a, out=a)
        np.subtract(hx, ha, out=ha)
        np.subtract(a, ha, out=a)
        np.subtract(hb, hx, out=hb)
        np.subtract(b, xs, out=b)
        np.multiply(level, b, out=b)
        np.subtract(hb, b, out=hb)
        np.add(a, hb, out=a)
        out[start : start + r] = a.sum(axis=1)
    return out


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
    return jensenshannon_counts(sorted_histogram(ref_sorted, edges), _row_counts(index, bins))


def _rng(seed: int, column: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(column.encode())])


def _sorted_draws(rng: np.random.Generator, rows: int, size: int, reps: int) -> np.ndarray:
    """`reps` windows of `size` positions drawn with replacement from `rows`, each sorted.

    The draws are the generator's int64 ones; the sort runs on the narrowest
    integer type that holds them (numpy's vectorized sorts are several times
    faster on 16 bits than on 64), which gives the same sorted positions.
    """
    draws = rng.integers(0, rows, size=(reps, size))
    if rows <= np.iinfo(np.int16).max:
        draws = draws.astype(np.int16)
    elif rows <= np.iinfo(np.int32).max:
        draws = draws.astype(np.int32)
    draws.sort(axis=1)
    return draws


def _laid_out(values: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """Row r: each of `values` repeated draws[r] times (one `np.repeat` for every row)."""
    reps, size = draws.shape[0], int(draws[0].sum()) if draws.shape[0] else 0
    return np.repeat(np.tile(values, reps), draws.ravel()).reshape(reps, size)


def _null_scores(
    spec: ColumnSpec,
    method: Method,
    stats: NumericStats | CategoricalStats,
    size: int,
    reps: int,
    rng: np.random.Generator,
    table: FloatArray | None = None,
) -> FloatArray:
    """Scores of `reps` clean windows of `size` rows, resampled from the reference.

    `table` is the reference's `wasserstein_table`, kept across sizes.
    """
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
            out[r] = column_score(method, WindowColumn.from_counts(stats, counts))
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
            index = _laid_out(first, draws)
            return wasserstein_resampled(ref, index, table) / max(stats.std, 0.001)
        windows = _laid_out(stats.uniques, draws)
    else:
        index = _sorted_draws(rng, ref.size, size, reps)
        if method is Method.WASSERSTEIN:
            return wasserstein_resampled(ref, index, table) / max(stats.std, 0.001)
        windows = ref[index]
    if method is Method.JENSENSHANNON and stats.nunique > 20:
        return jensenshannon_binned(ref, windows)
    return np.array([column_score(method, WindowColumn.from_sorted(stats, w)) for w in windows])


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
    # The reference's side of every Wasserstein window, computed once for all sizes.
    table = (
        wasserstein_table(stats.sorted)
        if isinstance(stats, NumericStats) and method is Method.WASSERSTEIN
        else None
    )
    sizes, us, betas, xis = [], [], [], []
    for size in grid:
        if size > max(stats.n, grid[0]):
            break
        with np.errstate(all="ignore"):
            scores = _null_scores(spec, method, stats, size, replicates, rng, table)
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
