"""Evidently 0.7's drift tests, each a score of one prepared window column.

Each reproduces the definition in Evidently's `legacy/calculations/stattests`
to floating point; `default_method` is its `_get_default_stattest` and
`decide` its comparison with the threshold.
"""

from __future__ import annotations

import math
import sys
import warnings
from typing import assert_never

import numpy as np

from checks.drift.window import WindowColumn, fill_empty_bins, sorted_histogram, sturges_edges
from checks.methods import METHODS, ColumnKind, Method
from checks.reference import CategoricalStats, FloatArray, NumericStats


def decide(method: Method, score: float, threshold: float) -> bool:
    """Whether a score is beyond its threshold, on the method's side, inclusive or not."""
    info = METHODS[method]
    if info.p_value:
        return score <= threshold if info.inclusive else score < threshold
    return score >= threshold if info.inclusive else score > threshold


def default_method(kind: ColumnKind, reference_rows: int, n_values: int) -> Method:
    """Evidently 0.7's `_get_default_stattest` for numeric and categorical columns."""
    if reference_rows <= 1000:
        if kind is ColumnKind.NUMERIC and n_values > 5:
            return Method.KS
        return Method.CHISQUARE if n_values > 2 else Method.Z
    if kind is ColumnKind.NUMERIC and n_values > 5:
        return Method.WASSERSTEIN
    return Method.JENSENSHANNON


def _ks(col: WindowColumn) -> float:
    from scipy.stats import ks_2samp

    return float(ks_2samp(col.numeric.sorted, col.sorted)[1])


def _wasserstein(col: WindowColumn) -> float:
    """scipy's `wasserstein_distance` on sorted samples, merged instead of re-sorted."""
    ref = col.numeric.sorted
    cur = col.sorted
    both = np.concatenate([ref, cur])
    # Two sorted runs: the stable sort (timsort) merges them in linear time.
    order = np.argsort(both, kind="stable")
    merged = both[order]
    n, m = ref.size, cur.size
    # |F_ref - F_cur| at each merged point, scaled by n * m to stay in exact integers.
    ref_count = np.cumsum(order[:-1] < n, dtype=np.int64)
    seen = np.arange(1, merged.size, dtype=np.int64)
    gap = np.abs(ref_count * (n + m) - seen * n).astype(np.float64)
    # A sum of products, as scipy takes it, not np.dot: OpenBLAS splits a dot product this
    # long over its threads, waking them on every call (milliseconds each on a busy
    # machine, a tenth of a second over a check's columns), and its rounding then
    # depends on how many threads the machine has.
    distance = float(np.sum(gap * np.diff(merged))) / (n * m)
    norm = max(col.numeric.std, 0.001)
    return distance / norm


def _binned(col: WindowColumn, fill_zeroes: bool) -> tuple[FloatArray, FloatArray]:
    """Evidently's `get_binned_data`: Sturges bins for rich numeric columns, else values."""
    if isinstance(col.stats, NumericStats) and col.stats.nunique > 20:
        ref = col.stats.sorted
        cur = col.sorted
        edges = sturges_edges(min(ref[0], cur[0]), max(ref[-1], cur[-1]), int(ref.size + cur.size))
        ref_p = sorted_histogram(ref, edges) / ref.size
        cur_p = sorted_histogram(cur, edges) / cur.size
    else:
        d = col.discrete()
        ref_p = d.ref / col.ref_n
        cur_p = d.cur / col.n
    if fill_zeroes:
        ref_p, cur_p = fill_empty_bins(ref_p), fill_empty_bins(cur_p)
    return ref_p, cur_p


def _rel_entr(x: FloatArray, y: FloatArray) -> FloatArray:
    """scipy.special.rel_entr (scipy 1.17's xsf), element by element, branch for branch.

    Near x == y it takes log1p of the relative gap, as scipy does; numpy's
    vectorised log may differ from the C library's in the last bit, and these
    arrays are a few bins long, so the exact scalar path costs nothing.
    """
    out = np.empty(x.size, dtype=np.float64)
    for i, (a, b) in enumerate(zip(x.tolist(), y.tolist(), strict=True)):
        if math.isnan(a) or math.isnan(b):
            out[i] = math.nan
        elif a > 0 and b > 0:
            ratio = a / b
            if 0.5 < ratio < 2:
                out[i] = a * math.log1p((a - b) / b)
            elif sys.float_info.min < ratio < math.inf:
                out[i] = a * math.log(ratio)
            else:
                out[i] = a * (math.log(a) - math.log(b))
        elif a == 0 and b >= 0:
            out[i] = 0.0
        else:
            out[i] = math.inf
    return out


