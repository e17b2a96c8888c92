"""Telemetry in a SQL table, through SQLAlchemy Core: DuckDB, SQLite, PostgreSQL and others.

Statements are built with SQLAlchemy Core over a lightweight ``table()``: every identifier
is quoted (column names may hold quotes, spaces, unicode or keywords such as ``select``)
and every value is bound, never formatted into the text. The query runs where the data is:
filters in ``WHERE``, :meth:`~SqlSource.count` as ``COUNT(*)``, duplicates as ``GROUP BY
... HAVING count(*) > 1``. Rows stream with a server-side cursor (``stream_results``,
``yield_per``) and become Arrow batches; DuckDB hands Arrow batches over directly.

Engine quirks handled here:

- DuckDB is opened read-only with a ``memory_limit``; a connection refuses new work while
  a result is open, so each stream holds its own pooled connection until it finishes.
- SQLite stores timestamps as text in whatever shape the writer chose; values are read
  raw and parsed. Every comparison with a time — the reader's filter, drift's windows —
  goes through :func:`time_key`: the text as UTC ``YYYY-MM-DD HH:MM:SS.ffffff`` (its zone
  applied by SQLite's ``strftime``, its fraction carried over digit for digit, since
  ``%f`` keeps only milliseconds), compared with bounds of that shape
  (:func:`time_bound`), so a pushed-down count agrees to the microsecond with a read.
  Text SQLite cannot read as an ISO-8601 time gives a NULL key: :func:`uncomparable_times`
  counts such values so an analysis can refuse instead of dropping them. SQLite columns
  may hold any type whatever their declaration: such a value is reported with its column
  and row. The file is opened read-only (a missing file is never created).
- PostgreSQL ``timestamp`` (naive, taken as UTC) and ``timestamptz`` are both bound in the
  column's own type, so the server never applies its session time zone to a bound.
- Versions compare as strings in the output; against an integer column they are bound as
  the integers whose text they are.
- Placeholders: SQLAlchemy's positional paramstyles (qmark, numeric) find their
  placeholders again with a regex that an identifier holding ``%(`` derails. SQLite runs
  with the named style; DuckDB statements are compiled in pyformat and translated to
  ``$n`` (:func:`_dollar_sql`); binds get plain names. Other qmark-style dialects keep
  SQLAlchemy's limitation for such identifiers.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import re
import sqlite3
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import quoted_name
from sqlalchemy.sql.functions import FunctionElement

from watchkeeper.core.errors import TelemetryError
from watchkeeper.core.telemetry.contract import (
    ColumnMapping,
    DuplicateEvent,
    TelemetryQuery,
    TelemetrySchema,
    version_column,
)
from watchkeeper.core.telemetry.inference import normalise, plain_output_type
from watchkeeper.core.telemetry.source import (
    NO_REQUEST_ID_NOTE,
    RawBatch,
    TelemetrySource,
    mask_password,
    resolve_path,
    show_names,
)
from watchkeeper.core.telemetry.sql_values import short_error
from watchkeeper.core.telemetry.warehouse import MAX_ROWS_OPTION, prepare_engine, split_limits

#: DuckDB's memory ceiling for our queries (its default is 80% of RAM).
DUCKDB_MEMORY_LIMIT = "2GB"
_SAMPLE_ROWS = 1000
_FILE_DIALECTS = ("sqlite", "duckdb")
_CONNECT_TIMEOUT_S = 10
#: SQLAlchemy dialects of distributed engines (see SqlSource.warehouse).
WAREHOUSE_DIALECTS = frozenset({"hive"})
#: How long a reader waits for another program's lock on a SQLite file (read at connection).
SQLITE_BUSY_TIMEOUT_S = 5.0


def open_sql(
    location: str, mapping: ColumnMapping | None, *, base_dir: Path | None = None
) -> SqlSource:
    """A reader for ``URL#table`` (``#schema.table`` where the database has schemas)."""
    url_text, hash_sign, table_spec = location.rpartition("#")
    if not hash_sign:
        url_text, table_spec = location, ""
    shown = mask_password(url_text)
    if not table_spec.strip():
        raise TelemetryError(
            "name the table after '#', as in duckdb:///telemetry.duckdb#predictions",
            source=shown,
        )
    engine, shown_url = open_engine(url_text, base_dir=base_dir, table_spec=table_spec)
    description = f"{shown_url}#{table_spec}"
    try:
        schema, table = _locate_table(engine, table_spec, description)
    except BaseException:
        engine.dispose()
        raise
    return SqlSource(engine, schema, table, mapping, description)


def open_engine(
    url_text: str, *, base_dir: Path | None = None, table_spec: str = ""
) -> tuple[Engine, str]:
    """The engine for a database URL (its limits and driver quirks set) and the URL as
    messages show it (no password, no limits)."""
    shown = mask_password(url_text)
    url = _parse_url(url_text, shown)
    url, limits = split_limits(url, shown)
    shown_url = url.render_as_string(hide_password=True)
    description = f"{shown_url}#{table_spec}"
    if url.get_backend_name() in _FILE_DIALECTS:
        url = _resolve_database_file(url, base_dir, description)
    engine = _create_engine(url, description)
    if limits:
        engine = engine.execution_options(**limits)
    return engine, shown_url


