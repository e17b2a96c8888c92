"""Performance per window counted where the data lives: one ``GROUP BY (window, score bin)``.

:func:`performance_over_time_sql` is :func:`~.performance.performance_over_time` for a SQL
source. The database returns, per window and per score bin (:mod:`.binned`'s grid, anchored
at the threshold), the events, the labeled events, the positives and the sums of
``s − y``, ``|s − y|``, ``(s − y)²``, ``(s − y)⁴`` and the lowest and highest labeled score —
at most windows × bins rows whatever the table's size. Windows are the drift count's
(:func:`~watchkeeper.core.drift.sql_counts.windowed_rows`), so they hold exactly the rows a
read assigns to them. Three statements in all: the time range, the score range, the counts.

What is exact (equal to the in-memory metrics up to floating-point summation order, tested
to 1e-9): events and label coverage per window, precision, recall, accuracy and F1 at the
threshold with their Wilson intervals (F1: no interval; in memory it is bootstrapped), the
Brier score, MAE, RMSE and bias with their normal intervals. ROC AUC is exact (and its
interval DeLong's) when every bin holding both classes holds one distinct score — few-valued
scores; otherwise it is the binned score's AUC, off by at most
:attr:`~.binned.BinnedAuc.error_bound` (``½ Σ pos·neg / (P·N)`` over mixed bins, about
``1/bins`` for a smooth score), and its interval is widened by that bound. PR AUC, log loss
and calibration error need every score: they are refused here. Label-lag percentiles are
not computed (``None``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from watchkeeper.core.evaluation.binned import (
    AGGREGATES,
    BINARY_FROM_BINS,
    DEFAULT_BINS,
    REGRESSION_FROM_BINS,
    bin_aggregates,
    bin_key,
    binned_metrics,
    fetch_numbers,
    fold_bins,
    score_grid,
)
from watchkeeper.core.evaluation.metrics import EvaluationError, LabelCoverage
from watchkeeper.core.evaluation.performance import PerformanceResult, WindowPerformance

if TYPE_CHECKING:
    from watchkeeper.core.telemetry.windows import WindowSpec

__all__ = ["performance_over_time_sql", "pushable_metrics"]


def pushable_metrics(task: str) -> tuple[str, ...]:
    """The metrics :func:`performance_over_time_sql` computes for ``task``."""
    return BINARY_FROM_BINS if task == "binary" else REGRESSION_FROM_BINS


def performance_over_time_sql(
    source: Any,
    *,
    model: str | None = None,
    versions: Sequence[str] = (),
    start: Any = None,
    end: Any = None,
    window: WindowSpec | str | None = None,
    task: str = "binary",
    threshold: float = 0.5,
    metrics: Sequence[str] | None = None,
    min_labeled: int = 100,
    as_of: dt.datetime | None = None,
    confidence: float = 0.95,
    bins: int = DEFAULT_BINS,
    cancelled: Callable[[], bool] | None = None,
) -> PerformanceResult:
    """Realized metrics per window of a SQL source's selection, aggregated by the database.

    The selection is ``model``, ``versions`` and ``[start, end)``; windows are planned over
    its time range as the in-memory path plans them. ``as_of``: labels whose ``label_ts`` is
    later (or missing) count as not yet arrived.
    """
    import sqlalchemy as sa

    from watchkeeper.core.drift.sql_counts import plan_windows_sql, windowed_rows
    from watchkeeper.core.evaluation.binned import score_range_sql
    from watchkeeper.core.evaluation.slice_sql import slice_query, sql_parts
    from watchkeeper.core.progress import Cancelled
    from watchkeeper.core.telemetry.sql import time_bound, time_key
    from watchkeeper.core.telemetry.sql_cancel import cancellable
    from watchkeeper.core.telemetry.sql_values import short_error
    from watchkeeper.core.telemetry.windows import parse_window

    if task not in ("binary", "regression"):
        raise EvaluationError(f"task must be 'binary' or 'regression', not {task!r}")
    offered = pushable_metrics(task)
    chosen = tuple(metrics or offered)
    refused = [m for m in chosen if m not in offered]
    if refused:
        raise EvaluationError(
            f"{', '.join(refused)} cannot be computed from per-window aggregates "
            f"(they need every score); choose from {', '.join(offered)}"
        )
    where = {"model": model, "versions": versions, "start": start, "end": end}
    span = score_range_sql(source, **where)
    lo, hi = span if span is not None else (threshold, threshold)
    # regression needs only sums: one bin (the grid must still hold the threshold as an edge)
    grid = score_grid(lo, hi, threshold, bins if task == "binary" else 1)
    engine, _ = sql_parts(source)
    with engine.connect() as conn:
        table, clauses, col = slice_query(conn, source, None, **where)
        ts_name = col("ts").name
        selected = sa.and_(*clauses) if clauses else None
        windows = plan_windows_sql(
            conn, table, parse_window(window), timestamp=ts_name, where=selected
        )
        names = [col("score").name, col("label").name]
        if as_of is not None:
            names.append(col("label_ts").name)
        rows = windowed_rows(
            table,
            windows,
            timestamp=ts_name,
            names=names,
            where=selected,
            order_by=(),
            start=None,
            end=None,
        )
        s, y = rows.columns[0], rows.columns[1]
        if as_of is not None:
            arrived = rows.columns[2]
            y = sa.case((time_key(arrived) <= time_bound(arrived, as_of), y))
        w = rows.window.label("w")
        k = bin_key(s, grid).label("k")
        statement = sa.select(w, k, *bin_aggregates(s, y)).select_from(rows.source)
        if rows.conditions:
            statement = statement.where(*rows.conditions)
        statement = statement.group_by(sa.literal_column("w"), sa.literal_column("k"))
        guard = None
        try:
            with cancellable(conn, cancelled) as guard:
                fetched = fetch_numbers(conn, statement, 2 + len(AGGREGATES))
        except sa.exc.DBAPIError as exc:
            conn.rollback()
            if guard is not None and guard.fired:
                raise Cancelled("performance counting was cancelled in the database") from None
            raise EvaluationError(
                f"the database refused the performance query: {short_error(exc)}"
            ) from None
    no_lags: dict[str, float | None] = {"p10": None, "p50": None, "p90": None, "max": None}
    out = []
    for i in range(len(windows)):
        mine = fetched[fetched[:, 0] == i]
        coverage = LabelCoverage(
            int(mine[:, 2].sum()), int(mine[:, 3].sum()), MappingProxyType(dict(no_lags))
        )
        binned = fold_bins(mine[:, 1:], grid)
        est: Any = MappingProxyType({})
        status = "insufficient"
        if binned.labeled.sum() >= min_labeled:
            status = "ok"
            got = binned_metrics(
                binned, threshold=grid.origin, metrics=chosen, confidence=confidence
            )
            est = MappingProxyType({m: got[m] for m in chosen})
        out.append(
            WindowPerformance(
                i, windows.starts[i], windows.ends[i], coverage.events, coverage, status, est
            )
        )
    return PerformanceResult(windows.spec.text, task, float(threshold), tuple(out))
