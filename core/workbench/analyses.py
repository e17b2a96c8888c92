"""Drift, performance and health of one model version, from its spec — no Qt.

Each function only *wires* core: which telemetry (the entry's :mod:`evidence <.evidence>`),
which reference, which windows — the statistics are core's. Where the reference window's
events are not in the evidence (an offline bundle holds its range and the reference
*profile*), drift is measured against the bundled profile, and performance goes without a
reference baseline and estimate, saying so in its notes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from watchkeeper.core.progress import CancelCheck, Progress, check_cancelled, stage
from watchkeeper.core.workbench.common import READ_LOCK, spec_of
from watchkeeper.core.workbench.portfolio import ModelEntry, Portfolio

__all__ = [
    "DEFAULT_TOLERANCE",
    "ESTIMATE_BELOW_COVERAGE",
    "IN_MEMORY_ROWS",
    "HealthSummary",
    "PerformanceView",
    "assess_model",
    "effective_window",
    "open_source_of",
    "reference_profile_of",
    "run_drift",
    "run_health",
    "run_performance",
]

#: Above this many current rows, drift is counted in the database, and the exact KS/Wasserstein
#: and the multivariate check run on a seeded sample per window fetched from it. Below,
#: everything runs in memory.
IN_MEMORY_ROWS = 2_000_000
#: Show the estimated (CBPE) metric for windows whose label coverage is below this share.
ESTIMATE_BELOW_COVERAGE = 0.95
#: How far the primary metric may fall below its reference value before it counts as moved.
#: Specs have no key for it yet; the view shows the value it uses.
DEFAULT_TOLERANCE = 0.05


def open_source_of(entry: ModelEntry) -> Any:
    """The entry's telemetry source: from its evidence, else what its spec names."""
    from watchkeeper.core.evaluation.data import open_spec_source

    spec = spec_of(entry)
    if entry.evidence is not None:
        return entry.evidence.open_source(spec)
    return open_spec_source(spec)


def reference_profile_of(entry: ModelEntry, version: str) -> Any:
    """A reference profile the evidence carries for ``version`` (a bundle's), or None."""
    if entry.evidence is None:
        return None
    return entry.evidence.reference_profile(version)


# -- drift -------------------------------------------------------------------------------


def _reference_query(spec: Any, version: str) -> tuple[str, dt.datetime, dt.datetime]:
    from watchkeeper.core.errors import SpecError

    span = spec.reference_range()
    if span is None or spec.reference.kind != "window":
        raise SpecError(
            f"{spec.model.name}: the window reads a [reference] baseline window only "
            '(kind = "window" with start and end); file and artifact references come later'
        )
    return spec.reference.version or version, span[0], span[1]


def run_drift(
    entry: ModelEntry,
    version: str,
    window: str | None,
    progress: Progress | None = None,
    cancelled: CancelCheck | None = None,
) -> Any:
    """Drift of ``version``'s telemetry against the spec's reference, per window.

    In memory up to :data:`IN_MEMORY_ROWS` current rows; beyond, counted in the database
    (the exact statistics and the multivariate check on a seeded sample per window).
    """
    from watchkeeper.core.drift.engine import analyze_drift
    from watchkeeper.core.drift.engine_sql import analyze_drift_sql
    from watchkeeper.core.drift.errors import DriftError
    from watchkeeper.core.drift.sources import sql_location
    from watchkeeper.core.evaluation.data import read_events
    from watchkeeper.core.telemetry.contract import TelemetryQuery
    from watchkeeper.core.telemetry.windows import parse_window

    report = progress or (lambda f, m: None)
    spec = spec_of(entry)
    cols = spec.telemetry.columns
    features = list(cols.features)
    ref_version = (spec.reference.version if spec.reference else None) or version
    profile = reference_profile_of(entry, ref_version)
    span: tuple[Any, ...] | None = None
    if profile is None or (spec.reference is not None and spec.reference.kind == "window"):
        span = _reference_query(spec, version)
    common: dict[str, Any] = {
        "features": features or None,
        "categorical": cols.categorical,
        "numerical": cols.numerical,
        "window": parse_window(window if window is not None else spec.drift.window),
        "settings": spec.drift,
    }
    data_cols = ["ts", "score", *features]
    with READ_LOCK, open_source_of(entry) as src:
        report(0.02, "counting rows")
        rows = src.count(TelemetryQuery(model=spec.model.name, versions=(version,)))
        if rows == 0:
            raise DriftError(
                f"{spec.model.name}: version {version} has no rows in {src.description}"
            )
        check_cancelled(cancelled)
        report(0.05, "reading the reference")
        reference: Any = None
        if span is not None:
            ref_version, ref_start, ref_end = span
            reference = read_events(
                src,
                model=spec.model.name,
                versions=[ref_version],
                start=ref_start,
                end=ref_end,
                columns=data_cols,
            )
            if reference.num_rows == 0 and profile is None:
                raise DriftError(
                    f"{spec.model.name}: the reference (version {ref_version}, "
                    f"{ref_start:%Y-%m-%d} to {ref_end:%Y-%m-%d}) has no rows"
                )
        if reference is None or reference.num_rows == 0:
            reference = profile  # the evidence's profile (a bundle's): counts only
        check_cancelled(cancelled)
        location = sql_location(src)
        if rows > IN_MEMORY_ROWS and location is not None:
            import sqlalchemy as sa

            from watchkeeper.core.drift.sql_counts import reflect_table

            engine, table_name = location
            with engine.connect() as conn:
                table = reflect_table(conn, table_name)
                m, v = spec.telemetry.columns.model, spec.telemetry.columns.model_version
                where = [sa.cast(table.c[v], sa.String) == version]
                if m:
                    where.append(table.c[m] == spec.model.name)
                return analyze_drift_sql(
                    reference,
                    conn,
                    table,
                    where=sa.and_(*where),
                    progress=stage(report, 0.1, 1.0),
                    cancelled=cancelled,
                    **common,
                )
        report(0.1, f"reading {rows:,} events")
        current = read_events(
            src,
            model=spec.model.name,
            versions=[version],
            start=None,
            end=None,
            columns=["request_id", *data_cols],
        )
    check_cancelled(cancelled)
    return analyze_drift(
        reference,
        current,
        progress=stage(report, 0.3, 1.0),
        cancelled=cancelled,
        **common,
    )