class SqlSource(TelemetrySource):
    """One table or view of a SQL database."""

    def __init__(
        self,
        engine: Engine,
        schema: str | None,
        table: str,
        mapping: ColumnMapping | None,
        description: str,
    ) -> None:
        super().__init__(description, mapping)
        self._engine = engine
        self._dialect = engine.dialect.name
        self._schema_name = schema
        self._table_name = table
        self._source: pa.Schema | None = None
        self._table_clause: sa.TableClause | None = None
        self._restrict: Callable[[sa.Select[Any], sa.FromClause], sa.Select[Any]] | None = None
        # DuckDB statements are compiled by a pyformat twin of its dialect: see _dollar_sql.
        self._duckdb_dialect = (
            type(engine.dialect)(paramstyle="pyformat") if self._dialect == "duckdb" else None  # type: ignore[call-arg]  # the Dialect interface has no __init__; real dialects take paramstyle
        )

    # -- what the reader provides -----------------------------------------------------

    def source_schema(self) -> pa.Schema:
        """Column names and Arrow types (DuckDB's own, or mapped from reflected types)."""
        if self._source is None:
            if self._dialect == "duckdb":
                self._source = self._duckdb_schema()
            else:
                self._source = self._reflected_schema()
        return self._source

    # -- pushing an analysis down to the table ----------------------------------------

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def warehouse(self) -> bool:
        """A distributed engine (Spark SQL through ``hive://``): analyses always push their
        counting down to it and read only aggregates and bounded samples, whatever the row
        count — moving its rows over the wire is what it exists to avoid."""
        return self._dialect in WAREHOUSE_DIALECTS

    @property
    def table_name(self) -> str:
        """``schema.table`` or ``table``, as :func:`reflect_table` takes it."""
        return f"{self._schema_name}.{self._table_name}" if self._schema_name else self._table_name

    def where(
        self, table: sa.FromClause, query: TelemetryQuery, *, binds: str = "w"
    ) -> list[sa.ColumnElement[bool]]:
        """The one ``WHERE`` selecting ``query``'s events (model, versions, time range) in
        ``table`` — this source's table as an analysis reflected it.

        The same clauses the reader itself pushes down (type-aware: an integer version
        column compares with integers, a time column with a time of its own zone, SQLite's
        ISO text through ``strftime``), so an analysis counts exactly the rows a read returns.
        A table without a version column is one version: a filter on versions is a constant
        ``true`` (that version asked for) or ``false`` (others only). ``binds`` names the
        values bound (``w1``, ``w2``...): a second filter in one statement needs other names.
        """
        where = _SqlFilter(
            self, query, self._filter_roles(), table, self._constant_version(), binds=binds
        )
        if not where.complete:
            raise TelemetryError(
                "the model/version/time filter cannot be pushed down to this table (a time "
                "column stored as text outside SQLite?)",
                source=self.description,
            )
        return where.clauses

    def _filter_roles(self) -> dict[str, str]:
        """Role → column for the filter, from the mapping alone: an analysis may push down
        to a table that lacks roles it does not filter on (a request id, say)."""
        mapping = self.mapping or ColumnMapping()
        present = set(self.source_schema().names)
        roles = mapping.role_columns()
        kinds = ("model", "model_version", "ts", "request_id")
        return {r: roles[r] for r in kinds if roles.get(r) in present}

    def _constant_version(self) -> str | None:
        """The one version of a table without a version column, from the mapping alone."""
        mapping = self.mapping or ColumnMapping()
        if version_column(mapping, self.source_schema().names) is None:
            return mapping.default_version
        return None

    def _filter(self, query: TelemetryQuery, schema: TelemetrySchema) -> _SqlFilter:
        return _SqlFilter(self, query, _roles_of(schema), constant_version=schema.constant_version)

    def _applies(self, query: TelemetryQuery, schema: TelemetrySchema) -> bool:
        return self._filter(query, schema).complete

    def selection(self, query: TelemetryQuery) -> tuple[sa.TableClause, list[Any]]:
        """This source's table (every column, quoted) and the ``WHERE`` clauses selecting
        ``query``'s events — what an aggregate over the selection is built on
        (:func:`~watchkeeper.core.drift.profile_sql.build_profile_sql`)."""
        return self._table(), list(self._filter(query, self.schema()).clauses)

    def aggregate(self, statement: sa.Select[Any] | sa.CompoundSelect[Any]) -> list[Any]:
        """The rows of a statement whose result is small by construction (an aggregate),
        errors as one-line :class:`TelemetryError`."""
        return self._rows(statement)  # type: ignore[arg-type]  # _rows runs any executable

    # -- a warehouse's stratified sample (bundle export) ---------------------------------

    def _strata(self, table: sa.FromClause) -> tuple[sa.ColumnElement[Any], ...]:
        """(model version as text, UTC day as ``YYYY-MM-DD``) of every row, in SQL: the
        strata of a bundle's sample (a version-less table's version is its constant)."""
        schema = self.schema()
        roles = _roles_of(schema)
        if "ts" not in roles:
            raise TelemetryError("a stratified sample needs a time column", source=self.description)
        # Spark's to_date, in the UTC session (PyHive renders a cast to DATE as TIMESTAMP)
        day = sa.cast(sa.func.to_date(time_key(table.c[roles["ts"]])), sa.String)
        version: sa.ColumnElement[Any]
        if "model_version" in roles:
            version = sa.func.coalesce(sa.cast(table.c[roles["model_version"]], sa.String), "")
        else:
            version = sa.literal(schema.constant_version or "", sa.String)
        return version, day

    def strata_counts(self, query: TelemetryQuery) -> dict[tuple[str, str], int]:
        """Events per (model version, UTC day) of ``query``'s selection, counted by the
        database in one ``GROUP BY``: no row crosses the wire."""
        where = self._filter(query, self.schema())
        table = self._table()
        version, day = self._strata(table)
        statement = (
            sa.select(version.label("v"), day.label("d"), sa.func.count())
            .select_from(table)
            .where(*where.clauses)
            .group_by(version, day)
        )
        return {(str(v), str(d)): int(n) for v, d, n in self._rows(statement)}

    def stratified_sample(
        self, query: TelemetryQuery, quota: Mapping[tuple[str, str], int], seed: int
    ) -> pa.Table:
        """The selection's rows (every column, normalised as :meth:`read` gives them) with
        at most ``quota[(version, day)]`` rows per stratum, chosen by the database: within a
        stratum the rows with the smallest ``xxhash64(seed, request id, version)`` (the time
        and score when there is no request id) — seeded, uniform without replacement, and
        independent of the order the engine reads rows in. Spark SQL only."""
        if self._dialect != "hive":
            raise TelemetryError(
                "a stratified sample is chosen in the database on Spark SQL only",
                source=self.description,
            )
        schema = self.schema()
        roles = {c.name: c.source_name for c in schema.columns if c.constant is None}
        picked = [(k, n) for k, n in quota.items() if n > 0]

        def restrict(statement: sa.Select[Any], table: sa.FromClause) -> sa.Select[Any]:
            version, day = self._strata(table)
            keys = [table.c[roles[r]] for r in ("request_id",) if r in roles]
            keys = keys or [table.c[roles[r]] for r in ("ts", "score") if r in roles]
            digest = sa.func.xxhash64(sa.literal(int(seed), sa.BigInteger), *keys, version)
            rank = sa.func.row_number().over(partition_by=(version, day), order_by=(digest, *keys))
            limit = sa.case(
                *[
                    (sa.and_(version == v, day == d), sa.literal(int(n), sa.BigInteger))
                    for (v, d), n in picked
                ],
                else_=sa.literal(0, sa.BigInteger),
            )
            ranked = statement.add_columns(rank.label("wk_rank"), limit.label("wk_limit")).subquery(
                "wk_ranked"
            )
            names = [c.name for c in statement.selected_columns]
            return sa.select(*[ranked.c[n] for n in names]).where(
                ranked.c.wk_rank <= ranked.c.wk_limit
            )

        self._restrict = restrict
        try:
            return self.read(query)
        finally:
            self._restrict = None

    def _count_selected(self, query: TelemetryQuery, schema: TelemetrySchema) -> int | None:
        where = self._filter(query, schema)
        if not where.complete:
            return None
        statement = sa.select(sa.func.count()).select_from(self._table()).where(*where.clauses)
        return int(self._rows(statement)[0][0])

    def duplicates(
        self,
        query: TelemetryQuery = TelemetryQuery(),  # noqa: B008
        limit: int = 5,
    ) -> list[DuplicateEvent]:
        """Repeated (request id, version) pairs, counted by the database (GROUP BY); by
        request id alone in a table of one version (no version column)."""
        schema = self.schema()
        if not schema.has_request_id:
            self._note(NO_REQUEST_ID_NOTE)
            return []
        where = self._filter(query, schema)
        if not where.complete:
            return super().duplicates(query, limit)
        table = self._table()
        request = table.c[schema.column("request_id").source_name]
        constant = schema.constant_version
        keys = [request]
        if constant is None:
            keys.append(table.c[schema.column("model_version").source_name])
        n = sa.func.count().label("n")
        statement = (
            sa.select(*keys, n)
            .where(request.is_not(None), *where.clauses)
            .group_by(*keys)
            .having(sa.func.count() > 1)
            .order_by(n.desc(), *keys)
        )
        rows = self._rows(statement, limit=max(limit, 0))
        if constant is not None:
            return [DuplicateEvent(_as_text(r[0]), constant, int(r[1])) for r in rows]
        return [DuplicateEvent(_as_text(r[0]), _as_text(r[1]), int(r[2])) for r in rows]

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    def head(self, rows: int) -> pa.Table:
        # no filter, so no mapping needed: the scan's filter would resolve the mapping
        statement = sa.select(*self._table().c)
        if self._duckdb_dialect is not None:
            with self._connect() as conn, self._errors("reading failed"):
                relation = self._duckdb_relation(conn, statement).limit(max(rows, 0))
                return relation.to_arrow_table()
        schema = self.source_schema()
        found = self._rows(statement, limit=max(rows, 0))
        columns = _transpose(found) if found else [() for _ in schema.names]
        arrays = [_to_arrow(v, f.type) for v, f in zip(columns, schema, strict=True)]
        return pa.Table.from_arrays(arrays, names=schema.names)  # values may not fit types

    def _scan(
        self, columns: Sequence[str], query: TelemetryQuery, batch_rows: int
    ) -> Iterator[RawBatch]:
        where = self._filter(query, self.schema())
        table = self._table()
        statement = sa.select(*[table.c[name] for name in columns]).where(*where.clauses)
        if self._restrict is not None:  # a stratified sample's rank (stratified_sample)
            statement = self._restrict(statement, table)
        numbered = where.everything  # without a filter, stream order is the table's order
        if self._dialect == "duckdb":
            return self._scan_duckdb(statement, batch_rows, numbered)
        return self._scan_rows(statement, list(columns), batch_rows, numbered)

    # -- running statements -----------------------------------------------------------

    def _table(self) -> sa.TableClause:
        """The table with all its columns; one object, so every clause names one FROM."""
        if self._table_clause is None:
            self._table_clause = self._bare_table(self.source_schema().names)
        return self._table_clause

    def _bare_table(self, columns: Sequence[str] = ()) -> sa.TableClause:
        """The table with the named columns, every identifier quoted."""
        return sa.table(
            quoted_name(self._table_name, True),
            *[sa.column(quoted_name(name, True)) for name in columns],
            schema=quoted_name(self._schema_name, True) if self._schema_name else None,
        )

    @contextlib.contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Driver errors (SQLAlchemy's, or DuckDB's own) as one-line TelemetryErrors."""
        try:
            yield
        except sa.exc.SQLAlchemyError as exc:
            raise _database_error(exc, self.description, doing) from None
        except Exception as exc:  # duckdb's and thrift's errors share no base with SQLAlchemy's
            if not _is_duckdb_error(exc):
                raise
            raise _database_error(exc, self.description, doing) from None

    def _connect(self) -> Connection:
        with self._errors("cannot connect"):
            return self._engine.connect()

    def _rows(self, statement: sa.Select[Any], limit: int | None = None) -> list[Any]:
        """The rows of a small result (all, or the first ``limit``).

        Never ``LIMIT :n`` in the text: the fewer binds the better (see _dollar_sql), and
        reading only the first rows of a streamed result costs the database the same.
        """
        with self._connect() as conn, self._errors("the query failed"):
            if self._duckdb_dialect is not None:
                relation = self._duckdb_relation(conn, statement)
                if limit is not None:
                    relation = relation.limit(limit)
                return relation.fetchall()
            if limit is None:
                return list(conn.execute(statement).all())
            result = conn.execution_options(stream_results=True).execute(statement)
            try:
                return list(result.fetchmany(limit)) if limit else []
            finally:
                result.close()

    def _scan_rows(
        self, statement: sa.Select[Any], columns: list[str], batch_rows: int, numbered: bool
    ) -> Iterator[RawBatch]:
        """Rows through the DB-API, ``batch_rows`` at a time, converted column by column."""
        types = [self.source_schema().field(name).type for name in columns]
        position = 0
        ceiling = self._engine.get_execution_options().get(MAX_ROWS_OPTION)
        with self._connect() as conn, self._errors("reading failed"):
            streaming = conn.execution_options(stream_results=True, yield_per=batch_rows)
            result = streaming.execute(statement)
            try:
                for rows in result.partitions():
                    if ceiling is not None and position + len(rows) > ceiling:
                        raise TelemetryError(
                            f"reading stopped at {ceiling:,} events: this source sends only "
                            "aggregates and bounded samples, and this read asked for the "
                            "events themselves; narrow the time range, or raise the limit "
                            "with max_rows=<n> in the source URL",
                            source=self.description,
                        )
                    arrays = [
                        _to_arrow(values, t)
                        for values, t in zip(_transpose(rows), types, strict=True)
                    ]
                    batch = pa.RecordBatch.from_arrays(arrays, names=columns)
                    yield RawBatch(batch, position + 1 if numbered else None)
                    position += len(rows)
            finally:
                result.close()

    def _scan_duckdb(
        self, statement: sa.Select[Any], batch_rows: int, numbered: bool
    ) -> Iterator[RawBatch]:
        """DuckDB's own Arrow stream, on a connection held until the stream ends."""
        position = 0
        finished = False
        with self._connect() as conn:
            try:
                with self._errors("reading failed"):
                    relation = self._duckdb_relation(conn, statement)
                    for batch in relation.to_arrow_reader(batch_rows):
                        yield RawBatch(batch, position + 1 if numbered else None)
                        position += batch.num_rows
                finished = True
            finally:
                if not finished:
                    conn.invalidate()  # an unfinished result would block the pooled connection

    def _duckdb_relation(self, conn: Connection, statement: sa.Select[Any]) -> Any:
        """The statement as a DuckDB relation on the connection's own DuckDB handle."""
        text, params = _dollar_sql(statement, self._duckdb_dialect)
        return conn.connection.driver_connection.sql(text, params=params)  # type: ignore[union-attr]  # None only once the connection is closed or detached

    # -- schemas ----------------------------------------------------------------------

    def _duckdb_schema(self) -> pa.Schema:
        statement = sa.select(sa.text("*")).select_from(self._bare_table()).where(sa.false())
        with self._connect() as conn, self._errors("cannot read the table"):
            return self._duckdb_relation(conn, statement).to_arrow_table().schema

    def _reflected_schema(self) -> pa.Schema:
        """Reflected column types as Arrow types; undeclared SQLite types from a sample."""
        with self._connect() as conn, self._errors("cannot read the table"):
            reflected = sa.inspect(conn).get_columns(self._table_name, schema=self._schema_name)
        fields = [pa.field(c["name"], _arrow_type(c["type"], self._dialect)) for c in reflected]
        unknown = [f.name for f in fields if pa.types.is_null(f.type)]
        if unknown:
            guessed = self._sample_types(unknown)
            fields = [pa.field(f.name, guessed.get(f.name, f.type)) for f in fields]
        return pa.schema(fields)

    def _sample_types(self, columns: list[str]) -> dict[str, pa.DataType]:
        table = self._bare_table(columns)
        rows = self._rows(sa.select(*[table.c[c] for c in columns]), limit=_SAMPLE_ROWS)
        if not rows:
            return {}
        return {name: _guess_type(v) for name, v in zip(columns, _transpose(rows), strict=True)}


