"""The Slices view counted where the telemetry lives — no Qt.

:func:`~.slices.run_slices` takes this path for a binary model's SQL source when rows must
not cross the wire: on a warehouse engine (Spark SQL: ``SqlSource.warehouse``). Elsewhere the
in-memory path reads the window (bootstrapped PR AUC intervals, the builder's live count):
measured (``benchmarks/spark.py --analysis slices``, 100,000 events x 12 features) the
search counted by DuckDB took 5.9x the in-memory search's time and 5x its peak memory (DuckDB
runs in this process, and grouping the rows once per feature and pair is more work than the
in-memory search on its 200,000-row sample), so :data:`PUSHED_DIALECTS` is empty; a dialect
listed there is counted in the database above :data:`~.analyses.IN_MEMORY_ROWS` rows.

What runs in the database (:mod:`~watchkeeper.core.evaluation.slices_sql`): the window's
time range (one ``min/max``), the metrics of every slice and of all events (one statement),
whether the reference window has events (one ``count``), and the worst-slice search (four
statements: numerical levels, categorical levels, single features, pairs; one more for the
score range when ROC AUC is counted per score bin). Nothing comes back but sums per group;
the view holds no events (``table`` is ``None``), so the builder's live count of a draft
(:func:`count_pushed`, one ``COUNT``) and adding a slice count in the database again
(:func:`recompute_pushed`).

A multiclass model's view takes the same path (:mod:`~watchkeeper.core.evaluation.
multiclass_slices_sql`): per slice, and per candidate level in the search, the confusion
counts come back (true class × predicted class, with the log-loss and Brier sums) — one
statement for the slices (three with ROC AUC: its per-class rank sums and its interval's
bounded sample), the binary search's statements for the search, which does not search on
ROC AUC (:data:`~watchkeeper.core.evaluation.multiclass_slices_sql.NOT_SEARCHED`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from watchkeeper.core.evaluation.multiclass_performance_sql import AUC_ROWS
from watchkeeper.core.progress import CancelCheck, Progress, check_cancelled
from watchkeeper.core.workbench.reference_file import FILE_REFERENCE_SLICES, is_file_reference

if TYPE_CHECKING:  # slices imports this module
    from watchkeeper.core.workbench.slices import SlicesView

__all__ = [
    "MULTICLASS_NOTE",
    "PUSHED_NOTE",
    "count_pushed",
    "pushed_down",
    "recompute_pushed",
    "run_slices_sql",
    "window_sql",
]

#: Non-warehouse dialects whose Slices view is counted in the database beyond
#: IN_MEMORY_ROWS rows (the search needs exact quantiles: duckdb, postgresql, hive).
PUSHED_DIALECTS: tuple[str, ...] = ()

PUSHED_NOTE = (
    "slices and worst slices counted in the database (sums per group, no events read): "
    "PR AUC without its interval (a bootstrap needs the rows)"
)

MULTICLASS_NOTE = (
    "slices and worst slices counted in the database (confusion counts per group, no events "
    "read): ROC AUC exact from per-class rank sums, its interval bootstrapped on at most "
    f"{AUC_ROWS:,} events a slice; balanced accuracy's and the F1s' intervals bootstrapped "
    "from the counts' multinomial, the worst slices' standard errors a jackknife of the counts"
)


def pushed_down(src: Any, spec: Any, version: str) -> bool:
    """Whether the Slices view of ``src`` is counted in the database (module doc)."""
    from watchkeeper.core.telemetry.contract import TelemetryQuery
    from watchkeeper.core.telemetry.sql import SqlSource
    from watchkeeper.core.workbench import analyses

    if not isinstance(src, SqlSource) or spec.model.task not in ("binary", "multiclass"):
        return False
    if src.warehouse:
        return True
    if src.engine.dialect.name not in PUSHED_DIALECTS:
        return False
    selected = TelemetryQuery(model=spec.model.name, versions=(version,))
    return bool(src.count(selected) > analyses.IN_MEMORY_ROWS)


def window_sql(src: Any, model: str, version: str) -> tuple[dt.datetime, dt.datetime]:
    """:func:`~.slices._window` from one ``min/max`` in the database."""
    import sqlalchemy as sa

    from watchkeeper.core.drift.sql_counts import time_range_sql
    from watchkeeper.core.evaluation.metrics import EvaluationError
    from watchkeeper.core.evaluation.report import DEFAULT_DAYS
    from watchkeeper.core.evaluation.slice_sql import slice_query, sql_parts

    engine, _ = sql_parts(src)
    with engine.connect() as conn:
        table, clauses, col = slice_query(conn, src, None, model=model, versions=[version])
        _, hi, n = time_range_sql(conn, table, col("ts").name, sa.and_(*clauses))
    if not n or hi is None:
        raise EvaluationError(f"{model}: version {version!r} has no rows in {src.description}")
    end = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=hi + 1)
    return end - dt.timedelta(days=DEFAULT_DAYS), end


def _columns(levels: Mapping[str, Any], features: Sequence[str]) -> tuple[Any, ...]:
    from watchkeeper.core.workbench.slices import ColumnInfo

    out = []
    for name in features:
        got = levels.get(name)
        if got is None:
            continue
        if got[0] == "numerical":
            _, low, high, integer = got
            out.append(ColumnInfo(name, "numerical", integer, (), low, high))
        else:
            _, values, integer = got
            out.append(ColumnInfo(name, "categorical", integer, tuple(values)))
    return tuple(out)


def _metrics(metric: str, multiclass: bool = False) -> tuple[tuple[str, ...], list[str]]:
    from watchkeeper.core.evaluation.multiclass_slices_sql import COUNTED_METRICS
    from watchkeeper.core.evaluation.slices_sql import PUSHED_SLICE_METRICS
    from watchkeeper.core.workbench.slices import MULTICLASS_SLICE_METRICS, SLICE_METRICS

    offered = MULTICLASS_SLICE_METRICS if multiclass else SLICE_METRICS
    counted = COUNTED_METRICS if multiclass else PUSHED_SLICE_METRICS
    wanted = tuple(dict.fromkeys((metric, *offered)))
    kept = tuple(m for m in wanted if m in counted)
    what = "probability" if multiclass else "score"
    notes = [
        f"{m} is not counted in the database (it needs every {what}); not shown"
        for m in wanted
        if m not in kept
    ]
    if not kept:
        from watchkeeper.core.evaluation.metrics import EvaluationError

        raise EvaluationError(f"none of {', '.join(wanted)} can be counted in the database")
    return kept, notes


def _slice_metrics(
    src: Any,
    predicates: Sequence[Any],
    outcomes: Any,
    chosen: tuple[str, ...],
    threshold: float,
    cancelled: CancelCheck | None,
    **selection: Any,
) -> tuple[Any, Any]:
    """``(SliceResult, window counts)`` of a binary (``outcomes`` None) or multiclass model."""
    if outcomes is None:
        from watchkeeper.core.evaluation.slices_sql import slice_metrics_pushed

        binary: tuple[Any, Any] = slice_metrics_pushed(
            src,
            predicates,
            **selection,
            metrics=chosen,
            threshold=threshold,
            cancelled=cancelled,
        )
        return binary
    from watchkeeper.core.evaluation.multiclass_slices_sql import (
        multiclass_slice_metrics_pushed,
    )

    counted: tuple[Any, Any] = multiclass_slice_metrics_pushed(
        src, predicates, outcomes=outcomes, **selection, metrics=chosen, cancelled=cancelled
    )
    return counted


def run_slices_sql(
    entry: Any,
    src: Any,
    version: str,
    custom: Sequence[Any],
    report: Progress,
    cancelled: CancelCheck | None,
    *,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> SlicesView:
    """:func:`~.slices.run_slices`' view, counted in the database (``src`` is open)."""
    from watchkeeper.core.evaluation.metrics import EvaluationError
    from watchkeeper.core.evaluation.predicates import predicates_from_spec
    from watchkeeper.core.evaluation.slices_sql import find_worst_slices_pushed
    from watchkeeper.core.evaluation.worst_slices import DISCOVERY_METRICS
    from watchkeeper.core.telemetry.contract import TelemetryQuery
    from watchkeeper.core.times import parse_time
    from watchkeeper.core.workbench.challenger import challenger_of
    from watchkeeper.core.workbench.common import class_columns, feature_names, spec_of
    from watchkeeper.core.workbench.slices import SlicesView

    spec = spec_of(entry)
    outcomes = class_columns(spec, src.schema().names)
    model = spec.model.name
    policy = spec.gate
    metric = policy.primary_metric
    predicates = (*predicates_from_spec(spec), *custom)
    features = feature_names(spec, src)
    notes: list[str] = []
    report(0.05, "finding the window")
    if start is None or end is None:
        first, last = window_sql(src, model, version)
        start, end = start or first, end or last
    check_cancelled(cancelled)
    report(0.15, "metrics per slice, counted in the database")
    chosen, refused = _metrics(metric, outcomes is not None)
    notes.extend(refused)
    slices, whole = _slice_metrics(
        src,
        predicates,
        outcomes,
        chosen,
        policy.threshold,
        cancelled,
        model=model,
        versions=[version],
        start=start,
        end=end,
    )
    if whole.events == 0:
        raise EvaluationError(f"{model}: version {version} has no rows in the window")
    if outcomes is not None:
        notes.extend(whole.notes)  # a slice's ROC AUC interval scaled from its sample
    check_cancelled(cancelled)
    worst = None
    levels: dict[str, Any] = {}
    if features:
        report(0.4, "searching for the worst slices, counted in the database")
        baseline = None
        ref = spec.reference
        if ref is not None and ref.kind == "window" and ref.start and ref.end:
            b = (ref.version or version, parse_time(ref.start), parse_time(ref.end))
            query = TelemetryQuery(model=model, versions=(str(b[0]),), start=b[1], end=b[2])
            if src.count(query):
                baseline = b
            else:
                notes.append(
                    "the reference window has no events here (an offline bundle holds its own "
                    "range): worst slices are compared with the overall metric"
                )
        elif is_file_reference(spec):
            notes.append(FILE_REFERENCE_SLICES)
        # a multiclass model's primary metric is always one discovery can search on
        found = metric if outcomes is not None or metric in DISCOVERY_METRICS else "roc_auc"
        try:
            worst = find_worst_slices_pushed(
                src,
                features,
                model=model,
                version=version,
                start=start,
                end=end,
                baseline=baseline,
                metric=found,
                categorical=list(spec.telemetry.columns.categorical),
                threshold=policy.threshold,
                cancelled=cancelled,
                levels_out=levels,
                outcomes=outcomes,
            )
        except EvaluationError as exc:
            notes.append(f"worst slices not computed: {exc}")
        else:
            notes.extend(worst.notes)
    notes.append(PUSHED_NOTE if outcomes is None else MULTICLASS_NOTE)
    if outcomes is None:
        data = {
            "rows": int(whole.events),
            "labeled": int(whole.labeled),
            "score_sum": float(whole.ssum),
            "positives": int(whole.ysum),
        }
        window = None
    else:
        data, window = whole.data(), whole.metrics
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
        columns=_columns(levels, features),
        table=None,
        threshold=policy.threshold,
        notes=tuple(notes),
        outcomes=outcomes,
        pushed=entry,
        data=data,
        window_metrics=window,
    )


