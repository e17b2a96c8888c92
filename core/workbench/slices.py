"""Slices and worst slices of one model version, from its spec — no Qt.

Like :mod:`.analyses`, these functions only *wire* core: which telemetry, which window,
which slices — the statistics are core's (``slice_metrics``, ``find_worst_slices``,
``slice_report``). Each runs on a worker thread, takes ``progress(fraction, message)`` and
``cancelled()``, and returns a frozen view the panel draws.

The slice view keeps the events it read (one version, the report's window), so adding a
slice in the builder recomputes the metrics over data already in memory instead of reading
the telemetry again. :func:`write_slice_report` is the one path to the slice workbook, for
the window's export and ``watchkeeper report slices``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from watchkeeper.core.progress import CancelCheck, Progress, check_cancelled, stage
from watchkeeper.core.workbench.analyses import open_source_of
from watchkeeper.core.workbench.challenger import challenger_of
from watchkeeper.core.workbench.common import (
    READ_LOCK,
    class_columns,
    feature_names,
    require_outcomes,
    spec_of,
)
from watchkeeper.core.workbench.portfolio import ModelEntry
from watchkeeper.core.workbench.reference_file import FILE_REFERENCE_SLICES, is_file_reference

if TYPE_CHECKING:
    from watchkeeper.core.evaluation.gate import KnownGate
    from watchkeeper.core.evaluation.slices import SliceResult
    from watchkeeper.core.spec import SliceSpec

__all__ = [
    "BUILDER_LEVELS",
    "MULTICLASS_SLICE_METRICS",
    "SLICE_METRICS",
    "ColumnInfo",
    "SlicesView",
    "count_slice",
    "export_slice_report",
    "predicate_to_slice_spec",
    "recompute_slices",
    "run_slices",
    "write_slice_report",
]

#: Metrics computed per slice (the spec's primary metric is put first).
SLICE_METRICS = ("roc_auc", "pr_auc", "precision", "recall", "brier")
#: Metrics computed per slice of a multiclass model.
MULTICLASS_SLICE_METRICS = (
    "macro_f1",
    "accuracy",
    "balanced_accuracy",
    "weighted_f1",
    "roc_auc",
    "log_loss",
    "brier",
)
#: Most levels of a categorical column the slice builder offers.
BUILDER_LEVELS = 50


# -- slices ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnInfo:
    """What the slice builder offers for one column: its kind, its levels or its range."""

    name: str
    kind: str  # "categorical" | "numerical"
    integer: bool = False  # numbers without a fraction (values are parsed as int)
    levels: tuple[Any, ...] = ()  # most frequent first (categorical)
    low: float | None = None  # observed range (numerical)
    high: float | None = None

    def parse(self, text: str) -> int | float | str:
        """A value typed by the user as this column's type (ValueError if it is not one)."""
        text = text.strip()
        if not text:
            raise ValueError(f"no value given for {self.name}")
        if self.integer:
            try:
                return int(text)
            except ValueError:
                raise ValueError(f"{self.name} holds whole numbers, not {text!r}") from None
        if self.kind == "numerical":
            try:
                return float(text)
            except ValueError:
                raise ValueError(f"{self.name} holds numbers, not {text!r}") from None
        return text