def _roles_of(schema: TelemetrySchema) -> dict[str, str]:
    return {
        r: schema.column(r).source_name
        for r in ("model", "model_version", "ts", "request_id")
        if r in schema.names and schema.column(r).constant is None
    }


class _SqlFilter:
    """The query as bound ``WHERE`` clauses, or ``complete = False`` when it cannot be.

    Binds get plain names (``w1``, ``w2``...): SQLAlchemy names them after their column
    otherwise, and a named paramstyle would carry an odd column name into the text.
    A time filter on a text column outside SQLite (whose strftime parses ISO text) cannot
    be pushed down faithfully; such a query is filtered after normalisation instead.
    ``constant_version`` is the one version of a table without a version column: a filter
    on versions is then ``true`` or ``false``; ``everything`` says no clause narrows.
    """

    def __init__(
        self,
        source: SqlSource,
        query: TelemetryQuery,
        roles: dict[str, str],
        table: sa.FromClause | None = None,
        constant_version: str | None = None,
        binds: str = "w",
    ):
        self._dialect = source._dialect
        self._table = source._table() if table is None else table
        self._types = source.source_schema()
        self.clauses: list[sa.ColumnElement[bool]] = []
        self.complete = True
        self.everything = True
        self._binds = 0
        self._names = binds
        if query.model is not None and "model" in roles:
            self._in(roles["model"], [query.model])
        if query.versions and constant_version is not None:
            # true rather than nothing: a caller's and_() of no clauses is deprecated
            selected = constant_version in query.versions
            self.clauses.append(sa.true() if selected else sa.false())
            self.everything = self.everything and selected
        elif query.versions and "model_version" not in roles:
            self.complete = False
        elif query.versions:
            self._in(roles["model_version"], list(query.versions))
        for moment, at_least in ((query.start, True), (query.end, False)):
            if moment is not None and "ts" not in roles:
                self.complete = False
            elif moment is not None:
                self._time(roles["ts"], moment, at_least=at_least)
        if query.request_ids and "request_id" not in roles:
            self.complete = False
        elif query.request_ids:
            self._in(roles["request_id"], list(query.request_ids))

    def _bind(self, value: Any, type_: Any = None, *, expanding: bool = False) -> Any:
        self._binds += 1
        return sa.bindparam(f"{self._names}{self._binds}", value, type_=type_, expanding=expanding)

    def _in(self, name: str, values: list[str]) -> None:
        self.everything = False
        column = self._table.c[name]
        arrow_type = self._types.field(name).type
        if pa.types.is_integer(arrow_type):
            numbers = [int(v) for v in values if re.fullmatch(r"-?(0|[1-9]\d*)", v)]
            if not numbers:
                self.clauses.append(sa.false())
                return
            self.clauses.append(column.in_(self._bind(numbers, sa.BigInteger, expanding=True)))
        elif pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
            self.clauses.append(column.in_(self._bind(values, sa.String, expanding=True)))
        else:
            self.complete = False

    def _time(self, name: str, moment: dt.datetime, *, at_least: bool) -> None:
        self.everything = False
        column = self._table.c[name]
        arrow_type = self._types.field(name).type
        if self._dialect != "sqlite" and not pa.types.is_timestamp(arrow_type):
            self.complete = False
            return
        key = time_key(column)
        # the lightweight table's columns carry no type: the zone comes from the reflection
        zoned = pa.types.is_timestamp(arrow_type) and arrow_type.tz is not None
        bound = time_bound(column, moment, name=f"{self._names}{self._binds + 1}", zoned=zoned)
        self._binds += 1
        self.clauses.append(key >= bound if at_least else key < bound)


