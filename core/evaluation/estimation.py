"""Estimated performance for windows whose labels have not arrived (CBPE-style).

Confidence-based performance estimation (as NannyML's CBPE): if ``p(s)``, the probability of
a positive given the score, is known, the expected confusion matrix of a window follows from
its scores alone — E[TP] = Σ_{s≥t} p, E[FP] = Σ_{s≥t} (1 − p), E[FN] = Σ_{s<t} p,
E[TN] = Σ_{s<t} (1 − p) — and so do precision, recall, F1, accuracy; ROC AUC from the
expected true- and false-positive rates at every score; the Brier score as
E[(s − y)²] = mean(p (1 − s)² + (1 − p) s²).

``p(s)`` comes from the reference: an isotonic regression of the reference's labels on its
scores (:func:`fit_calibrator`; scipy's pool-adjacent-violators), interpolated between
reference scores. The estimate holds only while the relation between score and label stays
as it was on the reference (no concept change): covariate shift is what it can follow.

Interval: labels are drawn ``n_sim`` times as independent Bernoulli(``p_k``) for the
window's events, ``p_k`` cycling through calibrators refitted on bootstrap resamples of the
reference, and the metric is computed on each draw; the percentile interval is a
*prediction interval for the realized value* once labels come. It holds the labels'
randomness and the calibrator's estimation error (which dominates near the threshold when
the reference has few high scores), not a change of concept.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from watchkeeper.core.evaluation.intervals import Estimate, missing
from watchkeeper.core.evaluation.metrics import EvaluationError, Prepared, evaluate, float_array
from watchkeeper.core.evaluation.performance import window_index

if TYPE_CHECKING:
    from watchkeeper.core.telemetry.windows import WindowSpec

__all__ = [
    "ESTIMATED_METRICS",
    "Calibrator",
    "CalibratorAt",
    "EstimatedWindow",
    "estimate_metrics",
    "estimated_over_time",
    "fit_calibrator",
]

ESTIMATED_METRICS = ("roc_auc", "precision", "recall", "f1", "accuracy", "brier")


@dataclass(frozen=True)
class Calibrator:
    """``p(score)``: isotonic fit on the reference, linear between knots on a score grid.

    ``replicates`` holds the same fit on bootstrap resamples of the reference (same grid),
    so intervals can carry the calibrator's own uncertainty.
    """

    x: np.ndarray
    y: np.ndarray
    replicates: np.ndarray  # (R, len(x))
    reference_events: int

    def __call__(self, scores: np.ndarray, replicate: int | None = None) -> np.ndarray:
        y = self.y if replicate is None else self.replicates[replicate % len(self.replicates)]
        return np.interp(scores, self.x, y)

    def at(self, scores: np.ndarray) -> CalibratorAt:
        """The calibrator located once at ``scores``, to be read for many replicates."""
        return CalibratorAt.of(self, scores)


@dataclass(frozen=True)
class CalibratorAt:
    """A :class:`Calibrator` at fixed scores: where each score falls on the grid, found once.

    ``np.interp`` searches the grid for every score on every call; a window's CBPE
    simulations read the same scores ``n_sim`` times (200), which was 3.7 s of the demo's
    9.6 s performance view. Each read here is a gather and a multiply-add, with
    ``np.interp``'s own formula (``slope * (x - x_j) + y_j``, the slope computed as it
    does), so the values are the same bits (tests compare them).
    """

    calibrator: Calibrator
    j: np.ndarray  # the knot at or below each score (clipped to an inner segment)
    dx: np.ndarray  # score - x[j]
    left: np.ndarray  # scores below the grid (y[0])
    right: np.ndarray  # scores at or above its last knot (y[-1])

    @classmethod
    def of(cls, calibrator: Calibrator, scores: np.ndarray) -> CalibratorAt:
        x = calibrator.x
        s = np.asarray(scores, dtype=np.float64)
        j = np.clip(np.searchsorted(x, s, side="right") - 1, 0, max(x.size - 2, 0))
        return cls(calibrator, j, s - x[j], s < x[0], s >= x[-1])

    def __call__(self, replicate: int | None = None) -> np.ndarray:
        c = self.calibrator
        y = c.y if replicate is None else c.replicates[replicate % len(c.replicates)]
        if c.x.size < 2:
            return np.full(self.j.size, y[0] if y.size else np.nan)
        slopes = np.diff(y) / np.diff(c.x)
        out = slopes[self.j] * self.dx + y[self.j]
        out[self.left] = y[0]
        out[self.right] = y[-1]
        return out


def _isotonic(
    y: np.ndarray,
    s: np.ndarray,
    grid: np.ndarray,
    w: np.ndarray | None,
    unique: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """``unique``: ``np.unique(s, return_inverse=True)``, the same for every bootstrap refit
    (sorting the scores again each time was 0.9 s of the demo's performance view)."""
    from scipy.optimize import isotonic_regression

    ux, inverse = unique if unique is not None else np.unique(s, return_inverse=True)
    weights = np.ones(s.size) if w is None else w
    counts = np.bincount(inverse, weights=weights)
    keep = counts > 0
    means = np.bincount(inverse, weights=weights * y)[keep] / counts[keep]
    fitted = isotonic_regression(means, weights=counts[keep], increasing=True).x
    return np.clip(np.interp(grid, ux[keep], fitted), 0.0, 1.0)


def fit_calibrator(
    labels: Any, scores: Any, *, knots: int = 2000, n_boot: int = 50, seed: int = 0
) -> Calibrator:
    """Isotonic regression of 0/1 ``labels`` on ``scores`` over the labeled reference events.

    The fit is kept on a grid of at most ``knots`` score quantiles; ``n_boot`` refits on
    bootstrap resamples of the reference give the calibrator's uncertainty.
    """
    from watchkeeper.core.evaluation.intervals import bootstrap_counts

    y = float_array(labels, "labels")
    s = float_array(scores, "scores")
    ok = ~np.isnan(y) & np.isfinite(s)
    y, s = y[ok], s[ok]
    if y.size < 10 or y.min() == y.max():
        raise EvaluationError(
            "the reference needs labeled events of both classes to calibrate the estimate"
        )
    grid = np.unique(np.quantile(s, np.linspace(0.0, 1.0, knots + 1)))
    unique = np.unique(s, return_inverse=True)
    main = _isotonic(y, s, grid, None, unique)
    rng = np.random.default_rng(seed)
    reps = np.array(
        [_isotonic(y, s, grid, bootstrap_counts(rng, y.size), unique) for _ in range(n_boot)]
    )
    return Calibrator(grid, main, reps.reshape(n_boot, grid.size), int(y.size))


def _expected(metric: str, prep: Prepared, p: np.ndarray) -> float:
    """The CBPE point estimate of ``metric`` for scores ``prep.s`` with P(y=1) = ``p``."""
    if metric == "brier":
        s = prep.s
        return float(np.mean(p * (1 - s) ** 2 + (1 - p) * s**2))
    if metric == "roc_auc":
        order = prep.order  # descending score
        ps, qs = p[order], 1.0 - p[order]
        s_sorted = prep.s[order]
        ends = np.append(np.flatnonzero(np.diff(s_sorted) != 0), prep.n - 1)
        tps = np.concatenate(([0.0], np.cumsum(ps)[ends]))
        fps = np.concatenate(([0.0], np.cumsum(qs)[ends]))
        if tps[-1] <= 0 or fps[-1] <= 0:
            return math.nan
        return float(np.trapezoid(tps / tps[-1], fps / fps[-1]))
    pred = prep.s >= prep.threshold
    tp, fp = float(p[pred].sum()), float((1 - p)[pred].sum())
    fn, tn = float(p[~pred].sum()), float((1 - p)[~pred].sum())
    if metric == "precision":
        return tp / (tp + fp) if tp + fp > 0 else math.nan
    if metric == "recall":
        return tp / (tp + fn) if tp + fn > 0 else math.nan
    if metric == "f1":
        return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn > 0 else math.nan
    if metric == "accuracy":
        return (tp + tn) / prep.n if prep.n else math.nan
    raise EvaluationError(f"{metric!r} cannot be estimated; choose from {ESTIMATED_METRICS}")


def estimate_metrics(
    scores: Any,
    calibrator: Calibrator,
    *,
    threshold: float = 0.5,
    metrics: Sequence[str] = ESTIMATED_METRICS,
    n_sim: int = 200,
    seed: int = 0,
    confidence: float = 0.95,
) -> Mapping[str, Estimate]:
    """CBPE estimates with simulation prediction intervals (method ``"cbpe"``)."""
    s = float_array(scores, "scores")
    s = s[np.isfinite(s)]
    n = s.size
    if n == 0:
        return MappingProxyType({m: missing(0, confidence) for m in metrics})
    located = calibrator.at(s)
    p = located()
    prep = Prepared(np.zeros(n), s, threshold)
    values = {m: _expected(m, prep, p) for m in metrics}
    rng = np.random.default_rng(seed)
    sims = {m: np.empty(n_sim) for m in metrics}
    for i in range(n_sim):
        p_i = located(i) if len(calibrator.replicates) else p
        sim = Prepared((rng.random(n) < p_i).astype(np.float64), s, threshold)
        sim.__dict__["order"] = prep.order  # same scores: reuse the sort
        for m in metrics:
            sims[m][i] = evaluate(m, sim)
    return simulated_estimates(values, sims, n, confidence)


def simulated_estimates(
    values: Mapping[str, float], sims: Mapping[str, np.ndarray], n: int, confidence: float
) -> Mapping[str, Estimate]:
    """CBPE's estimates: each metric's expected value with the central ``confidence`` interval
    of its simulated replicates (missing with fewer than 10 finite ones)."""
    a = (1 - confidence) / 2
    out = {}
    for m, value in values.items():
        reps = sims[m][np.isfinite(sims[m])]
        if not math.isfinite(value) or reps.size < 10:
            out[m] = missing(n, confidence)
            continue
        lo, hi = np.quantile(reps, [a, 1 - a])
        out[m] = Estimate(value, float(lo), float(hi), "cbpe", n, confidence)
    return MappingProxyType(out)


@dataclass(frozen=True)
class EstimatedWindow:
    index: int
    start: dt.datetime | None
    end: dt.datetime | None
    events: int
    metrics: Mapping[str, Estimate]

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "start": self.start,
            "end": self.end,
            "events": self.events,
            "metrics": {k: v.to_dict() for k, v in self.metrics.items()},
        }