# -- performance -----------------------------------------------------------------------


@dataclass(frozen=True)
class PerformanceView:
    """Realized and estimated performance of one version, ready to draw and to judge.

    ``estimated`` is aligned with ``realized.windows`` (None where no estimate exists);
    ``baseline`` is the metric on the reference window, the line a move is measured from.
    """

    model: str
    version: str
    metric: str
    realized: Any  # PerformanceResult
    estimated: tuple[Any, ...]  # EstimatedWindow per window, or ()
    baseline: Any  # Estimate on the reference window, or None
    tolerance: float
    higher_is_better: bool
    notes: tuple[str, ...] = ()

    def x_seconds(self) -> np.ndarray:
        """Window midpoints as epoch seconds (what a time axis draws)."""
        out = np.full(len(self.realized.windows), np.nan)
        for i, w in enumerate(self.realized.windows):
            if w.start is not None and w.end is not None:
                out[i] = (w.start.timestamp() + w.end.timestamp()) / 2
        return out

    def coverage(self) -> np.ndarray:
        """Share of each window's events that have a label (NaN for an empty window)."""
        shares = [w.coverage.share for w in self.realized.windows]
        return np.array([np.nan if s is None else s for s in shares], dtype=float)

    def estimated_series(self) -> np.ndarray:
        """``(W, 3)`` estimated value/lower/upper where coverage is below the cut, else NaN."""
        out = np.full((len(self.realized.windows), 3), np.nan)
        cov = self.coverage()
        for i, ew in enumerate(self.estimated):
            if ew is None or not (cov[i] < ESTIMATE_BELOW_COVERAGE):
                continue
            e = ew.metrics.get(self.metric)
            if e is not None and e.value is not None:
                lo = np.nan if e.lower is None else e.lower
                hi = np.nan if e.upper is None else e.upper
                out[i] = [e.value, lo, hi]
        return out

    def alert_line(self) -> float | None:
        """The value beyond which the metric counts as moved (baseline ∓ tolerance)."""
        if self.baseline is None or self.baseline.value is None:
            return None
        sign = -1.0 if self.higher_is_better else 1.0
        return float(self.baseline.value + sign * self.tolerance)

    def judged_values(self) -> list[float | None]:
        """Per window the value health judges: realized when it exists, else estimated."""
        real = self.realized.series(self.metric)[:, 0]
        est = self.estimated_series()[:, 0]
        out: list[float | None] = []
        for r, e in zip(real, est, strict=True):
            out.append(float(r) if np.isfinite(r) else (float(e) if np.isfinite(e) else None))
        return out