def recompute_pushed(
    view: SlicesView,
    custom: Sequence[Any],
    report: Progress,
    cancelled: CancelCheck | None,
) -> SlicesView:
    """:func:`~.slices.recompute_slices` for a view counted in the database: the slices
    counted again there (one statement; worst slices unchanged)."""
    from watchkeeper.core.workbench.analyses import open_source_of
    from watchkeeper.core.workbench.common import READ_LOCK

    spec_predicates = view.predicates[: len(view.predicates) - len(view.custom)]
    predicates = (*spec_predicates, *custom)
    chosen, _ = _metrics(view.metric, view.multiclass)
    report(0.2, "metrics per slice, counted in the database")
    check_cancelled(cancelled)
    with READ_LOCK, open_source_of(view.pushed) as src:
        _require_columns(src, custom)
        slices, whole = _slice_metrics(
            src,
            predicates,
            view.outcomes,
            chosen,
            view.threshold,
            cancelled,
            **_selection(view),
        )
    notes = view.notes
    if view.outcomes is not None:  # a new slice's ROC AUC interval may be scaled
        notes += tuple(n for n in whole.notes if n not in notes)
    report(1.0, "done")
    return dataclasses.replace(
        view, slices=slices, predicates=tuple(predicates), custom=tuple(custom), notes=notes
    )