@dataclass(frozen=True)
class SlicesView:
    """Slice metrics and worst slices of one version over a window, ready to draw."""

    model: str
    version: str
    challenger: str | None
    start: dt.datetime
    end: dt.datetime
    metric: str  # the spec's primary metric (the default shown)
    slices: Any  # SliceResult
    worst: Any  # WorstSlices, or None
    predicates: tuple[Any, ...]  # SlicePredicate, spec slices then the user's
    custom: tuple[Any, ...]  # the user's SlicePredicates (a suffix of ``predicates``)
    columns: tuple[ColumnInfo, ...]
    table: Any = field(repr=False)  # the events read (Arrow), for recomputing
    threshold: float = 0.5
    notes: tuple[str, ...] = ()
    outcomes: Any = None  # a multiclass model's ClassColumns; None for a binary one
    # counted in the database (slices_pushed): the entry to count again from, ``table``
    # None, and the window's counts a report's data digest rests on
    pushed: Any = field(default=None, repr=False)
    data: Mapping[str, Any] | None = None
    # a multiclass view counted there: the window's MulticlassMetrics (the workbook's
    # per-class and confusion sheets), as the database counted them
    window_metrics: Any = field(default=None, repr=False)
    # read in bounded parts (evaluation/slice_window): ``table`` holds the window's time,
    # outputs and slice columns only; the entry whose window a slice on another column reads
    reread: Any = field(default=None, repr=False)

    @property
    def multiclass(self) -> bool:
        return self.outcomes is not None

    def column(self, name: str) -> ColumnInfo | None:
        return next((c for c in self.columns if c.name == name), None)

    def metrics_frame(self) -> pd.DataFrame:
        """One row per slice (overall first): support, labeled, each metric with its CI."""
        rows = [
            _metric_row(
                "overall",
                "(all events)",
                False,
                self.slices.events,
                self.slices.labeled,
                self.slices.positives,
                self.slices.overall,
                None,
            )
        ]
        custom = {p.name for p in self.custom}
        for r in self.slices.rows:
            p = r.predicate
            rows.append(
                _metric_row(
                    p.name,
                    p.label,
                    p.critical,
                    r.support,
                    r.labeled,
                    r.positives,
                    r.metrics,
                    r.delta,
                    "builder" if p.name in custom else "spec",
                )
            )
        return pd.DataFrame(rows)

    def worst_frame(self, significant_only: bool = False, limit: int = 50) -> pd.DataFrame:
        """The worst-slice list: slice, support, value with CI, difference, p and q."""
        cols = [
            "slice",
            "support",
            "positives",
            "value",
            "lower",
            "upper",
            "compared with",
            "delta",
            "conservative delta",
            "p",
            "q",
            "significant",
            "explained by",
        ]
        if self.worst is None:
            return pd.DataFrame(columns=cols)
        out = []
        for w in self.worst.candidates:
            if significant_only and not w.significant:
                continue
            compared = self.worst.overall.value if w.baseline_value is None else w.baseline_value
            out.append(
                [
                    w.predicate.label,
                    w.support,
                    w.positives,
                    w.estimate.value,
                    w.estimate.lower,
                    w.estimate.upper,
                    compared,
                    w.delta,
                    w.conservative_delta,
                    w.p_value,
                    w.q_value,
                    w.significant,
                    w.explained_by or "",
                ]
            )
            if len(out) >= limit:
                break
        frame = pd.DataFrame(out, columns=cols).astype({c: float for c in cols[3:11]})
        if self.multiclass:  # no positive class: discovery counts the events predicted right
            frame = frame.rename(columns={"positives": "predicted right"})
        return frame


def _metric_row(
    name: str,
    label: str,
    critical: bool,
    support: int,
    labeled: int,
    positives: int | None,
    metrics: Mapping[str, Any],
    delta: Mapping[str, float | None] | None,
    origin: str = "",
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "slice": name,
        "condition": label,
        "critical": critical,
        "from": origin,
        "events": support,
        "labeled": labeled,
        "positives": positives,
    }
    for k, est in metrics.items():
        row[k] = np.nan if est.value is None else est.value
        row[f"{k} low"] = np.nan if est.lower is None else est.lower
        row[f"{k} high"] = np.nan if est.upper is None else est.upper
        d = None if delta is None else delta.get(k)
        row[f"{k} Δ"] = np.nan if d is None else d
    return row


def _window(src: Any, model: str, version: str) -> tuple[dt.datetime, dt.datetime]:
    from watchkeeper.core.evaluation.data import version_time_range
    from watchkeeper.core.evaluation.metrics import EvaluationError
    from watchkeeper.core.evaluation.report import DEFAULT_DAYS

    span = version_time_range(src, model, version)
    if span is None:
        raise EvaluationError(f"{model}: version {version!r} has no rows in {src.description}")
    return span[1] - dt.timedelta(days=DEFAULT_DAYS), span[1]


def _column_info(table: Any, spec: Any, names: Sequence[str]) -> tuple[ColumnInfo, ...]:
    import pyarrow as pa
    import pyarrow.compute as pc

    categorical = set(spec.telemetry.columns.categorical)
    out = []
    for name in names:
        if name not in table.column_names:
            continue
        col = table.column(name)
        numeric = pa.types.is_integer(col.type) or pa.types.is_floating(col.type)
        integer = pa.types.is_integer(col.type)
        if numeric and name not in categorical:
            mm = pc.min_max(col)
            out.append(
                ColumnInfo(name, "numerical", integer, (), mm["min"].as_py(), mm["max"].as_py())
            )
        else:
            counts = pc.value_counts(pc.drop_null(col)).to_pylist()
            counts.sort(key=lambda d: (-d["counts"], str(d["values"])))
            levels = tuple(d["values"] for d in counts[:BUILDER_LEVELS])
            out.append(ColumnInfo(name, "categorical", integer, levels))
    return tuple(out)


