"""The work panels hand to the TaskRunner: from a workspace and a spec to core results.

Every function here runs on a worker thread and takes the runner's ``progress(fraction,
message)`` and ``cancelled()`` callables; nothing here imports Qt, so each is tested (and
timed) without a window. They only *wire* core: which telemetry, which reference, which
windows — the statistics are core's. (This orchestration could move to ``core`` when the
CLI needs the same "analyse a model from its spec" entry point; it is kept Qt-free for that.)

Reading is serialised by one lock: panels start their analyses together when the selection
changes, and an embedded database (DuckDB, SQLite) is happier with one reader at a time in
a process; the reads are short next to the statistics, which run in parallel.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from watchkeeper.app.workers import TaskCancelled

__all__ = [
    "DEFAULT_TOLERANCE",
    "ESTIMATE_BELOW_COVERAGE",
    "IN_MEMORY_ROWS",
    "HealthSummary",
    "ModelEntry",
    "PerformanceView",
    "Portfolio",
    "VersionEntry",
    "assess_model",
    "effective_window",
    "load_portfolio",
    "run_drift",
    "run_health",
    "run_performance",
]

Progress = Callable[[float, str], None]
Cancelled = Callable[[], bool]

#: Above this many current rows, drift is counted in the database (counts only come back;
#: no exact KS/Wasserstein and no multivariate check). Below, everything runs in memory.
IN_MEMORY_ROWS = 2_000_000
#: Show the estimated (CBPE) metric for windows whose label coverage is below this share.
ESTIMATE_BELOW_COVERAGE = 0.95
#: How far the primary metric may fall below its reference value before it counts as moved.
#: Specs have no key for it yet; the view shows the value it uses.
DEFAULT_TOLERANCE = 0.05

_READ_LOCK = threading.Lock()


# -- the portfolio ---------------------------------------------------------------------


@dataclass(frozen=True)
class VersionEntry:
    """One model version as the portfolio lists it."""

    version: str
    aliases: tuple[str, ...] = ()  # champion, challenger, ...
    rows: int | None = None  # telemetry events (from the demo manifest, when known)
    mode: str | None = None  # "shadow" when it scores without serving

    @property
    def role(self) -> str:
        """The alias that names the version's role (champion first), or ''."""
        for alias in ("champion", "challenger"):
            if alias in self.aliases:
                return alias
        return self.aliases[0] if self.aliases else ""


@dataclass(frozen=True)
class ModelEntry:
    """A model of the workspace: its spec (None if it failed to load), its versions."""

    name: str
    task: str
    versions: tuple[VersionEntry, ...]
    spec: Any = None  # MonitorSpec
    spec_path: Path | None = None
    spec_error: str | None = None
    description: str = ""

    def version(self, version: str) -> VersionEntry | None:
        return next((v for v in self.versions if v.version == version), None)

    @property
    def champion(self) -> str | None:
        """The champion's version (else the newest version), which the views open first."""
        for v in self.versions:
            if "champion" in v.aliases:
                return v.version
        return self.versions[-1].version if self.versions else None


@dataclass(frozen=True)
class Portfolio:
    """What a workspace holds: models, where their versions and aliases came from, notes."""

    workspace: Path | None
    models: tuple[ModelEntry, ...]
    manifest: Mapping[str, Any] | None
    aliases_from: str  # "registry" | "manifest" | "none"
    notes: tuple[str, ...] = ()

    def model(self, name: str) -> ModelEntry | None:
        return next((m for m in self.models if m.name == name), None)


