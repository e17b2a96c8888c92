"""Importance and training–serving skew of one model version, from its spec and registry.

Wiring only: which reference rows, which registered model, which training dataset; the
statistics are :mod:`~watchkeeper.core.drift.importance` and
:mod:`~watchkeeper.core.drift.skew`.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from watchkeeper.core.drift.importance import (
    PSI_CAP,
    ImportanceResult,
    importance_from_model,
    importance_from_score,
    load_pyfunc,
)
from watchkeeper.core.drift.skew import SERVING_DAYS, SkewResult, training_serving_skew
from watchkeeper.core.errors import WatchkeeperError
from watchkeeper.core.workbench.analyses import (
    _reference_query,
    file_reference_outcomes,
    open_source_of,
)
from watchkeeper.core.workbench.common import READ_LOCK, model_features, spec_of
from watchkeeper.core.workbench.portfolio import ModelEntry
from watchkeeper.core.workbench.reference_file import is_file_reference, read_reference_file

__all__ = [
    "PSI_CAP",
    "DriftImpact",
    "DropExplanation",
    "dropped_window",
    "explain_drop",
    "is_estimated",
    "moved_windows",
    "rank_drift",
    "registry_uri_of",
    "run_importance",
    "run_skew",
]


@dataclass(frozen=True)
class DriftImpact:
    """One feature's drift weighted by how much the model uses it."""

    name: str
    importance: float  # share of the total importance
    psi: float  # the largest PSI over the windows considered
    decision: str  # the worst decision over those windows
    impact: float  # importance × min(psi, PSI_CAP): the ranking key within a decision


_ORDER = {"drift": 3, "watch": 2, "ok": 1}


def rank_drift(
    drift: Any, importance: ImportanceResult, last: int | None = None
) -> tuple[DriftImpact, ...]:
    """Features by decision (drift, then watch, then ok), then by importance × PSI (the
    largest PSI of the last ``last`` windows, capped at :data:`PSI_CAP`).

    The decision comes first because it is the calibrated, tested call; importance orders
    the features within it.
    """
    out = []
    for f in drift.features:
        column = f.windows.column("psi")
        decisions = f.decisions()
        if last:
            column, decisions = column[-last:], decisions[-last:]
        psis = column[np.isfinite(column)]
        worst = max(decisions, key=lambda d: _ORDER.get(d, 0), default="ok")
        psi = float(psis.max()) if psis.size else 0.0
        share = importance.share_of(f.name) or 0.0
        out.append(DriftImpact(f.name, share, psi, worst, share * min(psi, PSI_CAP)))
    # ties (features the model does not use: importance 0) by PSI, then name
    return tuple(sorted(out, key=lambda d: (-_ORDER.get(d.decision, 0), -d.impact, -d.psi, d.name)))


def registry_uri_of(spec: Any) -> str | None:
    """The spec's registry URI, a relative ``sqlite:///`` path made absolute (spec's folder)."""
    uri = spec.model.registry_uri
    if not uri:
        return None
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        path = uri[len("sqlite:///") :]
        if not Path(path).is_absolute():
            uri = "sqlite:///" + str((spec.base_dir / path).resolve())
    return str(uri)


def _reference_frame(entry: ModelEntry, version: str, columns: list[str]) -> Any:
    from watchkeeper.core.evaluation.data import read_events

    spec = spec_of(entry)
    if is_file_reference(spec):
        return read_reference_file(spec, columns).to_pandas()
    ref_version, start, end = _reference_query(spec, version)
    with READ_LOCK, open_source_of(entry) as src:
        have = set(src.schema().names)
        table = read_events(
            src, model=spec.model.name, versions=[ref_version], start=start, end=end,
            columns=[c for c in columns if c in have],
        )  # fmt: skip
    return table.to_pandas()


def run_importance(entry: ModelEntry, version: str) -> ImportanceResult:
    """Importance on the reference: the registered pyfunc model where it loads, else the score.

    Why the model could not be used (no registry, not a pyfunc, a load error) is in the
    result's ``note``; its ``source`` always says which estimate it is.
    """
    import dataclasses

    spec = spec_of(entry)
    features = model_features(entry)
    frame = _reference_frame(entry, version, ["score", *features])
    uri = registry_uri_of(spec) if entry.evidence is None else None
    note = "the spec names no registry" if uri is None else ""
    if uri is not None:
        try:
            predict = load_pyfunc(f"models:/{spec.model.name}/{version}", uri)
            return importance_from_model(predict, frame, features)
        except Exception as exc:  # any load failure means: use the score
            note = f"the registered model did not load as pyfunc ({type(exc).__name__})"
    if "score" not in frame.columns:
        raise WatchkeeperError(f"{spec.model.name}: no score and no loadable model for importance")
    return dataclasses.replace(importance_from_score(frame, features), note=note)