# -- times compared where the data lives ---------------------------------------------

#: The shape of every SQLite time key and bound: fixed width, so text order is time order.
SQLITE_TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


class time_key(FunctionElement[Any]):
    """What a timestamp column's values compare as: the column itself, except on SQLite.

    SQLite keeps times as text in any shape (``2026-01-01T02:00:00+02:00``,
    ``...00Z``, ``... 00:00:00.25``); comparing that text with a bound compares letters, not
    moments (a ``T`` sorts after a space; an offset is ignored). There the key is the UTC
    moment as ``YYYY-MM-DD HH:MM:SS.ffffff`` text, or NULL for a value SQLite cannot read as
    ISO-8601 (see :func:`uncomparable_times`). Compare it only with :func:`time_bound`.
    """

    inherit_cache = True
    name = "wk_time_key"

    def __init__(self, column: sa.ColumnElement[Any]) -> None:
        super().__init__(column)
        self.type = column.type


@compiles(time_key)
def _time_key_default(element: time_key, compiler: Any, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(time_key, "hive")
def _time_key_hive(element: time_key, compiler: Any, **kw: Any) -> str:
    (column,) = element.clauses
    if isinstance(column.type, _NtzMarker):  # TIMESTAMP_NTZ: as the instant it means in UTC
        return compiler.process(sa.cast(column, sa.TIMESTAMP()), **kw)
    return compiler.process(column, **kw)


@compiles(time_key, "sqlite")
def _time_key_sqlite(element: time_key, compiler: Any, **kw: Any) -> str:
    (column,) = element.clauses
    return compiler.process(_sqlite_utc_text(column), **kw)


def _sqlite_utc_text(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """SQLite: ``column``'s ISO-8601 text as UTC ``YYYY-MM-DD HH:MM:SS.ffffff``, else NULL.

    ``strftime`` applies a ``Z``/``±HH:MM`` suffix but keeps only milliseconds (``%f``
    truncates ``59.9996`` to ``59.999``), so the fraction is cut out before it and appended
    after, padded or truncated to six digits as Python's ``fromisoformat`` reads it.
    """
    digits: sa.ColumnElement[str] = sa.literal_column("'0123456789'")
    text = sa.func.trim(column)
    dot = sa.func.instr(text, sa.literal_column("'.'"))
    after = sa.func.substr(text, dot + 1)  # fraction, then the zone if any
    zone = sa.func.ltrim(after, digits)
    fraction = sa.func.substr(after, 1, sa.func.length(after) - sa.func.length(zone))
    seconds: sa.ColumnElement[str] = sa.literal_column("'%Y-%m-%d %H:%M:%S'")
    whole = sa.func.strftime(seconds, text)
    cut = sa.func.strftime(seconds, sa.func.substr(text, 1, dot - 1).op("||")(zone))
    six = sa.func.substr(fraction.op("||")(sa.literal_column("'000000'")), 1, 6)
    return sa.case(
        # strftime also takes julian day numbers and 'now': only ISO dates are times here
        (sa.func.typeof(column) != sa.literal_column("'text'"), sa.null()),
        (
            sa.not_(text.op("GLOB")(sa.literal_column("'[0-9][0-9][0-9][0-9]-[0-9][0-9]-*'"))),
            sa.null(),
        ),
        (dot == 0, whole.op("||")(sa.literal_column("'.000000'"))),
        (sa.func.length(fraction) == 0, sa.null()),
        else_=cut.op("||")(sa.literal_column("'.'")).op("||")(six),
    )


class _Moment(sa.types.TypeDecorator[dt.datetime]):
    """A bound moment: SQLite gets the UTC text a :func:`time_key` compares with, other
    engines the datetime itself (shaped by :func:`time_bound` for the column's zone)."""

    impl = sa.DateTime
    cache_ok = True

    def __init__(self, zoned: bool = False) -> None:
        super().__init__(timezone=zoned)
        self.zoned = zoned

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.String())
        return dialect.type_descriptor(sa.DateTime(timezone=self.zoned))

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> Any:
        if value is None or dialect.name != "sqlite":
            return value
        moment = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
        return moment.astimezone(dt.UTC).strftime(SQLITE_TIME_FORMAT)


def time_bound(
    column: sa.ColumnElement[Any],
    moment: dt.datetime | int,
    *,
    name: str | None = None,
    zoned: bool | None = None,
) -> sa.BindParameter[Any]:
    """``moment`` (aware, naive = UTC, or epoch µs) bound to compare with ``time_key(column)``:
    zone-aware for a zoned column (``zoned``, else the column's type says), naive UTC
    otherwise — a naive bound against a zoned column would be read in the session's zone —
    and UTC text on SQLite."""
    if isinstance(moment, int):
        moment = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=moment)
    elif moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    if zoned is None:
        zoned = bool(getattr(column.type, "timezone", False))
    value = moment.astimezone(dt.UTC)
    if not zoned:
        value = value.replace(tzinfo=None)
    return sa.bindparam(name, value, type_=_Moment(zoned), unique=name is None)


