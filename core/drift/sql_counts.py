"""Counting once, where the data lives: one SQLAlchemy Core statement, counts come back.

The statement returns at most features × windows × bins rows whatever the table's size. Two
forms give the same rows. The ``UNION ALL`` of one ``GROUP BY (window, bin)`` per feature; and
the single scan (:func:`count_statement` with ``dialect=``): each row's window and an ``INT``
array of ``feature * width + bin`` codes, exploded into rows (``explode`` on Spark, ``unnest``
on DuckDB and PostgreSQL, ``ARRAY[...]`` there) and grouped by (window, code).
:func:`count_windows_sql` sends the single scan where it measured faster
(:data:`SINGLE_SCAN_USED`): on PostgreSQL only. There (50 features × 90 daily windows, a
throw-away cluster on the 2-core machine under a load of 7-12, two runs of three alternations
each, medians) 500,000 events 14.5 and 15.6 s against 58.9 and 62.8 s for the ``UNION ALL``,
2,000,000 events 55.1 and 47.9 s against 136.8 and 121.6 s. Its ``EXPLAIN`` (PostgreSQL 15) says
why: each ``UNION ALL`` branch is a parallel sequential scan of the whole table followed by a
sort of every selected row and a ``GroupAggregate`` (the planner cannot estimate a ``CASE``'s
groups, guesses one per row, and sorts rather than hashes), 50 of them one after another, and
the plan is JIT-compiled with full optimisation; the single scan is one parallel scan into a
partial ``HashAggregate``. JIT is about half of it: once, in one process, at 500,000 events, the
``UNION ALL`` took 55.3 and 51.2 s, with ``SET jit = off`` 25.9 and 25.2 s, the single scan (JIT
on) 14.5 and 13.6 s — still the faster. Elsewhere the ``UNION ALL`` won: on DuckDB (2M events,
same shape) 12.9 s against 5.1 s for the ``UNION ALL``, whose branches run in parallel over
cached columns; on Spark (1M events) 38.4/34.0 s against 29.7/30.2 s, in the same two Spark jobs
— Spark's ``UNION ALL`` of column-pruned Parquet scans does not cost a job per branch
(``benchmarks/count_scan.py``, ``--engine postgresql`` there; ``benchmarks/spark.py --rounds``).

Window and bin are ``CASE`` expressions that *compare* against bound boundaries — never
``floor((x - lo) / w)``, which lands off by one near edges on engines that render a float
divisor as 32-bit (see ENVIRONMENT.md) — nested as a binary search, so 90 daily windows cost 7
comparisons a row. Every edge is a :func:`~watchkeeper.core.telemetry.sql_values.double`
literal, every category and time a bound value of the column's type; identifiers are quoted by
SQLAlchemy. Tested on DuckDB, SQLite, PostgreSQL and Spark SQL to give exactly the counts of
:func:`~watchkeeper.core.drift.counting.count_windows`.

Semantics match the numpy path: a numerical value ``x`` is in bin ``i`` when
``e_i <= x < e_{i+1}``; ``NULL`` and NaN (greater than every number on PostgreSQL and DuckDB;
SQLite stores NaN as ``NULL``) are missing; ``±inf`` fall in the outer bins. Categories
compare by equality with the reference's values (as text when the column is text).

Time windows compare the timestamp's :func:`~watchkeeper.core.telemetry.sql.time_key` with
boundaries bound by :func:`~watchkeeper.core.telemetry.sql.time_bound` — the column's own type,
zone-aware for ``TIMESTAMP WITH TIME ZONE``, naive UTC otherwise; on SQLite, whose times are
text in any ISO-8601 shape, the UTC moment as fixed-width text — the same comparison the
telemetry reader's filter makes, so windows count exactly the rows a read assigns to them.
Values that cannot be compared there (text SQLite does not read as ISO-8601, a text column on
another engine) are refused by :func:`time_range_sql` in one line, never skipped.
Row windows number rows with ``ROW_NUMBER() OVER (ORDER BY ts, <tie columns>)``.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import sqlalchemy as sa

from watchkeeper.core.drift.counting import WindowCounts
from watchkeeper.core.drift.data import NUMERICAL
from watchkeeper.core.drift.errors import DriftError
from watchkeeper.core.drift.profile import FeatureProfile, ReferenceProfile
from watchkeeper.core.progress import Cancelled
from watchkeeper.core.telemetry.sql import time_bound, time_key, uncomparable_times
from watchkeeper.core.telemetry.sql_cancel import cancellable
from watchkeeper.core.telemetry.sql_values import double, short_error
from watchkeeper.core.telemetry.windows import Windows, WindowSpec, plan_windows
from watchkeeper.core.times import to_us

__all__ = [
    "SAMPLE_MULTIPLIER",
    "count_statement",
    "count_windows_sql",
    "plan_windows_sql",
    "remembered_time_ranges",
    "sample_statement",
    "systematic_keep",
    "time_range_sql",
    "windowed_rows",
]

#: A prime: ``(position * SAMPLE_MULTIPLIER + offset) % rows`` permutes a window's positions.
SAMPLE_MULTIPLIER = 2_147_483_647


def _col(table: sa.FromClause, name: str) -> sa.ColumnElement:
    try:
        return table.c[name]
    except KeyError:
        cols = ", ".join(c.name for c in table.c)
        raise DriftError(f"no column {name!r} in the table (columns: {cols})") from None


def _binary_case(
    x: sa.ColumnElement,
    cuts: Sequence[sa.ColumnElement],
    lo: int,
    hi: int,
) -> sa.ColumnElement:
    """Index in ``[lo, hi]`` of ``x`` among intervals cut at ``cuts`` (``x < cuts[i]`` → ≤ i)."""
    if lo == hi:
        return sa.literal(lo, sa.Integer)
    mid = (lo + hi + 1) // 2
    return sa.case(
        (x < cuts[mid - 1], _binary_case(x, cuts, lo, mid - 1)),
        else_=_binary_case(x, cuts, mid, hi),
    )


def _numeric_bin(x: sa.ColumnElement, fp: FeatureProfile) -> sa.ColumnElement:
    edges = [double(e) for e in fp.edges]
    missing = fp.n_bins - 1
    inside = _binary_case(x, edges, 0, len(edges))
    return sa.case(
        (x.is_(None), sa.literal(missing, sa.Integer)),
        (x > double(float("inf")), sa.literal(missing, sa.Integer)),  # NaN
        else_=inside,
    )


def _category_value(column: sa.ColumnElement, v: Any) -> sa.ColumnElement:
    if isinstance(column.type, sa.String) and not isinstance(v, str):
        v = str(v)
    return sa.literal(v, column.type)


def _categorical_bin(x: sa.ColumnElement, fp: FeatureProfile) -> sa.ColumnElement:
    k = len(fp.categories)
    whens: list[tuple[Any, Any]] = [(x.is_(None), sa.literal(fp.n_bins - 1, sa.Integer))]
    whens += [
        (x == _category_value(x, v), sa.literal(i, sa.Integer)) for i, v in enumerate(fp.categories)
    ]
    if fp.other:
        whens.append((x.in_([_category_value(x, v) for v in fp.other]), sa.literal(k, sa.Integer)))
    outside = fp.unseen_bin if fp.vocabulary_complete else k
    return sa.case(*whens, else_=sa.literal(outside, sa.Integer))


def time_range_sql(
    conn: sa.Connection,
    table: sa.FromClause,
    timestamp: str | None,
    where: sa.ColumnElement | None = None,
) -> tuple[int | None, int | None, int]:
    """``(min ts µs, max ts µs, rows)`` of the selected rows (one small query; none inside
    :func:`remembered_time_ranges` for a selection it already asked about)."""
    memo = _TIME_RANGES.get()
    key = _memo_key(conn, table, timestamp, where) if memo is not None else None
    if memo is not None and key in memo:
        return memo[key]
    got, _ = _asked(conn, table, timestamp, where, ())
    if memo is not None:
        memo[key] = got
    return got


def time_range_with(
    conn: sa.Connection,
    table: sa.FromClause,
    timestamp: str,
    where: sa.ColumnElement | None,
    also: Sequence[sa.ColumnElement[Any]],
) -> tuple[tuple[int | None, int | None, int], tuple[Any, ...]]:
    """:func:`time_range_sql` and the aggregates ``also`` of the same selection, in one
    statement; inside :func:`remembered_time_ranges` the range is remembered, so the
    windows planned on it next ask nothing. The Performance view's score range came in a
    statement of its own, a scan more (0.2-0.5 s on local Spark, twice per view)."""
    got, extras = _asked(conn, table, timestamp, where, also)
    memo = _TIME_RANGES.get()
    if memo is not None:
        memo[_memo_key(conn, table, timestamp, where)] = got
    return got, extras


def _memo_key(
    conn: sa.Connection, table: sa.FromClause, timestamp: str | None, where: Any
) -> tuple[Any, ...]:
    probe = sa.select(sa.literal(timestamp or "")).select_from(table)
    if where is not None:
        probe = probe.where(where)
    compiled = probe.compile(dialect=conn.dialect)
    return (id(conn.engine), str(compiled), repr(sorted(compiled.params.items())))


def _asked(
    conn: sa.Connection,
    table: sa.FromClause,
    timestamp: str | None,
    where: sa.ColumnElement | None,
    also: Sequence[sa.ColumnElement[Any]],
) -> tuple[tuple[int | None, int | None, int], tuple[Any, ...]]:
    try:
        return _time_range(conn, table, timestamp, where, also)
    except sa.exc.DBAPIError as exc:
        conn.rollback()
        raise DriftError(f"the database refused the query: {short_error(exc)}") from None


#: The time ranges an analysis already asked for (see :func:`remembered_time_ranges`).
_TIME_RANGES: contextvars.ContextVar[dict[Any, tuple[int | None, int | None, int]] | None] = (
    contextvars.ContextVar("watchkeeper_time_ranges", default=None)
)


@contextlib.contextmanager
def remembered_time_ranges() -> Iterator[None]:
    """Inside, :func:`time_range_sql` sends a selection's ``min/max/count`` once per engine:
    the Performance view planned its windows for the realized metrics and again for the
    estimate's scores, the same statement each time (0.4-0.6 s on local Spark). Within one
    analysis, so the plans agree even if rows arrive in between; per thread (a context
    variable)."""
    if _TIME_RANGES.get() is not None:  # inside one already: the analysis's own
        yield
        return
    token = _TIME_RANGES.set({})
    try:
        yield
    finally:
        _TIME_RANGES.reset(token)


def _time_range(
    conn: sa.Connection,
    table: sa.FromClause,
    timestamp: str | None,
    where: sa.ColumnElement | None,
    also: Sequence[sa.ColumnElement[Any]] = (),
) -> tuple[tuple[int | None, int | None, int], tuple[Any, ...]]:
    if timestamp is None:
        stmt = sa.select(sa.func.count(), *also).select_from(table)
        if where is not None:
            stmt = stmt.where(where)
        counted = conn.execute(stmt).one()
        return (None, None, int(counted[0])), tuple(counted[1:])
    ts = _col(table, timestamp)
    native = conn.dialect.name == "sqlite" or isinstance(ts.type, sa.DateTime | sa.Date)
    if not native:
        _refuse_times(conn, table, ts, where)
    key = time_key(ts)
    lo: sa.ColumnElement[Any] = sa.func.min(key)
    hi: sa.ColumnElement[Any] = sa.func.max(key)
    if conn.dialect.name == "duckdb":
        # DuckDB hands TIMESTAMPTZ to Python only through pytz; as text it keeps its offset.
        lo, hi = sa.cast(lo, sa.String), sa.cast(hi, sa.String)
    bounds = sa.select(lo, hi, sa.func.count(ts), sa.func.count(key), *also).select_from(table)
    if where is not None:
        bounds = bounds.where(where)
    # a Row indexes as Any but unpacks as object to mypy (SQLAlchemy's variadic Row)
    row = conn.execute(bounds).one()
    if row[2] != row[3]:  # a value the key cannot read: counting past it would miscount
        _refuse_times(conn, table, ts, where)
    got = _as_us(row[0], timestamp), _as_us(row[1], timestamp), int(row[2])
    return got, tuple(row[4:])


def _refuse_times(
    conn: sa.Connection, table: sa.FromClause, ts: sa.ColumnElement, where: Any
) -> None:
    bad, first = uncomparable_times(conn, table, ts, where)
    if not bad:
        return
    if conn.dialect.name == "sqlite":
        what = "text SQLite does not read as an ISO-8601 time"
    else:
        what = f"a {str(ts.type).lower()} column, not a timestamp type"
    raise DriftError(
        f"column {ts.name!r}: {bad:,} value(s) such as {first!r} cannot be compared as times "
        f"in the database ({what}); store times as TIMESTAMP or as ISO-8601 text like "
        "'2026-01-01T00:00:00Z', or read the data as a Parquet or CSV file"
    )


def _as_us(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip().replace(" ", "T", 1)
    if isinstance(value, (str, dt.datetime, dt.date)):
        return to_us(value)
    raise DriftError(f"column {name!r} does not hold timestamps (found {type(value).__name__})")


def _range_filter(
    ts: sa.ColumnElement | None, start: int | None, end: int | None, where: sa.ColumnElement | None
) -> list[sa.ColumnElement]:
    conds = [] if where is None else [where]
    if ts is not None and start is not None:
        conds.append(time_key(ts) >= time_bound(ts, start))
    if ts is not None and end is not None:
        conds.append(time_key(ts) < time_bound(ts, end))
    return conds


def plan_windows_sql(
    conn: sa.Connection,
    table: sa.FromClause,
    spec: WindowSpec,
    *,
    timestamp: str | None,
    start: int | None = None,
    end: int | None = None,
    where: sa.ColumnElement | None = None,
) -> Windows:
    """Windows over the selected rows, from one ``min/max/count`` query."""
    ts = _col(table, timestamp) if timestamp else None
    conds = _range_filter(ts, start, end, where)
    lo, hi, n = time_range_sql(conn, table, timestamp, sa.and_(*conds) if conds else None)
    return plan_windows(spec, lo, hi, n_rows=n, start=start, end=end)


def count_statement(
    table: sa.FromClause,
    profile: ReferenceProfile,
    windows: Windows,
    *,
    timestamp: str | None,
    columns: Mapping[str, str] | None = None,
    where: sa.ColumnElement | None = None,
    order_by: Sequence[str] = (),
    start: int | None = None,
    end: int | None = None,
    dialect: str | None = None,
) -> sa.Select | sa.CompoundSelect:
    """The one statement: rows ``(feature index, window, bin, count)``.

    ``dialect`` (``conn.dialect.name``) asks for the single-scan form where the engine has one
    (Spark, DuckDB, PostgreSQL); any other name, or none, gives the ``UNION ALL``.
    :func:`count_windows_sql` asks for it where :data:`SINGLE_SCAN_USED` names the engine.
    """
    columns = dict(columns or {})
    feats = profile.features
    rows = windowed_rows(
        table,
        windows,
        timestamp=timestamp,
        names=[columns.get(fp.name, fp.name) for fp in feats],
        where=where,
        order_by=order_by,
        start=start,
        end=end,
    )
    bins = [
        _numeric_bin(x, fp) if fp.kind == NUMERICAL else _categorical_bin(x, fp)
        for fp, x in zip(feats, rows.columns, strict=True)
    ]
    how = _SINGLE_SCAN.get(dialect or "")
    if how is not None and len(bins) > 1:
        return _stacked_counts(rows, bins, max(fp.n_bins for fp in feats), how)
    branches = []
    for i, b_expr in enumerate(bins):
        inner = sa.select(rows.window.label("w"), b_expr.label("b")).select_from(rows.source)
        if rows.conditions:
            inner = inner.where(*rows.conditions)
        sub = inner.subquery(f"wk_f{i}")
        branches.append(
            sa.select(
                sa.literal(i, sa.Integer).label("f"),
                sub.c.w,
                sub.c.b,
                sa.func.count().label("n"),
            ).group_by(sub.c.w, sub.c.b)
        )
    if len(branches) == 1:
        return branches[0]
    return sa.union_all(*branches)


def _function_array(name: str) -> Callable[[list[sa.ColumnElement]], sa.ColumnElement]:
    return lambda items: getattr(sa.func, name)(*items)


def _postgresql_array(items: list[sa.ColumnElement]) -> sa.ColumnElement:
    # ``ARRAY[...]``: PostgreSQL's ``array(...)`` is the sub-query constructor, not a function
    from sqlalchemy.dialects import postgresql

    return postgresql.array(items)


#: dialect → (function exploding an array into rows, array constructor, integer division);
#: every code is non-negative, so PostgreSQL's ``INT / INT`` (truncating) is the floor
_SINGLE_SCAN: dict[str, tuple[str, Callable[[list[sa.ColumnElement]], sa.ColumnElement], str]] = {
    "hive": ("explode", _function_array("array"), "div"),
    "duckdb": ("unnest", _function_array("list_value"), "//"),
    "postgresql": ("unnest", _postgresql_array, "/"),
}
#: where :func:`count_windows_sql` uses the single scan, by measurement: PostgreSQL (500,000
#: events x 50 features x 90 days 14.5/15.6 s against 58.9/62.8 s for the ``UNION ALL``;
#: 2,000,000 events 55.1/47.9 s against 136.8/121.6 s). Not DuckDB (2M events: 12.9 s
#: against 5.1 s) nor Spark (1M events: 38.4/34.0 s against 29.7/30.2 s, same jobs, same peak
#: RSS)
#: (a set, so that the benchmarks can switch it for an A/B)
SINGLE_SCAN_USED: set[str] = {"postgresql"}
#: Features counted per statement, by engine (absent: all in one). DuckDB runs in this
#: process and runs the ``UNION ALL``'s branches side by side, each holding its scan and
#: aggregate outside its memory limit: 50 features over 3,000,000 events grew the process
#: by 1.4-1.6 GiB. Its branches scan their columns anyway, so groups cost no extra reading.
COUNT_GROUPS: dict[str, int] = {"duckdb": 8}


def _stacked_counts(
    rows: WindowedRows,
    bins: Sequence[sa.ColumnElement],
    width: int,
    how: tuple[str, Callable[[list[sa.ColumnElement]], sa.ColumnElement], str],
) -> sa.Select:
    """Every row read once: its features' bins as one integer array ``i * width + bin``,
    exploded into rows and grouped by (window, code); the code splits back into
    ``(feature, bin)`` in the statement, so the rows are the ``UNION ALL``'s."""
    explode, array, div = how
    # INT throughout: Spark's array wants one element type, and every bin is a small integer
    codes: list[sa.ColumnElement[Any]] = [
        sa.cast(sa.literal(i * width, sa.Integer) + b, sa.Integer) for i, b in enumerate(bins)
    ]
    inner = sa.select(
        rows.window.label("w"),
        getattr(sa.func, explode)(array(codes)).label("c"),
    ).select_from(rows.source)
    if rows.conditions:
        inner = inner.where(*rows.conditions)
    sub = inner.subquery("wk_all")
    k = sa.literal(width, sa.Integer)
    return sa.select(
        sa.cast(sub.c.c.op(div)(k), sa.Integer).label("f"),
        sub.c.w,
        sa.cast(sub.c.c % k, sa.Integer).label("b"),
        sa.func.count().label("n"),
    ).group_by(sub.c.w, sub.c.c)


