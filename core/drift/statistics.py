"""Drift statistics: binned ones from counts, exact ones from raw values.

Binned (from a reference count vector ``r`` of ``B`` bins and current counts ``C`` of shape
``(windows, B)``; bins empty on both sides are left out of every binned statistic):

- **PSI** ``sum((q - p) * ln(q / p))`` on proportions smoothed by adding
  :data:`PSI_PSEUDOCOUNT` (0.5) to every bin that is non-empty on either side, so a category
  that appears only in the current data has a finite, large contribution.
- **Jensen–Shannon distance**, base 2 (in ``[0, 1]``), on the unsmoothed proportions; equal to
  ``scipy.spatial.distance.jensenshannon(p, q, base=2)``.
- **Chi-square** test of homogeneity on the 2 × B table (no continuity correction), equal to
  ``scipy.stats.chi2_contingency(table, correction=False)``; ``dof = bins used - 1``.
- **Binned KS**: the largest gap between the two CDFs of the value bins (missing excluded),
  evaluated only at the reference-quantile edges — a lower bound of the exact KS statistic
  whose resolution is the bins (1/``bins`` of reference mass).

Exact (numerical features, from finite values; NaN/±inf excluded):

- **KS** two-sample statistic, equal to ``scipy.stats.ks_2samp``; its p-value is Smirnov's
  asymptotic distribution (``ks_2samp(..., method="asymp")``).
- **Wasserstein-1** distance, equal to ``scipy.stats.wasserstein_distance``, and the same divided
  by the reference standard deviation (null when that is 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special as _special

from watchkeeper.core.drift.kstwo import kstwo_sf

# scipy.stats costs half a second and ~50 MB to import: the KS p-value comes from kstwo.py.

__all__ = [
    "PSI_PSEUDOCOUNT",
    "BinnedStats",
    "binned_stats",
    "chi_square",
    "jensen_shannon",
    "ks_binned",
    "ks_exact",
    "ks_wasserstein",
    "ks_wasserstein_sorted",
    "psi",
    "wasserstein",
]

PSI_PSEUDOCOUNT = 0.5


def _as2d(current: np.ndarray) -> np.ndarray:
    c = np.asarray(current, dtype=np.float64)
    return c[None, :] if c.ndim == 1 else c


def psi(reference: np.ndarray, current: np.ndarray) -> np.ndarray:
    """PSI per window (NaN where a side is empty).

    ``current`` is ``(B,)`` or ``(W, B)``; ``reference`` is ``(B,)`` or, row for row with
    ``current``, ``(W, B)`` (as for every binned statistic here).
    """
    r = _as2d(reference)
    c = _as2d(current)
    used = (r > 0) | (c > 0)
    a = PSI_PSEUDOCOUNT
    rs = np.where(used, r + a, 0.0)
    cs = np.where(used, c + a, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = rs / rs.sum(axis=1, keepdims=True)
        q = cs / cs.sum(axis=1, keepdims=True)
        terms = np.where(
            used, (q - p) * np.log(np.where(used, q, 1.0) / np.where(used, p, 1.0)), 0.0
        )
    out = terms.sum(axis=1)
    empty = (r.sum(axis=1) == 0) | (c.sum(axis=1) == 0)
    out[empty] = np.nan
    return out


def jensen_shannon(reference: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Jensen–Shannon distance, base 2, per window (NaN where a side is empty)."""
    r = _as2d(reference)
    c = _as2d(current)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = r / r.sum(axis=1, keepdims=True)
        q = c / c.sum(axis=1, keepdims=True)
        m = (p + q) / 2.0
        left = _special.rel_entr(p, m).sum(axis=1)
        right = _special.rel_entr(q, m).sum(axis=1)
        js = np.sqrt(np.maximum((left + right) / 2.0, 0.0) / np.log(2.0))
    empty = (r.sum(axis=1) == 0) | (c.sum(axis=1) == 0)
    js[empty] = np.nan
    return js


