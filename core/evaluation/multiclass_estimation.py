"""Estimated performance of a multiclass model where labels are missing (multiclass CBPE).

As the binary CBPE (:mod:`.estimation`), per class: the probability that an event belongs to
class ``k`` given its score ``pₖ`` is an isotonic fit on the reference's one-vs-rest labels
(:func:`.estimation.fit_calibrator`), and a row of calibrated probabilities is divided by its
sum, so it is a distribution again (NannyML's multiclass CBPE does the same). With ``q`` the
calibrated rows, the expected confusion matrix of a window is ``E[C[i, j]] = Σ q_i`` over
the events predicted ``j``; accuracy, balanced accuracy and the F1s are read off it; ROC AUC
is the binary estimate per class, averaged; Brier is ``E Σₖ (pₖ − yₖ)² = Σₖ pₖ² − 2 Σₖ qₖ pₖ
+ 1`` and log loss ``−Σₖ qₖ log pₖ``, averaged over events.

The same caveat holds: the estimate is valid while the score–label relation of the
reference holds. A shift of the class priors or the features it follows; a concept change
(the same scores meaning other outcomes) it cannot see. Interval: labels drawn ``n_sim``
times from ``q`` (the calibrators cycling through their bootstrap refits) and the metric
computed on each draw — a prediction interval for the value the labels will give.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from watchkeeper.core.evaluation.estimation import (
    Calibrator,
    EstimatedWindow,
    _expected,
    fit_calibrator,
    simulated_estimates,
)
from watchkeeper.core.evaluation.intervals import Estimate, missing
from watchkeeper.core.evaluation.metrics import EvaluationError, Prepared
from watchkeeper.core.evaluation.multiclass import Encoded, _from_confusion
from watchkeeper.core.evaluation.performance import window_index

if TYPE_CHECKING:
    from watchkeeper.core.telemetry.windows import WindowSpec

__all__ = [
    "MULTICLASS_ESTIMATED",
    "MulticlassCalibrator",
    "estimate_multiclass",
    "estimated_over_time_multiclass",
    "fit_multiclass_calibrator",
]

MULTICLASS_ESTIMATED = (
    "accuracy",
    "balanced_accuracy",
    "macro_f1",
    "weighted_f1",
    "roc_auc",
    "log_loss",
    "brier",
)
_EPS = float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class MulticlassCalibrator:
    """One one-vs-rest calibrator per class; rows renormalised to sum to 1."""

    classes: tuple[str, ...]
    per_class: tuple[Calibrator, ...]

    def __call__(self, p: np.ndarray, replicate: int | None = None) -> np.ndarray:
        q = np.column_stack([c(p[:, k], replicate) for k, c in enumerate(self.per_class)])
        return _normalised(q, p)

    def at(self, p: np.ndarray) -> Callable[[int | None], np.ndarray]:
        """``replicate -> self(p, replicate)``, each class's calibrator located at ``p``
        once (:meth:`.Calibrator.at`: the same values, without searching every call)."""
        located = [c.at(p[:, k]) for k, c in enumerate(self.per_class)]

        def read(replicate: int | None = None) -> np.ndarray:
            return _normalised(np.column_stack([at(replicate) for at in located]), p)

        return read


def _normalised(q: np.ndarray, p: np.ndarray) -> np.ndarray:
    total = q.sum(axis=1, keepdims=True)
    # a row every calibrator puts at 0 keeps the model's own probabilities
    return np.where(total > 0, q / np.where(total > 0, total, 1.0), p)


def fit_multiclass_calibrator(
    classes: Sequence[str], codes: Any, p: Any, *, n_boot: int = 50, seed: int = 0
) -> MulticlassCalibrator:
    """Per-class isotonic calibrators on the labeled reference (``codes``: class indices)."""
    y = np.asarray(codes, dtype=np.float64)
    probs = np.asarray(p, dtype=np.float64)
    ok = np.isfinite(y) & np.isfinite(probs).all(axis=1)
    fits = []
    for k, name in enumerate(classes):
        try:
            fits.append(
                fit_calibrator(
                    (y[ok] == k).astype(np.float64), probs[ok, k], n_boot=n_boot, seed=seed + k
                )
            )
        except EvaluationError:
            raise EvaluationError(
                f"the reference needs labeled events of class {name!r} and of the others "
                "to calibrate the estimate"
            ) from None
    return MulticlassCalibrator(tuple(classes), tuple(fits))


def _expected_metric(metric: str, enc: Encoded, q: np.ndarray, c: np.ndarray) -> float:
    if metric == "roc_auc":
        aucs = [_expected("roc_auc", Prepared(q[:, k], enc.p[:, k]), q[:, k]) for k in range(enc.k)]
        finite = [a for a in aucs if math.isfinite(a)]
        return float(np.mean(finite)) if len(finite) >= 2 else math.nan
    if metric == "brier":
        p = enc.p
        return float(np.mean((p**2).sum(axis=1) - 2 * (q * p).sum(axis=1) + 1.0))
    if metric == "log_loss":
        return float(np.mean(-(q * np.log(np.clip(enc.p, _EPS, 1.0))).sum(axis=1)))
    return _from_confusion(c)[metric]


def _realized(metric: str, enc: Encoded) -> float:
    if metric == "roc_auc":
        return enc.roc_auc()
    if metric == "brier":
        return float(enc.brier_terms.mean())
    if metric == "log_loss":
        return float(enc.log_loss_terms.mean())
    return _from_confusion(enc.confusion())[metric]


def estimate_multiclass(
    classes: Sequence[str],
    p: Any,
    calibrator: MulticlassCalibrator,
    *,
    predicted: Any = None,
    metrics: Sequence[str] = MULTICLASS_ESTIMATED,
    n_sim: int = 200,
    seed: int = 0,
    confidence: float = 0.95,
) -> Mapping[str, Estimate]:
    """Multiclass CBPE estimates with simulation prediction intervals (method ``"cbpe"``)."""
    for m in metrics:
        if m not in MULTICLASS_ESTIMATED:
            raise EvaluationError(
                f"{m!r} cannot be estimated; choose from {', '.join(MULTICLASS_ESTIMATED)}"
            )
    probs = np.asarray(p, dtype=np.float64).reshape(-1, len(classes))
    scored = np.isfinite(probs).all(axis=1)
    probs = probs[scored]
    n, k = probs.shape
    if n == 0:
        return MappingProxyType({m: missing(0, confidence) for m in metrics})
    pred = probs.argmax(axis=1)
    if predicted is not None:
        given = np.asarray(predicted, dtype=np.float64)[scored]
        pred = np.where(np.isfinite(given), np.nan_to_num(given), pred).astype(np.intp)
    located = calibrator.at(probs)
    q = located(None)
    expected_c = np.zeros((k, k))
    for j in range(k):
        expected_c[:, j] = q[pred == j].sum(axis=0)
    base = Encoded(tuple(classes), np.zeros(n, dtype=np.intp), pred, probs)
    values = {m: _expected_metric(m, base, q, expected_c) for m in metrics}
    rng = np.random.default_rng(seed)
    sims = {m: np.empty(n_sim) for m in metrics}
    for i in range(n_sim):
        q_i = located(i)
        draws = (rng.random((n, 1)) > np.cumsum(q_i, axis=1)).sum(axis=1)
        enc = Encoded(tuple(classes), np.minimum(draws, k - 1), pred, probs)
        for m in metrics:
            sims[m][i] = _realized(m, enc)
    return simulated_estimates(values, sims, n, confidence)


def estimated_over_time_multiclass(
    ts_us: Any,
    p: Any,
    calibrator: MulticlassCalibrator,
    *,
    predicted: Any = None,
    window: WindowSpec | str | None = None,
    metrics: Sequence[str] = MULTICLASS_ESTIMATED,
    min_events: int = 100,
    n_sim: int = 200,
    seed: int = 0,
    confidence: float = 0.95,
    only: Collection[int] | None = None,
) -> tuple[EstimatedWindow, ...]:
    """Estimated metrics per window (the windows of :func:`.performance_over_time`)."""
    t = np.asarray(ts_us, dtype=np.float64)
    probs = np.asarray(p, dtype=np.float64).reshape(t.size, len(calibrator.classes))
    pred = None if predicted is None else np.asarray(predicted, dtype=np.float64)
    windows, idx = window_index(t, window)
    order = np.argsort(idx, kind="stable")
    bounds = np.searchsorted(idx[order], np.arange(len(windows) + 1))
    wanted = None if only is None else set(only)
    out = []
    for w in range(len(windows)):
        rows = order[bounds[w] : bounds[w + 1]]
        est: Mapping[str, Estimate] = MappingProxyType({})
        if (wanted is None or w in wanted) and rows.size >= min_events:
            est = estimate_multiclass(
                calibrator.classes,
                probs[rows],
                calibrator,
                predicted=None if pred is None else pred[rows],
                metrics=metrics,
                n_sim=n_sim,
                seed=seed + w,
                confidence=confidence,
            )
        out.append(EstimatedWindow(w, windows.starts[w], windows.ends[w], int(rows.size), est))
    return tuple(out)