class WindowedRows(NamedTuple):
    """The selected rows with each one's window: select ``window`` and ``columns`` from
    ``source`` where every one of ``conditions`` holds."""

    source: sa.FromClause
    window: sa.ColumnElement  # the window index, 0-based
    columns: list[sa.ColumnElement]  # the columns named, as ``source`` gives them
    conditions: list[sa.ColumnElement]


def windowed_rows(
    table: sa.FromClause,
    windows: Windows,
    *,
    timestamp: str | None,
    names: Sequence[str],
    where: sa.ColumnElement | None,
    order_by: Sequence[str],
    start: int | None,
    end: int | None,
) -> WindowedRows:
    """Where every statement here gets its window index from, so counts and samples agree.

    Time windows: a binary search of ``CASE`` comparisons against the bounds, bound as the
    timestamp column's type. Row windows: ``ROW_NUMBER()`` in timestamp order (ties by
    ``order_by``) in a subquery, cut every ``windows.spec.rows``. One window: ``0``.
    """
    ts = _col(table, timestamp) if timestamp else None
    conds = _range_filter(ts, start, end, where)
    cols = [_col(table, n) for n in names]
    kind = windows.spec.kind
    if kind == "time":
        if ts is None:
            raise DriftError(f"windows of {windows.spec.text} need a timestamp column")
        b = windows.bounds
        key = time_key(ts)
        cuts = [time_bound(ts, x) for x in b[1:-1]]
        conds += [key >= time_bound(ts, b[0]), key < time_bound(ts, b[-1])]
        return WindowedRows(table, _binary_case(key, cuts, 0, len(b) - 2), cols, conds)
    if kind == "rows":
        order: list[sa.ColumnElement[Any]] = [time_key(ts)] if ts is not None else []
        order += [_col(table, c) for c in order_by]
        if not order:
            raise DriftError("row windows over a SQL table need a timestamp or an order column")
        if ts is not None:
            conds.append(ts.is_not(None))
        rn = sa.func.row_number().over(order_by=order).label("wk_rn")
        inner = sa.select(rn, *(c.label(f"wk_f{i}") for i, c in enumerate(cols)))
        inner = inner.select_from(table)
        if conds:
            inner = inner.where(*conds)
        base = inner.subquery("wk_numbered")
        n = windows.spec.rows
        cuts = [sa.literal(n * (i + 1), sa.BigInteger) for i in range(len(windows) - 1)]
        # ROW_NUMBER starts at 1: window i holds numbers (i*n, (i+1)*n]
        w_expr = _binary_case(base.c.wk_rn - 1, cuts, 0, len(windows) - 1)
        return WindowedRows(base, w_expr, [base.c[f"wk_f{i}"] for i in range(len(cols))], [])
    return WindowedRows(table, sa.literal(0, sa.Integer), cols, conds)