def jensenshannon(p: FloatArray, q: FloatArray) -> float:
    """scipy.spatial.distance.jensenshannon(p, q), operation for operation.

    Importing scipy.spatial costs about half a second, more than every drift
    test of a 100k-row window together; a test holds this equal to scipy's.
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    p = p / np.sum(p, axis=0, keepdims=True)
    q = q / np.sum(q, axis=0, keepdims=True)
    m = (p + q) / 2.0
    js = np.sum(_rel_entr(p, m), axis=0) + np.sum(_rel_entr(q, m), axis=0)
    return float(np.sqrt(js / 2.0))


def _jensenshannon(col: WindowColumn) -> float:
    ref_p, cur_p = _binned(col, fill_zeroes=False)
    return jensenshannon(ref_p, cur_p)


def _psi(col: WindowColumn) -> float:
    ref_p, cur_p = _binned(col, fill_zeroes=True)
    return float(np.sum((ref_p - cur_p) * np.log(ref_p / cur_p)))


def _kl_div(col: WindowColumn) -> float:
    from scipy import stats

    ref_p, cur_p = _binned(col, fill_zeroes=True)
    return float(stats.entropy(ref_p, cur_p))


def _chisquare(col: WindowColumn) -> float:
    from scipy.stats import chi2

    d = col.discrete()
    expected = d.ref * (col.n / col.ref_n)
    # A category absent from the reference has expected count 0: an infinite
    # statistic and a p-value of 0, as in scipy.stats.chisquare.
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = float(np.sum((d.cur - expected) ** 2 / expected))
    return float(chi2.sf(stat, len(d.keys) - 1))


def _z(col: WindowColumn) -> float:
    from scipy.stats import norm

    d = col.discrete()
    if d.ref_unique == 1 and d.cur_unique == 1 and len(d.keys) == 1:
        return 1.0
    first = sorted(d.keys)[0]  # type: ignore[type-var]
    i = d.keys.index(first)
    n1, n2 = col.ref_n, col.n
    p1 = float(n1 - d.ref[i]) / n1
    p2 = float(n2 - d.cur[i]) / n2
    pooled = float(p1 * n1 + p2 * n2) / (n1 + n2)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
    return float(2 * (1 - norm.cdf(np.abs(z))))


def _hellinger(col: WindowColumn) -> float:
    if isinstance(col.stats, CategoricalStats):
        d = col.discrete()
        total = float(np.sum(np.sqrt((d.ref / col.ref_n) * (d.cur / col.n))))
    else:
        ref, cur = col.stats.sorted, col.sorted
        keys = np.union1d(ref, cur)
        edges = np.histogram_bin_edges(keys, bins="sturges")
        widths = np.diff(edges)
        h1 = sorted_histogram(ref, edges) / (ref.size * widths)
        h2 = sorted_histogram(cur, edges) / (cur.size * widths)
        bin_width = (edges.max() - edges.min()) / (len(edges) - 1)
        total = float(np.sum(np.sqrt(h1 * h2) * bin_width))
    return math.sqrt(1 - float(np.clip(total, 0, 1)))


def _anderson(col: WindowColumn) -> float:
    from scipy.stats import anderson_ksamp

    with warnings.catch_warnings():
        # scipy warns when it caps the p-value at its table's ends; the capped value is
        # what Evidently reports too.
        warnings.simplefilter("ignore", UserWarning)
        return float(anderson_ksamp([col.numeric.sorted, col.sorted])[2])


def _cramer_von_mises(col: WindowColumn) -> float:
    from scipy.stats import cramervonmises_2samp

    return float(cramervonmises_2samp(col.numeric.sorted, col.sorted).pvalue)


def _mannw(col: WindowColumn) -> float:
    from scipy.stats import mannwhitneyu

    # Evidently tests the one-sided alternative "reference is stochastically less".
    return float(mannwhitneyu(col.numeric.sorted, col.sorted, alternative="less")[1])


def _energy(col: WindowColumn) -> float:
    from scipy.stats import energy_distance

    return float(energy_distance(col.numeric.sorted, col.sorted))


def column_score(method: Method, col: WindowColumn) -> float:
    match method:
        case Method.KS:
            return _ks(col)
        case Method.WASSERSTEIN:
            return _wasserstein(col)
        case Method.PSI:
            return _psi(col)
        case Method.JENSENSHANNON:
            return _jensenshannon(col)
        case Method.CHISQUARE:
            return _chisquare(col)
        case Method.Z:
            return _z(col)
        case Method.KL_DIV:
            return _kl_div(col)
        case Method.HELLINGER:
            return _hellinger(col)
        case Method.ANDERSON:
            return _anderson(col)
        case Method.CRAMER_VON_MISES:
            return _cramer_von_mises(col)
        case Method.MANNW:
            return _mannw(col)
        case Method.ENERGY:
            return _energy(col)
        case _:
            assert_never(method)
