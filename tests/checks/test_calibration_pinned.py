"""The drift calibration keeps its numbers through its rewrites for speed.

The resampling was rewritten for speed (a Wasserstein table kept per column,
rows in cache-sized blocks, 16-bit sorts, one `np.repeat` for every row); the
null tails below were computed by the code before that rewrite, on the same
reference, seed and replicates, and must come out the same. Every path of
`_null_scores` is covered: Wasserstein on a continuous column and on one with
few distinct values, Jensen-Shannon by value, binned and on categories, PSI on
numbers and Hellinger on categories.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from checks.calibration import calibrate_drift, wasserstein_resampled
from checks.drift import ColumnKind, ColumnSpec, Method
from checks.reference import FloatArray, build_reference

SIZES = (20, 50, 100, 200, 500, 1000)
# column: (method, u, beta, xi) at each size, from the code before the rewrite.
PINNED: dict[str, tuple[str, tuple[float, ...], tuple[float, ...], tuple[float, ...]]] = {
    "x": (
        "wasserstein",
        (
            0.3419088774591112,
            0.26394186853958734,
            0.1900921612262236,
            0.13104970218526163,
            0.08481799139881115,
            0.055387038724635136,
        ),
        (
            0.11522212230017825,
            0.05638490587832203,
            0.03042067853563928,
            0.03129886967878838,
            0.008737180158777823,
            0.014073202247759565,
        ),
        (0.06487267369034361, 0.0, 0.10543354228777374, 0.0, 0.030731927970248207, 0.0),
    ),
    "ties": (
        "wasserstein",
        (
            0.41625382710387676,
            0.2610302031568567,
            0.18318978496251176,
            0.12573342145929436,
            0.08401278615689226,
            0.06023773919004382,
        ),
        (
            0.053131895825753436,
            0.034108775632093254,
            0.03255733595059606,
            0.018764760626879918,
            0.013037203520186561,
            0.012868625181174865,
        ),
        (0.0, 0.13796909625853832, 0.0, 0.0, 0.1343121637240996, 0.0),
    ),
    "few": (
        "jensenshannon",
        (
            0.2117835219138105,
            0.11759273397442464,
            0.09288485903492916,
            0.064788998700811,
            0.04056925190831913,
            0.0269421510587895,
        ),
        (
            0.02856320669036266,
            0.02893247202050574,
            0.00821342004887794,
            0.008517589169322482,
            0.002958987593376152,
            0.004588453525459321,
        ),
        (0.09796736051212568, 0.0, 0.0, 0.0, 0.18283211451079978, 0.0),
    ),
    "spread": (
        "jensenshannon",
        (
            0.3224860994364164,
            0.20137748675065123,
            0.14885437194546616,
            0.10652962540478707,
            0.07039824544285732,
            0.05046749680361969,
        ),
        (
            0.028075237157154737,
            0.015514451840719593,
            0.008784682286771104,
            0.010131805073426361,
            0.007209665363008669,
            0.004580730947757352,
        ),
        (0.0035407464159644686, 0.0, 0.05314976537512861, 0.0, 0.0, 0.0),
    ),
    "energy": (
        "psi",
        (
            1.213878630103456,
            0.43319863536422515,
            0.21957795272449238,
            0.10608891947820039,
            0.039533375189130915,
            0.01900818311177522,
        ),
        (
            0.31185411702203025,
            0.1486765877804704,
            0.05583914610197027,
            0.013020127383693203,
            0.007388317965916366,
            0.003049864083799767,
        ),
        (0.17351407891478537, 0.04228599646030745, 0.21913829437776788, 0.0, 0.0, 0.0),
    ),
    "cat": (
        "jensenshannon",
        (
            0.19555984863595288,
            0.12688045658798794,
            0.0967478098484185,
            0.06472048774320056,
            0.0414272398771849,
            0.026368859275939113,
        ),
        (
            0.036522519458145025,
            0.014950287327053158,
            0.014938195895283831,
            0.013057804863417738,
            0.005264044238187113,
            0.004504274621502512,
        ),
        (0.12484721528366943, 0.0, 0.0, 0.0, 0.0, 0.0),
    ),
    "plan": (
        "hellinger",
        (
            0.22904513409786062,
            0.10668025406408708,
            0.08171920910613356,
            0.05252910014734779,
            0.0321732686314353,
            0.025064383762738354,
        ),
        (
            0.014266133651005996,
            0.024126576804728007,
            0.016053906155282984,
            0.011283320145577574,
            0.008205415809639485,
            0.0034926822271312634,
        ),
        (0.18084248040766904, 0.0, 0.033522638856269105, 0.0, 0.0, 0.19945593480661322),
    ),
}


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 3_000
    return pd.DataFrame(
        {
            "x": rng.lognormal(0, 1, n),
            "ties": rng.poisson(3, n).astype(float),
            "few": rng.integers(0, 4, n).astype(float),
            "spread": rng.normal(0, 1, n),
            "energy": rng.gamma(2, 1, n),
            "cat": rng.choice(["a", "b", "c", "rare"], n, p=[0.5, 0.3, 0.17, 0.03]),
            "plan": rng.choice(["free", "pro", "team"], n, p=[0.6, 0.3, 0.1]),
        }
    )


def test_the_null_tails_are_the_numbers_before_the_rewrite() -> None:
    num, cat = ColumnKind.NUMERIC, ColumnKind.CATEGORICAL
    columns = (
        ColumnSpec(name="x", kind=num),
        ColumnSpec(name="ties", kind=num),
        ColumnSpec(name="few", kind=num),
        ColumnSpec(name="spread", kind=num, method=Method.JENSENSHANNON),
        ColumnSpec(name="energy", kind=num, method=Method.PSI),
        ColumnSpec(name="cat", kind=cat),
        ColumnSpec(name="plan", kind=cat, method=Method.HELLINGER),
    )
    ref = build_reference(_frame(), ("x", "ties", "few", "spread", "energy"), ("cat", "plan"))
    found = calibrate_drift(columns, ref, seed=3, replicates=200)
    assert not found.skipped
    assert set(found.columns) == set(PINNED)
    for name, (method, u, beta, xi) in PINNED.items():
        tail = found.columns[name]
        assert (tail.method.value, tail.sizes) == (method, SIZES), name
        # The same numbers; 1e-12 leaves room only for a platform's last-bit rounding.
        assert tail.u == pytest.approx(u, rel=1e-12, abs=1e-15), name
        assert tail.beta == pytest.approx(beta, rel=1e-12, abs=1e-15), name
        assert tail.xi == pytest.approx(xi, rel=1e-12, abs=1e-15), name


def _whole_array(ref_sorted: FloatArray, index: np.ndarray) -> FloatArray:
    """`wasserstein_resampled` as it was: every row at once, H looked up three times."""
    big_n = ref_sorted.size
    n = index.shape[1]
    prefix = np.r_[0.0, np.cumsum(ref_sorted)]
    right = np.searchsorted(ref_sorted, ref_sorted, side="right")
    first = np.zeros((index.shape[0], 1), dtype=np.int64)
    last = np.full((index.shape[0], 1), big_n - 1, dtype=np.int64)
    ia = np.concatenate([first, index], axis=1)
    ib = np.concatenate([index, last], axis=1)
    j = np.arange(n + 1)
    level = j / n
    k = np.maximum(-((-j * big_n) // n) - 1, 0)
    ix = np.clip(np.broadcast_to(k, ia.shape), ia, ib)

    def h(i: np.ndarray) -> FloatArray:
        c = right[i]
        return np.asarray((c * ref_sorted[i] - prefix[c]) / big_n)

    a, b, xs = ref_sorted[ia], ref_sorted[ib], ref_sorted[ix]
    ha, hb, hx = h(ia), h(ib), h(ix)
    below = level * (xs - a) - (hx - ha)
    above = (hb - hx) - level * (b - xs)
    return np.asarray((below + above).sum(axis=1))


@pytest.mark.parametrize("size", [1, 20, 999, 5_000])
def test_the_blocked_wasserstein_is_the_whole_array_one_bit_for_bit(size: int) -> None:
    rng = np.random.default_rng(size)
    # Ties included: a Poisson column's equal values share one position's table entry.
    for ref_sorted in (np.sort(rng.lognormal(0, 1, 4_000)), np.sort(rng.poisson(3, 4_000) * 1.0)):
        index = np.sort(rng.integers(0, ref_sorted.size, size=(40, size)), axis=1)
        np.testing.assert_array_equal(
            wasserstein_resampled(ref_sorted, index), _whole_array(ref_sorted, index)
        )
        narrow = index.astype(np.int16)  # what the calibration hands it
        np.testing.assert_array_equal(
            wasserstein_resampled(ref_sorted, narrow), _whole_array(ref_sorted, index)
        )
