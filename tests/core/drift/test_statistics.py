"""Parity of the drift statistics with scipy on random inputs, to 1e-9."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from watchkeeper.core.drift.statistics import (
    binned_stats,
    chi_square,
    jensen_shannon,
    ks_binned,
    ks_exact,
    psi,
    wasserstein,
)

TOL = 1e-9


def _samples(rng: np.random.Generator, kind: str) -> tuple[np.ndarray, np.ndarray]:
    n1, n2 = rng.integers(1, 3000, size=2)
    if kind == "continuous":
        return rng.normal(size=n1), rng.normal(rng.normal(0, 0.3), 1.2, size=n2)
    if kind == "ties":  # discrete values: many ties, the hard case for KS
        return rng.integers(0, 7, n1).astype(float), rng.integers(0, 9, n2).astype(float)
    return rng.lognormal(size=n1), rng.exponential(size=n2) * 3


@pytest.mark.parametrize("seed", range(30))
@pytest.mark.parametrize("kind", ["continuous", "ties", "skewed"])
def test_exact_ks_and_wasserstein_match_scipy(seed: int, kind: str) -> None:
    rng = np.random.default_rng(seed)
    a, b = _samples(rng, kind)
    d, p = ks_exact(np.sort(a), b)
    ref = stats.ks_2samp(a, b, method="asymp")
    assert d == pytest.approx(ref.statistic, abs=TOL)
    assert p == pytest.approx(ref.pvalue, abs=TOL)
    assert d == pytest.approx(stats.ks_2samp(a, b).statistic, abs=TOL)
    assert wasserstein(np.sort(a), b) == pytest.approx(
        stats.wasserstein_distance(a, b), rel=TOL, abs=TOL
    )


@pytest.mark.parametrize("seed", range(40))
def test_chi_square_and_js_match_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    bins = int(rng.integers(2, 60))
    r = rng.multinomial(int(rng.integers(10, 10**6)), rng.dirichlet(np.ones(bins)))
    c = rng.multinomial(int(rng.integers(10, 10**5)), rng.dirichlet(np.ones(bins)), size=3)
    c[0, rng.integers(0, bins)] = 0  # empty bins on one side
    stat, dof, p = chi_square(r, c)
    js = jensen_shannon(r, c)
    for w in range(3):
        table = np.vstack([r, c[w]])
        table = table[:, table.sum(axis=0) > 0]  # scipy refuses empty columns
        ref = stats.chi2_contingency(table, correction=False)
        assert stat[w] == pytest.approx(ref.statistic, rel=TOL, abs=TOL)
        assert p[w] == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-300)
        assert dof[w] == ref.dof
        assert js[w] == pytest.approx(jensenshannon(r, c[w], base=2), abs=TOL)


def test_chi_square_matches_scipy_chisquare_for_a_fixed_reference() -> None:
    # With a reference of known proportions and huge size, homogeneity → goodness of fit.
    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.ones(8))
    c = rng.multinomial(5000, probs)
    r = np.round(probs * 1e15)
    stat, _, p = chi_square(r, c)
    ref = stats.chisquare(c, f_exp=r / r.sum() * c.sum())
    assert stat[0] == pytest.approx(ref.statistic, rel=1e-6)
    assert p[0] == pytest.approx(ref.pvalue, rel=1e-5)


def test_psi_value_and_smoothing_by_hand() -> None:
    r = np.array([50, 50, 0])
    c = np.array([[25, 75, 0], [50, 50, 0], [0, 50, 50]])
    got = psi(r, c)
    # bins empty on both sides are dropped, 0.5 pseudo-count elsewhere
    p = np.array([50.5, 50.5]) / 101
    q = np.array([25.5, 75.5]) / 101
    assert got[0] == pytest.approx(np.sum((q - p) * np.log(q / p)), abs=1e-12)
    assert got[1] == pytest.approx(0.0, abs=1e-15)
    p3 = np.array([50.5, 50.5, 0.5]) / 101.5
    q3 = np.array([0.5, 50.5, 50.5]) / 101.5
    assert got[2] == pytest.approx(np.sum((q3 - p3) * np.log(q3 / p3)), abs=1e-12)
    assert np.isfinite(got).all()


def test_binned_ks_is_a_lower_bound_at_the_edges() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=20000), rng.normal(0.3, 1, size=5000)
    edges = np.quantile(a, np.arange(1, 10) / 10)
    ra = np.bincount(np.searchsorted(edges, a, "right"), minlength=10)
    rb = np.bincount(np.searchsorted(edges, b, "right"), minlength=10)
    d_binned = ks_binned(ra, rb)[0]
    d = stats.ks_2samp(a, b).statistic
    assert d_binned <= d + 1e-12
    assert d - d_binned < 0.1  # resolution: one bin of reference mass


def test_empty_sides_give_nan_not_errors() -> None:
    r = np.array([10, 5, 0])
    c = np.zeros((2, 3))
    bs = binned_stats(r, c, numerical=True)
    assert np.isnan(bs.psi).all() and np.isnan(bs.p_chi2).all() and np.isnan(bs.js).all()
    assert np.isnan(ks_exact(np.array([]), np.array([1.0]))[0])
    assert np.isnan(wasserstein(np.array([1.0]), np.array([])))


@pytest.mark.parametrize("seed", range(30))
@pytest.mark.parametrize("kind", ["continuous", "ties", "skewed"])
def test_merged_ks_and_wasserstein_match_scipy(seed: int, kind: str) -> None:
    from watchkeeper.core.drift.statistics import ks_wasserstein

    rng = np.random.default_rng(100 + seed)
    a, b = _samples(rng, kind)
    d, p, w1 = ks_wasserstein(np.sort(a), b)
    ref = stats.ks_2samp(a, b, method="asymp")
    assert d == pytest.approx(ref.statistic, abs=TOL)
    assert p == pytest.approx(ref.pvalue, abs=TOL)
    assert w1 == pytest.approx(stats.wasserstein_distance(a, b), rel=TOL, abs=TOL)


def test_kstwo_sf_matches_scipy_on_every_branch() -> None:
    from watchkeeper.core.drift.kstwo import kstwo_sf

    rng = np.random.default_rng(11)
    cases = [(0.0, 500), (1.0, 500), (0.3 / 500, 500), (0.7 / 500, 500), (0.6, 300)]
    cases += [(1 - 1 / 200, 200), (0.05, 100), (0.2, 100)]  # Ruben-Gambino, small n
    for n in (141, 800, 2_500, 12_000, 50_000):
        # nd² spans PelzGood (< 2.2), the Smirnov sum (2.2..370) and the zero tail
        for nd2 in (*rng.uniform(0.05, 2.2, 2), *rng.uniform(2.2, 370, 3), 400.0):
            cases.append((float(np.sqrt(nd2 / n)), n))
        cases.append(((1.4 / n) ** (2 / 3) * 0.9, n))  # Durbin matrix, p close to 1
    for x, n in cases:
        assert kstwo_sf(x, n) == pytest.approx(float(stats.kstwo.sf(x, n)), abs=1e-10), (x, n)


def test_all_windows_at_once_give_the_merge_numbers_and_scipy() -> None:
    """exact_batch measures every window against the reference in one pass: the same KS
    statistic and p-value as the per-window merge, and Wasserstein equal to scipy's — on
    ties (rounded values, values equal to the reference's), empty windows, one-value windows
    and windows outside the reference's range, and at a large offset (cancellation)."""
    from scipy import stats

    from watchkeeper.core.drift.exact_batch import SortedReference, ks_wasserstein_windows
    from watchkeeper.core.drift.statistics import ks_wasserstein_sorted

    rng = np.random.default_rng(7)
    for offset, scale, decimals in ((0.0, 1.0, None), (1e4, 3.0, None), (0.0, 1.0, 1)):
        a = rng.normal(offset, scale, 3_000)
        if decimals is not None:
            a = np.round(a, decimals)
        a.sort()
        windows = [
            rng.normal(offset + shift, scale * spread, size)
            for shift, spread, size in (
                (0.0, 1.0, 400),
                (0.3, 1.5, 50),
                (0.0, 1.0, 0),
                (0.0, 1.0, 1),
                (-50.0, 1.0, 30),
                (50.0, 1.0, 30),
            )
        ]
        windows.append(a[rng.integers(0, a.size, 200)])  # values the reference holds
        if decimals is not None:
            windows = [np.round(x, decimals) for x in windows]
        windows = [np.sort(x) for x in windows]
        splits = np.concatenate([[0], np.cumsum([x.size for x in windows])])
        d, p, w1, sizes = ks_wasserstein_windows(
            SortedReference.of(a), np.concatenate(windows), splits
        )
        for i, x in enumerate(windows):
            if x.size == 0:
                assert np.isnan(d[i]) and np.isnan(w1[i]) and sizes[i] == 0
                continue
            want = ks_wasserstein_sorted(a, x)
            assert d[i] == want[0]
            assert p[i] == pytest.approx(want[1], abs=1e-12)
            assert w1[i] == pytest.approx(stats.wasserstein_distance(a, x), rel=1e-11, abs=1e-12)
            assert w1[i] == pytest.approx(want[2], rel=1e-11, abs=1e-12)


def test_kstwo_sf_many_equals_kstwo_sf() -> None:
    from watchkeeper.core.drift.kstwo import kstwo_sf, kstwo_sf_many

    rng = np.random.default_rng(3)
    # Pelz-Good (vectorised) and the Smirnov sum; x above the Durbin-matrix regime (slow)
    n = np.round(rng.uniform(150, 5_000, 200))
    x = rng.uniform(0.05, 0.3, 200)
    x[:5] = [0.0, 1.0, 0.7, np.nan, 0.4]
    got = kstwo_sf_many(x, n)
    for i in range(x.size):
        want = kstwo_sf(float(x[i]), float(n[i]))
        assert got[i] == pytest.approx(want, abs=1e-13, nan_ok=True), (x[i], n[i])


def test_kstwo_sf_many_matches_scipy_where_it_sums_the_smirnov_series() -> None:
    """The drifted windows' regime (``2 * smirnov``: ``n d² >= 2.2``, or ``d >= 0.5`` at any
    ``n``) is summed for many windows at once, in chunks; it must stay scipy's number."""
    from watchkeeper.core.drift.kstwo import _smirnov_many, kstwo_sf_many

    rng = np.random.default_rng(5)
    xs, ns = [], []
    for n in (3, 10, 50, 141, 500, 1_960, 12_000, 200_000):
        x = np.sqrt(np.concatenate([rng.uniform(2.2, 12, 8), rng.uniform(12, 370, 4)]) / n)
        x = np.concatenate([x[x < 1], rng.uniform(0.5, 0.999, 4)])
        xs.append(x)
        ns.append(np.full(x.size, float(n)))
    x, n = np.concatenate(xs), np.concatenate(ns)
    got = kstwo_sf_many(x, n)
    want = np.array([stats.kstwo.sf(a, int(b)) for a, b in zip(x, n, strict=True)])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-11)  # as smirnov() for large n
    assert (want > 1e-4).sum() >= 20  # not only the vanishing tail
    # chunk boundaries (a few hundred terms a chunk) change only the last bit (the padding
    # changes the pairwise summation's blocks)
    inside = (x > 0) & (n * (1 - x) >= 1)
    one = _smirnov_many(n[inside], x[inside])
    chunked = _smirnov_many(n[inside], x[inside], max_cells=300)
    np.testing.assert_allclose(chunked, one, rtol=1e-14, atol=0)