def _training_dataset(uri: str, model: str, version: str, dest: Path) -> tuple[str, Path] | None:
    from watchkeeper.core.registry.client import open_registry

    registry = open_registry(uri)
    try:
        mv = registry.get_version(model, version)
        if not mv.run_id:
            return None
        lineage = registry.lineage(mv.run_id, artifacts=False)
        training = [d for d in lineage.datasets if d.context == "training"]
        # a version's own training data is preferred over the shared reference it also logs
        training.sort(key=lambda d: (not d.name.endswith("-training"), d.name))
        for ds in training:
            try:
                source = json.loads(ds.source).get("uri", "")
            except (ValueError, AttributeError):
                continue
            if "/artifacts/" not in source:
                continue
            path = source.rsplit("/artifacts/", 1)[1]  # relative to the run's artifacts
            return ds.name, registry.download_artifact(mv.run_id, path, dest)
        return None
    finally:
        registry.close()


def run_skew(entry: ModelEntry, version: str) -> SkewResult | None:
    """Skew of ``version``'s training dataset against its first :data:`SERVING_DAYS` served.

    ``None`` when the spec names no registry or the version logged no readable dataset.
    """
    import pyarrow.parquet as pq

    from watchkeeper.core.evaluation.data import read_events
    from watchkeeper.core.telemetry.contract import TelemetryQuery

    spec = spec_of(entry)
    uri = registry_uri_of(spec)
    if uri is None or entry.evidence is not None:
        return None
    cols = spec.telemetry.columns
    features = model_features(entry)
    with tempfile.TemporaryDirectory(prefix="wk-skew-") as tmp:
        found = _training_dataset(uri, spec.model.name, version, Path(tmp))
        if found is None:
            return None
        name, path = found
        training = pq.read_table(path)
    with READ_LOCK, open_source_of(entry) as src:
        first = src.read(
            TelemetryQuery(model=spec.model.name, versions=(version,)), columns=["ts"]
        )["ts"]
        if len(first) == 0:
            return None
        import pyarrow.compute as pc

        start = pc.min(first).as_py()
        start = start if start.tzinfo else start.replace(tzinfo=dt.UTC)
        end = start + dt.timedelta(days=SERVING_DAYS)
        serving = read_events(
            src, model=spec.model.name, versions=[version], start=start, end=end,
            columns=features,
        )  # fmt: skip
    return training_serving_skew(
        training.select([f for f in features if f in training.column_names]),
        serving,
        model=spec.model.name,
        version=version,
        dataset=name,
        serving_span=f"{start:%Y-%m-%d} to {end - dt.timedelta(days=1):%Y-%m-%d}",
        features=[f for f in features if f in training.column_names],
        categorical=cols.categorical,
        numerical=cols.numerical,
        settings=spec.drift,
    )


# -- why did the metric drop -----------------------------------------------------------

#: Ratio metrics split exactly by cells; any other metric (ROC AUC) is explained through
#: precision at the spec's threshold, and the result says so.
RATIO_METRICS = ("precision", "recall", "accuracy")
#: Categorical features with at most this many values partition the rows into cells.
MAX_CELLS = 12


@dataclass(frozen=True)
class DropExplanation:
    model: str
    version: str
    metric: str  # the metric the slices are decomposed on
    shown_metric: str  # the view's metric (may differ: ROC AUC does not split by cells)
    before: str  # the span compared against (the reference)
    after: str  # the window that dropped
    change: float  # metric after − before
    slices: tuple[Any, ...]  # Contribution per "feature = value", most negative first
    features: tuple[DriftImpact, ...]  # drift × importance in the dropped window
    importance_source: str
    notes: tuple[str, ...] = ()
    window: int = -1  # index of the explained window in the performance view
    estimated: bool = False  # the window's labels are missing: CBPE's estimate explained


def _judged_drops(perf: Any) -> list[tuple[float, int]]:
    """(drop below the baseline, window) for every window with a judged value, largest first.

    Judged as health judges: the realized value, else the CBPE estimate where labels are
    missing.
    """
    base = perf.baseline.value if perf.baseline is not None else None
    if base is None:
        return []
    out = []
    for i, v in enumerate(perf.judged_values()):
        if v is not None:
            out.append(((base - v) if perf.higher_is_better else (v - base), i))
    return sorted(out, reverse=True)