def _slice_metrics(
    table: Any, predicates: Sequence[Any], metric: str, threshold: float, outcomes: Any = None
) -> SliceResult:
    from watchkeeper.core.evaluation.slices import slice_metrics

    offered = SLICE_METRICS if outcomes is None else MULTICLASS_SLICE_METRICS
    chosen = tuple(dict.fromkeys((metric, *offered)))
    return slice_metrics(
        table, list(predicates), metrics=chosen, threshold=threshold, outcomes=outcomes
    )


def _refuse_bad_labels(spec: Any, table: Any, outcomes: Any) -> None:
    """Labels (and a multiclass model's predictions) that are not the model's, refused in
    the words and with the counts of the database's refusal (the source's column named), so
    a log gets the same message whichever engine holds it."""
    from watchkeeper.core.evaluation.metrics import refuse_odd_labels
    from watchkeeper.core.evaluation.multiclass import class_codes

    mapped = spec.telemetry.columns
    if outcomes is None:
        refuse_odd_labels(table.column("label"), mapped.label)
        return
    class_codes(outcomes.classes, table.column("label"), "label", mapped.label)
    if outcomes.prediction is not None and outcomes.prediction in table.column_names:
        column = table.column(outcomes.prediction)
        class_codes(outcomes.classes, column, "prediction", mapped.prediction)


def run_slices(
    entry: ModelEntry,
    version: str,
    custom: Sequence[Any] = (),
    progress: Progress | None = None,
    cancelled: CancelCheck | None = None,
) -> SlicesView:
    """The spec's slices (and the user's ``custom`` predicates) and the worst slices of
    ``version`` over the report's window (the last 30 days of its events), worst slices
    tested against the same slices in the reference window."""
    import dataclasses

    from watchkeeper.core.evaluation.metrics import EvaluationError
    from watchkeeper.core.evaluation.predicates import predicates_from_spec
    from watchkeeper.core.evaluation.slice_window import read_slice_window
    from watchkeeper.core.evaluation.worst_slices import find_worst_slices
    from watchkeeper.core.times import parse_time

    report = progress or (lambda f, m: None)
    spec = spec_of(entry)
    model = spec.model.name
    policy = spec.gate
    predicates = (*predicates_from_spec(spec), *custom)
    slice_cols = [c for p in predicates for c in p.columns]
    notes: list[str] = []
    with READ_LOCK, open_source_of(entry) as src:
        have = src.schema().names
        features = feature_names(spec, src)
        require_outcomes(spec, have, "the slice analysis")
        from watchkeeper.core.workbench.slices_pushed import pushed_down, run_slices_sql

        if pushed_down(src, spec, version):
            return run_slices_sql(entry, src, version, custom, report, cancelled)
        outcomes = class_columns(spec, have)
        outputs = ["score", "label"] if outcomes is None else outcomes.columns()
        report(0.05, "finding the window")
        start, end = _window(src, model, version)
        check_cancelled(cancelled)
        report(0.1, "reading the window")
        ref = spec.reference
        period = None
        if ref is not None and ref.kind == "window" and ref.start and ref.end:
            period = (ref.version or version, parse_time(ref.start), parse_time(ref.end))
        read = read_slice_window(
            src,
            model=model,
            version=version,
            start=start,
            end=end,
            outputs=outputs,
            features=features,
            slice_columns=slice_cols,
            reference=period,
            outcomes=outcomes,
            label_column=spec.telemetry.columns.label,
            prediction_column=spec.telemetry.columns.prediction or None,
            cancelled=cancelled,
        )
    current = read.current
    if current.num_rows == 0:
        raise EvaluationError(f"{model}: version {version} has no rows in the window")
    reference = read.baseline
    if features and is_file_reference(spec):
        notes.append(FILE_REFERENCE_SLICES)
    if period is not None and read.baseline_rows == 0:
        reference = None
        notes.append(
            "the reference window has no events here (an offline bundle holds its own range): "
            "worst slices are compared with the overall metric"
        )
    check_cancelled(cancelled)
    _refuse_bad_labels(spec, current, outcomes)
    report(0.3, "metrics per slice")
    metric = policy.primary_metric
    slices = _slice_metrics(current, predicates, metric, policy.threshold, outcomes)
    check_cancelled(cancelled)
    worst = None
    if features:
        report(0.5, "searching for the worst slices")
        from watchkeeper.core.evaluation.worst_slices import DISCOVERY_METRICS

        # a multiclass model's primary metric is always one discovery can search on
        searchable = outcomes is not None or metric in DISCOVERY_METRICS
        metric_found = metric if searchable else "roc_auc"
        try:
            worst = find_worst_slices(
                read.search,
                features,
                metric=metric_found,
                categorical=list(spec.telemetry.columns.categorical),
                baseline=reference,
                threshold=policy.threshold,
                outcomes=outcomes,
                label_column=spec.telemetry.columns.label,
                prediction_column=spec.telemetry.columns.prediction or None,
            )
        except EvaluationError as exc:
            notes.append(f"worst slices not computed: {exc}")
        else:
            # the bounds the search met, said plainly: the samples drawn as the window streamed
            worst = dataclasses.replace(worst, notes=(*read.notes, *worst.notes))
            notes.extend(worst.notes)
    report(1.0, "done")
    return SlicesView(
        model=model,
        version=version,
        challenger=challenger_of(entry, version),
        start=start,
        end=end,
        metric=metric,
        slices=slices,
        worst=worst,
        predicates=tuple(predicates),
        custom=tuple(custom),
        # a bounded read's builder takes its levels and ranges from the search's sample
        columns=_column_info(read.search if read.bounded else current, spec, features),
        table=current,
        threshold=policy.threshold,
        notes=tuple(notes),
        outcomes=outcomes,
        reread=entry if read.bounded else None,
    )