def uncomparable_times(
    conn: sa.Connection,
    table: sa.FromClause,
    column: sa.ColumnElement[Any],
    where: sa.ColumnElement[bool] | None = None,
) -> tuple[int, str | None]:
    """``(how many, the first)`` non-NULL values of ``column`` among the rows ``where``
    selects that cannot be compared as times where they live: text SQLite does not read as
    ISO-8601, and on any other engine every value of a column that is not a timestamp type.
    A pushed-down analysis that counted past them would miscount silently."""
    if conn.dialect.name != "sqlite":
        # PyHive's TIMESTAMP/DATE are decorators over text that hold times
        if isinstance(column.type, sa.DateTime | sa.Date) or _python_type(column.type) in (
            dt.datetime,
            dt.date,
        ):
            return 0, None
        bad = sa.select(sa.func.count(column)).select_from(table)
        first = sa.select(sa.cast(column, sa.String)).select_from(table)
    else:
        bad_rows = sa.and_(column.is_not(None), time_key(column).is_(None))
        bad = sa.select(sa.func.count()).select_from(table).where(bad_rows)
        first = sa.select(sa.cast(column, sa.String)).select_from(table).where(bad_rows)
    if where is not None:
        bad, first = bad.where(where), first.where(where)
    n = int(conn.execute(bad).scalar_one())
    if n == 0:
        return 0, None
    return n, conn.execute(first.where(column.is_not(None)).limit(1)).scalar()


def sql_location(source: Any) -> tuple[Engine, str] | None:
    """``(engine, "schema.table")`` behind a SQL telemetry source, or None for files."""
    if isinstance(source, SqlSource):
        return source.engine, source.table_name
    return None


