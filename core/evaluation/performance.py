"""Realized performance per window, as labels arrive.

Windows are cut exactly as the drift engine cuts them (:mod:`watchkeeper.core.telemetry.windows`:
none = one window, ``1d``/``6h``/``7d`` calendar-aligned in UTC, ``5000rows``), by the time
of the *request*. Each window reports its events, its label coverage (share labeled and the
label-lag distribution) and, when it has at least ``min_labeled`` labeled events, its
metrics with intervals; otherwise its status is ``insufficient`` and its metrics are
missing. Late labels are normal: ``as_of`` replays what was known at a time (labels whose
``label_ts`` is later count as not yet arrived).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from watchkeeper.core.evaluation.intervals import Estimate
from watchkeeper.core.evaluation.metrics import (
    BINARY_METRICS,
    REGRESSION_METRICS,
    BinaryMetrics,
    EvaluationError,
    LabelCoverage,
    RegressionMetrics,
    binary_metrics,
    float_array,
    label_coverage,
    refuse_odd_labels,
    regression_metrics,
)
from watchkeeper.core.evaluation.multiclass import (
    MULTICLASS_METRICS,
    ConfusionMatrix,
    MulticlassMetrics,
    metrics_of_codes,
)

if TYPE_CHECKING:
    from watchkeeper.core.telemetry.windows import WindowSpec

__all__ = [
    "PerformanceResult",
    "WindowPerformance",
    "available_labels",
    "performance_over_time",
    "window_index",
]


@dataclass(frozen=True)
class WindowPerformance:
    """One window: bounds, events, label coverage, status and metrics (empty if insufficient)."""

    index: int
    start: dt.datetime | None
    end: dt.datetime | None
    events: int
    coverage: LabelCoverage
    status: str  # "ok" or "insufficient"
    metrics: Mapping[str, Estimate]
    #: a multiclass model's window: precision and recall per class, and the confusion matrix
    per_class: Mapping[str, Mapping[str, Estimate]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    confusion: ConfusionMatrix | None = None

    def value(self, metric: str) -> float | None:
        est = self.metrics.get(metric)
        return None if est is None else est.value

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "start": self.start,
            "end": self.end,
            "events": self.events,
            "coverage": self.coverage.to_dict(),
            "status": self.status,
            "metrics": {k: v.to_dict() for k, v in self.metrics.items()},
            **self._multiclass_dict(),
        }

    def _multiclass_dict(self) -> dict[str, Any]:
        if self.confusion is None:
            return {}
        return {
            "per_class": {
                c: {k: v.to_dict() for k, v in m.items()} for c, m in self.per_class.items()
            },
            "confusion": self.confusion.to_dict(),
        }


@dataclass(frozen=True)
class PerformanceResult:
    """Performance per window, in window order."""

    window: str | None
    task: str
    threshold: float
    windows: tuple[WindowPerformance, ...]
    #: how a number was had where it is not the in-memory one (a pushed-down analysis)
    notes: tuple[str, ...] = ()

    def series(self, metric: str) -> np.ndarray:
        """``(W, 3)``: value, lower, upper per window (NaN where missing)."""
        out = np.full((len(self.windows), 3), np.nan)
        for i, w in enumerate(self.windows):
            e = w.metrics.get(metric)
            if e is not None:
                out[i] = [np.nan if x is None else x for x in (e.value, e.lower, e.upper)]
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "window": self.window,
            "task": self.task,
            "threshold": self.threshold,
            "windows": [w.to_dict() for w in self.windows],
            **({"notes": list(self.notes)} if self.notes else {}),
        }


def available_labels(
    labels: np.ndarray, label_ts_us: np.ndarray | None, as_of: dt.datetime | None
) -> np.ndarray:
    """``labels`` with those not yet arrived at ``as_of`` set to NaN."""
    y = float_array(labels, "labels").copy()
    if as_of is None:
        return y
    if label_ts_us is None:
        raise EvaluationError("as_of needs the label arrival times (label_ts)")
    from watchkeeper.core.times import to_us

    cut = float(to_us(as_of))
    t = float_array(label_ts_us, "label_ts")
    y[~(t <= cut)] = np.nan  # NaN arrival time: unknown, so not known at as_of either
    return y


def window_index(
    ts_us: np.ndarray,
    window: WindowSpec | str | None,
    *,
    start: dt.datetime | str | None = None,
    end: dt.datetime | str | None = None,
) -> tuple[Any, np.ndarray]:
    """The drift engine's windows over ``ts_us`` and each event's window (-1: outside)."""
    from watchkeeper.core.telemetry.windows import (
        NULL_TS,
        assign_windows,
        parse_window,
        plan_windows,
    )
    from watchkeeper.core.times import to_us

    t = float_array(ts_us, "ts")
    ts = np.where(np.isfinite(t), t, float(NULL_TS)).astype(np.int64)
    known = ts[ts != NULL_TS]
    lo = to_us(start)
    hi = to_us(end)
    windows = plan_windows(
        parse_window(window),
        int(known.min()) if known.size else None,
        int(known.max()) if known.size else None,
        n_rows=int(ts.size),
        start=lo,
        end=hi,
    )
    idx = assign_windows(windows, ts)
    if windows.spec.kind != "time":  # "all" and row windows: apply start/end as a filter
        inside = np.ones(ts.size, dtype=bool)
        if lo is not None:
            inside &= ts >= lo
        if hi is not None:
            inside &= (ts < hi) & (ts != NULL_TS)
        idx = np.where(inside, idx, -1)
    return windows, idx


def performance_over_time(
    ts_us: Any,
    labels: Any,
    scores: Any,
    *,
    window: WindowSpec | str | None = None,
    start: dt.datetime | str | None = None,
    end: dt.datetime | str | None = None,
    task: str = "binary",
    threshold: float = 0.5,
    metrics: Sequence[str] | None = None,
    min_labeled: int = 100,
    label_ts_us: Any = None,
    as_of: dt.datetime | None = None,
    confidence: float = 0.95,
    n_boot: int = 200,
    seed: int = 0,
    classes: Sequence[str] = (),
    predicted: Any = None,
    label_column: str | None = None,
) -> PerformanceResult:
    """Realized metrics with intervals per window (see the module docstring).

    ``ts_us``/``label_ts_us`` are epoch microseconds (floats; NaN = missing); ``labels`` NaN
    where not (yet) labeled. A multiclass model (``task = "multiclass"``) gives its labels
    (and optionally ``predicted``) as :func:`.multiclass.class_codes` of ``classes`` and its
    ``scores`` as the ``n × k`` class probabilities. A binary label other than 0 or 1 is
    refused (:func:`~.metrics.refuse_odd_labels`; ``label_column`` named in the refusal).
    """
    defaults = {
        "binary": BINARY_METRICS,
        "multiclass": MULTICLASS_METRICS,
        "regression": REGRESSION_METRICS,
    }
    if task not in defaults:
        raise EvaluationError(f"task must be one of {', '.join(defaults)}, not {task!r}")
    chosen = tuple(metrics or defaults[task])
    t = float_array(ts_us, "ts")
    lt = None if label_ts_us is None else float_array(label_ts_us, "label_ts")
    y = available_labels(labels, lt, as_of)
    if task == "multiclass":
        s = np.asarray(scores, dtype=np.float64).reshape(t.size, len(classes))
        scored = np.asarray(np.isfinite(s).all(axis=1), dtype=bool)
        pred = None if predicted is None else float_array(predicted, "predictions")
    else:
        s = float_array(scores, "scores")
        scored, pred = np.isfinite(s), None
    if not (t.size == y.size == s.shape[0]):
        raise EvaluationError(f"{t.size} times, {y.size} labels and {s.shape[0]} scores")
    windows, idx = window_index(t, window, start=start, end=end)
    if task == "binary":
        # every stored label of the windows, arrived by as_of or not, whether its window
        # has enough labels or not: the database refuses the same log in the same words
        refuse_odd_labels(float_array(labels, "labels")[idx >= 0], label_column)
    order = np.argsort(idx, kind="stable")
    bounds = np.searchsorted(idx[order], np.arange(len(windows) + 1))
    out = []
    for w in range(len(windows)):
        rows = order[bounds[w] : bounds[w + 1]]
        yw, sw = y[rows], s[rows]
        tw = t[rows]
        lw = None if lt is None else lt[rows]
        coverage = label_coverage(yw, tw, lw)
        labeled = ~np.isnan(yw) & scored[rows]
        est: Mapping[str, Estimate]
        per_class: Mapping[str, Mapping[str, Estimate]] = MappingProxyType({})
        confusion = None
        if labeled.sum() < min_labeled:
            status, est = "insufficient", MappingProxyType({})
        else:
            status = "ok"
            m: BinaryMetrics | RegressionMetrics | MulticlassMetrics
            if task == "multiclass":
                m = metrics_of_codes(
                    classes,
                    yw,
                    sw,
                    None if pred is None else pred[rows],
                    confidence=confidence,
                    metrics=chosen,
                    n_boot=n_boot,
                    seed=seed + w,
                )
                per_class, confusion = m.per_class, m.confusion
            elif task == "binary":
                m = binary_metrics(
                    yw,
                    sw,
                    threshold=threshold,
                    confidence=confidence,
                    metrics=chosen,
                    n_boot=n_boot,
                    seed=seed + w,
                )
            else:
                m = regression_metrics(yw, sw, confidence=confidence)
            est = MappingProxyType({k: m.metrics[k] for k in chosen if k in m.metrics})
        out.append(
            WindowPerformance(
                w,
                windows.starts[w],
                windows.ends[w],
                int(rows.size),
                coverage,
                status,
                est,
                per_class,
                confusion,
            )
        )
    return PerformanceResult(windows.spec.text, task, float(threshold), tuple(out))
