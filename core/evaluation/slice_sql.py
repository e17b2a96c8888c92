"""Reading evaluation data where it lives: a slice's ``WHERE`` clauses over a SQL source.

:func:`slice_query` reflects the source's table and turns a selection (model, versions,
``[start, end)``, a :class:`~.predicates.SlicePredicate`) into SQLAlchemy clauses over it;
:func:`duckdb_arrow` runs a statement on DuckDB and fetches it as Arrow. Per-slice reads
(:func:`~.slices.read_slice_sql`) and per-score-bin counts (:mod:`.binned`) both build on
them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from watchkeeper.core.evaluation.metrics import EvaluationError
from watchkeeper.core.evaluation.predicates import SlicePredicate

__all__ = [
    "duckdb_arrow",
    "refuse_odd_labels_sql",
    "refuse_unknown_classes_sql",
    "slice_query",
    "sql_parts",
]


def sql_parts(source: Any) -> tuple[Any, str]:
    from watchkeeper.core.telemetry.sql import sql_location

    parts = sql_location(source)
    if parts is None:
        raise EvaluationError(f"{source.description}: not a SQL source; use slice masks instead")
    return parts


def slice_query(
    conn: Any,
    source: Any,
    predicate: SlicePredicate | None,
    *,
    model: str | None = None,
    versions: Sequence[str] = (),
    start: Any = None,
    end: Any = None,
) -> tuple[Any, list[Any], Any]:
    """``(table, where clauses, role → column)`` selecting a slice's events in a SQL source."""
    from watchkeeper.core.telemetry.contract import TelemetryQuery
    from watchkeeper.core.telemetry.sql import reflect_table
    from watchkeeper.core.times import parse_time

    _, table_name = sql_parts(source)
    mapping = source.mapping
    role = (lambda r: getattr(mapping, r)) if mapping is not None else (lambda r: r)
    table = reflect_table(conn, table_name)

    def col(name: str) -> Any:
        key = role(name) if mapping is None or hasattr(mapping, name) else name
        try:
            return table.c[key]
        except KeyError:
            raise EvaluationError(f"{source.description}: no column {key!r}") from None

    query = TelemetryQuery(
        model=model,
        versions=tuple(str(v) for v in versions),
        start=parse_time(start),
        end=parse_time(end),
    )
    clauses = source.where(table, query)
    if predicate is not None:
        clauses.append(predicate.where(table.c))
    return table, clauses, col


def duckdb_arrow(conn: Any, statement: Any) -> pa.Table:
    """A SQLAlchemy statement run on the DuckDB handle under ``conn``, fetched as Arrow."""
    from watchkeeper.core.telemetry.sql import _dollar_sql

    dialect = type(conn.dialect)(paramstyle="pyformat")  # see _dollar_sql
    text, params = _dollar_sql(statement, dialect)
    # not through a cursor: tell SQLAlchemy's listeners (the statement counter) all the same
    conn.dispatch.before_cursor_execute(conn, None, text, params, None, False)
    # a relation, not a DB-API cursor: DuckDB 2.0 copies the rows once more for a cursor's
    # Arrow output (and says so); the relation is fetched whole, so the connection is free
    return conn.connection.driver_connection.sql(text, params=params).to_arrow_table()


# -- refusing labels that are not the model's, in memory's words ---------------------


def _lowest_values(conn: Any, table: Any, clauses: Sequence[Any], column: Any, bad: Any) -> list:
    """The lowest distinct values of ``column`` among the selected rows where ``bad`` holds,
    one more than a refusal names: read only when refusing, so the common path pays nothing."""
    import sqlalchemy as sa

    from watchkeeper.core.evaluation.metrics import NAMED_VALUES

    # grouped in an outer select: a bound expression repeated in GROUP BY binds apart and
    # DuckDB then refuses the select list's copy
    inner = (
        sa.select(column.label("wk_v"))
        .select_from(table)
        .where(*clauses, column.is_not(None), bad)
        .subquery("wk_bad")
    )
    v = inner.c.wk_v
    statement = sa.select(v).group_by(v).order_by(v).limit(NAMED_VALUES + 1)
    return [row[0] for row in conn.execute(statement).fetchall()]


def refuse_odd_labels_sql(
    conn: Any, table: Any, clauses: Sequence[Any], label: Any, count: int
) -> None:
    """Raise :func:`~.metrics.odd_labels_error` for the ``count`` selected labels that are
    neither 0 nor 1 (none: nothing), naming the lowest as the in-memory refusal does."""
    from watchkeeper.core.evaluation.metrics import odd_labels_error
    from watchkeeper.core.telemetry.sql_values import nan_as_null

    if count <= 0:
        return
    value = nan_as_null(label)  # a NaN is no label, not an odd one
    values = _lowest_values(conn, table, clauses, value, value.not_in([0, 1]))
    raise odd_labels_error(count, [float(v) for v in values], label.name)


def refuse_unknown_classes_sql(
    conn: Any,
    table: Any,
    clauses: Sequence[Any],
    column: Any,
    classes: Sequence[str],
    what: str,
    count: int,
) -> None:
    """Raise :func:`~.multiclass.unknown_classes_error` for the ``count`` selected values of
    ``column`` (a label or prediction) that are no class (none: nothing), naming the lowest
    as the in-memory refusal does (as class text: ``2.0`` is ``"2"``)."""
    from watchkeeper.core.evaluation.multiclass import unknown_classes_error
    from watchkeeper.core.evaluation.multiclass_performance_sql import _class_code
    from watchkeeper.core.telemetry.classes import class_text
    from watchkeeper.core.telemetry.sql_values import nan_as_null

    if count <= 0:
        return
    value = nan_as_null(column)
    values = _lowest_values(conn, table, clauses, value, _class_code(value, classes) == -1)
    texts = class_text(pa.array(values)).to_pylist() if values else []
    raise unknown_classes_error(what, count, texts, classes, column.name)