def dropped_window(perf: Any) -> int | None:
    """The window whose judged metric (realized, else estimated) is furthest below the
    baseline; None when none is below it."""
    drops = [(d, i) for d, i in _judged_drops(perf) if d > 0]
    return drops[0][1] if drops else None


def moved_windows(perf: Any) -> list[int]:
    """The windows that moved beyond the tolerance (what health alerts on), worst first."""
    return [i for d, i in _judged_drops(perf) if d > perf.tolerance]


def is_estimated(perf: Any, index: int) -> bool:
    """Whether window ``index`` is judged on its CBPE estimate (no realized value)."""
    import math

    real = perf.realized.windows[index].value(perf.metric)
    return real is None or (isinstance(real, float) and math.isnan(real))


def explain_drop(
    entry: ModelEntry,
    version: str,
    perf: Any,
    drift: Any,
    importance: ImportanceResult,
    window: int | None = None,
) -> DropExplanation:
    """Which slices' change adds up to the metric's drop in ``window`` (default: the worst
    window) against the reference, and which drifts there matter to the model.

    A window without enough labels is explained on its CBPE estimate: the slices split the
    estimated change (expected counts from the reference-calibrated score, see
    :mod:`~watchkeeper.core.evaluation.explain`), and the features are ranked by drift ×
    importance as for a realized drop. An estimate cannot see a change in the score–label
    relation (a concept change), which the notes say.
    """
    import numpy as np

    from watchkeeper.core.evaluation.data import read_events
    from watchkeeper.core.evaluation.explain import decompose_change, ratio_cells

    spec = spec_of(entry)
    index = dropped_window(perf) if window is None else window
    if index is None:
        raise WatchkeeperError(f"{spec.model.name}: no window below the baseline")
    w = perf.realized.windows[index]
    estimated = is_estimated(perf, index)
    metric = perf.metric if perf.metric in RATIO_METRICS else "precision"
    notes = []
    if metric != perf.metric:
        notes.append(
            f"{perf.metric} does not split by slices; the slices are decomposed on "
            f"precision at the threshold {spec.gate.threshold:g}"
        )
    cats = [c for c in spec.telemetry.columns.categorical]
    cols = ["score", "label", *cats]
    before = None
    if is_file_reference(spec):  # the Performance view's baseline, read the same way
        ref, why = file_reference_outcomes(entry, cols)
        if ref is None:
            raise WatchkeeperError(f"{spec.model.name}: {why}")
        before = ref.select([c for c in cols if c in ref.column_names]).to_pandas()
    with READ_LOCK, open_source_of(entry) as src:
        if before is None:
            ref_version, ref_start, ref_end = _reference_query(spec, version)
            before = read_events(
                src, model=spec.model.name, versions=[ref_version], start=ref_start,
                end=ref_end, columns=cols,
            ).to_pandas()  # fmt: skip
        after = read_events(
            src, model=spec.model.name, versions=[version], start=w.start, end=w.end,
            columns=cols,
        ).to_pandas()  # fmt: skip
    before = before[before["label"].notna() & before["score"].notna()]
    if estimated:
        from watchkeeper.core.evaluation.estimation import fit_calibrator

        # every event of the window counts, with its expected outcome: CBPE's counts
        after = after[after["score"].notna()].copy()
        calibrator = fit_calibrator(
            before["label"].to_numpy(dtype=np.float64),
            before["score"].to_numpy(dtype=np.float64),
            n_boot=1,
        )
        after["label"] = calibrator(after["score"].to_numpy(dtype=np.float64))
        notes.append(
            "labels are missing in this window: the slices split the change of the CBPE "
            "estimate (expected outcomes from the reference-calibrated score), which cannot "
            "see a change in how scores relate to outcomes"
        )
    else:
        after = after[after["label"].notna() & after["score"].notna()]
    frame = _concat_periods(before, after)
    labels = frame["label"].to_numpy(dtype=np.float64)
    if not estimated:
        labels = (labels > 0.5).astype(np.float64)
    else:
        period_after = frame["_after"].to_numpy(dtype=bool)
        labels = np.where(period_after, labels, (labels > 0.5).astype(np.float64))
    predicted = frame["score"].to_numpy(dtype=np.float64) >= spec.gate.threshold
    period = frame["_after"].to_numpy(dtype=bool)
    overall, _ = decompose_change(
        ratio_cells(metric, ["all"] * len(frame), labels, predicted, period)
    )
    slices: list[Any] = []
    for c in cats:
        values = frame[c].astype("string").fillna("(missing)")
        if values.nunique() > MAX_CELLS:
            continue
        _, parts = decompose_change(
            ratio_cells(metric, values.to_numpy(object), labels, predicted, period)
        )
        slices.extend(_renamed(p, f"{c} = {p.name}") for p in parts)
    slices.sort(key=lambda p: p.total)
    inside = [
        i for i, dw in enumerate(drift.windows)
        if dw.start is not None and w.start is not None and w.start <= dw.start < w.end
    ]  # fmt: skip
    ranked = rank_drift(_only_windows(drift, inside), importance) if inside else ()
    return DropExplanation(
        model=spec.model.name,
        version=version,
        metric=metric,
        shown_metric=perf.metric,
        before=f"reference {ref_start:%Y-%m-%d} to {ref_end - dt.timedelta(days=1):%Y-%m-%d}",
        after=f"{w.start:%Y-%m-%d} to {w.end - dt.timedelta(microseconds=1):%Y-%m-%d}",
        change=overall,
        slices=tuple(slices),
        features=tuple(d for d in ranked),
        importance_source=importance.source,
        notes=tuple(notes),
        window=index,
        estimated=estimated,
    )


