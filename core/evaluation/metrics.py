"""Binary and regression metrics, each with a confidence interval, and label coverage.

Binary classification (``label`` 0/1, ``score`` a probability for the proper scoring rules):

========================  ==========================================  =====================
metric                    definition                                  interval
========================  ==========================================  =====================
``roc_auc``               Mann–Whitney, ties count one half           DeLong
``pr_auc``                average precision (scikit-learn's step sum) bootstrap
``precision``/``recall``  at ``score >= threshold``                   Wilson
``f1``                    at ``score >= threshold``                   bootstrap
``accuracy``              at ``score >= threshold``                   Wilson
``log_loss``              mean cross-entropy, scores clipped to       normal (CLT)
                          [eps, 1 - eps] with eps the float64 epsilon
``brier``                 mean squared error of the score             normal (CLT)
``ece``                   expected calibration error: 10 equal-width  bootstrap
                          bins on [0, 1] as scikit-learn's
                          ``calibration_curve`` cuts them (first bin
                          [0, 0.1], then (0.1, 0.2], ...), weighted
                          mean of |mean label − mean score| per bin
========================  ==========================================  =====================

Regression: ``mae``, ``rmse`` (square root of the MSE's normal interval) and ``bias``
(mean of prediction − target), with normal intervals.

A number that does not exist is ``None`` (AUC with one class present, precision with no
predicted positive, log loss of scores outside [0, 1]). Events without a label are not an
error: they count in :class:`LabelCoverage` and are left out of the metrics.

Every metric is computed by one weighted implementation on events sorted once by score
(:class:`Prepared`); the point value uses unit weights and the bootstrap uses multinomial
counts, so the value and its replicates can never disagree in definition.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any

import numpy as np

from watchkeeper.core.errors import WatchkeeperError
from watchkeeper.core.evaluation.intervals import (
    Estimate,
    Resample,
    bootstrap_resample,
    bounded_subsample,
    mean_interval,
    missing,
    percentile_interval,
    rescaled_replicates,
    wilson,
    z_value,
)

__all__ = [
    "BINARY_METRICS",
    "HIGHER_IS_BETTER",
    "NAMED_VALUES",
    "REGRESSION_METRICS",
    "BinaryMetrics",
    "DeLong",
    "EvaluationError",
    "LabelCoverage",
    "Prepared",
    "RegressionMetrics",
    "binary_metrics",
    "delong",
    "delong_paired",
    "evaluate",
    "float_array",
    "label_coverage",
    "metric_estimate",
    "named_values",
    "odd_labels_error",
    "refuse_odd_labels",
    "regression_metrics",
]

BINARY_METRICS = (
    "roc_auc",
    "pr_auc",
    "precision",
    "recall",
    "f1",
    "accuracy",
    "log_loss",
    "brier",
    "ece",
)
REGRESSION_METRICS = ("mae", "rmse", "bias")
HIGHER_IS_BETTER: Mapping[str, bool] = MappingProxyType(
    {
        "roc_auc": True,
        "pr_auc": True,
        "precision": True,
        "recall": True,
        "f1": True,
        "accuracy": True,
        "log_loss": False,
        "brier": False,
        "ece": False,
        "mae": False,
        "rmse": False,
        "bias": False,  # judged by its absolute value
        # multiclass (core/evaluation/multiclass.py); accuracy, roc_auc, log_loss, brier above
        "balanced_accuracy": True,
        "macro_f1": True,
        "weighted_f1": True,
    }
)
ECE_BINS = 10
DEFAULT_BOOT = 500
_EPS = float(np.finfo(np.float64).eps)


class EvaluationError(WatchkeeperError):
    """Input a performance analysis cannot use; the message says what and where."""


# -- input ----------------------------------------------------------------------------


def float_array(values: Any, what: str = "values") -> np.ndarray:
    """A float64 numpy array with NaN for missing, from numpy, pandas, Arrow or lists."""
    if values is None:
        raise EvaluationError(f"no {what} given")
    if hasattr(values, "to_numpy") and hasattr(values, "type") and hasattr(values, "null_count"):
        import pyarrow as pa
        import pyarrow.compute as pc

        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks() if values.num_chunks else pa.array([], pa.float64())
        if pa.types.is_boolean(values.type) or pa.types.is_integer(values.type):
            values = pc.cast(values, pa.float64())
        try:
            return np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)
        except (TypeError, ValueError, pa.ArrowInvalid):
            raise EvaluationError(f"{what} must be numbers, found type {values.type}") from None
    if hasattr(values, "to_numpy") and hasattr(values, "dtype"):  # pandas
        try:
            return np.asarray(values.to_numpy(dtype=np.float64, na_value=np.nan))
        except (TypeError, ValueError):
            raise EvaluationError(f"{what} must be numbers") from None
    try:
        arr = np.asarray(values, dtype=object if _has_none(values) else None)
        if arr.dtype == object:
            arr = np.array([np.nan if v is None else v for v in arr.ravel()], dtype=np.float64)
        return np.asarray(arr, dtype=np.float64)
    except (TypeError, ValueError):
        raise EvaluationError(f"{what} must be numbers") from None


def _has_none(values: Any) -> bool:
    return isinstance(values, (list, tuple)) and any(v is None for v in values)


def _check_binary(y: np.ndarray, what: str = "label") -> None:
    bad = np.flatnonzero(~np.isnan(y) & (y != 0) & (y != 1))
    if bad.size:
        more = f" and {bad.size - 1} more" if bad.size > 1 else ""
        raise EvaluationError(
            f"a binary {what} must be 0 or 1; found {y[bad[0]]:g} (event {bad[0] + 1}){more}"
        )


#: A refusal of labels that are not the model's names at most this many of their distinct
#: values, the lowest first, on every engine (one more is read to say there are more).
NAMED_VALUES = 3


def named_values(texts: Sequence[str]) -> str:
    """The first :data:`NAMED_VALUES` of ``texts``, and "…" when there are more."""
    more = ", …" if len(texts) > NAMED_VALUES else ""
    return ", ".join(texts[:NAMED_VALUES]) + more


def odd_labels_error(
    count: int, values: Sequence[float], column: str | None = None
) -> EvaluationError:
    """Binary labels other than 0 and 1 refused in the same words whichever engine counted
    them: ``count`` labeled events, ``values`` their distinct values from the lowest."""
    where = f" (column {column!r})" if column else ""
    return EvaluationError(
        f"a binary label must be 0 or 1; {count:,} labeled event(s) have another value: "
        f"{named_values([f'{v:g}' for v in values])}{where}"
    )


def refuse_odd_labels(labels: Any, column: str | None = None) -> None:
    """Raise :func:`odd_labels_error` when any of ``labels`` (NaN: unlabeled) is not 0 or 1.

    Every stored label counts, arrived by an ``as_of`` or not, in a window with enough labels
    or not: what the database counts when it refuses them (the sums there would take a 2 for
    two positives), so both engines refuse the same log in the same words."""
    y = float_array(labels, "labels")
    bad = ~np.isnan(y) & (y != 0) & (y != 1)
    if bad.any():
        values = np.unique(y[bad])[: NAMED_VALUES + 1]
        raise odd_labels_error(int(bad.sum()), values.tolist(), column)


# -- label coverage -------------------------------------------------------------------


@dataclass(frozen=True)
class LabelCoverage:
    """How many events have a label, and how late labels came (hours after the event).

    ``lag_hours`` holds the 10th, 50th, 90th percentiles and the maximum of
    ``label_ts - ts`` over labeled events with both times (``None`` without label times).
    """

    events: int
    labeled: int
    lag_hours: Mapping[str, float | None] = field(
        default_factory=lambda: MappingProxyType(
            {"p10": None, "p50": None, "p90": None, "max": None}
        )
    )

    @property
    def share(self) -> float | None:
        return self.labeled / self.events if self.events else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "labeled": self.labeled,
            "share": self.share,
            "lag_hours": dict(self.lag_hours),
        }


def label_coverage(
    labels: np.ndarray, ts_us: np.ndarray | None = None, label_ts_us: np.ndarray | None = None
) -> LabelCoverage:
    """Coverage of ``labels`` (NaN = not yet labeled); times as epoch µs (NaN/None = missing)."""
    y = float_array(labels, "labels")
    labeled = ~np.isnan(y)
    lags: dict[str, float | None] = {"p10": None, "p50": None, "p90": None, "max": None}
    if ts_us is not None and label_ts_us is not None:
        t0 = float_array(ts_us, "ts")
        t1 = float_array(label_ts_us, "label_ts")
        ok = labeled & np.isfinite(t0) & np.isfinite(t1)
        if ok.any():
            lag = (t1[ok] - t0[ok]) / 3.6e9
            q = np.quantile(lag, [0.1, 0.5, 0.9])
            lags = {
                "p10": float(q[0]),
                "p50": float(q[1]),
                "p90": float(q[2]),
                "max": float(lag.max()),
            }
    return LabelCoverage(int(y.size), int(labeled.sum()), MappingProxyType(lags))


# -- the weighted implementations -----------------------------------------------------


class Prepared:
    """Labeled events (``y``, ``s``) sorted once by descending score, for weighted metrics.

    ``w`` (a weight per event in the *original* order, e.g. bootstrap counts) is optional in
    every method; ``None`` means unit weights. ``threshold`` is the operating threshold.
    """

    def __init__(self, y: np.ndarray, s: np.ndarray, threshold: float = 0.5) -> None:
        self.y = np.asarray(y, dtype=np.float64)
        self.s = np.asarray(s, dtype=np.float64)
        self.n = self.y.size
        self.threshold = float(threshold)

    @cached_property
    def delong(self) -> DeLong | None:
        """:func:`delong` of these events, computed once (a comparison asks for each
        version's alone and for the pair's)."""
        return _delong_of(self)

    def subset(self, keep: np.ndarray) -> Prepared:
        """These events where the boolean ``keep`` holds, or at the increasing indices
        ``keep`` (a slice, a bounded bootstrap's subsample), prepared alike. The subset's
        order is this one's restricted to it: the stable sort of the subset itself (ties
        stay in index order), without sorting again."""
        mask = keep if keep.dtype == np.bool_ else np.zeros(self.n, dtype=np.bool_)
        if keep.dtype != np.bool_:
            mask[keep] = True
        sub = Prepared(self.y[mask], self.s[mask], self.threshold)
        if "order" in self.__dict__:  # else the subset sorts itself, as cheap
            position = np.cumsum(mask, dtype=np.intp) - 1  # an event's index in the subset
            order = self.order
            sub.__dict__["order"] = position[order[mask[order]]]
        return sub

    @cached_property
    def order(self) -> np.ndarray:
        return np.argsort(-self.s, kind="stable")

    @cached_property
    def _sorted(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        s = self.s[self.order]
        y = self.y[self.order]
        change = np.flatnonzero(np.diff(s) != 0) + 1
        starts = np.concatenate(([0], change)).astype(np.intp)
        return s, y, starts, np.diff(np.append(starts, self.n))

    @cached_property
    def n_predicted(self) -> int:
        """Events with ``score >= threshold`` (a prefix of the sorted order)."""
        s = self._sorted[0]
        return int(np.searchsorted(-s, -self.threshold, side="right"))

    @cached_property
    def is_probability(self) -> bool:
        return bool(self.n == 0 or (self.s.min() >= 0.0 and self.s.max() <= 1.0))

    @cached_property
    def ece_bins(self) -> np.ndarray:
        edges = np.linspace(0.0, 1.0, ECE_BINS + 1)
        return np.searchsorted(edges[1:-1], self.s)

    @cached_property
    def binary_labels(self) -> bool:
        """Whether every label is 0 or 1 (then drawn replicates are counted by group)."""
        return bool(np.all((self.y == 0.0) | (self.y == 1.0)))

    @cached_property
    def _group_codes(self) -> np.ndarray:
        """Per event (original order): its distinct-score group, plus G for a positive."""
        _, _, starts, sizes = self._sorted
        g = np.empty(self.n, dtype=np.intp)
        g[self.order] = np.repeat(np.arange(starts.size, dtype=np.intp), sizes)
        return g + starts.size * (self.y == 1.0)

    @cached_property
    def _cell_codes(self) -> np.ndarray:
        """Per event (original order): 2 × predicted (``score >= threshold``) + label."""
        predicted = np.zeros(self.n, dtype=np.intp)
        predicted[self.order[: self.n_predicted]] = 2
        return predicted + (self.y == 1.0)

    @cached_property
    def _cell_bytes(self) -> np.ndarray:
        """:attr:`_cell_codes` as bytes."""
        return self._cell_codes.astype(np.uint8)

    def _drawn_groups(self, draw: Resample) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`_groups` of a replicate's counts, from the draws' groups alone. Exact:
        the weights are whole counts, so every per-group sum is an integer below 2⁵³ in any
        order, and the arrays equal the weighted path's element by element."""
        groups = self._sorted[2].size
        counts = np.bincount(self._group_codes[draw.idx], minlength=2 * groups)
        counts = counts.astype(np.float64)
        return counts[groups:], counts[:groups]

    @cached_property
    def _positive_segments(self) -> tuple[np.ndarray, np.ndarray]:
        """The distinct-score groups holding a positive (``P``, increasing: ``K`` of them),
        and per event (original order) its code among ``2 (K + 1)``: a positive, ``K + 1``
        plus its group's place in ``P``; a negative, the place of the first group of ``P``
        at or after its own (``K``: after them all). A replicate's draws counted by these
        codes give its positives per group of ``P`` and, summed up, its negatives at or
        before each of them: all :meth:`pr_auc` needs."""
        groups = self._sorted[2].size
        code = self._group_codes
        positive = code >= groups
        group = np.where(positive, code - groups, code)
        held = np.flatnonzero(np.bincount(group[positive], minlength=groups))
        place = np.searchsorted(held, group)
        return held, np.where(positive, held.size + 1 + place, place)

    def _drawn_pr_auc(self, draw: Resample) -> float:
        """:meth:`pr_auc` of a replicate from its draws, counted on the groups holding a
        positive only. Bit for bit the per-group computation's value: the counts are whole
        numbers (exact in any order); each term of the sum is the same operation on the same
        numbers at a group holding a positive, and exactly +0.0 elsewhere (recall does not
        move there, and precision is finite), so the summed array is the same array."""
        held, codes = self._positive_segments
        k = held.size
        counts = np.bincount(codes[draw.idx], minlength=2 * (k + 1))
        tp = np.cumsum(counts[k + 1 : 2 * k + 1]).astype(np.float64)
        p = float(tp[-1]) if k else 0.0
        if p <= 0:
            return math.nan
        denom = tp + np.cumsum(counts[:k]).astype(np.float64)
        precision = np.divide(tp, denom, out=np.zeros_like(tp), where=denom > 0)
        recall = tp / p
        terms = np.zeros(self._sorted[2].size)
        terms[held] = (recall - np.concatenate(([0.0], recall[:-1]))) * precision
        return float(np.sum(terms))

    def drawn_confusion(self, draw: Resample) -> tuple[float, float, float, float]:
        """:meth:`confusion` of a replicate's counts, from the draws' cells alone (exact)."""
        cells = self._cell_bytes[draw.idx]  # one byte a draw: counted faster than binned
        tp = float(np.count_nonzero(cells == 3))
        pos = float(np.count_nonzero(cells & 1))
        pred = float(np.count_nonzero(cells >= 2))
        total = float(draw.n)
        return tp, pred - tp, pos - tp, total - pred - (pos - tp)

    def _groups(
        self, w: np.ndarray | None, draw: Resample | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Positive and negative weight per distinct score, in descending score order."""
        _, y, starts, _sizes = self._sorted
        if self.n == 0:
            return np.zeros(0), np.zeros(0)
        if draw is not None:
            return self._drawn_groups(draw)
        ws = np.ones(self.n) if w is None else w[self.order]
        pos = ws * y
        neg = ws - pos
        if starts.size == self.n:  # no tied scores: every event is its own group
            return pos, neg
        return np.add.reduceat(pos, starts), np.add.reduceat(neg, starts)

    def roc_auc(self, w: np.ndarray | None = None, draw: Resample | None = None) -> float:
        pos, neg = self._groups(w, draw)
        p, q = pos.sum(), neg.sum()
        if p <= 0 or q <= 0:
            return math.nan
        below = q - np.cumsum(neg)
        return float(np.sum(pos * (below + 0.5 * neg)) / (p * q))

    def pr_auc(self, w: np.ndarray | None = None, draw: Resample | None = None) -> float:
        if draw is not None and self.n:
            return self._drawn_pr_auc(draw)
        pos, neg = self._groups(w, draw)
        p = pos.sum()
        if p <= 0:
            return math.nan
        tp, fp = np.cumsum(pos), np.cumsum(neg)
        denom = tp + fp
        precision = np.divide(tp, denom, out=np.zeros_like(tp), where=denom > 0)
        recall = tp / p
        return float(np.sum(np.diff(recall, prepend=0.0) * precision))

    def confusion(
        self, w: np.ndarray | None = None, draw: Resample | None = None
    ) -> tuple[float, float, float, float]:
        """(TP, FP, FN, TN) at ``score >= threshold``."""
        if draw is not None:
            return self.drawn_confusion(draw)
        _, y, _, _ = self._sorted
        k = self.n_predicted
        ws = np.ones(self.n) if w is None else w[self.order]
        wy = ws * y
        tp, pos = float(wy[:k].sum()), float(wy.sum())
        pred = float(ws[:k].sum())
        total = float(ws.sum())
        return tp, pred - tp, pos - tp, total - pred - (pos - tp)

    def precision(self, w: np.ndarray | None = None, draw: Resample | None = None) -> float:
        tp, fp, _, _ = self.confusion(w, draw)
        return tp / (tp + fp) if tp + fp > 0 else math.nan

    def recall(self, w: np.ndarray | None = None, draw: Resample | None = None) -> float:
        tp, _, fn, _ = self.confusion(w, draw)
        return tp / (tp + fn) if tp + fn > 0 else math.nan

    def f1(self, w: np.ndarray | None = None, draw: Resample | None = None) -> float:
        tp, fp, fn, _ = self.confusion(w, draw)
        return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn > 0 else math.nan

    def accuracy(self, w: np.ndarray | None = None, draw: Resample | None = None) -> float:
        tp, fp, fn, tn = self.confusion(w, draw)
        total = tp + fp + fn + tn
        return (tp + tn) / total if total > 0 else math.nan

    def _mean(self, terms: np.ndarray, w: np.ndarray | None) -> float:
        if w is None:
            return float(terms.mean()) if terms.size else math.nan
        total = w.sum()
        return float(np.dot(w, terms) / total) if total > 0 else math.nan

    @cached_property
    def log_loss_terms(self) -> np.ndarray:
        p = np.clip(self.s, _EPS, 1.0 - _EPS)
        return -(self.y * np.log(p) + (1.0 - self.y) * np.log1p(-p))

    def log_loss(self, w: np.ndarray | None = None) -> float:
        return self._mean(self.log_loss_terms, w) if self.is_probability else math.nan

    def brier(self, w: np.ndarray | None = None) -> float:
        return self._mean((self.s - self.y) ** 2, w) if self.is_probability else math.nan

    def ece(self, w: np.ndarray | None = None) -> float:
        if not self.is_probability or self.n == 0:
            return math.nan
        ws = np.ones(self.n) if w is None else w
        total = ws.sum()
        if total <= 0:
            return math.nan
        sum_y = np.bincount(self.ece_bins, ws * self.y, ECE_BINS)
        sum_s = np.bincount(self.ece_bins, ws * self.s, ECE_BINS)
        return float(np.abs(sum_y - sum_s).sum() / total)

    # regression: y is the target, s the prediction
    def mae(self, w: np.ndarray | None = None) -> float:
        return self._mean(np.abs(self.s - self.y), w)

    def rmse(self, w: np.ndarray | None = None) -> float:
        return math.sqrt(self._mean((self.s - self.y) ** 2, w))

    def bias(self, w: np.ndarray | None = None) -> float:
        return self._mean(self.s - self.y, w)


MetricFunction = Callable[[Prepared, "np.ndarray | None"], float]


#: Metrics a bootstrap replicate evaluates from its draws' groups (binary labels only).
_BY_DRAW = frozenset({"roc_auc", "pr_auc", "precision", "recall", "f1", "accuracy"})


def evaluate(
    name: str | MetricFunction, prep: Prepared, w: np.ndarray | Resample | None = None
) -> float:
    """The metric ``name`` (or a callable ``f(prep, w)``) on prepared events; NaN if none.

    ``w`` may be a bootstrap :class:`~.intervals.Resample`: the same value as its counts.
    """
    draw: Resample | None = None
    weights: np.ndarray | None
    if isinstance(w, Resample):
        draw = w
        weights = w.counts() if callable(name) or name not in _BY_DRAW else None
    else:
        weights = w
    if callable(name):
        return float(name(prep, weights))
    if name not in HIGHER_IS_BETTER:
        raise EvaluationError(f"unknown metric {name!r}; choose from {', '.join(HIGHER_IS_BETTER)}")
    if prep.n == 0:
        return math.nan
    if draw is not None and weights is None:
        if prep.binary_labels:
            return float(getattr(prep, name)(None, draw))
        weights = draw.counts()
    return float(getattr(prep, name)(weights))


# -- DeLong ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DeLong:
    """ROC AUC with DeLong's variance: the placement values of positives and negatives.

    ``v10[i]`` is the share of negatives a positive outscores (ties one half), ``v01[j]`` the
    share of positives scoring above a negative; AUC is the mean of either, and its variance
    ``var(v10)/m + var(v01)/n`` (DeLong, DeLong & Clarke-Pearson 1988).
    """

    auc: float
    variance: float
    v10: np.ndarray
    v01: np.ndarray

    @property
    def se(self) -> float:
        return math.sqrt(self.variance) if self.variance >= 0 else math.nan


def _placements(prep: Prepared) -> tuple[np.ndarray, np.ndarray]:
    pos, neg = prep._groups(None)
    p, q = pos.sum(), neg.sum()
    _, y, _, sizes = prep._sorted
    below = q - np.cumsum(neg)
    above = np.cumsum(pos) - pos
    v_pos = np.repeat((below + 0.5 * neg) / q, sizes)  # per sorted event
    v_neg = np.repeat((above + 0.5 * pos) / p, sizes)
    is_pos = y == 1
    # back to the original order so paired placements line up event by event
    inv = np.empty(prep.n, dtype=np.intp)
    inv[prep.order] = np.arange(prep.n)
    v_pos, v_neg, is_pos = v_pos[inv], v_neg[inv], is_pos[inv]
    return v_pos[is_pos], v_neg[~is_pos]


def delong(labels: np.ndarray | Prepared, scores: np.ndarray | None = None) -> DeLong | None:
    """AUC and DeLong's variance; ``None`` unless both classes have at least two events.

    ``labels`` may be a :class:`Prepared` (then ``scores`` is not given).
    """
    if isinstance(labels, Prepared):
        return labels.delong
    if scores is None:
        raise EvaluationError("delong needs scores with the labels")
    return Prepared(labels, scores).delong


def _delong_of(prep: Prepared) -> DeLong | None:
    m = int((prep.y == 1).sum())
    n = prep.n - m
    if m < 2 or n < 2:
        return None
    v10, v01 = _placements(prep)
    auc = float(v10.mean())
    var = float(v10.var(ddof=1) / m + v01.var(ddof=1) / n)
    return DeLong(auc, var, v10, v01)


@dataclass(frozen=True)
class PairedDeLong:
    """Two AUCs on the same events and DeLong's test of their difference (b − a)."""

    auc_a: float
    auc_b: float
    diff: float
    variance: float
    z: float | None
    p_value: float | None

    def interval(self, confidence: float = 0.95) -> tuple[float | None, float | None]:
        if not self.variance > 0:
            return None, None
        half = z_value(confidence) * math.sqrt(self.variance)
        return self.diff - half, self.diff + half


def delong_paired(
    labels: np.ndarray,
    scores_a: np.ndarray | Prepared,
    scores_b: np.ndarray | Prepared,
) -> PairedDeLong | None:
    """DeLong's test for two correlated ROC AUCs (same events, two score columns; or the
    two versions' :class:`Prepared` events, whose ``y`` are ``labels``)."""
    from scipy import special

    y = np.asarray(labels, dtype=np.float64)
    a = delong(scores_a if isinstance(scores_a, Prepared) else Prepared(y, scores_a))
    b = delong(scores_b if isinstance(scores_b, Prepared) else Prepared(y, scores_b))
    if a is None or b is None:
        return None
    m, n = a.v10.size, a.v01.size
    d10 = b.v10 - a.v10
    d01 = b.v01 - a.v01
    var = float(d10.var(ddof=1) / m + d01.var(ddof=1) / n)
    diff = b.auc - a.auc
    if var > 0:
        z = diff / math.sqrt(var)
        p = float(2 * special.ndtr(-abs(z)))
    else:
        z, p = None, None
    return PairedDeLong(a.auc, b.auc, diff, var, z, p)


# -- metrics with intervals -----------------------------------------------------------


_BOOTSTRAPPED = ("pr_auc", "f1", "ece")


def metric_estimate(
    name: str,
    prep: Prepared,
    *,
    confidence: float = 0.95,
    n_boot: int = DEFAULT_BOOT,
    seed: int = 0,
    max_events: int | None = None,
) -> Estimate:
    """One metric with its interval (the method the module's table gives). ``max_events``:
    a bootstrap above that many events is bounded (:data:`~.intervals.BOOT_EVENTS`)."""
    n = prep.n
    value = evaluate(name, prep)
    if not math.isfinite(value):
        return missing(n, confidence)
    if name == "roc_auc":
        d = delong(prep)
        if d is None or not d.variance >= 0:
            return Estimate(value, None, None, "delong", n, confidence)
        half = z_value(confidence) * d.se
        return Estimate(
            value, max(0.0, value - half), min(1.0, value + half), "delong", n, confidence
        )
    if name in ("precision", "recall", "accuracy"):
        tp, fp, fn, tn = prep.confusion()
        k, total = {
            "precision": (tp, tp + fp),
            "recall": (tp, tp + fn),
            "accuracy": (tp + tn, tp + fp + fn + tn),
        }[name]
        return wilson(k, total, confidence)
    if name in ("log_loss", "brier", "mae", "bias"):
        terms = {
            "log_loss": lambda: prep.log_loss_terms,
            "brier": lambda: (prep.s - prep.y) ** 2,
            "mae": lambda: np.abs(prep.s - prep.y),
            "bias": lambda: prep.s - prep.y,
        }[name]()
        return mean_interval(terms, confidence)
    if name == "rmse":
        mse = mean_interval((prep.s - prep.y) ** 2, confidence)
        lo = None if mse.lower is None else math.sqrt(max(mse.lower, 0.0))
        hi = None if mse.upper is None else math.sqrt(mse.upper)
        return Estimate(value, lo, hi, "normal", n, confidence)
    # bootstrap()'s replicates, drawn alike, evaluated from the draws (see Resample)
    rng = np.random.default_rng(seed)
    sub = bounded_subsample(rng, n, max_events)
    target = prep if sub is None else prep.subset(sub)
    reps = np.empty(n_boot)
    for b in range(n_boot):
        reps[b] = evaluate(name, target, bootstrap_resample(rng, target.n))
    if sub is not None:
        reps = rescaled_replicates(reps, value, evaluate(name, target), target.n, n)
    return percentile_interval(value, reps, n, confidence)


def _bootstrap_many(
    names: tuple[str, ...],
    prep: Prepared,
    confidence: float,
    n_boot: int,
    seed: int,
    max_events: int | None = None,
) -> dict[str, Estimate]:
    """Several bootstrapped metrics from the same replicates (one draw per replicate);
    above ``max_events`` events bounded as :func:`metric_estimate` bounds one."""
    if not names:
        return {}
    values = {k: evaluate(k, prep) for k in names}
    reps = {k: np.empty(n_boot) for k in names}
    rng = np.random.default_rng(seed)
    sub = bounded_subsample(rng, prep.n, max_events)
    target = prep if sub is None else prep.subset(sub)
    for b in range(n_boot):
        w = bootstrap_resample(rng, target.n)
        for k in names:
            reps[k][b] = evaluate(k, target, w) if math.isfinite(values[k]) else math.nan
    if sub is not None:
        for k in names:
            reps[k] = rescaled_replicates(reps[k], values[k], evaluate(k, target), target.n, prep.n)
    return {
        k: percentile_interval(
            values[k] if math.isfinite(values[k]) else None, reps[k], prep.n, confidence
        )
        for k in names
    }


@dataclass(frozen=True)
class BinaryMetrics:
    """Binary-classification metrics of one set of events, with coverage and intervals."""

    threshold: float
    coverage: LabelCoverage
    positives: int
    metrics: Mapping[str, Estimate]
    scores_missing: int = 0

    @property
    def labeled(self) -> int:
        return self.coverage.labeled

    def __getitem__(self, name: str) -> Estimate:
        return self.metrics[name]

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "coverage": self.coverage.to_dict(),
            "positives": self.positives,
            "scores_missing": self.scores_missing,
            "metrics": {k: v.to_dict() for k, v in self.metrics.items()},
        }


