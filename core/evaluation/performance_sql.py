"""Performance per window counted where the data lives: one ``GROUP BY (window, score bin)``.

:func:`performance_over_time_sql` is :func:`~.performance.performance_over_time` for a SQL
source. The database returns, per window and per score bin (:mod:`.binned`'s grid, anchored
at the threshold), the events, the labeled events, the positives and the sums of
``s − y``, ``|s − y|``, ``(s − y)²``, ``(s − y)⁴`` and the lowest and highest labeled score —
at most windows × bins rows whatever the table's size. Windows are the drift count's
(:func:`~watchkeeper.core.drift.sql_counts.windowed_rows`), so they hold exactly the rows a
read assigns to them. Two statements: the time and score ranges, the counts (and one for
ROC AUC, below).

What is exact (equal to the in-memory metrics up to floating-point summation order, tested
to 1e-9): events and label coverage per window, precision, recall, accuracy and F1 at the
threshold with their Wilson intervals (F1: no interval; in memory it is bootstrapped), the
Brier score, MAE, RMSE and bias with their normal intervals.

ROC AUC and its DeLong interval are exact too, in one more statement: a bin loses order only
when it holds both classes and scores that differ ("mixed"); the (score, label) rows of the
mixed bins — at most ``exact_auc_rows``, known from the counts before reading — are read
back and split into their distinct scores, and the AUC is computed over those groups and the
other bins. With few-valued scores no bin is mixed and nothing is read. Beyond the cap the
value is the binned score's AUC, off by at most :attr:`~.binned.BinnedAuc.error_bound`
(``½ Σ pos·neg / (P·N)`` over mixed bins, about ``1/bins`` for a smooth score), with the
interval widened by it and the method ``"delong-binned"``. PR AUC, log loss
and calibration error need every score: they are refused here. Label-lag percentiles are
not computed (``None``).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from watchkeeper.core.evaluation.binned import (
    AGGREGATES,
    BINARY_FROM_BINS,
    DEFAULT_BINS,
    REGRESSION_FROM_BINS,
    ScoreBins,
    auc_estimate,
    auc_of_groups,
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

__all__ = ["EXACT_AUC_ROWS", "performance_over_time_sql", "pushable_metrics"]

#: At most this many (score, label) rows are read to make ROC AUC exact (see the docstring).
EXACT_AUC_ROWS = 2_000_000  # 64 MB as (window, bin, score, label) floats


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
    exact_auc_rows: int = EXACT_AUC_ROWS,
    cancelled: Callable[[], bool] | None = None,
) -> PerformanceResult:
    """Realized metrics per window of a SQL source's selection, aggregated by the database.

    The selection is ``model``, ``versions`` and ``[start, end)``; windows are planned over
    its time range as the in-memory path plans them. ``as_of``: labels whose ``label_ts`` is
    later (or missing) count as not yet arrived.
    """
    import sqlalchemy as sa

    from watchkeeper.core.drift.sql_counts import (
        plan_windows_sql,
        remembered_time_ranges,
        time_range_with,
        windowed_rows,
    )
    from watchkeeper.core.evaluation.slice_sql import refuse_odd_labels_sql, slice_query, sql_parts
    from watchkeeper.core.telemetry.sql import time_bound, time_key
    from watchkeeper.core.telemetry.sql_cancel import cancellable_or_refused
    from watchkeeper.core.telemetry.sql_values import double, nan_as_null
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
    engine, _ = sql_parts(source)
    with engine.connect() as conn, remembered_time_ranges():
        table, clauses, col = slice_query(conn, source, None, **where)
        ts_name = col("ts").name
        selected = sa.and_(*clauses) if clauses else None
        # the finite scores' range with the time range the windows are planned on: one
        # statement (the windows below ask nothing more), not a scan each
        score = col("score")
        is_finite = sa.and_(score > double(-math.inf), score < double(math.inf))
        finite_score = sa.case((is_finite, score))
        also = (sa.func.min(finite_score), sa.func.max(finite_score))
        _, (lo, hi) = time_range_with(conn, table, ts_name, selected, also)
        lo, hi = (threshold, threshold) if lo is None else (float(lo), float(hi))
        # only ROC AUC needs the scores' order: every other metric is threshold counts and
        # sums, one bin each side of the threshold (the grid must still hold it as an edge).
        # On Spark the bins of F1 over 90 daily windows of 300,000 events came back as
        # 234,000 rows, each field a Python call in PyHive's Thrift decoding: 4.5 of 10 s
        ordered = task == "binary" and "roc_auc" in chosen
        grid = score_grid(lo, hi, threshold, bins if ordered else 1)
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
        # a NaN label is no label, as the readers hand it to the in-memory path
        s, y = rows.columns[0], nan_as_null(rows.columns[1])
        stored = y
        if as_of is not None:
            arrived = rows.columns[2]
            y = sa.case((time_key(arrived) <= time_bound(arrived, as_of), y))
        w = rows.window.label("w")
        k = bin_key(s, grid).label("k")
        inf = double(math.inf)
        if task == "binary":
            # a binary label must be 0 or 1: the sums below would count a 2 as two positives.
            # Every stored label is checked, arrived by as_of or not, as in memory
            odd = sa.func.sum(
                sa.case((sa.and_(stored.is_not(None), stored.not_in([0, 1])), 1), else_=0)
            ).label("odd")
            summed = y
        else:
            # an infinite target (arrived) is a label, counted in the coverage and the
            # window's labels, but no part of a metric: regression_metrics keeps finite
            # targets only, where the sums would make the MAE infinite
            finite = sa.and_(y > -inf, y < inf)
            odd = sa.func.sum(
                sa.case((sa.and_(y.is_not(None), sa.not_(finite)), 1), else_=0)
            ).label("odd")
            summed = sa.case((finite, y))
        statement = sa.select(w, k, *bin_aggregates(s, summed), odd).select_from(rows.source)
        if rows.conditions:
            statement = statement.where(*rows.conditions)
        statement = statement.group_by(sa.literal_column("w"), sa.literal_column("k"))
        with cancellable_or_refused(
            conn,
            cancelled,
            what="performance counting",
            refused="the performance query",
            error=EvaluationError,
        ):
            fetched = fetch_numbers(conn, statement, 3 + len(AGGREGATES))
            odd_labels = np.nan_to_num(fetched[:, -1])
            if task == "binary":
                refuse_odd_labels_sql(conn, table, clauses, col("label"), int(odd_labels.sum()))
            fetched = fetched[:, :-1]
            infinite = odd_labels if task == "regression" else np.zeros(len(fetched))
            mixed = _mixed_bins(fetched) if "roc_auc" in chosen else np.empty((0, 2))
            inside = _rows_in(fetched, mixed)
            raw = np.empty((0, 4))
            if 0 < inside <= exact_auc_rows:
                keys = sorted({int(x) for x in mixed[:, 1]})
                picked = sa.select(w, k, s, sa.cast(y, sa.Double)).select_from(rows.source)
                picked = picked.where(
                    *rows.conditions,
                    y.is_not(None),
                    bin_key(s, grid).in_([sa.literal(x, sa.BigInteger) for x in keys]),
                )
                raw = fetch_numbers(conn, picked, 4)
    no_lags: dict[str, float | None] = {"p10": None, "p50": None, "p90": None, "max": None}
    out = []
    for i in range(len(windows)):
        at = fetched[:, 0] == i
        mine, beyond = fetched[at], infinite[at]
        coverage = LabelCoverage(
            int(mine[:, 2].sum()),
            int(mine[:, 3].sum() + beyond.sum()),
            MappingProxyType(dict(no_lags)),
        )
        binned = fold_bins(mine[:, 1:], grid)
        est: Any = MappingProxyType({})
        status = "insufficient"
        # the labeled, scored events, as the in-memory path counts them for min_labeled
        scored = beyond[~np.isnan(mine[:, 1])].sum()
        if binned.labeled.sum() + scored >= min_labeled:
            status = "ok"
            got = dict(
                binned_metrics(binned, threshold=grid.origin, metrics=chosen, confidence=confidence)
            )
            if "roc_auc" in got and 0 < inside <= exact_auc_rows:
                mine_raw = raw[raw[:, 0] == i]
                a = auc_of_groups(*_exact_groups(binned, mine_raw[:, 1:]))
                got["roc_auc"] = auc_estimate(a, int(binned.labeled.sum()), confidence)
            est = MappingProxyType({m: got[m] for m in chosen})
        out.append(
            WindowPerformance(
                i, windows.starts[i], windows.ends[i], coverage.events, coverage, status, est
            )
        )
    return PerformanceResult(windows.spec.text, task, float(threshold), tuple(out))


def _mixed_bins(fetched: np.ndarray) -> np.ndarray:
    """``(window, bin)`` of the bins whose order binning loses: both classes, scores differ."""
    # columns: w, k, then AGGREGATES (events, labeled, positives, ..., low, high)
    pos = np.nan_to_num(fetched[:, 4])
    neg = np.nan_to_num(fetched[:, 3]) - pos
    low, high = fetched[:, 9], fetched[:, 10]
    keep = ~np.isnan(fetched[:, 1]) & (pos > 0) & (neg > 0) & (low < high)
    return fetched[keep][:, :2]


def _rows_in(fetched: np.ndarray, mixed: np.ndarray) -> int:
    """How many labeled rows reading the mixed bins' keys brings back (every window's rows
    in those bins: the statement selects by bin, not by window and bin)."""
    if mixed.size == 0:
        return 0
    sel = ~np.isnan(fetched[:, 1]) & np.isin(fetched[:, 1], np.unique(mixed[:, 1]))
    return int(np.nan_to_num(fetched[sel, 3]).sum())


def _exact_groups(bins: ScoreBins, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positives and negatives per group of tied scores, in score order: a bin that loses no
    order is one group; a mixed bin is split into its distinct scores from ``raw``
    (``k, s, y`` rows of this window's labeled events in the mixed bins)."""
    # one sort of the mixed bins' rows by (bin, score), not a pass over the rows per mixed
    # bin: that was 1.5 s of the demo's performance view (bins × rows)
    g = bins.grid
    mixed = (bins.positives > 0) & (bins.negatives > 0) & ~bins.single_valued
    at = (np.clip(raw[:, 0], g.first, g.last) - g.first).astype(np.int64)
    inside = mixed[at] if at.size else np.zeros(0, dtype=bool)
    rows, rows_at = raw[inside], at[inside]
    order = np.lexsort((rows[:, 1], rows_at))
    rows, rows_at = rows[order], rows_at[order]
    s = rows[:, 1]
    same_score = (s[1:] == s[:-1]) | (np.isnan(s[1:]) & np.isnan(s[:-1]))
    starts = np.flatnonzero(np.r_[True, (rows_at[1:] != rows_at[:-1]) | ~same_score])
    starts = starts[starts < len(rows)]
    counts = np.diff(np.r_[starts, len(rows)])
    group_pos = np.add.reduceat(rows[:, 2], starts) if len(rows) else np.zeros(0)
    # every bin in order: a bin that is not mixed is one group, a mixed bin its scores'
    whole = np.flatnonzero(~mixed)
    bin_of = np.r_[whole, rows_at[starts]]
    pos = np.r_[bins.positives[whole].astype(np.float64), group_pos]
    neg = np.r_[bins.negatives[whole].astype(np.float64), counts - group_pos]
    by_bin = np.argsort(bin_of, kind="stable")
    return pos[by_bin], neg[by_bin]