def count_slice(
    view: SlicesView, predicate: Any, cancelled: CancelCheck | None = None
) -> tuple[int, int]:
    """``(events the predicate selects, events of the view)``: the builder's live count, over
    the events the view holds, or in the database for a view counted there."""
    if view.table is None and view.pushed is not None:
        from watchkeeper.core.workbench.slices_pushed import count_pushed

        return count_pushed(view, predicate, cancelled)
    table = view.table
    if _lacks(table, predicate.columns) and view.reread is not None:
        table = _read_again(view, predicate.columns, cancelled)
    return int(predicate.mask(table).sum()), table.num_rows


def _lacks(table: Any, columns: Sequence[str]) -> bool:
    return any(c not in table.column_names for c in columns)


def _read_again(view: SlicesView, columns: Sequence[str], cancelled: CancelCheck | None) -> Any:
    """The view's window read again (a bounded view's): ``columns`` of every event."""
    from watchkeeper.core.evaluation.data import read_events

    with READ_LOCK, open_source_of(view.reread) as src:
        return read_events(
            src,
            model=view.model,
            versions=[view.version],
            start=view.start,
            end=view.end,
            columns=columns,
            cancelled=cancelled,
        )


def recompute_slices(
    view: SlicesView,
    custom: Sequence[Any],
    progress: Progress | None = None,
    cancelled: CancelCheck | None = None,
) -> SlicesView:
    """``view`` with the user's slices replaced by ``custom``: metrics over the events the
    view already holds (no read; worst slices unchanged)."""
    import dataclasses

    report = progress or (lambda f, m: None)
    if view.table is None and view.pushed is not None:
        from watchkeeper.core.workbench.slices_pushed import recompute_pushed

        return recompute_pushed(view, custom, report, cancelled)
    spec_predicates = view.predicates[: len(view.predicates) - len(view.custom)]
    predicates = (*spec_predicates, *custom)
    table = view.table
    missing = [c for p in custom for c in p.columns if c not in table.column_names]
    if missing and view.reread is not None:
        # a bounded view holds the narrow columns: the window read again with the new ones
        report(0.1, "reading the window's columns")
        columns = list(dict.fromkeys([*table.column_names, *missing]))
        table = _read_again(view, columns, cancelled)
        missing = [c for c in missing if c not in table.column_names]
    if missing:
        from watchkeeper.core.evaluation.metrics import EvaluationError

        raise EvaluationError(f"no column {missing[0]!r} in the events read for slicing")
    report(0.2, "metrics per slice")
    check_cancelled(cancelled)
    slices = _slice_metrics(table, predicates, view.metric, view.threshold, view.outcomes)
    report(1.0, "done")
    return dataclasses.replace(
        view, slices=slices, predicates=tuple(predicates), custom=tuple(custom), table=table
    )


def predicate_to_slice_spec(predicate: Any) -> SliceSpec:
    """A builder predicate as a monitor spec ``[[slices]]`` entry (so reports include it)."""
    from watchkeeper.core.spec import SliceSpec

    where: dict[str, Any] = {}
    for c in predicate.conditions:
        if c.op == "eq":
            where[c.column] = c.value
        elif c.op == "in":
            where[c.column] = list(c.value)
        elif c.op == "range":
            lo, hi = c.value
            where[c.column] = {k: v for k, v in (("min", lo), ("max", hi)) if v is not None}
        else:
            raise ValueError(f"{c.label}: a 'missing' condition cannot go into a spec")
    return SliceSpec.model_validate(
        {"name": predicate.name, "where": where, "critical": predicate.critical}
    )