def chi_square(
    reference: np.ndarray,
    current: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chi-square homogeneity test per window: ``(statistic, dof, p_value)``.

    NaN where a side is empty; ``p = 1`` when only one bin is used (nothing can differ).
    """
    r = _as2d(reference)
    c = _as2d(current)
    rt = r.sum(axis=1, keepdims=True)
    ct = c.sum(axis=1, keepdims=True)
    col = r + c
    n = rt + ct
    with np.errstate(invalid="ignore", divide="ignore"):
        er = col * rt / n
        ec = col * ct / n
        used = col > 0
        stat = np.where(
            used,
            (r - er) ** 2 / np.where(used, er, 1.0) + (c - ec) ** 2 / np.where(used, ec, 1.0),
            0.0,
        ).sum(axis=1)
    dof = used.sum(axis=1) - 1
    p = np.where(dof > 0, _special.chdtrc(np.maximum(dof, 1), stat), 1.0)  # chi2.sf
    empty = (rt[:, 0] == 0) | (ct[:, 0] == 0)
    stat[empty] = np.nan
    p[empty] = np.nan
    return stat, dof.astype(np.int64), p


def ks_binned(reference_values: np.ndarray, current_values: np.ndarray) -> np.ndarray:
    """Largest CDF gap at the bin edges (value bins only, missing excluded)."""
    r = _as2d(reference_values)
    c = _as2d(current_values)
    with np.errstate(invalid="ignore", divide="ignore"):
        fr = np.cumsum(r, axis=1) / r.sum(axis=1, keepdims=True)
        fc = np.cumsum(c, axis=1) / c.sum(axis=1, keepdims=True)
        d = np.abs(fr - fc).max(axis=1) if r.shape[1] else np.full(c.shape[0], np.nan)
    empty = (r.sum(axis=1) == 0) | (c.sum(axis=1) == 0)
    d[empty] = np.nan
    return d


def _ks_p(d: float, en: float) -> float:
    return float(np.clip(kstwo_sf(d, np.round(en)), 0.0, 1.0))


def ks_exact(reference_sorted: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """Two-sample KS ``(D, asymptotic p)``; ``reference_sorted`` must be sorted, finite."""
    a = reference_sorted
    b = np.sort(np.asarray(current, dtype=np.float64))
    n1, n2 = a.size, b.size
    if n1 == 0 or n2 == 0:
        return float("nan"), float("nan")
    both = np.concatenate([a, b])
    cdf1 = np.searchsorted(a, both, side="right") / n1
    cdf2 = np.searchsorted(b, both, side="right") / n2
    diff = cdf1 - cdf2
    d = float(max(np.clip(-diff.min(), 0, 1), diff.max()))
    m, n = sorted([float(n1), float(n2)], reverse=True)
    en = m * n / (m + n)
    p = _ks_p(d, en)
    return d, p


def wasserstein(reference_sorted: np.ndarray, current: np.ndarray) -> float:
    """Wasserstein-1 distance between two empirical distributions (reference sorted)."""
    u = reference_sorted
    v = np.sort(np.asarray(current, dtype=np.float64))
    if u.size == 0 or v.size == 0:
        return float("nan")
    allv = np.concatenate([u, v])
    allv.sort(kind="mergesort")
    deltas = np.diff(allv)
    ucdf = np.searchsorted(u, allv[:-1], side="right") / u.size
    vcdf = np.searchsorted(v, allv[:-1], side="right") / v.size
    return float(np.sum(np.abs(ucdf - vcdf) * deltas))


def ks_wasserstein(
    reference_sorted: np.ndarray,
    current: np.ndarray,
) -> tuple[float, float, float]:
    """``(KS D, KS asymptotic p, Wasserstein-1)`` in one merge of the two samples.

    The same numbers as :func:`ks_exact` and :func:`wasserstein` (tested against scipy).
    """
    return ks_wasserstein_sorted(reference_sorted, np.sort(np.asarray(current, dtype=np.float64)))


def ks_wasserstein_sorted(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """:func:`ks_wasserstein` of two sorted finite samples.

    Both CDFs are running counts along the merged order (a stable argsort of two sorted
    runs is a linear merge); KS is read at the last element of each run of equal values,
    Wasserstein sums ``|F - G|`` times the gaps (zero inside runs).
    """
    n1, n2 = a.size, b.size
    if n1 == 0 or n2 == 0:
        return float("nan"), float("nan"), float("nan")
    both = np.concatenate([a, b])
    # The merge as a stable argsort, on integers that order like the (finite) floats: the
    # same order (-0.0 now before 0.0, which changes no count at the end of a run of equal
    # values and no gap), about 40 % faster than comparing floats.
    bits = both.view(np.int64)
    keys = bits ^ ((bits >> 63) & np.int64(0x7FFFFFFFFFFFFFFF))
    order = np.argsort(keys, kind="stable")
    del bits, keys
    values = both.take(order)
    del both
    from_a = order < n1
    del order
    # F and G as running counts: G's count is the position minus F's (one cumulative sum)
    small = n1 + n2 < 2**31
    count_a: np.ndarray = np.cumsum(from_a, dtype=np.int32 if small else np.int64)
    del from_a
    count_b = np.arange(1, count_a.size + 1, dtype=count_a.dtype)
    count_b -= count_a
    diff = count_a / n1
    diff -= count_b / n2
    del count_a, count_b
    last = np.empty(values.size, dtype=bool)
    np.not_equal(values[:-1], values[1:], out=last[:-1])
    last[-1] = True
    at = diff[last]
    del last
    d = float(max(np.clip(-at.min(), 0, 1), at.max()))
    m, n = sorted([float(n1), float(n2)], reverse=True)
    en = m * n / (m + n)
    p = _ks_p(d, en)
    # sum |F - G| x gap, in place: the gaps overwrite the values they come from
    # (not np.dot: a BLAS call wakes OpenBLAS's threads, slow on a busy machine)
    gaps = np.subtract(values[1:], values[:-1], out=values[:-1])
    np.abs(diff, out=diff)
    np.multiply(diff[:-1], gaps, out=gaps)
    w1 = float(np.sum(gaps))
    return d, p, w1


@dataclass(frozen=True)
class BinnedStats:
    """Binned statistics of one feature, one entry per window (NaN: not defined)."""

    psi: np.ndarray
    js: np.ndarray
    chi2: np.ndarray
    dof: np.ndarray
    p_chi2: np.ndarray
    ks_binned: np.ndarray  # NaN for categorical features
    missing_rate: np.ndarray
    unseen_rate: np.ndarray  # NaN for numerical features or an incomplete vocabulary


def binned_stats(
    reference: np.ndarray, current: np.ndarray, *, numerical: bool, unseen_bin: int | None = None
) -> BinnedStats:
    """All binned statistics of one feature over all windows (last bin = missing)."""
    r = np.asarray(reference, dtype=np.float64)
    c = _as2d(current)
    totals = c.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        missing_rate = c[:, -1] / totals
        unseen = (
            c[:, unseen_bin] / totals if unseen_bin is not None else np.full(c.shape[0], np.nan)
        )
    stat, dof, p = chi_square(r, c)
    ksb = ks_binned(r[:-1], c[:, :-1]) if numerical and r.size > 2 else np.full(c.shape[0], np.nan)
    if numerical and r.size == 2:  # a single value bin: the CDFs cannot differ
        ksb = np.where((r[:-1].sum() > 0) & (c[:, :-1].sum(axis=1) > 0), 0.0, np.nan)
    return BinnedStats(
        psi=psi(r, c),
        js=jensen_shannon(r, c),
        chi2=stat,
        dof=dof,
        p_chi2=p,
        ks_binned=ksb,
        missing_rate=missing_rate,
        unseen_rate=unseen,
    )