def sample_statement(
    table: sa.FromClause,
    windows: Windows,
    names: Sequence[str],
    *,
    limit: int,
    seed: int = 0,
    timestamp: str | None,
    where: sa.ColumnElement | None = None,
    order_by: Sequence[str] = (),
    start: int | None = None,
    end: int | None = None,
    counted: bool = False,
) -> sa.Select:
    """Raw values of ``names`` for at most ``limit`` rows per window: ``(window, *values)``,
    and with ``counted`` the window's rows before sampling as the last column (for one
    window, the count a time-range query would have been asked for).

    A window of at most ``limit`` rows comes back whole; a larger one as a seeded systematic
    sample: its rows are numbered in time order (ties by ``order_by``), and position ``p`` of
    ``n`` rows is kept when ``(p * M + offset) % n < limit`` — ``M`` a large prime, so this
    permutes the positions and keeps exactly ``limit`` of them, spread over the window. The
    same statement on the same rows picks the same rows on every engine; rows come back
    ordered by window.
    """
    ts = _col(table, timestamp) if timestamp else None
    base, w_expr, cols, conds = windowed_rows(
        table,
        windows,
        timestamp=timestamp,
        names=names,
        where=where,
        order_by=order_by,
        start=start,
        end=end,
    )
    feats = [c.label(f"wk_v{i}") for i, c in enumerate(cols)]
    if windows.spec.kind == "rows":
        n = windows.spec.rows
        pos = (base.c.wk_rn - 1) % sa.literal(n, sa.BigInteger)
        cnt: sa.ColumnElement = sa.literal(n, sa.BigInteger)
    else:
        order: list[sa.ColumnElement[Any]] = [sa.nulls_last(time_key(ts))] if ts is not None else []
        order += [_col(table, c) for c in order_by]
        if windows.spec.kind == "time":
            pos = sa.func.row_number().over(partition_by=w_expr, order_by=order or None)
            cnt = sa.func.count().over(partition_by=w_expr)
        else:
            pos = sa.func.row_number().over(order_by=order or None)
            cnt = sa.func.count().over()
    inner = sa.select(w_expr.label("w"), pos.label("wk_pos"), cnt.label("wk_cnt"), *feats)
    inner = inner.select_from(base)
    if conds:
        inner = inner.where(*conds)
    sub = inner.subquery("wk_sample")
    keep = systematic_keep(sub.c.wk_pos, sub.c.wk_cnt, limit=limit, seed=seed)
    values = [sub.c[f"wk_v{i}"] for i in range(len(cols))]
    if counted:
        values.append(sub.c.wk_cnt)
    return sa.select(sub.c.w, *values).where(keep).order_by(sub.c.w, sub.c.wk_pos)