def reflect_table(conn: sa.Connection, name: str) -> sa.Table:
    """The table ``name`` (``schema.table`` or ``table``) with its columns and their types,
    reflected: what an analysis pushed down to the database builds its statements on."""
    schema, _, table = name.rpartition(".")
    if conn.dialect.name == "duckdb":
        return _reflect_duckdb(conn, table, schema or None, name)
    # once an engine (a source's, closed with it): a performance view on Spark reflected its
    # table six times, two DESCRIBEs each, a round trip to the server every one
    known = _REFLECTED.setdefault(conn.engine, {})
    if name not in known:
        try:
            known[name] = sa.Table(table, sa.MetaData(), schema=schema or None, autoload_with=conn)
        except sa.exc.NoSuchTableError:
            raise TelemetryError(f"no table {name!r} in the database") from None
    return known[name]


_REFLECTED: weakref.WeakKeyDictionary[Engine, dict[str, sa.Table]] = weakref.WeakKeyDictionary()


_DUCKDB_TYPES: tuple[tuple[str, Any], ...] = (
    ("TIMESTAMP WITH TIME ZONE", sa.DateTime(timezone=True)),
    ("TIMESTAMPTZ", sa.DateTime(timezone=True)),
    ("TIMESTAMP", sa.DateTime()),
    ("DATE", sa.Date()),
    ("DOUBLE", sa.Double()),
    ("FLOAT", sa.Double()),
    ("REAL", sa.Double()),
    ("DECIMAL", sa.Double()),
    ("HUGEINT", sa.BigInteger()),
    ("BIGINT", sa.BigInteger()),
    ("INTEGER", sa.BigInteger()),
    ("SMALLINT", sa.BigInteger()),
    ("TINYINT", sa.BigInteger()),
    ("UBIGINT", sa.BigInteger()),
    ("UINTEGER", sa.BigInteger()),
    ("USMALLINT", sa.BigInteger()),
    ("UTINYINT", sa.BigInteger()),
    ("BOOLEAN", sa.Boolean()),
    ("VARCHAR", sa.String()),
)


def _reflect_duckdb(conn: sa.Connection, table: str, schema: str | None, name: str) -> sa.Table:
    # duckdb-engine's reflection asks pg_catalog for pg_collation, which DuckDB lacks under
    # SQLAlchemy 2.1; information_schema answers the same question portably.
    cols = sa.table(
        "columns",
        sa.column("table_name"),
        sa.column("table_schema"),
        sa.column("column_name"),
        sa.column("data_type"),
        sa.column("ordinal_position"),
        schema="information_schema",
    )
    stmt = sa.select(cols.c.column_name, cols.c.data_type).where(cols.c.table_name == table)
    if schema:
        stmt = stmt.where(cols.c.table_schema == schema)
    rows = conn.execute(stmt.order_by(cols.c.ordinal_position)).all()
    if not rows:
        raise TelemetryError(f"no table {name!r} in the database")
    columns = []
    for col_name, data_type in rows:
        upper = str(data_type).upper()
        ctype = next(
            (t for prefix, t in _DUCKDB_TYPES if upper.startswith(prefix)), sa.types.NullType()
        )
        columns.append(sa.Column(str(col_name), ctype))
    return sa.Table(table, sa.MetaData(), *columns, schema=schema)


def _dollar_sql(statement: sa.Select[Any], dialect: Any) -> tuple[str, list[Any]]:
    """SQL text with ``$1, $2...`` placeholders and their values, for DuckDB's own API.

    SQLAlchemy's positional paramstyles find their placeholders again with a regex over
    the finished text, which an identifier holding ``%(`` derails (a bind is left as
    ``%(name)s``; found by the odd-names tests). A pyformat compile escapes every literal
    ``%`` as ``%%``, so one left-to-right scan tells placeholders from text exactly.
    """
    compiled = statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    reverse = {v: k for k, v in (compiled.escaped_bind_names or {}).items()}
    order: dict[str, int] = {}

    def placeholder(match: re.Match[str]) -> str:
        if match.group(1) is None:
            return "%"
        name = reverse.get(match.group(1), match.group(1))
        return f"${order.setdefault(name, len(order) + 1)}"

    text = _PYFORMAT.sub(placeholder, compiled.string)
    return text, [compiled.params[name] for name in order]


_PYFORMAT = re.compile(r"%%|%\(([^)]+)\)s")


# -- opening --------------------------------------------------------------------------


def _parse_url(text: str, shown: str) -> URL:
    try:
        return sa.engine.make_url(text)
    except (sa.exc.ArgumentError, ValueError):
        raise TelemetryError(
            "not a database URL (expected e.g. postgresql+psycopg://user@host/db#table)",
            source=shown,
        ) from None


def _resolve_database_file(url: URL, base_dir: Path | None, description: str) -> URL:
    """The embedded database's file, relative to ``base_dir``; it must exist."""
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith(":memory:"):
        raise TelemetryError(
            "an in-memory database holds no telemetry; give the path of a database file",
            source=description,
        )
    path = resolve_path(database, base_dir)
    if not path.is_file():
        raise TelemetryError(f"no such database file: {path}", source=description)
    if url.get_backend_name() == "sqlite":
        # Read-only through a URI filename, so a reader never creates or changes the file.
        return URL.create(
            "sqlite", database=f"file:{quote(str(path))}", query={"mode": "ro", "uri": "true"}
        )
    return url.set(database=str(path))


def _create_engine(url: URL, description: str) -> Engine:
    backend = url.get_backend_name()
    options: dict[str, Any] = {}
    if backend == "duckdb":
        options["connect_args"] = {
            "read_only": True,
            "config": {"memory_limit": DUCKDB_MEMORY_LIMIT},
        }
    elif backend == "sqlite":
        options["connect_args"] = {
            "check_same_thread": False,
            "timeout": SQLITE_BUSY_TIMEOUT_S,
        }
        # Named, not qmark: SQLAlchemy's positional pass misreads identifiers holding "%(".
        options["paramstyle"] = "named"
    elif backend == "postgresql":
        options["connect_args"] = {"connect_timeout": _CONNECT_TIMEOUT_S}
    try:
        engine = sa.create_engine(url, **options)
    except sa.exc.NoSuchModuleError:
        raise TelemetryError(
            f"no SQLAlchemy dialect for {url.drivername!r} is installed", source=description
        ) from None
    except ImportError as exc:
        raise TelemetryError(
            f"the database driver for {url.drivername!r} is not installed ({exc.name})",
            source=description,
        ) from None
    if backend == "duckdb":
        sa.event.listen(engine, "connect", _duckdb_session)
    if backend == "hive":
        prepare_engine(engine)
        _type_spark_ntz()
        sa.event.listen(engine, "connect", _spark_session)
        # Thrift logs a failed connection on stderr before raising it; we report the error
        # ourselves, in one line
        logging.getLogger("thrift.transport.TSocket").setLevel(logging.CRITICAL)
    return engine


