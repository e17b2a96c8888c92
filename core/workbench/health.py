"""A model's health: the one definition behind the window's lights, the Overview and
``watchkeeper check``.

Per window of ``[health] window`` (default ``7d``) the health rule of
:mod:`watchkeeper.core.evaluation.health` combines

- **drift**: the worst feature's decision in that window (the drift analysis the Drift view
  draws, cut at the health window);
- **performance**: ``[health] metric`` (default ``[gate] primary_metric``) realized where the
  window holds ``[health] min_labeled`` labels, else the confidence-based estimate (with
  ``[health] estimate``); it *moved* when worse than the reference's value by more than
  ``[health] tolerance`` (with ``use_interval``: its whole interval is).

``alert`` when both hold ``[health] persistence`` windows in a row, ``watch`` for either
alone. The model's verdict is the state of its latest window that could be judged, with its
reasons — except that an alert, which took ``persistence`` windows to raise, also takes
``persistence`` judged windows without one to clear (so one quiet window does not turn a
real incident green). And an estimate cannot clear a drop that realized labels showed:
confidence-based estimation assumes the score–label relation of the reference, which is
exactly what a concept change breaks; so while the newest windows are only estimated, the
newest realized window's move stands (and the reason says so).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from watchkeeper.core.errors import WatchkeeperError
from watchkeeper.core.evaluation.metrics import EvaluationError
from watchkeeper.core.memory import return_free_memory
from watchkeeper.core.progress import CancelCheck, Progress, check_cancelled, stage
from watchkeeper.core.telemetry.windows import WindowSpec, parse_window
from watchkeeper.core.workbench.analyses import PerformanceView, run_drift, run_performance
from watchkeeper.core.workbench.common import spec_of
from watchkeeper.core.workbench.portfolio import ModelEntry, Portfolio

if TYPE_CHECKING:
    from watchkeeper.core.drift.result import DriftResult

__all__ = [
    "DEFAULT_HEALTH_WINDOW",
    "VERDICTS",
    "HealthWindow",
    "ModelHealth",
    "assess",
    "health_window",
    "judge_model",
    "run_health",
    "version_to_judge",
]

#: A week: enough labels in a typical log to judge performance, short enough to react.
DEFAULT_HEALTH_WINDOW = "7d"
#: What a model's light can say; ``unknown`` when nothing could be judged (and why).
VERDICTS = ("ok", "watch", "alert", "unknown")
#: Label coverage is reported over this many of the newest windows.
COVERAGE_WINDOWS = 7


@dataclass(frozen=True)
class HealthWindow:
    """One window as health judged it."""

    index: int
    start: dt.datetime | None
    end: dt.datetime | None
    rows: int
    drift: str  # the worst feature's decision
    drift_features: tuple[str, ...]  # the features at that decision (watch or drift)
    value: float | None  # the metric judged: realized, else estimated
    lower: float | None
    upper: float | None
    source: str | None  # "realized", "estimated" or None
    moved: bool | None
    carried: bool  # moved only because the newest realized window moved (see module doc)
    state: str  # ok | watch | alert | insufficient

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "start": self.start,
            "end": self.end,
            "rows": self.rows,
            "drift": self.drift,
            "drift_features": list(self.drift_features),
            "value": self.value,
            "lower": self.lower,
            "upper": self.upper,
            "source": self.source,
            "performance_moved": self.moved,
            "carried": self.carried,
            "state": self.state,
        }


@dataclass(frozen=True)
class ModelHealth:
    """A model's verdict, the reasons for it and the windows it rests on."""

    model: str
    version: str | None
    verdict: str  # one of VERDICTS
    reasons: tuple[str, ...]
    window: WindowSpec | None = None
    metric: str | None = None
    baseline: float | None = None
    tolerance: float | None = None
    persistence: int | None = None
    as_of: dt.datetime | None = None
    windows: tuple[HealthWindow, ...] = field(default=(), repr=False)
    label_coverage: float | None = None  # share labeled over the newest windows
    #: Why the model could not be analysed at all (a spec that did not load, unreadable
    #: telemetry); the verdict is then ``unknown`` and the reason is this message.
    error: str | None = None

    @property
    def state(self) -> str:
        """The verdict (the name the window's light uses)."""
        return self.verdict

    @property
    def states(self) -> tuple[str, ...]:
        return tuple(w.state for w in self.windows)

    @property
    def latest(self) -> HealthWindow | None:
        """The newest window that could be judged."""
        return next((w for w in reversed(self.windows) if w.state != "insufficient"), None)

    @property
    def window_start(self) -> dt.datetime | None:
        latest = self.latest
        return latest.start if latest is not None else None

    def to_dict(self) -> dict[str, Any]:
        """The model's entry of ``check --json`` (without its own digest)."""
        return {
            "model": self.model,
            "version": self.version,
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "window": None if self.window is None else self.window.text,
            "metric": self.metric,
            "baseline": self.baseline,
            "tolerance": self.tolerance,
            "persistence": self.persistence,
            "as_of": self.as_of,
            "label_coverage": self.label_coverage,
            "error": self.error,
            "windows": [w.to_dict() for w in self.windows],
        }

    @property
    def evidence(self) -> str:
        """``sha256:…`` of :meth:`to_dict` as canonical JSON: what the verdict rests on.

        Its numbers are taken to :data:`EVIDENCE_DIGITS` significant digits: a metric
        aggregated by the database (per score bin) and the same metric computed on the rows
        agree to 1e-15 but not bit for bit (they sum in another order), and the digest of one
        verdict on the same data must not depend on the engine that counted it.
        """
        from watchkeeper.core.evidence import digest

        return digest(_rounded(self.to_dict()))