def systematic_keep(
    pos: sa.ColumnElement[Any], cnt: sa.ColumnElement[Any], *, limit: int, seed: int = 0
) -> sa.ColumnElement[bool]:
    """Whether position ``pos`` (1-based) of ``cnt`` rows is among the ``limit`` that
    :func:`sample_statement` keeps: every row when ``cnt <= limit``."""
    offset = (int(seed) * 7_919 + 104_729) % SAMPLE_MULTIPLIER
    # 64-bit before multiplying: Spark's row_number() is a 32-bit INT, and so is the literal
    # (an INT product overflows, an error in ANSI mode)
    return (
        sa.cast(pos, sa.BigInteger) * sa.literal(SAMPLE_MULTIPLIER, sa.BigInteger)
        + sa.literal(offset, sa.BigInteger)
    ) % cnt < sa.literal(int(limit), sa.BigInteger)


def count_windows_sql(
    conn: sa.Connection,
    table: sa.FromClause,
    profile: ReferenceProfile,
    windows: Windows,
    *,
    timestamp: str | None,
    columns: Mapping[str, str] | None = None,
    where: sa.ColumnElement | None = None,
    order_by: Sequence[str] = (),
    start: int | None = None,
    end: int | None = None,
    progress: Callable[[float, str], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> WindowCounts:
    """Counts of every feature × window × bin, computed by the database in one statement.

    The result streams back (at most features × windows × bins rows); ``cancelled`` is
    watched while the database runs the statement (:func:`~watchkeeper.core.telemetry.
    sql_cancel.cancellable` cancels it there) and checked between fetched blocks.
    """
    if cancelled is not None and cancelled():
        raise Cancelled("drift counting was cancelled")
    feats = profile.features
    n_windows = len(windows)
    acc = [np.zeros((n_windows, fp.n_bins), dtype=np.int64) for fp in feats]
    # one statement for every feature, or for groups of them where the engine runs in this
    # process and holds every branch at once (COUNT_GROUPS)
    step = COUNT_GROUPS.get(conn.dialect.name) or max(1, len(feats))
    groups = [list(range(i, min(i + step, len(feats)))) for i in range(0, len(feats), step)]
    if progress is not None:
        progress(0.0, "counting in the database")
    for g, group in enumerate(groups):
        part = profile if len(groups) == 1 else profile.select([feats[i].name for i in group])
        stmt = count_statement(
            table,
            part,
            windows,
            timestamp=timestamp,
            columns=columns,
            where=where,
            order_by=order_by,
            start=start,
            end=end,
            dialect=conn.dialect.name if conn.dialect.name in SINGLE_SCAN_USED else None,
        )
        if g and progress is not None:
            first, last = group[0] + 1, group[-1] + 1
            progress(g / len(groups), f"counting features {first:,}-{last:,} of {len(feats):,}")
        _run_counts(conn, stmt, [acc[i] for i in group], cancelled)
    if progress is not None:
        progress(1.0, "counted in the database")
    rows = acc[0].sum(axis=1) if acc else np.zeros(n_windows, dtype=np.int64)
    return WindowCounts(profile.names, tuple(acc), rows)


def _run_counts(
    conn: sa.Connection,
    stmt: sa.Select | sa.CompoundSelect,
    acc: Sequence[np.ndarray],
    cancelled: Callable[[], bool] | None,
) -> None:
    """Add the counts statement's rows ``(feature, window, bin, count)`` into ``acc``."""
    guard = None
    try:
        # a Cancel stops the statement where it runs (a warehouse job may take minutes)
        with cancellable(conn, cancelled) as guard:
            result = conn.execute(stmt)
            while True:
                block = result.fetchmany(10_000)
                if not block:
                    break
                if cancelled is not None and cancelled():
                    result.close()
                    raise Cancelled("drift counting was cancelled")
                for row in block:  # (feature, window, bin, count)
                    acc[int(row[0])][int(row[1]), int(row[2])] += int(row[3])
    except sa.exc.DBAPIError as exc:
        conn.rollback()  # leave the connection usable: the failed transaction is only reads
        if guard is not None and guard.fired:
            raise Cancelled("drift counting was cancelled in the database") from None
        raise DriftError(f"the database refused the counting query: {short_error(exc)}") from None


def fetch_float_blocks(
    conn: sa.Connection, statement: sa.Select, width: int, rows: int = 20_000
) -> Generator[np.ndarray, None, None]:
    """The statement's rows as ``(n, width)`` float64 blocks, NULL as NaN, in order.

    On DuckDB the rows come as DuckDB's own Arrow stream and each column becomes a numpy array
    without a Python object per value — 12 M rows x 6 columns through ``fetchmany`` tuples took
    about 5 minutes of the window's drift at 100,000 events a day. Other engines go through
    the DB-API cursor. Closing the generator early closes the result, so the connection is
    free again (DuckDB refuses new work while a result is unfinished).
    """
    if conn.dialect.name == "duckdb":
        import pyarrow as pa
        import pyarrow.compute as pc

        from watchkeeper.core.telemetry.sql import _dollar_sql

        # DuckDB's native `$n` parameters are rendered by a pyformat twin of its dialect
        # Dialect is the interface, without __init__; every real dialect takes a paramstyle
        pyformat = type(conn.dialect)(paramstyle="pyformat")  # type: ignore[call-arg]
        text, params = _dollar_sql(statement, pyformat)
        duckdb_conn = conn.connection.driver_connection
        if duckdb_conn is None:
            raise DriftError("the DuckDB connection was closed before the sample was read")
        reader = duckdb_conn.sql(text, params=params).to_arrow_reader(rows)
        try:
            for batch in reader:
                if batch.num_rows:
                    yield np.column_stack(
                        [
                            pc.cast(c, pa.float64()).to_numpy(zero_copy_only=False)
                            for c in batch.columns
                        ]
                    )
        finally:
            reader.close()
        return
    result = conn.execute(statement)
    try:
        from watchkeeper.core.telemetry.warehouse import float_blocks

        blocks = float_blocks(result, width)  # Spark: the fetched blocks' columns, no rows
        if blocks is not None:
            yield from blocks
            return
        while block := result.fetchmany(rows):
            yield np.array(block, dtype=np.float64).reshape(len(block), width)
    finally:
        result.close()
