"""What the estimate (CBPE) needs from a SQL source, read as bounded samples.

CBPE works on scores one by one (the calibrated probability of each, and ``n_sim`` simulated
labelings), so it cannot come from per-bin aggregates. Both inputs are the drift engine's
seeded systematic samples (:func:`~watchkeeper.core.drift.sql_counts.sample_statement`), in
time order, the same rows on every engine:

- :func:`reference_labeled_sql`: the reference's labeled ``(label, score)`` pairs, at most
  ``limit`` of them, to fit the calibrator on;
- :func:`window_scores_sql`: the scores of the windows still missing labels, at most
  ``limit`` a window, cut on the *same* windows as the realized metrics (planned over the
  whole selection — planning over only the rows read would shift every window's index).

A window or reference of at most ``limit`` rows comes back whole and in time order, which is
the order a read of a time-ordered table gives: the estimate then equals the in-memory one.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import numpy as np

from watchkeeper.core.evaluation.metrics import EvaluationError

__all__ = [
    "ESTIMATE_ROWS",
    "WAREHOUSE_ESTIMATE_ROWS",
    "estimate_rows",
    "reference_labeled_sql",
    "window_scores_sql",
]

#: At most this many rows a window (and of the reference) are read for the estimate.
ESTIMATE_ROWS = 500_000
#: The same bound on a warehouse (Spark), where every row crosses PyHive's Thrift protocol
#: decoded value by value in Python: at 2,000,000 events the reference's 500,000 labeled rows
#: took 8.0 of the Spark Performance view's 19.8 s (``/tmp`` profile, F1), fitting the
#: calibrator on them 1.6 more. An isotonic calibrator on 2,000 score knots is as well
#: determined by 100,000 events; the notes say when a sample was read.
WAREHOUSE_ESTIMATE_ROWS = 100_000


def estimate_rows(source: Any) -> int:
    """The estimate's bound on rows read from ``source`` (a window's, and the reference's)."""
    return WAREHOUSE_ESTIMATE_ROWS if getattr(source, "warehouse", False) else ESTIMATE_ROWS


def _selection(conn: Any, source: Any, **where: Any) -> tuple[Any, Any, Any]:
    import sqlalchemy as sa

    from watchkeeper.core.evaluation.slice_sql import slice_query

    table, clauses, col = slice_query(conn, source, None, **where)
    return table, (sa.and_(*clauses) if clauses else None), col


def _fetch(conn: Any, statement: Any, width: int, doing: str) -> np.ndarray:
    import sqlalchemy as sa

    from watchkeeper.core.evaluation.binned import fetch_numbers
    from watchkeeper.core.telemetry.sql_values import short_error

    try:
        return fetch_numbers(conn, statement, width)
    except sa.exc.DBAPIError as exc:
        conn.rollback()
        raise EvaluationError(
            f"the database refused the query for {doing}: {short_error(exc)}"
        ) from None


def reference_labeled_sql(
    source: Any,
    *,
    model: str | None,
    versions: Sequence[str],
    start: Any,
    end: Any,
    limit: int = ESTIMATE_ROWS,
) -> tuple[np.ndarray, np.ndarray, int]:
    """``(labels, scores, labeled)``: at most ``limit`` labeled events of the selection in
    time order (a seeded systematic sample beyond), and how many labeled events it holds."""
    import sqlalchemy as sa

    from watchkeeper.core.drift.sql_counts import sample_statement
    from watchkeeper.core.evaluation.slice_sql import sql_parts
    from watchkeeper.core.telemetry.windows import WindowSpec, plan_windows

    engine, _ = sql_parts(source)
    with engine.connect() as conn:
        where = {"model": model, "versions": versions, "start": start, "end": end}
        table, selected, col = _selection(conn, source, **where)
        labeled = col("label").is_not(None)
        selected = labeled if selected is None else sa.and_(selected, labeled)
        # one window needs no time range, and the count comes with the sample: a statement
        # less (0.4 s warm, 1-2 s cold, of the Performance view on local Spark)
        statement = sample_statement(
            table,
            plan_windows(WindowSpec("all"), None, None),
            [col("label").name, col("score").name],
            limit=limit,
            timestamp=col("ts").name,
            where=selected,
            counted=True,
        )
        rows = _fetch(conn, statement, 4, "the estimate's reference")
    return rows[:, 1], rows[:, 2], int(rows[0, 3]) if len(rows) else 0


def window_scores_sql(
    source: Any,
    *,
    model: str | None,
    versions: Sequence[str],
    end: Any,
    window: Any,
    only: Collection[int],
    limit: int = ESTIMATE_ROWS,
) -> dict[int, np.ndarray]:
    """Per window index in ``only``, its scores in time order (at most ``limit`` a window),
    the windows planned over the whole selection as the realized metrics plan them."""
    from watchkeeper.core.drift.sql_counts import plan_windows_sql, sample_statement
    from watchkeeper.core.evaluation.slice_sql import sql_parts
    from watchkeeper.core.telemetry.windows import parse_window

    if not only:
        return {}
    engine, _ = sql_parts(source)
    with engine.connect() as conn:
        where = {"model": model, "versions": versions, "start": None, "end": end}
        table, selected, col = _selection(conn, source, **where)
        ts = col("ts").name
        windows = plan_windows_sql(conn, table, parse_window(window), timestamp=ts, where=selected)
        wanted = sorted(i for i in set(only) if 0 <= i < len(windows))
        if not wanted:
            return {}
        span: dict[str, Any] = {}
        if windows.spec.kind == "time":  # read only the span of the wanted windows
            span = {
                "start": int(windows.bounds[wanted[0]]),
                "end": int(windows.bounds[wanted[-1] + 1]),
            }
        statement = sample_statement(
            table, windows, [col("score").name], limit=limit, timestamp=ts, where=selected, **span
        )
        rows = _fetch(conn, statement, 2, "the estimate's scores")
    w = rows[:, 0].astype(np.int64)
    return {i: rows[w == i, 1] for i in wanted}
