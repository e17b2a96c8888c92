"""The slice report of a monitor spec's model: everything the workbook shows, computed once.

:func:`slice_report` reads one version's events in a window (default: the last 30 days of
that version's data), computes the spec's slices with intervals, worst-slice discovery
against the reference window (or the overall value when the spec has no window
reference), the drift of the features against the reference (the drift engine), and —
when a challenger scored the same requests in the window — the champion–challenger
comparison and the gate. :func:`write_slice_report` of :mod:`.excel` writes it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from watchkeeper.core.evaluation.data import open_spec_source, read_events, version_time_range
from watchkeeper.core.evaluation.metrics import EvaluationError, float_array
from watchkeeper.core.evaluation.multiclass import MULTICLASS_METRICS
from watchkeeper.core.evaluation.multiclass_slices import ClassColumns
from watchkeeper.core.evaluation.predicates import predicates_from_spec
from watchkeeper.core.evaluation.slices import SliceResult, slice_metrics
from watchkeeper.core.evaluation.worst_slices import (
    DISCOVERY_METRICS,
    WorstSlices,
    find_worst_slices,
)
from watchkeeper.core.evidence import digest
from watchkeeper.core.progress import Progress

__all__ = ["DEFAULT_DAYS", "SliceReport", "slice_report"]

DEFAULT_DAYS = 30


@dataclass(frozen=True)
class SliceReport:
    summary: Mapping[str, Any]
    metric: str
    slices: SliceResult
    worst: WorstSlices | None
    drift: Mapping[str, Any] | None
    comparison: Any
    gate: Any
    version: str
    challenger: str | None
    notes: tuple[str, ...] = field(default=())
    multiclass: Any = None  # a multiclass model's MulticlassMetrics of the window

    def write(self, path: Path | str) -> Path:
        from watchkeeper.core.evaluation.excel import write_slice_report

        return write_slice_report(
            path,
            summary=self.summary,
            slices=self.slices,
            metric=self.metric,
            worst=self.worst,
            drift=self.drift,
            comparison=self.comparison,
            champion=self.version,
            challenger=self.challenger or "",
            gate=self.gate,
            multiclass=self.multiclass,
        )


def _generator() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        v = version("watchkeeper")
    except PackageNotFoundError:
        v = "0+unknown"
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown user"
    return f"{user}, with watchkeeper {v}"


def slice_report(
    spec: Any,
    *,
    version: str,
    challenger: str | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    spec_path: Path | None = None,
    worst_pairs: bool = True,
    progress: Progress | None = None,
    source: Any = None,
    drift: Mapping[str, Any] | None = None,
    drift_note: str | None = None,
    known_slices: Any = None,
    known_worst: Any = None,
    known_data: Mapping[str, Any] | None = None,
) -> SliceReport:
    """Compute the report for ``version`` (and ``challenger``, if it has rows in the window).

    ``source``: an open telemetry source to read (the workbench passes its evidence's);
    default the spec's own. ``drift``: the drift document of the Drift sheet — the
    workbench's drift analysis of the same window (``drift_note`` says why there is none).
    ``known_slices`` / ``known_worst``: the slice metrics and worst slices of this very
    window, predicates, metrics and reference, already computed (the Slices view's), used
    instead of computing them again. ``known_data``: with them, the window's counts the data
    digest rests on (``rows``, ``labeled``, ``score_sum``, ``positives``), counted where the
    data lives — then no event is read (a warehouse's view: ``workbench/slices_pushed``).
    """
    report = progress or (lambda f, m: None)
    notes: list[str] = []
    model = spec.model.name
    policy = spec.gate
    metric = policy.primary_metric
    predicates = predicates_from_spec(spec)
    features = list(spec.telemetry.columns.features)
    categorical = list(spec.telemetry.columns.categorical)
    with contextlib.nullcontext(source) if source is not None else open_spec_source(spec) as src:
        if end is None or start is None:
            span = version_time_range(src, model, version)
            if span is None:
                raise EvaluationError(
                    f"{model}: version {version!r} has no rows in {src.description}"
                )
            end = end or span[1]
            start = start or (end - dt.timedelta(days=DEFAULT_DAYS))
        if not features:
            schema = src.schema()
            features = [c.name for c in schema.columns if c.role == "feature"]
        slice_cols = [c for p in predicates for c in p.columns]
        outcomes = ClassColumns.of_spec(spec, src.schema().names)
        outputs = ["score", "label"] if outcomes is None else outcomes.columns()
        cols = list(dict.fromkeys(["ts", *outputs, *features, *slice_cols]))
        description = src.description
        counted = known_data is not None and known_slices is not None and outcomes is None
        if counted:  # the slices, the search and the counts are known: nothing to read
            return _counted_report(
                spec,
                version,
                challenger,
                start,
                end,
                spec_path,
                source,
                description,
                drift,
                drift_note,
                known_slices,
                known_worst,
                dict(known_data or {}),
                report,
            )
        report(0.1, "reading the window")
        current = read_events(
            src, model=model, versions=[version], start=start, end=end, columns=cols
        )
        reference = None
        ref_range = _reference_range(spec)
        if ref_range is not None:
            ref_version = spec.reference.version or version
            reference = read_events(
                src,
                model=model,
                versions=[ref_version],
                start=ref_range[0],
                end=ref_range[1],
                columns=cols,
            )
    if current.num_rows == 0:
        raise EvaluationError(
            f"{model}: version {version!r} has no rows between {start:%Y-%m-%d %H:%M} and "
            f"{end:%Y-%m-%d %H:%M} UTC"
        )
    report(0.3, "slices")
    if outcomes is None:
        offered: tuple[str, ...] = ("roc_auc", "pr_auc", "precision", "recall", "brier")
        discovery_metric = metric if metric in DISCOVERY_METRICS else "roc_auc"
    else:
        offered = MULTICLASS_METRICS
        discovery_metric = metric
    chosen = tuple(dict.fromkeys((metric, *offered)))
    slices = known_slices
    if slices is None:
        slices = slice_metrics(
            current, predicates, metrics=chosen, threshold=policy.threshold, outcomes=outcomes
        )
    worst = None
    if features and known_worst is not None and worst_pairs:
        worst = known_worst
        notes.extend(worst.notes)
    elif features:
        report(0.45, "worst slices")
        try:
            worst = find_worst_slices(
                current,
                features,
                metric=discovery_metric,
                categorical=categorical,
                baseline=reference,
                threshold=policy.threshold,
                pairs=worst_pairs,
                outcomes=outcomes,
            )
        except EvaluationError as exc:
            notes.append(f"worst slices not computed: {exc}")
        else:
            notes.extend(worst.notes)
    if drift_note:
        notes.append(drift_note)
    comparison = gate = None
    if challenger:
        report(0.75, "champion vs challenger")
        from watchkeeper.core.evaluation.gate import gate_from_spec

        try:
            gate = gate_from_spec(
                spec, champion=version, challenger=challenger, start=start, end=end, source=source
            )
            comparison = gate.comparison
        except EvaluationError as exc:
            notes.append(f"no champion–challenger comparison: {exc}")
    multiclass = None
    if outcomes is None:
        y = float_array(current.column("label"), "label")
        s = float_array(current.column("score"), "score")
        data = {
            "rows": current.num_rows,
            "labeled": int((~np.isnan(y)).sum()),
            "score_sum": float(np.nansum(s)),
            "positives": int(np.nansum(y)),
        }
    else:
        from watchkeeper.core.evaluation.multiclass import metrics_of_codes

        mc = outcomes.read(current)
        multiclass = metrics_of_codes(mc.classes, mc.codes, mc.p, mc.predicted)
        data = {
            "rows": current.num_rows,
            "labeled": int(np.isfinite(mc.codes).sum()),
            "probability_sums": [float(v) for v in np.nansum(mc.p, axis=0)],
            "label_counts": [int((mc.codes == j).sum()) for j in range(len(mc.classes))],
        }
    summary: dict[str, Any] = {
        "model": model,
        "version": version,
        "challenger": challenger or "(none)",
        "window start": start,
        "window end": end,
        "generated by": _generator(),
        "generated at": dt.datetime.now(dt.UTC),
        "spec": str(spec_path) if spec_path else "(in memory)",
        "spec digest": digest(spec.model_dump(mode="json")),
        "telemetry": description,
        "window data digest": digest(data),
        "window events / labeled": f"{data['rows']:,} / {data['labeled']:,}",
        "reference digest": (drift or {}).get("reference", {}).get("digest", "(no drift analysis)"),
        "primary metric": metric,
    }
    if outcomes is None:
        summary["threshold"] = policy.threshold
    else:
        summary["classes"] = ", ".join(outcomes.classes)
    if notes:
        summary["notes"] = notes
    report(1.0, "done")
    return SliceReport(
        summary,
        metric,
        slices,
        worst,
        drift,
        comparison,
        gate,
        version,
        challenger,
        tuple(notes),
        multiclass,
    )


def _counted_report(
    spec: Any,
    version: str,
    challenger: str | None,
    start: dt.datetime,
    end: dt.datetime,
    spec_path: Path | None,
    source: Any,
    description: str,
    drift: Mapping[str, Any] | None,
    drift_note: str | None,
    slices: Any,
    worst: Any,
    data: dict[str, Any],
    report: Progress,
) -> SliceReport:
    """:func:`slice_report` from slices, worst slices and window counts known already."""
    notes: list[str] = list(worst.notes) if worst is not None else []
    notes.append("slices and worst slices counted in the database: PR AUC without interval")
    if drift_note:
        notes.append(drift_note)
    metric = spec.gate.primary_metric
    comparison = gate = None
    if challenger:
        report(0.75, "champion vs challenger")
        from watchkeeper.core.evaluation.gate import gate_from_spec

        try:
            gate = gate_from_spec(
                spec, champion=version, challenger=challenger, start=start, end=end, source=source
            )
            comparison = gate.comparison
        except EvaluationError as exc:
            notes.append(f"no champion–challenger comparison: {exc}")
    summary: dict[str, Any] = {
        "model": spec.model.name,
        "version": version,
        "challenger": challenger or "(none)",
        "window start": start,
        "window end": end,
        "generated by": _generator(),
        "generated at": dt.datetime.now(dt.UTC),
        "spec": str(spec_path) if spec_path else "(in memory)",
        "spec digest": digest(spec.model_dump(mode="json")),
        "telemetry": description,
        "window data digest": digest(data),
        "window events / labeled": f"{data['rows']:,} / {data['labeled']:,}",
        "reference digest": (drift or {}).get("reference", {}).get("digest", "(no drift analysis)"),
        "primary metric": metric,
        "threshold": spec.gate.threshold,
    }
    if notes:
        summary["notes"] = notes
    report(1.0, "done")
    return SliceReport(
        summary, metric, slices, worst, drift, comparison, gate, version, challenger, tuple(notes)
    )


def _reference_range(spec: Any) -> tuple[dt.datetime, dt.datetime] | None:
    ref = spec.reference
    if ref is None or ref.kind != "window" or ref.start is None or ref.end is None:
        return None
    from watchkeeper.core.times import parse_time

    return parse_time(ref.start), parse_time(ref.end)
