"""Multivariate drift: PCA reconstruction error on the numerical features.

A change in how features move together can leave every marginal distribution intact. The
reference's numerical features are standardised (reference mean and standard deviation;
missing and infinite values imputed at the mean), a PCA is fitted on a random half of the
reference rows keeping the fewest components that explain ``variance`` (default 90 %) of it —
at most ``d - 1`` so something is left to reconstruct — and each row's reconstruction error is
the squared distance to its projection, per feature (divided by ``d``), capped at the
99.9th percentile of the held-out reference rows' errors: with heavy-tailed features (a
log-normal amount) a handful of extreme but ordinary rows would otherwise move a whole day's
mean error past the threshold — in the demo, days inside the reference month itself were
flagged. A change in how features move together shifts many rows, and still moves the mean.

The threshold is learned from reference windows: the other half of the reference is cut into
``chunks`` random windows of ``m`` rows; their mean errors give a mean ``mu`` and a spread
``s``. A current window of ``n`` rows is ``drift`` when its mean error exceeds
``mu + z * s * sqrt(m / n)`` (z = 3 by default) AND ``mu * (1 + min_effect)`` (default +10 %),
``insufficient`` below ``min_rows`` rows, ``ok`` otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from watchkeeper.core.drift.data import finite_mean_std
from watchkeeper.core.progress import Cancelled

__all__ = [
    "MAX_FEATURES",
    "PCA_ROWS",
    "MultivariateDrift",
    "MultivariateWindow",
    "PCAModel",
    "decide_windows",
    "fit_pca",
    "multivariate_features",
    "pca_rows",
    "score_windows",
]


#: The most numerical features the check scores. A row of every feature is read for each
#: scored row: DuckDB pins about 0.75 MB per column and scanning thread to stream them
#: (1,000 columns failed under 768 MB), and the PCA grows with the square of the width.
MAX_FEATURES = 400


def multivariate_features(names: Sequence[str]) -> tuple[list[str], str | None]:
    """The features the check scores, and a note when they are not all of ``names``.

    Above :data:`MAX_FEATURES`, a fixed random choice of that many (in their order): the
    same in every analysis and in a prepared reference, and no part of the model favoured.
    """
    if len(names) <= MAX_FEATURES:
        return list(names), None
    keep = np.sort(np.random.default_rng(0).choice(len(names), MAX_FEATURES, replace=False))
    note = (
        f"multivariate check on {MAX_FEATURES:,} of {len(names):,} numerical features "
        "(a fixed random choice: the memory budget bounds its width)"
    )
    return [names[i] for i in keep.tolist()], note


#: Per-row reconstruction errors above this quantile of the reference's are clipped to it.
ERROR_CAP_QUANTILE = 0.999


@dataclass(frozen=True)
class PCAModel:
    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    components: np.ndarray  # (k, d)
    explained_variance: float
    reference_error: float  # mu
    chunk_sd: float  # s
    chunk_rows: int  # m
    z: float
    min_effect: float
    error_cap: float = float("inf")  # per-row errors are clipped here (see the module)
    #: The axes left out, ``(d - k, d)``, when fewer than the kept ones: a row's error is
    #: then its squared projection on them, which is the same distance (the axes together
    #: are orthonormal) at a fraction of the work — 49 axes instead of 351 at 400 features.
    residual_axes: np.ndarray | None = None

    def threshold(self, n: int) -> float:
        if n <= 0:
            return float("nan")
        band = self.reference_error + self.z * self.chunk_sd * np.sqrt(self.chunk_rows / n)
        return float(max(band, self.reference_error * (1.0 + self.min_effect)))

    def errors(self, x: np.ndarray) -> np.ndarray:
        """Per-row reconstruction error of raw rows ``(n, d)``.

        With orthonormal components ``V``, ``|z - z V'V|^2 = |z|^2 - |z V'|^2``: no
        reconstruction is materialised.
        """
        with np.errstate(over="ignore", invalid="ignore"):  # ±inf, and x - mean beyond a float
            z = x - self.mean
            z /= self.scale
        np.copyto(z, 0.0, where=~np.isfinite(z))
        if self.residual_axes is not None:
            rest = _project(z, self.residual_axes)
            left = np.einsum("ij,ij->i", rest, rest)
        else:
            coords = _project(z, self.components)
            left = np.einsum("ij,ij->i", z, z) - np.einsum("ij,ij->i", coords, coords)
        return np.clip(left / z.shape[1], 0.0, self.error_cap)


#: OpenBLAS runs a matrix product on one thread when rows x columns x inner <= 4 * 65,536
#: (``GEMM_MULTITHREAD_THRESHOLD``); above, it wakes its threads, which on a busy machine
#: costs far more than the product (24 ms instead of 0.6 ms for 32k x 17 x 16).
_GEMM_ONE_THREAD = 4 * 65_536


def _project(z: np.ndarray, components: np.ndarray) -> np.ndarray:
    """``z @ components.T`` in row blocks small enough for one BLAS thread.

    Each row's product is the same computation whatever the block (the same numbers).
    """
    n = z.shape[0]
    k, d = components.shape
    step = max(1, _GEMM_ONE_THREAD // max(1, k * d))
    if n <= step:
        return z @ components.T
    vt = components.T
    out = np.empty((n, k))
    for lo in range(0, n, step):
        np.matmul(z[lo : lo + step], vt, out=out[lo : lo + step])
    return out


@dataclass(frozen=True)
class MultivariateWindow:
    index: int
    rows: int  # rows scored (a seeded sample of the window when it is larger than the limit)
    error: float | None
    threshold: float | None
    decision: str
    sampled: bool = False


@dataclass(frozen=True)
class MultivariateDrift:
    features: tuple[str, ...]
    components: int
    explained_variance: float
    reference_error: float
    windows: tuple[MultivariateWindow, ...]

    def to_dict(self) -> dict:
        return {
            "method": "pca_reconstruction_error",
            "features": list(self.features),
            "components": self.components,
            "explained_variance": _num(self.explained_variance),
            "reference_error": _num(self.reference_error),
            "windows": [
                {
                    "index": w.index,
                    "decision": w.decision,
                    "error": _num(w.error),
                    "threshold": _num(w.threshold),
                    "rows": w.rows,
                    "sampled": w.sampled,
                }
                for w in self.windows
            ],
        }


def _num(x: float | None) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


#: The reference rows the PCA is fitted and calibrated on, at most (a seeded choice above).
PCA_ROWS = 50_000


def _choose_rows(rng: np.random.Generator, n: int, max_rows: int) -> np.ndarray | None:
    if n <= max_rows:
        return None
    return np.sort(rng.choice(n, max_rows, replace=False))


def pca_rows(n: int, seed: int, max_rows: int = PCA_ROWS) -> np.ndarray | None:
    """The rows :func:`fit_pca` uses of ``n`` reference rows with ``seed`` (None: all)."""
    return _choose_rows(np.random.default_rng(seed), n, max_rows)


def _rows_of(columns: Sequence[np.ndarray], rows: np.ndarray | None) -> np.ndarray:
    """``(len(rows), d)`` float64 matrix of the given rows (all when ``None``)."""
    n = len(columns[0]) if rows is None else len(rows)
    x = np.empty((n, len(columns)), order="F")  # filled and summarised column by column
    for j, c in enumerate(columns):
        x[:, j] = c if rows is None else c[rows]
    return x


def fit_pca(
    features: Sequence[str],
    x: np.ndarray | Sequence[np.ndarray],
    *,
    variance: float = 0.9,
    chunks: int = 20,
    z: float = 3.0,
    min_effect: float = 0.1,
    seed: int = 0,
    max_rows: int = PCA_ROWS,
    error_cap_quantile: float | None = ERROR_CAP_QUANTILE,
    rows_of: int | None = None,
) -> PCAModel | None:
    """Fit on reference rows ``x`` ``(n, d)``, or its ``d`` columns; ``None`` when too few.

    Given columns, only the (at most ``max_rows``) rows used are ever put side by side.
    ``error_cap_quantile`` None: per-row errors are not capped (as before the cap existed).
    ``rows_of``: the columns are already the rows :func:`pca_rows` ``(rows_of, seed,
    max_rows)`` chose of a reference of ``rows_of`` rows (read a few columns at a time); the
    model is the one the whole columns give.
    """
    columns = [x[:, j] for j in range(x.shape[1])] if isinstance(x, np.ndarray) else list(x)
    d = len(columns)
    n = len(columns[0]) if d else 0
    if rows_of is not None:
        n = rows_of
    if d < 2 or n < 4 * chunks:
        return None
    rng = np.random.default_rng(seed)
    sel = _choose_rows(rng, n, max_rows)
    if sel is not None:
        n = max_rows
    x = _rows_of(columns, None if rows_of is not None else sel)
    del columns
    mean = np.zeros(d)
    scale = np.ones(d)
    for j in range(d):
        col = x[:, j]
        finite = col[np.isfinite(col)]
        if finite.size:
            # values near the largest float too (their sum overflows: eigh failed on it)
            mean[j], sd = finite_mean_std(finite)
            if sd > 0:
                scale[j] = sd
    perm = rng.permutation(n)
    fit_rows, hold_rows = perm[: n // 2], perm[n // 2 :]
    zfit = x[fit_rows]
    with np.errstate(over="ignore", invalid="ignore"):  # ±inf, and x - mean beyond a float
        zfit -= mean
        zfit /= scale
    zfit[~np.isfinite(zfit)] = 0.0
    zfit -= zfit.mean(axis=0)
    # eigenvectors of the d x d covariance: the principal axes, without an n x d SVD
    evals, evecs = np.linalg.eigh(zfit.T @ zfit)
    del zfit
    order = np.argsort(evals)[::-1]
    var = np.maximum(evals[order], 0.0)
    vt = evecs[:, order].T
    total = var.sum()
    if total <= 0:
        return None
    share = np.cumsum(var) / total
    k = min(int(np.searchsorted(share, variance)) + 1, d - 1)
    residual = vt[k:].copy() if d - k < k else None
    model = PCAModel(
        tuple(features),
        mean,
        scale,
        vt[:k].copy(),
        float(share[k - 1]),
        0.0,
        0.0,
        1,
        z,
        min_effect,
        residual_axes=residual,
    )
    e = model.errors(x[hold_rows])
    cap = float("inf")
    if error_cap_quantile is not None:
        cap = float(np.quantile(e, error_cap_quantile))
        np.minimum(e, cap, out=e)
    m = e.size // chunks
    means = e[: m * chunks].reshape(chunks, m).mean(axis=1)
    return PCAModel(
        model.features,
        mean,
        scale,
        model.components,
        model.explained_variance,
        float(e.mean()),
        float(means.std(ddof=1)),
        m,
        z,
        min_effect,
        cap,
        residual,
    )


def score_windows(
    model: PCAModel,
    chunks: Iterable[tuple[np.ndarray, np.ndarray]],
    n_windows: int,
    *,
    min_rows: int,
    sampled: np.ndarray | None = None,
    window_rows: np.ndarray | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> MultivariateDrift:
    """Mean reconstruction error per window, and a decision per window.

    ``chunks`` yields ``(rows (m, d), window index (m,))`` pieces (window ``-1``: skipped),
    so the rows scored never need to be in memory at once.
    """
    sums = np.zeros(n_windows)
    rows = np.zeros(n_windows, dtype=np.int64)
    for x, w in chunks:
        if cancelled is not None and cancelled():
            raise Cancelled("multivariate drift was cancelled")
        keep = w >= 0
        if not keep.all():
            x, w = x[keep], w[keep]
        if not len(w):
            continue
        e = model.errors(x)
        sums += np.bincount(w, weights=e, minlength=n_windows)[:n_windows]
        rows += np.bincount(w, minlength=n_windows)[:n_windows]
    return decide_windows(
        model, sums, rows, min_rows=min_rows, sampled=sampled, window_rows=window_rows
    )


def decide_windows(
    model: PCAModel,
    sums: np.ndarray,
    rows: np.ndarray,
    *,
    min_rows: int,
    sampled: np.ndarray | None = None,
    window_rows: np.ndarray | None = None,
) -> MultivariateDrift:
    """The decision per window from the summed reconstruction errors of its scored rows.

    ``min_rows`` is judged on ``window_rows`` (the window's rows) when given, not on the rows
    scored: a sampled window of 2,000 rows scored on ~500 has enough data, and the threshold
    (from the scored count) already accounts for the sample's size. Judged on the sample, a
    Bernoulli draw of about ``min_rows`` rows called half the windows "too few rows".
    """
    n_windows = len(rows)
    out = []
    for i in range(n_windows):
        r = int(rows[i])
        err = sums[i] / r if r else None
        thr = model.threshold(r) if r else None
        enough = int(window_rows[i]) if window_rows is not None else r
        if enough < min_rows or err is None or thr is None:  # r == 0: no reconstruction error
            decision = "insufficient"
        else:
            decision = "drift" if err > thr else "ok"
        was_sampled = bool(sampled[i]) if sampled is not None else False
        out.append(MultivariateWindow(i, r, err, thr, decision, was_sampled))
    return MultivariateDrift(
        model.features,
        model.components.shape[0],
        model.explained_variance,
        model.reference_error,
        tuple(out),
    )
