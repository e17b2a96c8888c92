"""From statistics to a decision per feature and window: ok, watch, drift or insufficient.

The rule (every number comes from the monitor spec's ``[drift]`` section):

- ``insufficient`` when the window has fewer than ``min_rows`` rows, or the reference has fewer
  than ``min_rows`` rows; such cells are not tested and not counted in the correction.
- Every other cell is tested (``test``: the chi-square test on the binned counts, or the exact
  KS test for numerical features), and the p-values of all tested cells of the analysis —
  all features × windows together — are adjusted (``correction``, Holm by default).
- ``drift`` when the adjusted p-value is below ``p_value`` AND the effect (PSI) reaches the
  drift threshold of the feature's class (``psi_drift``, or ``high_cardinality_psi_drift`` for
  a categorical above ``high_cardinality`` reference values) in ``persistence`` windows in a
  row (ending at this one); ``watch`` when significant and the effect reaches the watch
  threshold (or the drift threshold without the persistence yet); ``ok`` otherwise.

With ``[drift] thresholds = "calibrated"`` (the default) the two PSI cut-offs are per feature
and window instead: the reference's own variability at the window's row count
(:mod:`~watchkeeper.core.drift.calibrate`), passed here as ``watch_cut``/``drift_cut``.

Requiring both keeps large windows from alarming on negligible but significant differences
and small windows from alarming on noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["DECISIONS", "Thresholds", "adjust_p", "decide"]

DECISIONS = ("ok", "watch", "drift", "insufficient")


@dataclass(frozen=True)
class Thresholds:
    """Effect thresholds of one feature class and the significance settings."""

    psi_watch: float = 0.1
    psi_drift: float = 0.2
    alpha: float = 0.05
    min_rows: int = 500
    persistence: int = 1


def adjust_p(p: np.ndarray, method: str = "holm") -> np.ndarray:
    """Adjusted p-values for the family of the non-NaN entries of ``p`` (any shape)."""
    p = np.asarray(p, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    flat = p.ravel()
    idx = np.flatnonzero(~np.isnan(flat))
    m = idx.size
    if m == 0:
        return out
    v = flat[idx]
    if method == "none":
        adj = v.copy()
    elif method == "bonferroni":
        adj = np.minimum(1.0, v * m)
    elif method == "holm":
        order = np.argsort(v, kind="stable")
        scaled: np.ndarray = v[order] * (m - np.arange(m))
        adj_sorted = np.minimum(1.0, np.maximum.accumulate(scaled))
        adj = np.empty(m)
        adj[order] = adj_sorted
    elif method == "fdr_bh":
        order = np.argsort(v, kind="stable")
        scaled = v[order] * m / np.arange(1, m + 1)
        adj_sorted = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
        adj = np.empty(m)
        adj[order] = adj_sorted
    else:
        raise ValueError(f"unknown correction {method!r}")
    out.ravel()[idx] = adj
    return out


def decide(
    effect: np.ndarray,
    p_adjusted: np.ndarray,
    rows: np.ndarray,
    reference_rows: int | np.ndarray,
    thresholds: Thresholds,
    *,
    watch_cut: np.ndarray | None = None,
    drift_cut: np.ndarray | None = None,
) -> np.ndarray:
    """Decisions as strings, windows along the last axis.

    ``effect`` and ``p_adjusted`` are ``(W,)`` for one feature or ``(..., W)`` for several
    under the same thresholds; ``rows`` is ``(W,)`` (rows per window); ``reference_rows``
    a number or one per feature (``(..., 1)``). ``watch_cut``/``drift_cut`` (broadcast like
    ``effect``) replace ``psi_watch``/``psi_drift`` per window: the calibrated cut-offs
    (:mod:`~watchkeeper.core.drift.calibrate`).
    """
    effect = np.asarray(effect, dtype=np.float64)
    p_adjusted = np.asarray(p_adjusted, dtype=np.float64)
    rows = np.asarray(rows)
    t = thresholds
    insufficient = (
        (rows < t.min_rows) | (np.asarray(reference_rows) < t.min_rows) | np.isnan(effect)
    )
    significant = ~np.isnan(p_adjusted) & (p_adjusted < t.alpha)
    with np.errstate(invalid="ignore"):
        drift_at = t.psi_drift if drift_cut is None else np.asarray(drift_cut)
        watch_at = t.psi_watch if watch_cut is None else np.asarray(watch_cut)
        drift_cond = significant & (effect >= drift_at) & ~insufficient
        watch_cond = significant & (effect >= watch_at) & ~insufficient
    out = np.full(effect.shape, "ok", dtype=object)
    out[watch_cond] = "watch"
    if t.persistence <= 1:
        persistent = drift_cond
    else:
        # length of the run of drift conditions ending at each window
        run = np.zeros(effect.shape, dtype=np.int64)
        acc = np.zeros(effect.shape[:-1], dtype=np.int64)
        for i in range(effect.shape[-1]):
            acc = np.where(drift_cond[..., i], acc + 1, 0)
            run[..., i] = acc
        persistent = drift_cond & (run >= t.persistence)
    out[drift_cond & ~persistent] = "watch"
    out[persistent] = "drift"
    out[insufficient] = "insufficient"
    return out