def _duckdb_session(dbapi_connection: Any, _record: Any) -> None:
    """DuckDB's progress bar off: it writes to standard output, into ``watchkeeper drift
    --json``'s document, whenever a statement runs for over two seconds (a connection's
    setting, not the database's)."""
    # on the connection itself: a DuckDB cursor is a connection of its own
    dbapi_connection.execute("SET enable_progress_bar = false")


def _type_spark_ntz() -> None:
    """Type Spark's TIMESTAMP_NTZ (what Spark reads a naive Parquet timestamp as), which
    PyHive does not know (it reflects such a column as NullType, so no time filter or window
    applies): as a timestamp whose values are UTC wall times, compared as
    ``CAST(column AS TIMESTAMP)`` (:func:`time_key`) — in the session's zone, UTC here."""
    from pyhive import sqlalchemy_hive

    sqlalchemy_hive._type_map.setdefault("timestamp_ntz", SPARK_TIMESTAMP_NTZ)


class _NtzMarker:
    """Marks the TIMESTAMP_NTZ decorator (:func:`_type_spark_ntz`)."""


def _spark_timestamp_ntz() -> type:
    try:
        from pyhive.sqlalchemy_hive import HiveTimestamp
    except ImportError:  # the spark extra is not installed: no hive engine either
        return _NtzMarker
    return type("SparkTimestampNtz", (HiveTimestamp, _NtzMarker), {"cache_ok": True})


SPARK_TIMESTAMP_NTZ = _spark_timestamp_ntz()


def _spark_session(dbapi_connection: Any, _record: Any) -> None:
    """Spark's TIMESTAMP is an instant shown in the session's time zone, which is the
    server's unless set: read and compare every time in UTC, as every other engine here."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SET spark.sql.session.timeZone=UTC")
    finally:
        cursor.close()


def _locate_table(engine: Engine, spec: str, description: str) -> tuple[str | None, str]:
    """(schema, table) as the database spells them; a near miss in case is accepted."""
    schema, table = _split_table(spec, description)
    try:
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            # PyHive's has_table takes Spark's "not found" for a failure: list instead
            if engine.dialect.name != "hive" and inspector.has_table(table, schema=schema):
                return schema, table
            names = _relation_names(inspector, schema)
            if table in names:
                return schema, table
    except sa.exc.SQLAlchemyError as exc:
        raise _database_error(exc, description, "cannot connect") from None
    except Exception as exc:
        if _is_duckdb_error(exc):
            doing = "cannot open" if engine.dialect.name == "duckdb" else "cannot connect"
            raise _database_error(exc, description, doing) from None
        raise
    folded = [n for n in names if n.lower() == table.lower()]
    if len(folded) == 1:
        return schema, folded[0]
    where = f" in schema {schema!r}" if schema else ""
    listing = f"; it has {show_names(names)}" if names else "; it has no tables"
    raise TelemetryError(f"no table {table!r}{where}{listing}", source=description)


def relation_names(engine: Engine, description: str) -> list[str]:
    """The tables and views the engine's database holds, sorted (a connection error as a
    one-line TelemetryError)."""
    try:
        with engine.connect() as conn:
            return _relation_names(sa.inspect(conn), None)
    except sa.exc.SQLAlchemyError as exc:
        raise _database_error(exc, description, "cannot connect") from None


def _relation_names(inspector: sa.Inspector, schema: str | None) -> list[str]:
    if inspector.dialect.name == "hive":
        # PyHive reads the first column of SHOW TABLES, which on Spark is the database
        query = "SHOW TABLES" + (f" IN `{schema}`" if schema else "")
        rows = inspector.bind.exec_driver_sql(query).all()  # type: ignore[union-attr]
        return sorted({str(r[1] if len(r) > 1 else r[0]) for r in rows})
    names = list(inspector.get_table_names(schema=schema))
    with contextlib.suppress(NotImplementedError, sa.exc.SQLAlchemyError):
        names += inspector.get_view_names(schema=schema)
    return sorted(set(names))


def _split_table(spec: str, description: str) -> tuple[str | None, str]:
    """``table``, ``schema.table`` or ``"dotted.schema"."table"`` into its parts."""
    parts = [
        quoted.replace('""', '"') if quoted else bare.strip()
        for quoted, bare in re.findall(r'"((?:[^"]|"")*)"|([^."]+)', spec.strip())
    ]
    parts = [p for p in parts if p]
    if not parts:
        raise TelemetryError("no table name after '#'", source=description)
    if len(parts) == 1:
        return None, parts[0]
    return ".".join(parts[:-1]), parts[-1]


# -- values ---------------------------------------------------------------------------


def _arrow_type(sql_type: sa.types.TypeEngine[Any], dialect: str) -> pa.DataType:
    """The Arrow type a reflected column type reads as; null means "look at the values"."""
    if isinstance(sql_type, sa.TypeDecorator):
        # PyHive reflects Spark's TIMESTAMP, DATE and DECIMAL as decorators over text (the
        # driver hands them over as strings); what they hold is their Python type.
        python = _python_type(sql_type)
        if python is dt.datetime:
            return pa.timestamp("us")  # Spark's TIMESTAMP has no zone of its own: UTC here
        if python is dt.date:
            return pa.date32()
        if python is Decimal:
            return pa.float64()
        sql_type = sql_type.impl_instance
    if isinstance(sql_type, sa.Boolean):
        return pa.bool_()
    if isinstance(sql_type, sa.Integer):
        return pa.int64()
    if isinstance(sql_type, sa.Float | sa.Numeric):
        return pa.float64()
    if isinstance(sql_type, sa.DateTime):
        return pa.timestamp("us", tz="UTC" if sql_type.timezone else None)
    if isinstance(sql_type, sa.Date):
        return pa.date32()
    if isinstance(sql_type, sa.String | sa.Uuid | sa.Enum):
        return pa.string()
    if isinstance(sql_type, sa.Time):
        return pa.time64("us")
    if isinstance(sql_type, sa.Interval):
        return pa.duration("us")
    if isinstance(sql_type, sa.LargeBinary):
        return pa.binary()
    if isinstance(sql_type, sa.types.NullType) and dialect == "sqlite":
        return pa.null()  # no declared type: decided from a sample of values
    return pa.list_(pa.string())  # JSON, arrays and the like: not analysable


def _python_type(sql_type: sa.types.TypeEngine[Any]) -> type | None:
    """What a column type holds: PyHive's TIMESTAMP, DATE and DECIMAL are decorators over
    text whose ``python_type`` says nothing (``object``), so they are known by name."""
    if isinstance(sql_type, sa.TypeDecorator):
        # the nearest PyHive class (SPARK_TIMESTAMP_NTZ derives from its TIMESTAMP)
        for klass in type(sql_type).__mro__:
            if not klass.__module__.startswith("pyhive"):
                continue
            for suffix, python in (
                ("Timestamp", dt.datetime),
                ("Date", dt.date),
                ("Decimal", Decimal),
            ):
                if klass.__name__.endswith(suffix):
                    return python
            break
    try:
        return sql_type.python_type
    except NotImplementedError:
        return None


def _guess_type(values: Sequence[Any]) -> pa.DataType:
    present = [v for v in values if v is not None]
    if not present:
        return pa.null()
    if all(isinstance(v, bool) for v in present):
        return pa.bool_()
    if all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return pa.int64()
    if all(isinstance(v, int | float | Decimal) for v in present):
        return pa.float64()
    if all(isinstance(v, bytes) for v in present):
        return pa.binary()
    return pa.string()


def _to_arrow(values: Sequence[Any], arrow_type: pa.DataType) -> pa.Array:
    """DB-API values as an Arrow array: of ``arrow_type`` when they fit it.

    When they do not (SQLite text in a DATETIME column, Decimals, UUIDs, a stray string in
    a REAL column), the values come back in their own type or as text, and normalisation
    either converts them or reports the first that does not convert, with its row.
    """
    with contextlib.suppress(*_CONVERSION_ERRORS):
        return pa.array(values, arrow_type, from_pandas=False)
    if all(v is None or isinstance(v, str) for v in values):
        return pa.array(values, pa.string())
    with contextlib.suppress(*_CONVERSION_ERRORS):
        inferred = pa.array(values, from_pandas=False)
        if plain_output_type(inferred.type) is not None:
            return inferred
    return pa.array([None if v is None else str(v) for v in values], pa.string())


_CONVERSION_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError)


def _transpose(rows: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
    """Rows to columns."""
    return list(zip(*rows, strict=True))


def _as_text(value: object) -> str:
    """A key value as the output shows it (an integer version 2 is "2")."""
    if value is None or isinstance(value, str):
        return value or ""
    return normalise(_to_arrow([value], pa.string()), pa.string())[0].as_py() or ""


# -- errors ---------------------------------------------------------------------------


def _is_duckdb_error(exc: BaseException) -> bool:
    """A driver's own error that SQLAlchemy does not wrap: DuckDB's, or the Thrift transport's
    under PyHive (a Spark server that cannot be reached or drops the connection)."""
    return type(exc).__module__.startswith(("duckdb", "_duckdb", "thrift", "pyhive"))


def _database_error(exc: BaseException, description: str, doing: str) -> TelemetryError:
    """A driver's error in one line, password masked, with a hint for the usual causes."""
    original = getattr(exc, "orig", None) or exc
    text = mask_password(short_error(exc))
    if "different configuration" in text:
        text = (
            "the file is already open in this program with other settings; close that "
            "connection first"
        )
    elif "lock" in text.lower() and "conflicting" in text.lower():
        text = f"the file is in use by another program ({text})"
    elif isinstance(original, sqlite3.OperationalError) and "database is locked" in text:
        # Not a connection failure: another program holds the file while it writes.
        return TelemetryError(
            f"the database is busy: another program is writing to it (waited "
            f"{SQLITE_BUSY_TIMEOUT_S:g} s); try again",
            source=description,
        )
    return TelemetryError(f"{doing}: {text}", source=description)