def run_performance(
    entry: ModelEntry,
    version: str,
    window: str | None,
    metric: str | None = None,
    progress: Progress | None = None,
    cancelled: CancelCheck | None = None,
) -> PerformanceView:
    """Realized metric per window with intervals, CBPE estimates, label coverage, baseline."""
    from watchkeeper.core.evaluation.data import read_events, ts_micros
    from watchkeeper.core.evaluation.metrics import (
        HIGHER_IS_BETTER,
        EvaluationError,
        float_array,
    )
    from watchkeeper.core.evaluation.performance import performance_over_time

    report = progress or (lambda f, m: None)
    spec = spec_of(entry)
    metric = metric or spec.gate.primary_metric
    win = window if window is not None else spec.drift.window
    threshold = spec.gate.threshold
    ref_version, ref_start, ref_end = _reference_query(spec, version)
    cols = ["ts", "score", "label", "label_ts"]
    with READ_LOCK, open_source_of(entry) as src:
        report(0.05, "reading events")
        current = read_events(
            src, model=spec.model.name, versions=[version], start=None, end=None, columns=cols
        )
        reference = read_events(
            src,
            model=spec.model.name,
            versions=[ref_version],
            start=ref_start,
            end=ref_end,
            columns=cols,
        )
    if current.num_rows == 0:
        raise EvaluationError(f"{spec.model.name}: version {version} has no rows")
    check_cancelled(cancelled)
    t = ts_micros(current.column("ts"))
    y = float_array(current.column("label"), "label")
    s = float_array(current.column("score"), "score")
    lt = ts_micros(current.column("label_ts"))
    notes: list[str] = []
    report(0.25, "realized metrics")
    realized = performance_over_time(
        t,
        y,
        s,
        window=win,
        task=spec.model.task,
        threshold=threshold,
        metrics=[metric],
        min_labeled=100,
        label_ts_us=lt,
    )
    check_cancelled(cancelled)
    baseline = None
    estimated: tuple[Any, ...] = ()
    if reference.num_rows == 0:
        if entry.evidence is not None:
            baseline = entry.evidence.reference_baseline(ref_version, metric, ref_start, ref_end)
        span = f"{ref_start:%Y-%m-%d} to {ref_end:%Y-%m-%d}"
        notes.append(
            f"the reference window ({span}) has no events here (an offline bundle holds its "
            "own range only): "
            + (
                f"baseline {metric} from the signed approval of version {ref_version}, no estimate"
                if baseline is not None
                else "no baseline, no estimate"
            )
        )
    else:
        report(0.45, "reference baseline")
        ry = float_array(reference.column("label"), "label")
        rs = float_array(reference.column("score"), "score")
        base = performance_over_time(
            ts_micros(reference.column("ts")),
            ry,
            rs,
            window=None,
            task=spec.model.task,
            threshold=threshold,
            metrics=[metric],
            min_labeled=100,
        )
        baseline = base.windows[0].metrics.get(metric) if base.windows else None
        # an estimate is shown (and judged) only where labels are still missing
        cov = [w.coverage.share for w in realized.windows]
        unlabeled = [i for i, c in enumerate(cov) if c is None or c < ESTIMATE_BELOW_COVERAGE]
        estimated = _estimate(
            spec, metric, t, s, ry, rs, win, threshold, unlabeled, notes, report, cancelled
        )
    report(1.0, "done")
    return PerformanceView(
        model=spec.model.name,
        version=version,
        metric=metric,
        realized=realized,
        estimated=estimated,
        baseline=baseline,
        tolerance=DEFAULT_TOLERANCE,
        higher_is_better=HIGHER_IS_BETTER.get(metric, True),
        notes=tuple(notes),
    )


def _estimate(
    spec: Any,
    metric: str,
    t: Any,
    s: Any,
    ry: Any,
    rs: Any,
    win: str | None,
    threshold: float,
    windows: Sequence[int],
    notes: list[str],
    report: Progress,
    cancelled: CancelCheck | None,
) -> tuple[Any, ...]:
    """CBPE estimates for ``windows``, calibrated on the reference (binary models)."""
    from watchkeeper.core.evaluation.estimation import (
        ESTIMATED_METRICS,
        estimated_over_time,
        fit_calibrator,
    )
    from watchkeeper.core.evaluation.metrics import EvaluationError

    if spec.model.task != "binary":
        return ()
    if metric not in ESTIMATED_METRICS:
        covered = ", ".join(ESTIMATED_METRICS)
        notes.append(f"{metric} cannot be estimated without labels (CBPE covers {covered})")
        return ()
    check_cancelled(cancelled)
    report(0.55, "calibrating the estimate")
    try:
        calibrator = fit_calibrator(ry, rs)
        report(0.65, "estimating unlabeled windows")
        return tuple(
            estimated_over_time(
                t,
                s,
                calibrator,
                window=win,
                threshold=threshold,
                metrics=[metric],
                n_sim=100,
                only=windows,
            )
        )
    except EvaluationError as exc:
        notes.append(f"no estimate: {exc}")
        return ()


# -- health ------------------------------------------------------------------------------