def read_manifest(workspace: Path | None) -> dict[str, Any] | None:
    """The demo manifest, or None when the folder has none (any workspace may lack it)."""
    if workspace is None:
        return None
    try:
        return json.loads((workspace / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def load_portfolio(
    workspace: Path, progress: Progress | None = None, cancelled: Cancelled | None = None
) -> Portfolio:
    """Models from ``specs/*.toml`` and the manifest; aliases from the registry when present.

    A spec that fails to load is listed with its error (the user sees which file and why);
    an unreachable registry falls back to the manifest's roles, and a note says so.
    """
    from watchkeeper.core.errors import WatchkeeperError
    from watchkeeper.core.spec import load_spec

    report = progress or (lambda f, m: None)
    notes: list[str] = []
    manifest = read_manifest(workspace)
    specs: dict[str, tuple[Any, Path, str | None]] = {}
    for path in sorted((workspace / "specs").glob("*.toml")):
        try:
            spec = load_spec(path)
            specs[spec.model.name] = (spec, path, None)
        except WatchkeeperError as exc:
            specs[path.stem] = (None, path, str(exc))
    report(0.2, "specs read")
    info = (manifest or {}).get("models", {})
    names = list(dict.fromkeys([*info, *specs]))
    aliases: dict[str, dict[str, tuple[str, ...]]] = {}
    aliases_from = "manifest" if info else "none"
    registry_db = workspace / "registry" / "mlflow.db"
    if registry_db.exists():
        if cancelled is not None and cancelled():
            raise TaskCancelled
        report(0.3, "reading the registry")
        try:
            aliases = _registry_aliases(f"sqlite:///{registry_db}")
            aliases_from = "registry"
        except (WatchkeeperError, ImportError) as exc:
            notes.append(f"registry not read, roles from the manifest: {exc}")
    models = []
    for name in names:
        spec, path, error = specs.get(name, (None, None, "no monitor spec in specs/"))
        m = info.get(name, {})
        versions = []
        known = dict(m.get("versions", {}))
        for version in aliases.get(name, {}):
            known.setdefault(version, {})
        for version in sorted(known, key=_version_key):
            v = known[version] if isinstance(known[version], dict) else {}
            if aliases_from == "registry":
                tags = aliases.get(name, {}).get(version, ())
            else:
                tags = (v["role"],) if v.get("role") else ()
            versions.append(
                VersionEntry(str(version), tuple(tags), _int_or_none(v.get("rows")), v.get("mode"))
            )
        task = spec.model.task if spec is not None else str(m.get("task", "binary"))
        models.append(
            ModelEntry(
                name=name,
                task=task,
                versions=tuple(versions),
                spec=spec,
                spec_path=path,
                spec_error=error,
                description=str(m.get("description", "")),
            )
        )
    report(1.0, "portfolio read")
    return Portfolio(workspace, tuple(models), manifest, aliases_from, tuple(notes))


def _registry_aliases(uri: str) -> dict[str, dict[str, tuple[str, ...]]]:
    from watchkeeper.core.registry.client import open_registry

    with open_registry(uri) as registry:
        snap = registry.snapshot(lineage=False)
    out: dict[str, dict[str, tuple[str, ...]]] = {}
    for rm in snap.models:
        out[rm.name] = {mv.version: tuple(mv.aliases) for mv in rm.versions}
    return out


def _version_key(version: str) -> tuple[int, str]:
    return (int(version), "") if str(version).isdigit() else (1 << 30, str(version))


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) else None


# -- drift -------------------------------------------------------------------------------


def _stage(progress: Progress, lo: float, hi: float) -> Progress:
    """A sub-stage's progress mapped onto ``[lo, hi]`` of the whole (Orange's wrap_callback)."""
    return lambda f, m="": progress(lo + (hi - lo) * float(f), m)


def _check(cancelled: Cancelled | None) -> None:
    if cancelled is not None and cancelled():
        raise TaskCancelled


def _spec_of(entry: ModelEntry) -> Any:
    from watchkeeper.core.errors import SpecError

    if entry.spec is None:
        raise SpecError(f"{entry.name}: {entry.spec_error or 'no monitor spec'}")
    return entry.spec


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
    cancelled: Cancelled | None = None,
) -> Any:
    """Drift of ``version``'s telemetry against the spec's reference, per window.

    In memory (exact statistics and the multivariate check included) up to
    :data:`IN_MEMORY_ROWS` current rows; beyond, counted in the database.
    """
    from watchkeeper.core.drift.analysis import analyze_drift, analyze_drift_sql
    from watchkeeper.core.drift.errors import DriftCancelled, DriftError
    from watchkeeper.core.drift.sources import sql_location
    from watchkeeper.core.evaluation.data import open_spec_source, read_events
    from watchkeeper.core.telemetry.contract import TelemetryQuery

    report = progress or (lambda f, m: None)
    spec = _spec_of(entry)
    cols = spec.telemetry.columns
    features = list(cols.features)
    ref_version, ref_start, ref_end = _reference_query(spec, version)
    common: dict[str, Any] = {
        "features": features or None,
        "categorical": cols.categorical,
        "numerical": cols.numerical,
        "window": window if window is not None else spec.drift.window,
        "settings": spec.drift,
    }
    data_cols = ["ts", "score", *features]
    try:
        with _READ_LOCK, open_spec_source(spec) as src:
            report(0.02, "counting rows")
            rows = src.count(TelemetryQuery(model=spec.model.name, versions=(version,)))
            if rows == 0:
                raise DriftError(
                    f"{spec.model.name}: version {version} has no rows in {src.description}"
                )
            _check(cancelled)
            report(0.05, "reading the reference")
            reference = read_events(
                src,
                model=spec.model.name,
                versions=[ref_version],
                start=ref_start,
                end=ref_end,
                columns=data_cols,
            )
            if reference.num_rows == 0:
                raise DriftError(
                    f"{spec.model.name}: the reference (version {ref_version}, "
                    f"{ref_start:%Y-%m-%d} to {ref_end:%Y-%m-%d}) has no rows"
                )
            _check(cancelled)
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
                        progress=_stage(report, 0.1, 1.0),
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
        _check(cancelled)
        return analyze_drift(
            reference,
            current,
            progress=_stage(report, 0.3, 1.0),
            cancelled=cancelled,
            **common,
        )
    except DriftCancelled:
        raise TaskCancelled from None


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
    cancelled: Cancelled | None = None,
) -> PerformanceView:
    """Realized metric per window with intervals, CBPE estimates, label coverage, baseline."""
    from watchkeeper.core.evaluation.data import open_spec_source, read_events, ts_micros
    from watchkeeper.core.evaluation.estimation import (
        ESTIMATED_METRICS,
        estimated_over_time,
        fit_calibrator,
    )
    from watchkeeper.core.evaluation.metrics import (
        HIGHER_IS_BETTER,
        EvaluationError,
        float_array,
    )
    from watchkeeper.core.evaluation.performance import performance_over_time

    report = progress or (lambda f, m: None)
    spec = _spec_of(entry)
    metric = metric or spec.gate.primary_metric
    win = window if window is not None else spec.drift.window
    threshold = spec.gate.threshold
    ref_version, ref_start, ref_end = _reference_query(spec, version)
    cols = ["ts", "score", "label", "label_ts"]
    with _READ_LOCK, open_spec_source(spec) as src:
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
    _check(cancelled)
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
    _check(cancelled)
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
    estimated: tuple[Any, ...] = ()
    if spec.model.task == "binary" and metric in ESTIMATED_METRICS:
        _check(cancelled)
        report(0.55, "calibrating the estimate")
        try:
            calibrator = fit_calibrator(ry, rs)
            report(0.65, "estimating unlabeled windows")
            estimated = estimated_over_time(
                t,
                s,
                calibrator,
                window=win,
                threshold=threshold,
                metrics=[metric],
                n_sim=100,
            )
        except EvaluationError as exc:
            notes.append(f"no estimate: {exc}")
    elif spec.model.task == "binary":
        covered = ", ".join(ESTIMATED_METRICS)
        notes.append(f"{metric} cannot be estimated without labels (CBPE covers {covered})")
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
    cancelled: Cancelled | None = None,
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
                entry, version, window, _stage(report, lo, (lo + hi) / 2), cancelled
            )
            perf = known.get(("performance", entry.name, version, window, "")) or (
                run_performance(
                    entry, version, window, None, _stage(report, (lo + hi) / 2, hi), cancelled
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