def binary_metrics(
    labels: Any,
    scores: Any,
    *,
    threshold: float = 0.5,
    confidence: float = 0.95,
    metrics: tuple[str, ...] = BINARY_METRICS,
    n_boot: int = DEFAULT_BOOT,
    seed: int = 0,
    ts_us: Any = None,
    label_ts_us: Any = None,
    max_events: int | None = None,
) -> BinaryMetrics:
    """Binary metrics on the labeled events among ``labels``/``scores`` (NaN label: unlabeled).

    Events whose score is missing are counted in ``scores_missing`` and left out.
    ``max_events``: a bootstrapped interval above that many events is bounded
    (:data:`~.intervals.BOOT_EVENTS`; the exact value is still every event's).
    """
    y = float_array(labels, "labels")
    s = float_array(scores, "scores")
    if y.shape != s.shape:
        raise EvaluationError(f"{y.size} labels but {s.size} scores")
    _check_binary(y)
    coverage = label_coverage(y, ts_us, label_ts_us)
    ok = ~np.isnan(y) & np.isfinite(s)
    missing_scores = int((~np.isnan(y) & ~np.isfinite(s)).sum())
    prep = Prepared(y[ok], s[ok], threshold)
    for name in metrics:
        if name not in BINARY_METRICS:
            raise EvaluationError(f"{name!r} is not a binary metric ({', '.join(BINARY_METRICS)})")
    boot = _bootstrap_many(
        tuple(k for k in metrics if k in _BOOTSTRAPPED), prep, confidence, n_boot, seed, max_events
    )
    out = {
        k: boot[k] if k in boot else metric_estimate(k, prep, confidence=confidence, seed=seed)
        for k in metrics
    }
    return BinaryMetrics(
        float(threshold),
        coverage,
        int(prep.y.sum()),
        MappingProxyType(out),
        missing_scores,
    )


@dataclass(frozen=True)
class RegressionMetrics:
    coverage: LabelCoverage
    metrics: Mapping[str, Estimate]

    def __getitem__(self, name: str) -> Estimate:
        return self.metrics[name]

    def to_dict(self) -> dict[str, Any]:
        return {
            "coverage": self.coverage.to_dict(),
            "metrics": {k: v.to_dict() for k, v in self.metrics.items()},
        }


def regression_metrics(
    targets: Any,
    predictions: Any,
    *,
    confidence: float = 0.95,
    ts_us: Any = None,
    label_ts_us: Any = None,
) -> RegressionMetrics:
    """MAE, RMSE and bias (prediction − target) on events with a target, normal intervals."""
    y = float_array(targets, "targets")
    s = float_array(predictions, "predictions")
    if y.shape != s.shape:
        raise EvaluationError(f"{y.size} targets but {s.size} predictions")
    coverage = label_coverage(y, ts_us, label_ts_us)
    ok = np.isfinite(y) & np.isfinite(s)
    prep = Prepared(y[ok], s[ok])
    out = {k: metric_estimate(k, prep, confidence=confidence) for k in REGRESSION_METRICS}
    return RegressionMetrics(coverage, MappingProxyType(out))
