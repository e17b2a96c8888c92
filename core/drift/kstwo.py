"""The survival function of the two-sided one-sample KS statistic, without ``scipy.stats``.

``kstwo_sf(d, n)`` equals ``scipy.stats.kstwo.sf(d, n)`` (tested to 1e-12 on every branch):
it follows scipy's choice of method (Simard & L'Ecuyer 2011, as in ``scipy/stats/_ksstats.py``,
BSD-3-Clause, © the SciPy developers) with two changes that only affect speed:

- ``scipy.stats`` costs about half a second and ~50 MB to import, which the drift command
  paid for one p-value; here only ``scipy.special`` is needed.
- The one-sided Smirnov probability for large ``n`` (the ``2.2 <= n d² < 370`` band, where
  ``scipy.special.smirnov`` sums its ``n (1 - d)`` terms one by one: 75 ms at ``n = 50,000``)
  is the same exact sum evaluated as one vector in log space (about 10x faster; absolute
  difference below 1e-11).

The rare regimes scipy handles with the Durbin matrix or Pomeranz recursion (``n <= 140``, or
``n d^1.5 <= 1.4``, where ``p`` is close to 1) are delegated to ``scipy.stats`` itself.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

__all__ = ["kstwo_sf", "smirnov"]

_SQRT2PI = math.sqrt(2 * math.pi)
_LOG_2PI = math.log(2 * math.pi)
_MIN_LOG = -708
_SQRT3 = math.sqrt(3)
_PI2 = math.pi**2
_PI4 = math.pi**4
_PI6 = math.pi**6
_STIRLING_COEFFS = [
    -2.955065359477124183e-2,
    6.4102564102564102564e-3,
    -1.9175269175269175269e-3,
    8.4175084175084175084e-4,
    -5.952380952380952381e-4,
    7.9365079365079365079e-4,
    -2.7777777777777777778e-3,
    8.3333333333333333333e-2,
]
#: Below this many terms ``scipy.special.smirnov`` itself is fast enough.
_SMIRNOV_VECTOR_FROM = 2000


def _log_nfactorial_div_n_pow_n(n: int) -> float:
    rn = 1.0 / n
    return float(np.log(n) / 2 - n + _LOG_2PI / 2 + rn * np.polyval(_STIRLING_COEFFS, rn / n))


def smirnov(n: int, x: float) -> float:
    """``scipy.special.smirnov(n, x)``: ``P(D+_n >= x)``, one vector sum for large ``n``."""
    m = math.floor(n * (1.0 - x))
    if m < _SMIRNOV_VECTOR_FROM or not 0.0 < x < 1.0:
        return float(special.smirnov(n, x))
    # x * sum_j C(n, j) (x + j/n)^(j-1) (1 - x - j/n)^(n-j), j = 0 .. floor(n (1 - x))
    j = np.arange(m + 1, dtype=np.float64)
    a = x + j / n
    rest = n - j
    with np.errstate(divide="ignore", invalid="ignore"):
        log_b = np.log1p(-a)
        lt = special.gammaln(n + 1.0) - special.gammaln(j + 1.0) - special.gammaln(rest + 1.0)
        lt += (j - 1.0) * np.log(a)
        lt += np.where(rest > 0, rest * log_b, 0.0)
    lt[~np.isfinite(lt)] = -np.inf
    top = float(lt.max())
    if not np.isfinite(top):
        return 0.0
    return float(min(max(x * math.exp(top) * np.exp(lt - top).sum(), 0.0), 1.0))


def _pelz_good_cdf(n: int, x: float) -> float:
    """Pelz-Good approximation of ``P(D_n <= x)`` (scipy's ``_kolmogn_PelzGood``)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    z = np.sqrt(n) * x
    zsquared, zthree, zfour, zsix = z**2, z**3, z**4, z**6
    qlog = -_PI2 / 8 / zsquared
    if qlog < _MIN_LOG:
        return 0.0
    q = np.exp(qlog)
    k1a = -zsquared
    k1b = _PI2 / 4
    k2a = 6 * zsix + 2 * zfour
    k2b = (2 * zfour - 5 * zsquared) * _PI2 / 4
    k2c = _PI4 * (1 - 2 * zsquared) / 16
    k3d = _PI6 * (5 - 30 * zsquared) / 64
    k3c = _PI4 * (-60 * zsquared + 212 * zfour) / 16
    k3b = _PI2 * (135 * zfour - 96 * zsix) / 4
    k3a = -30 * zsix - 90 * z**8
    k0to3 = np.zeros(4)
    maxk = int(np.ceil(16 * z / np.pi))
    for k in range(maxk, 0, -1):
        m = 2 * k - 1
        msquared, mfour, msix = m**2, m**4, m**6
        qpower = np.power(q, 8 * k)
        coeffs = np.array(
            [
                1.0,
                k1a + k1b * msquared,
                k2a + k2b * msquared + k2c * mfour,
                k3a + k3b * msquared + k3c * mfour + k3d * msix,
            ]
        )
        k0to3 *= qpower
        k0to3 += coeffs
    k0to3 *= q
    k0to3 *= _SQRT2PI
    k0to3 /= np.array([z, 6 * zfour, 72 * z**7, 6480 * z**10])
    q = np.exp(-_PI2 / 2 / zsquared)
    ks = np.arange(maxk, 0, -1)
    ksquared = ks**2
    sqrt3z = _SQRT3 * z
    kspi = np.pi * ks
    qpwers = q**ksquared
    k2extra = np.sum(ksquared * qpwers)
    k2extra *= _PI2 * _SQRT2PI / (-36 * zthree)
    k0to3[2] += k2extra
    k3extra = np.sum((sqrt3z + kspi) * (sqrt3z - kspi) * ksquared * qpwers)
    k3extra *= _PI2 * _SQRT2PI / (216 * zsix)
    k0to3[3] += k3extra
    powers_of_n = np.power(n * 1.0, np.arange(len(k0to3)) / 2.0)
    k0to3 /= powers_of_n
    return float(sum(k0to3))


def _scipy_sf(x: float, n: int) -> float:
    from scipy import stats  # the rare exact-matrix regimes only

    return float(stats.kstwo.sf(x, n))


def kstwo_sf(x: float, n: float) -> float:
    """``scipy.stats.kstwo.sf(x, n)``: ``P(D_n >= x)`` for ``n`` samples."""
    if not (np.isfinite(x) and np.isfinite(n)):
        return float("nan")
    if int(n) != n or n <= 0:
        return float("nan")
    n = int(n)
    if x >= 1.0:
        return 0.0
    if x <= 0.0:
        return 1.0
    t = n * x
    if t <= 1.0:  # Ruben-Gambino
        if t <= 0.5:
            return 1.0
        if n <= 140:
            return _scipy_sf(x, n)
        prob = math.exp(_log_nfactorial_div_n_pow_n(n) + n * math.log(2 * t - 1))
        return min(max(1.0 - prob, 0.0), 1.0)
    if t >= n - 1:  # Ruben-Gambino
        return min(max(2 * (1.0 - x) ** n, 0.0), 1.0)
    if x >= 0.5:  # exact: 2 * smirnov
        return min(max(2 * smirnov(n, x), 0.0), 1.0)
    nxsquared = t * x
    if n <= 140:
        return _scipy_sf(x, n)
    if nxsquared >= 370.0:
        return 0.0
    if nxsquared >= 2.2:
        return min(max(2 * smirnov(n, x), 0.0), 1.0)
    if n <= 100000 and n * x**1.5 <= 1.4:
        return _scipy_sf(x, n)  # Durbin matrix: p close to 1
    return min(max(1.0 - _pelz_good_cdf(n, x), 0.0), 1.0)


def _pelz_good_cdf_many(n: np.ndarray, x: np.ndarray) -> np.ndarray:
    """:func:`_pelz_good_cdf` of many ``(n, x)`` at once (``0 < x < 1``), the same arithmetic
    element by element (the sums in the same order)."""
    z = np.sqrt(n) * x
    zsquared, zthree, zfour, zsix = z**2, z**3, z**4, z**6
    qlog = -_PI2 / 8 / zsquared
    q = np.exp(qlog)
    k1a = -zsquared
    k1b = _PI2 / 4
    k2a = 6 * zsix + 2 * zfour
    k2b = (2 * zfour - 5 * zsquared) * _PI2 / 4
    k2c = _PI4 * (1 - 2 * zsquared) / 16
    k3d = _PI6 * (5 - 30 * zsquared) / 64
    k3c = _PI4 * (-60 * zsquared + 212 * zfour) / 16
    k3b = _PI2 * (135 * zfour - 96 * zsix) / 4
    k3a = -30 * zsix - 90 * z**8
    acc = np.zeros((4, z.size))
    maxk = np.ceil(16 * z / np.pi).astype(np.int64)
    for k in range(int(maxk.max(initial=0)), 0, -1):
        on = k <= maxk
        m = 2 * k - 1
        msquared, mfour, msix = m**2, m**4, m**6
        qpower = np.power(q, 8 * k)
        coeffs = (
            np.ones_like(z),
            k1a + k1b * msquared,
            k2a + k2b * msquared + k2c * mfour,
            k3a + k3b * msquared + k3c * mfour + k3d * msix,
        )
        for j in range(4):
            acc[j] = np.where(on, acc[j] * qpower + coeffs[j], acc[j])
    acc *= q
    acc *= _SQRT2PI
    acc /= np.stack([z, 6 * zfour, 72 * z**7, 6480 * z**10])
    q2 = np.exp(-_PI2 / 2 / zsquared)
    sqrt3z = _SQRT3 * z
    k2extra = np.zeros(z.size)
    k3extra = np.zeros(z.size)
    for k in range(int(maxk.max(initial=0)), 0, -1):
        on = k <= maxk
        ksq = float(k * k)
        qp = q2**ksq
        kspi = np.pi * k
        k2extra = np.where(on, k2extra + ksq * qp, k2extra)
        k3extra = np.where(on, k3extra + (sqrt3z + kspi) * (sqrt3z - kspi) * ksq * qp, k3extra)
    acc[2] += k2extra * (_PI2 * _SQRT2PI / (-36 * zthree))
    acc[3] += k3extra * (_PI2 * _SQRT2PI / (216 * zsix))
    for j in range(4):
        acc[j] /= np.power(n * 1.0, j / 2.0)
    out = ((acc[0] + acc[1]) + acc[2]) + acc[3]
    return np.where(qlog < _MIN_LOG, 0.0, out)


def _smirnov_many(n: np.ndarray, x: np.ndarray, max_cells: int = 1 << 18) -> np.ndarray:
    """:func:`smirnov` of many ``(n, x)`` (``0 < x < 1``): the same exact sum in log space,
    for a chunk of them at once as one padded matrix of at most ``max_cells`` terms.

    Why not ``scipy.special.smirnov`` element by element: it sums in C while holding the GIL
    (~1 ms a window at ``n`` ≈ 2,000), which a drift analysis of hundreds of features paid
    thousands of times on the window's own process, stalling its GUI thread; numpy over
    thousands of terms lets the GIL go. Its difference from scipy is below 1e-11 (tested), as
    :func:`smirnov`'s for large ``n``; 11x faster on 4,000 windows at ``n`` = 1,960.
    """
    m = np.floor(n * (1.0 - x)).astype(np.int64)
    out = np.zeros(n.size)
    order = np.argsort(m, kind="stable")  # similar lengths share a chunk: little padding
    start = 0
    while start < order.size:
        end = start + 1
        while end < order.size and (end + 1 - start) * (m[order[end]] + 1) <= max_cells:
            end += 1
        idx = order[start:end]
        width = int(m[idx[-1]]) + 1
        j = np.arange(width, dtype=np.float64)
        nn, xx = n[idx][:, None], x[idx][:, None]
        a = xx + j / nn
        rest = nn - j
        with np.errstate(divide="ignore", invalid="ignore"):
            lt = special.gammaln(nn + 1.0) - special.gammaln(j + 1.0) - special.gammaln(rest + 1.0)
            lt += (j - 1.0) * np.log(a)
            lt += np.where(rest > 0, rest * np.log1p(-a), 0.0)
        lt[~np.isfinite(lt) | (j > m[idx][:, None])] = -np.inf
        top = lt.max(axis=1)
        live = np.isfinite(top)
        with np.errstate(invalid="ignore", over="ignore"):
            sums = np.exp(lt - np.where(live, top, 0.0)[:, None]).sum(axis=1)
            val = x[idx] * np.exp(np.where(live, top, 0.0)) * sums
        out[idx] = np.where(live, np.clip(val, 0.0, 1.0), 0.0)
        start = end
    return out


def kstwo_sf_many(x: np.ndarray, n: np.ndarray) -> np.ndarray:
    """:func:`kstwo_sf` of many ``(x, n)``: the Pelz-Good regime (most windows of a feature
    that did not drift) and the "2 * smirnov" one (a drifted window, usually) each as one
    vector computation, every other one as :func:`kstwo_sf`."""
    x = np.asarray(x, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    out = np.full(x.shape, np.nan)
    with np.errstate(all="ignore"):
        t = n * x
        nx2 = t * x
        # kstwo_sf's branches past its guards and its Ruben-Gambino ends (t <= 1, t >= n - 1)
        inner = (
            np.isfinite(x)
            & np.isfinite(n)
            & (n > 0)
            & (np.floor(n) == n)
            & (x > 0.0)
            & (x < 1.0)
            & (t > 1.0)
            & (t < n - 1)
        )
        durbin = (n <= 100000) & (n * x**1.5 <= 1.4)
        pelz = inner & (x < 0.5) & (n > 140) & (nx2 < 2.2) & ~durbin
        sum_exact = inner & ((x >= 0.5) | ((n > 140) & (nx2 >= 2.2) & (nx2 < 370.0)))
        if pelz.any():
            cdf = _pelz_good_cdf_many(n[pelz], x[pelz])
            out[pelz] = np.minimum(np.maximum(1.0 - cdf, 0.0), 1.0)
        if sum_exact.any():
            two = 2 * _smirnov_many(n[sum_exact], x[sum_exact])
            out[sum_exact] = np.minimum(np.maximum(two, 0.0), 1.0)
    for i in np.flatnonzero(~(pelz | sum_exact)):
        out[i] = kstwo_sf(float(x[i]), float(n[i]))
    return out