@dataclass(frozen=True)
class HealthSummary:
    """A model's health light and why: the state of its latest judged window and reasons."""

    model: str
    version: str
    state: str  # ok | watch | alert | insufficient
    window_start: dt.datetime | None
    reasons: tuple[str, ...] = ()
    label_coverage: float | None = None  # share labeled over the last 7 windows
    states: tuple[str, ...] = field(default=(), repr=False)


def assess_model(drift: Any, perf: PerformanceView) -> HealthSummary:
    """Core's health rule over windows both analyses share (matched by start time)."""
    from watchkeeper.core.evaluation.health import (
        assess_health,
        performance_moved,
        worst_decision,
    )

    perf_by_start = {w.start: i for i, w in enumerate(perf.realized.windows)}
    judged = perf.judged_values()
    decisions, moved_in, starts = [], [], []
    for wi, info in enumerate(drift.windows):
        per_feature = [f.windows[wi].decision for f in drift.features]
        decisions.append(worst_decision(per_feature))
        pi = perf_by_start.get(info.start)
        moved_in.append(judged[pi] if pi is not None else None)
        starts.append(info.start)
    base = perf.baseline.value if perf.baseline is not None else None
    if base is None:
        moved: tuple[bool | None, ...] = tuple(None for _ in moved_in)
    else:
        moved = performance_moved(moved_in, base, perf.tolerance, perf.metric)
    health = assess_health(decisions, moved, persistence=drift.settings.persistence)
    last = max((i for i, s in enumerate(health.states) if s != "insufficient"), default=None)
    cov = perf.coverage()[-7:]
    coverage = float(np.nanmean(cov)) if np.isfinite(cov).any() else None
    if last is None:
        return HealthSummary(
            perf.model, perf.version, "insufficient", None, ("too few rows to judge",), coverage
        )
    reasons = []
    drifting = [f.name for f in drift.features if f.windows[last].decision == "drift"]
    if drifting:
        reasons.append("drift in " + ", ".join(drifting))
    value = moved_in[last]
    if moved[last] and value is not None and base is not None:
        how = "realized" if np.isfinite(perf.realized.series(perf.metric)[:, 0]).any() else ""
        pi = perf_by_start.get(starts[last])
        if pi is not None and not np.isfinite(perf.realized.series(perf.metric)[pi, 0]):
            how = "estimated"
        reasons.append(
            f"{perf.metric} {value:.3f} vs {base:.3f} on the reference ({how or 'realized'})"
        )
    return HealthSummary(
        perf.model,
        perf.version,
        health.states[last],
        starts[last],
        tuple(reasons),
        coverage,
        health.states,
    )


def run_health(
    portfolio: Portfolio,
    known: Mapping[tuple[str, ...], Any] | None = None,
    progress: Progress | None = None,
    cancelled: CancelCheck | None = None,
) -> dict[str, tuple[HealthSummary, Any, PerformanceView]]:
    """Every model's health (its champion, the spec's window): the portfolio's lights.

    Returns, per model, the summary and the drift and performance results it rests on (the
    window keeps them, so opening that model's views costs nothing). ``known`` holds results
    the views already computed, under the keys the views cache them by
    (``("drift", model, version, window)``, ``("performance", model, version, window, "")``);
    those are reused, not recomputed. Models whose spec or data cannot be analysed are left
    out; the portfolio keeps their light grey.
    """
    from watchkeeper.core.errors import WatchkeeperError

    report = progress or (lambda f, m: None)
    out: dict[str, tuple[HealthSummary, Any, PerformanceView]] = {}
    models = [m for m in portfolio.models if m.spec is not None and m.champion]
    for k, entry in enumerate(models):
        lo, hi = k / len(models), (k + 1) / len(models)
        version = entry.champion or ""
        window = effective_window(entry, None)
        known = known or {}
        try:
            drift = known.get(("drift", entry.name, version, window)) or run_drift(
                entry, version, window, stage(report, lo, (lo + hi) / 2), cancelled
            )
            perf = known.get(("performance", entry.name, version, window, "")) or (
                run_performance(
                    entry, version, window, None, stage(report, (lo + hi) / 2, hi), cancelled
                )
            )
        except WatchkeeperError:
            continue
        out[entry.name] = (assess_model(drift, perf), drift, perf)
    return out


def effective_window(entry: ModelEntry | None, window: str | None) -> str:
    """The window an analysis will use: the choice, else the spec's ``[drift] window``.

    ``""`` is one window over the whole period. Used as the key under which results are
    remembered, so the spec's default and the same explicit choice share one result.
    """
    if window is not None:
        return window
    spec = entry.spec if entry is not None else None
    return (spec.drift.window or "") if spec is not None else ""