def _concat_periods(before: Any, after: Any) -> Any:
    import pandas as pd

    return pd.concat([before.assign(_after=False), after.assign(_after=True)], ignore_index=True)


def _renamed(part: Any, name: str) -> Any:
    import dataclasses

    return dataclasses.replace(part, name=name)


def _only_windows(drift: Any, indices: list[int]) -> Any:
    """``drift`` with each feature's windows cut to ``indices`` (for ranking those only)."""
    import dataclasses

    feats = tuple(f.only_windows(indices) for f in drift.features)
    return dataclasses.replace(drift, features=feats)


# -- what check lists --------------------------------------------------------------------


@dataclass(frozen=True)
class Findings:
    """What ``check`` lists beside a model's verdict: drifts that matter, skew, the drop."""

    model: str
    version: str
    importance: ImportanceResult | None
    drifting: tuple[DriftImpact, ...]  # watch/drift features, importance × PSI first
    skews: tuple[SkewResult, ...]  # per version with a training dataset
    drop: DropExplanation | None
    errors: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        drop = self.drop
        return {
            "importance": self.importance.to_dict() if self.importance else None,
            "drifting_by_importance": [
                {"feature": d.name, "decision": d.decision, "psi": d.psi,
                 "importance": d.importance, "impact": d.impact}
                for d in self.drifting
            ],
            "skew": [s.to_dict() for s in self.skews],
            "metric_drop": None if drop is None else {
                "metric": drop.metric, "window": drop.after, "against": drop.before,
                "estimated": drop.estimated,
                "change": drop.change, "notes": list(drop.notes),
                "slices": [{"slice": c.name, "contribution": c.total} for c in drop.slices[:5]],
                "features": [{"feature": d.name, "impact": d.impact} for d in drop.features[:5]],
            },
            "errors": list(self.errors),
        }  # fmt: skip


def find_what_matters(entry: ModelEntry, version: str, drift: Any, perf: Any) -> Findings:
    """Importance-ranked drift, training–serving skew and the explained drop of one model.

    Each part fails alone: its error is listed and the others still come.
    """
    errors: list[str] = []
    importance = drifting = drop = None
    try:
        importance = run_importance(entry, version)
        if drift is not None:
            drifting = tuple(
                d for d in rank_drift(drift, importance) if d.decision in ("watch", "drift")
            )
    except WatchkeeperError as exc:
        errors.append(f"importance: {exc}")
    skews = []
    versions = [v.version for v in entry.versions]
    if not versions:  # a lone spec's entry lists none: the telemetry's
        from watchkeeper.core.evaluation.versions import telemetry_versions

        versions = sorted(telemetry_versions(spec_of(entry)))
    for v in versions:
        try:
            found = run_skew(entry, v)
        except WatchkeeperError as exc:
            errors.append(f"skew of version {v}: {exc}")
            continue
        if found is not None:
            skews.append(found)
    if perf is not None and importance is not None and drift is not None:
        moved = moved_windows(perf)  # realized, else estimated: as health judges
        if moved:
            try:
                drop = explain_drop(entry, version, perf, drift, importance, moved[0])
            except WatchkeeperError as exc:
                errors.append(f"metric drop: {exc}")
    return Findings(
        entry.name, version, importance, drifting or (), tuple(skews), drop, tuple(errors)
    )