#: DuckDB keeps the table's blocks it has read in its buffer pool, up to its memory limit
#: (:data:`DUCKDB_MEMORY_LIMIT`, else 80 % of the machine): reading every column of a wide
#: table a batch at a time cached the whole file (0.9 GB for the wide demo) in the window's
#: memory; the bounded Slices read of a 6,000,000-event table of 50 features, 2.39 GiB. The
#: limit is the database instance's, which lives while a connection to the file is open.
DUCKDB_CACHE_BYTES = 256 << 20
#: A scan pins one block of every column it reads, on each of DuckDB's threads: the drift
#: view's widest stream (the multivariate check's 400 numerical columns) needs 100 MiB on
#: one thread, 200 on two, and failed to pin a block under a limit of 160 MiB on two.
DUCKDB_BLOCK_BYTES = 256 << 10
#: What a single-threaded scan's limit holds beyond its pinned blocks (the cache, and the
#: other reads beside it: a batch of 16 columns; 28 MiB was enough for the wide demo).
DUCKDB_SCAN_MARGIN = 64 << 20
_SIZE_UNITS = {"bytes": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}


def bound_duckdb_cache(src: Any, *, widest: int | None = None) -> None:
    """Lower a DuckDB source's memory limit to :data:`DUCKDB_CACHE_BYTES` (never raise it).

    ``widest``: the most columns one of the caller's scans reads at a time. DuckDB then
    scans on one thread and the limit is what that scan pins plus :data:`DUCKDB_SCAN_MARGIN`
    (at most :data:`DUCKDB_CACHE_BYTES`): the wide demo's drift (500 features × 730,000
    rows, read a batch of columns at a time) kept 256 MiB of blocks in its analysis process,
    which peaked at 1.15-1.18 GB (VmHWM); on one thread under 164 MiB, 0.95 GB in the same time.
    For readers only: a statement that aggregates wants both threads. The setting is the
    instance's, gone with the source's last connection.
    """
    if not isinstance(src, SqlSource) or src.engine.dialect.name != "duckdb":
        return
    bound = DUCKDB_CACHE_BYTES
    if widest is not None:
        bound = min(bound, max(1, widest) * DUCKDB_BLOCK_BYTES + DUCKDB_SCAN_MARGIN)
    with src.engine.connect() as conn:
        duck = conn.connection.driver_connection
        if duck is None:  # a closed connection: nothing to lower
            return
        text = duck.sql("SELECT current_setting('memory_limit')").fetchall()[0][0]  # '18.8 GiB'
        number, _, unit = str(text).partition(" ")
        try:
            current = float(number) * _SIZE_UNITS.get(unit, 1)
        except ValueError:
            current = float("inf")
        if widest is not None:
            duck.execute("SET threads = 1")
        if current > bound:
            duck.execute(f"SET memory_limit = '{bound >> 20}MiB'")