def estimated_over_time(
    ts_us: Any,
    scores: Any,
    calibrator: Calibrator,
    *,
    window: WindowSpec | str | None = None,
    start: dt.datetime | str | None = None,
    end: dt.datetime | str | None = None,
    threshold: float = 0.5,
    metrics: Sequence[str] = ESTIMATED_METRICS,
    min_events: int = 100,
    n_sim: int = 200,
    seed: int = 0,
    confidence: float = 0.95,
    only: Collection[int] | None = None,
) -> tuple[EstimatedWindow, ...]:
    """Estimated metrics per window (the same windows as :func:`performance_over_time`).

    ``only``: estimate just these window indices (the others get no metrics) — the window
    shows an estimate only where labels are still missing, and each one costs ``n_sim``
    simulated metrics over the window's events.
    """
    s = float_array(scores, "scores")
    windows, idx = window_index(float_array(ts_us, "ts"), window, start=start, end=end)
    # one stable sort gives every window's events in their original order
    order = np.argsort(idx, kind="stable")
    bounds = np.searchsorted(idx[order], np.arange(len(windows) + 1))
    wanted = None if only is None else set(only)
    out = []
    for w in range(len(windows)):
        sw = s[order[bounds[w] : bounds[w + 1]]]
        est = (
            estimate_metrics(
                sw,
                calibrator,
                threshold=threshold,
                metrics=metrics,
                n_sim=n_sim,
                seed=seed + w,
                confidence=confidence,
            )
            if (wanted is None or w in wanted) and np.isfinite(sw).sum() >= min_events
            else MappingProxyType({})
        )
        out.append(EstimatedWindow(w, windows.starts[w], windows.ends[w], int(sw.size), est))
    return tuple(out)