def count_pushed(
    view: SlicesView, predicate: Any, cancelled: CancelCheck | None
) -> tuple[int, int]:
    """``(events the predicate selects, events in the view's window)`` counted in the database:
    the builder's live count for a view that holds no events (one statement)."""
    import sqlalchemy as sa

    from watchkeeper.core.evaluation.metrics import EvaluationError
    from watchkeeper.core.evaluation.slice_sql import slice_query, sql_parts
    from watchkeeper.core.telemetry.sql_cancel import cancellable_or_refused
    from watchkeeper.core.workbench.analyses import open_source_of
    from watchkeeper.core.workbench.common import READ_LOCK

    check_cancelled(cancelled)
    with READ_LOCK, open_source_of(view.pushed) as src:
        _require_columns(src, [predicate])
        engine, _ = sql_parts(src)
        with engine.connect() as conn:
            table, clauses, _ = slice_query(conn, src, None, **_selection(view))
            picked = sa.case((predicate.where(table.c), 1), else_=0)
            statement = (
                sa.select(sa.func.count(), sa.func.sum(picked)).select_from(table).where(*clauses)
            )
            with cancellable_or_refused(
                conn, cancelled, what="the count", refused="the count", error=EvaluationError
            ):
                total, selected = conn.execute(statement).one()
    return int(selected or 0), int(total or 0)


def _require_columns(src: Any, predicates: Sequence[Any]) -> None:
    """A user's slice on a column the telemetry lacks: a plain error before any statement."""
    from watchkeeper.core.evaluation.metrics import EvaluationError

    have = set(src.source_schema().names)
    missing = [c for p in predicates for c in p.columns if c not in have]
    if missing:
        raise EvaluationError(f"no column {missing[0]!r} in the telemetry for slicing")


def _selection(view: SlicesView) -> dict[str, Any]:
    """The events a view counted: its version over its window."""
    return {"model": view.model, "versions": [view.version], "start": view.start, "end": view.end}