#: Significant digits of the numbers a health verdict's evidence digest holds.
EVIDENCE_DIGITS = 10


def _rounded(value: Any) -> Any:
    if isinstance(value, float) and math.isfinite(value):
        return float(f"{value:.{EVIDENCE_DIGITS}g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    return value


def health_window(spec: Any) -> WindowSpec:
    """The window health is judged at: ``[health] window``, else a week."""
    return spec.health.window or parse_window(DEFAULT_HEALTH_WINDOW)


def version_to_judge(entry: ModelEntry) -> str | None:
    """The version a light is about: the champion (registry or manifest), else the one the
    registry's champion alias names, else the reference's version."""
    if entry.champion:
        return entry.champion
    spec = spec_of(entry)
    if entry.evidence is None and spec.model.registry_uri:
        from watchkeeper.core.evaluation.versions import resolve_versions

        try:
            champion, _, _ = resolve_versions(spec, None, None, need_challenger=False)
            return str(champion)
        except WatchkeeperError:
            pass
    return spec.reference.version if spec.reference is not None else None


def assess(
    drift: Any,
    perf: PerformanceView | None,
    spec: Any,
    window: WindowSpec,
    version: str,
    as_of: dt.datetime | None = None,
    *,
    lacking: str | None = None,
) -> ModelHealth:
    """Health of one version from its drift and performance cut at the same ``window``.

    Without a performance view (no labels or scores) the light rests on drift alone and
    ``lacking`` says why, among the reasons."""
    from watchkeeper.core.evaluation.health import (
        assess_health,
        performance_moved,
        worst_decision,
    )
    from watchkeeper.core.evaluation.intervals import Estimate

    h = spec.health
    metric = perf.metric if perf is not None else (h.metric or spec.gate.primary_metric)
    real = perf.realized.series(metric) if perf is not None else np.empty((0, 3))
    est = perf.estimated_series() if perf is not None else np.empty((0, 3))
    starts = perf.realized.windows if perf is not None else ()
    perf_by_start = {w.start: i for i, w in enumerate(starts)}
    worst: list[str] = []
    at_worst: list[tuple[str, ...]] = []
    values: list[Estimate] = []
    sources: list[str | None] = []
    decisions = [(f.name, f.decisions()) for f in drift.features]
    for wi, info in enumerate(drift.windows):
        per_feature = {name: d[wi] for name, d in decisions}
        top = worst_decision(list(per_feature.values()))
        worst.append(top)
        at_worst.append(
            tuple(n for n, d in per_feature.items() if d == top)
            if top in ("watch", "drift")
            else ()
        )
        pi = perf_by_start.get(info.start)
        row, source = None, None
        if pi is not None and np.isfinite(real[pi, 0]):
            row, source = real[pi], "realized"
        elif pi is not None and np.isfinite(est[pi, 0]):
            row, source = est[pi], "estimated"
        sources.append(source)
        if row is None:
            values.append(Estimate(None))
        else:
            value, lower, upper = (float(x) if np.isfinite(x) else None for x in row)
            values.append(Estimate(value, lower, upper))
    base = perf.baseline.value if perf is not None and perf.baseline is not None else None
    if base is None:
        moved: list[bool | None] = [None] * len(values)
    else:
        moved = list(
            performance_moved(values, base, h.tolerance, metric, use_interval=h.use_interval)
        )
    carried = [False] * len(moved)
    newest_real: bool | None = None
    for i, source in enumerate(sources):
        if source == "realized":
            newest_real = moved[i]
        elif source == "estimated" and newest_real and not moved[i]:
            moved[i], carried[i] = True, True
    result = assess_health(worst, moved, persistence=h.persistence)
    windows = tuple(
        HealthWindow(
            index=i,
            start=info.start,
            end=info.end,
            rows=int(info.rows),
            drift=worst[i],
            drift_features=at_worst[i],
            value=values[i].value,
            lower=values[i].lower,
            upper=values[i].upper,
            source=sources[i],
            moved=moved[i],
            carried=carried[i],
            state=result.states[i],
        )
        for i, info in enumerate(drift.windows)
    )
    cov = perf.coverage()[-COVERAGE_WINDOWS:] if perf is not None else np.empty(0)
    coverage = float(np.nanmean(cov)) if np.isfinite(cov).any() else None
    out = ModelHealth(
        model=spec.model.name,
        version=version,
        verdict="unknown",
        reasons=(),
        window=window,
        metric=metric if perf is not None else None,
        baseline=base,
        tolerance=h.tolerance,
        persistence=h.persistence,
        as_of=as_of,
        windows=windows,
        label_coverage=coverage,
    )
    latest = out.latest
    also = (lacking,) if lacking else ()
    if latest is None:
        return _replace(out, verdict="unknown", reasons=("too few rows to judge any window", *also))
    judged = [w for w in windows if w.state != "insufficient"]
    recent_alert = next((w for w in reversed(judged[-h.persistence :]) if w.state == "alert"), None)
    if recent_alert is not None and latest.state != "alert":
        reasons = _reasons(out, recent_alert, base)
        reasons.append(
            f"alert in the window of {_day(recent_alert.start)}; it clears after "
            f"{h.persistence} judged windows without one"
        )
        return _replace(out, verdict="alert", reasons=(*reasons, *also))
    return _replace(out, verdict=latest.state, reasons=(*_reasons(out, latest, base), *also))


def _replace(health: ModelHealth, **changes: Any) -> ModelHealth:
    import dataclasses

    return dataclasses.replace(health, **changes)


def _day(moment: dt.datetime | None) -> str:
    return "?" if moment is None else f"{moment:%Y-%m-%d}"


def _reasons(health: ModelHealth, latest: HealthWindow, base: float | None) -> list[str]:
    windows = health.windows[: latest.index + 1]
    reasons = []
    if latest.drift in ("drift", "watch"):
        word = "drift" if latest.drift == "drift" else "possible drift (watch)"
        parts = []
        for name in latest.drift_features:
            since = latest
            for w in reversed(windows):
                if w.drift != latest.drift or name not in w.drift_features:
                    break
                since = w
            parts.append(f"{name} since {_day(since.start)}")
        reasons.append(f"{word} in {', '.join(parts)}")
    if latest.moved and base is not None and health.metric is not None:
        judged = latest
        if latest.carried:
            judged = next(w for w in reversed(windows) if w.source == "realized")
        how = judged.source or "realized"
        text = (
            f"{health.metric} {judged.value:.3f} vs {base:.3f} on the reference ({how}, "
            f"window of {_day(judged.start)})"
        )
        if latest.carried:
            text += "; the newer windows are only estimated, which cannot show a concept change"
        reasons.append(text)
        below = [w for w in windows if w.moved]
        valued = [w for w in windows if w.moved is not None]
        if len(below) > 1:
            reasons.append(
                f"{health.metric} beyond the alert line in {len(below)} of {len(valued)} windows"
            )
    if latest.state == "insufficient":
        reasons.append("too few rows or labels in the newest window")
    return reasons


def judge_model(
    entry: ModelEntry,
    version: str | None = None,
    *,
    as_of: dt.datetime | None = None,
    known: Mapping[tuple[Any, ...], Any] | None = None,
    progress: Progress | None = None,
    cancelled: CancelCheck | None = None,
) -> tuple[ModelHealth, DriftResult, PerformanceView | None]:
    """The health of ``version`` (default :func:`version_to_judge`), with the drift and
    performance it rests on (the drift with its decisions only, see
    :func:`~watchkeeper.core.workbench.analyses.run_drift`). ``known`` holds results
    computed before, under the keys the
    views cache them by (``("drift", model, version, window)``,
    ``("performance", model, version, window, "")``); ``as_of`` judges what was known then.
    Raises :class:`~watchkeeper.core.errors.WatchkeeperError` when the model cannot be
    analysed (the message says why)."""
    spec = spec_of(entry)
    version = version or version_to_judge(entry)
    if not version:
        raise WatchkeeperError(
            f"{entry.name}: no version to judge (no champion alias, no [reference] version)"
        )
    window = health_window(spec)
    metric = spec.health.metric or spec.gate.primary_metric
    # results cached for "now" do not hold at as_of
    known = (known or {}) if as_of is None else {}
    drift = known.get(("drift", entry.name, version, window))
    if drift is None:
        # the decisions alone: the exact statistics and the multivariate check do not judge
        drift = run_drift(
            entry,
            version,
            window,
            stage(progress, 0.0, 0.5),
            cancelled,
            as_of=as_of,
            decisions_only=True,
        )
    check_cancelled(cancelled)
    perf = (
        None
        if metric != spec.gate.primary_metric
        else known.get(("performance", entry.name, version, window, ""))
    )
    lacking = None
    if perf is None:
        try:
            perf = run_performance(
                entry, version, window, metric, stage(progress, 0.5, 1.0), cancelled, as_of=as_of
            )
        except EvaluationError as exc:  # no labels or scores: the light is drift alone
            lacking = f"performance not judged: {exc}"
    return assess(drift, perf, spec, window, version, as_of, lacking=lacking), drift, perf


def run_health(
    portfolio: Portfolio,
    known: Mapping[tuple[Any, ...], Any] | None = None,
    progress: Progress | None = None,
    cancelled: CancelCheck | None = None,
    *,
    as_of: dt.datetime | None = None,
    models: Sequence[str] | None = None,
    on_model: Callable[[str, tuple[ModelHealth, Any, PerformanceView | None]], None] | None = None,
) -> dict[str, tuple[ModelHealth, Any, PerformanceView | None]]:
    """Every model's health: the portfolio's lights and ``watchkeeper check``.

    Per model the verdict and the drift and performance results it rests on (None where the
    analysis failed; then the verdict is ``unknown`` and its reason is the error). A model
    whose spec did not load is ``unknown`` with the spec's error; a cancel stops the sweep.
    ``on_model(name, judged)`` hears each model as soon as it is judged (a light need not
    wait for the whole sweep).
    """
    out: dict[str, tuple[ModelHealth, Any, PerformanceView | None]] = {}
    entries = [m for m in portfolio.models if models is None or m.name in models]
    for k, entry in enumerate(entries):
        lo, hi = k / max(1, len(entries)), (k + 1) / max(1, len(entries))
        check_cancelled(cancelled)
        try:
            health, drift, perf = judge_model(
                entry,
                as_of=as_of,
                known=known,
                progress=stage(progress, lo, hi),
                cancelled=cancelled,
            )
        except WatchkeeperError as exc:
            version = entry.champion or None
            out[entry.name] = (
                ModelHealth(entry.name, version, "unknown", (str(exc),), error=str(exc)),
                None,
                None,
            )
        else:
            out[entry.name] = (health, drift, perf)
        if on_model is not None:
            on_model(entry.name, out[entry.name])
        return_free_memory()  # the next model starts from what is kept, not from the peak
    return out
