"""Model health of a monitor spec's model, per window: drift and performance together.

:func:`model_health` reads the spec's reference window and the version's events after it,
then per window (``[health] window``, else ``[drift] window``, else ``7d``):

- **drift**: the drift engine (:func:`~watchkeeper.core.drift.engine.analyze_drift`) on
  the spec's features against the reference; the window's decision is its worst feature's;
- **performance**: ``[health] metric`` realized on the labels known ``as_of`` (default: all
  stored labels) when the window has ``min_labeled`` of them, else — with ``estimate`` — the
  confidence-based estimate calibrated on the reference (:mod:`.estimation`); it *moved*
  when worse than the reference's own value by more than ``tolerance``;
- **state**: :func:`~.health.assess_health` (``alert`` when both hold ``persistence``
  windows in a row, ``watch`` for either alone).

The result lists each window with its bounds, rows, drift decision and worst feature, the
performance value with its interval and where it came from (``realized``/``estimated``),
and the state, so the window's health row can show all of it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np

from watchkeeper.core.evaluation.health import (
    HealthResult,
    assess_health,
    performance_moved,
    worst_decision,
)
from watchkeeper.core.evaluation.intervals import Estimate
from watchkeeper.core.evaluation.metrics import EvaluationError, binary_metrics, float_array

__all__ = ["DEFAULT_HEALTH_WINDOW", "HealthWindow", "ModelHealth", "model_health"]

DEFAULT_HEALTH_WINDOW = "7d"


@dataclass(frozen=True)
class HealthWindow:
    index: int
    start: dt.datetime | None
    end: dt.datetime | None
    rows: int
    drift: str  # the worst feature's decision
    drift_features: tuple[str, ...]  # features at that decision (when watch or drift)
    performance: Estimate | None
    performance_source: str | None  # "realized", "estimated" or None
    labeled: int
    moved: bool | None
    state: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "start": self.start,
            "end": self.end,
            "rows": self.rows,
            "drift": self.drift,
            "drift_features": list(self.drift_features),
            "performance": None if self.performance is None else self.performance.to_dict(),
            "performance_source": self.performance_source,
            "labeled": self.labeled,
            "performance_moved": self.moved,
            "state": self.state,
        }


@dataclass(frozen=True)
class ModelHealth:
    model: str
    version: str
    metric: str
    baseline: Estimate
    tolerance: float
    persistence: int
    window: str
    windows: tuple[HealthWindow, ...]
    result: HealthResult

    @property
    def states(self) -> tuple[str, ...]:
        return self.result.states

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "metric": self.metric,
            "baseline": self.baseline.to_dict(),
            "tolerance": self.tolerance,
            "persistence": self.persistence,
            "window": self.window,
            "windows": [w.to_dict() for w in self.windows],
        }


def model_health(
    spec: Any,
    *,
    version: str | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    as_of: dt.datetime | None = None,
    n_sim: int = 100,
) -> ModelHealth:
    """Health per window of ``version`` (default: the reference's version) from ``start``
    (default: the reference's end) to ``end`` (default: the version's last event)."""
    from watchkeeper.core.drift.engine import analyze_drift
    from watchkeeper.core.evaluation.data import (
        open_spec_source,
        read_events,
        ts_micros,
        version_time_range,
    )
    from watchkeeper.core.evaluation.estimation import estimate_metrics, fit_calibrator
    from watchkeeper.core.evaluation.performance import available_labels, window_index
    from watchkeeper.core.telemetry.windows import parse_window
    from watchkeeper.core.times import parse_time

    h = spec.health
    metric = h.metric or spec.gate.primary_metric
    threshold = spec.gate.threshold
    window = h.window or spec.drift.window or DEFAULT_HEALTH_WINDOW
    ref = spec.reference
    if ref is None or ref.kind != "window" or ref.start is None or ref.end is None:
        raise EvaluationError(
            f'{spec.model.name}: model health needs a [reference] window (kind = "window")'
        )
    ref_start, ref_end = parse_time(ref.start), parse_time(ref.end)
    model = spec.model.name
    features = list(spec.telemetry.columns.features)
    categorical = list(spec.telemetry.columns.categorical)
    with open_spec_source(spec) as src:
        version = str(version or ref.version or "")
        if not version:
            raise EvaluationError(f"{model}: say which version (the reference names none)")
        if not features:
            features = [c.name for c in src.schema().columns if c.role == "feature"]
        start = start or ref_end
        if end is None:
            span = version_time_range(src, model, version)
            if span is None:
                raise EvaluationError(f"{model}: version {version!r} has no rows")
            end = span[1]
        cols = ["ts", "score", "label", "label_ts", *features]
        reference = read_events(
            src,
            model=model,
            versions=[ref.version or version],
            start=ref_start,
            end=ref_end,
            columns=cols,
        )
        current = read_events(
            src, model=model, versions=[version], start=start, end=end, columns=cols
        )
    if reference.num_rows == 0 or current.num_rows == 0:
        raise EvaluationError(
            f"{model}: no rows of version {version!r} in the reference or after it"
        )
    # drift per window, the worst feature's decision
    drift = analyze_drift(
        reference.select(features),
        current.select(["ts", *features]),
        features=features,
        categorical=categorical,
        timestamp="ts",
        window=parse_window(window),
        start=start,
        end=end,
        settings=spec.drift,
        prediction=None,
        order_by=None,
        exact=False,
        multivariate=False,
    )
    decisions = drift.decisions()
    n_windows = len(drift.windows)
    worst, worst_features = [], []
    for w in range(n_windows):
        per = {f: d[w] for f, d in decisions.items()}
        top = worst_decision(list(per.values()))
        worst.append(top)
        worst_features.append(
            tuple(f for f, d in per.items() if d == top) if top in ("watch", "drift") else ()
        )
    # performance per window: realized where labels are known, else estimated
    y_ref = float_array(reference.column("label"), "label")
    s_ref = float_array(reference.column("score"), "score")
    base = binary_metrics(y_ref, s_ref, threshold=threshold, metrics=(metric,), n_boot=200)
    baseline = base.metrics[metric]
    if baseline.value is None:
        raise EvaluationError(f"{model}: the reference has no {metric} (one class, or no labels)")
    calibrator = fit_calibrator(y_ref, s_ref) if h.estimate else None
    ts = ts_micros(current.column("ts"))
    label_ts = ts_micros(current.column("label_ts")) if as_of is not None else None
    y = available_labels(current.column("label"), label_ts, as_of)
    s = float_array(current.column("score"), "score")
    windows, idx = window_index(ts, window, start=start, end=end)
    if len(windows) != n_windows:
        raise EvaluationError("drift and performance cut different windows")  # a bug
    values: list[Estimate | None] = []
    sources: list[str | None] = []
    labeled_counts: list[int] = []
    for w in range(n_windows):
        rows = idx == w
        yw, sw = y[rows], s[rows]
        labeled = ~np.isnan(yw) & np.isfinite(sw)
        labeled_counts.append(int(labeled.sum()))
        if labeled.sum() >= h.min_labeled:
            m = binary_metrics(
                yw, sw, threshold=threshold, metrics=(metric,), n_boot=200, seed=w
            ).metrics[metric]
            values.append(m if m.value is not None else None)
            sources.append("realized" if m.value is not None else None)
        elif calibrator is not None and np.isfinite(sw).sum() >= h.min_labeled:
            e = estimate_metrics(
                sw, calibrator, threshold=threshold, metrics=(metric,), n_sim=n_sim, seed=w
            )[metric]
            values.append(e if e.value is not None else None)
            sources.append("estimated" if e.value is not None else None)
        else:
            values.append(None)
            sources.append(None)
    moved = performance_moved(
        values, baseline.value, h.tolerance, metric, use_interval=h.use_interval
    )
    result = assess_health(worst, moved, persistence=h.persistence)
    out = tuple(
        HealthWindow(
            w,
            windows.starts[w],
            windows.ends[w],
            int(drift.windows[w].rows),
            worst[w],
            worst_features[w],
            values[w],
            sources[w],
            labeled_counts[w],
            moved[w],
            result.states[w],
        )
        for w in range(n_windows)
    )
    return ModelHealth(
        model,
        version,
        metric,
        baseline,
        h.tolerance,
        h.persistence,
        window,
        out,
        result,
    )