def export_slice_report(
    entry: ModelEntry,
    view: SlicesView,
    path: Path,
    progress: Progress | None = None,
    cancelled: CancelCheck | None = None,
    *,
    known_gate: KnownGate | None = None,
) -> Path:
    """The Slices view's workbook: its version, window and challenger, the user's slices
    included (:func:`write_slice_report`). ``known_gate``: the Champion vs challenger
    view's gate, taken when the workbook's pairs and settings are the ones it rests on."""
    return write_slice_report(
        entry,
        view.version,
        path,
        challenger=view.challenger,
        start=view.start,
        end=view.end,
        custom=view.custom,
        progress=progress,
        cancelled=cancelled,
        known=view,
        known_gate=known_gate,
    )


def write_slice_report(
    entry: ModelEntry,
    version: str,
    path: Path,
    *,
    challenger: str | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    custom: Sequence[Any] = (),
    progress: Progress | None = None,
    cancelled: CancelCheck | None = None,
    known: SlicesView | None = None,
    known_gate: KnownGate | None = None,
) -> Path:
    """Write the slice workbook (core's ``slice_report``) of ``version`` — the challenger's
    comparison and gate when there is one — read from the entry's evidence under the read
    lock; the one path of the window's export and ``watchkeeper report slices``. The
    workbook is written beside ``path`` and moved into place, so a failure leaves no part.
    ``known_gate``: a gate computed already (the Champion vs challenger view's), whose
    comparison is taken when the workbook's pairs, policy and bootstrap are its own
    (:func:`~watchkeeper.core.evaluation.gate.gate_from_spec`)."""
    from watchkeeper.core.errors import WatchkeeperError
    from watchkeeper.core.evaluation.report import DEFAULT_DAYS, slice_report
    from watchkeeper.core.workbench.analyses import run_drift

    report = progress or (lambda f, m: None)
    spec = spec_of(entry)
    if custom:
        extra = tuple(predicate_to_slice_spec(p) for p in custom)
        spec = spec.model_copy(update={"slices": (*spec.slices, *extra)})
    check_cancelled(cancelled)
    with READ_LOCK, open_source_of(entry) as src:
        require_outcomes(spec, src.schema().names, "the slice report")
        from watchkeeper.core.workbench.slices_pushed import (
            pushed_down,
            run_slices_sql,
            window_sql,
        )

        pushed = pushed_down(src, spec, version)
        if start is None or end is None:
            _, last = (window_sql if pushed else _window)(src, spec.model.name, version)
            end = end or last
            start = start or end - dt.timedelta(days=DEFAULT_DAYS)
        if pushed and (known is None or known.data is None):
            # the report's slices counted in the database too: no window read for them
            known = run_slices_sql(
                entry,
                src,
                version,
                custom,
                stage(report, 0.0, 0.2),
                cancelled,
                start=start,
                end=end,
            )
    # the Drift sheet is the Drift view's analysis of the report's window, not a copy of it;
    # its columns are the decisions' (no exact statistics unless the test decides on them)
    drift, drift_note = None, None
    try:
        result = run_drift(
            entry,
            version,
            None,
            stage(report, 0.0, 0.4),
            cancelled,
            start=start,
            as_of=end,
            decisions_only=True,
        )
        drift = result.to_dict()
    except WatchkeeperError as exc:
        drift_note = f"drift not computed: {exc}"
    check_cancelled(cancelled)
    with READ_LOCK, open_source_of(entry) as src:
        rep = slice_report(
            spec,
            version=version,
            challenger=challenger,
            start=start,
            end=end,
            spec_path=entry.spec_path,
            source=src,
            progress=lambda f, m: report(0.4 + 0.5 * f, m),
            drift=drift,
            drift_note=drift_note,
            # the view's own analysis of this window: the same numbers, not computed twice
            known_slices=known.slices if known is not None else None,
            known_worst=known.worst if known is not None else None,
            known_data=known.data if known is not None else None,
            known_multiclass=known.window_metrics if known is not None else None,
            known_gate=known_gate,
        )
    check_cancelled(cancelled)
    report(0.92, "writing the workbook")
    path = Path(path)
    partial = path.with_name(f".{path.name}.partial")
    try:
        rep.write(partial)
        partial.replace(path)
    except OSError as exc:
        # (the clean-up fails too where the folder is not one: the reason is the write's)
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        from watchkeeper.core.evaluation.metrics import EvaluationError

        raise EvaluationError(f"{path}: cannot write the workbook: {exc.strerror}") from None
    report(1.0, "written")
    return path
