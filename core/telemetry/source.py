"""Where telemetry comes from: one interface over Parquet, CSV and SQL databases.

:func:`open_source` turns a location (CONTRACT.md's ``SRC``: a file path, a folder of
Parquet files, or a SQLAlchemy URL with the table after ``#``) into a
:class:`TelemetrySource`. Every source answers the same questions — its schema under the
column mapping, how many events a query selects, those events as Arrow batches streamed
with bounded memory, which (request id, version) pairs are duplicated — and returns the
same normalised batches (see :mod:`.inference`), so an analysis never knows where its
data lives.

A reader subclass only says what its columns are (:meth:`TelemetrySource.source_schema`)
and streams raw batches of some of them (:meth:`TelemetrySource._scan`), applying as much of
the query as its storage can; the mapping, the normalisation, whatever filtering is left,
the checks and the error messages live here, once. Imports of the readers (and of
SQLAlchemy) are lazy: a CLI command that never opens a database never pays for them.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import reduce
from pathlib import Path
from types import TracebackType
from typing import Self

import pyarrow as pa
import pyarrow.compute as pc

from watchkeeper.core.errors import TelemetryError
from watchkeeper.core.progress import CancelCheck, check_cancelled
from watchkeeper.core.telemetry.classes import multiclass_problem
from watchkeeper.core.telemetry.contract import (
    CANONICAL_ROLES,
    CLASS_PROBABILITY,
    REQUIRED_ROLES,
    ColumnInfo,
    ColumnKind,
    ColumnMapping,
    DuplicateEvent,
    TelemetryQuery,
    TelemetrySchema,
    version_column,
)
from watchkeeper.core.telemetry.inference import (
    TIMESTAMP_TYPE,
    TypeProblem,
    ValueProblem,
    infer_kind,
    normalise,
    numeric_text,
    output_type,
    plain_output_type,
)

DEFAULT_BATCH_ROWS = 65_536
#: Said (in ``notes``) when duplicates cannot be checked.
NO_REQUEST_ID_NOTE = (
    "no request id column: duplicated events cannot be checked, and a challenger's shadow "
    "rows cannot be paired with the champion's"
)
_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


@dataclass(frozen=True)
class RawBatch:
    """A batch as a reader found it: source column names, source types.

    ``first_row`` is the 1-based data row (below the header) of the batch's first row,
    when the reader knows it (it does not once a database or a Parquet scan has filtered).
    """

    batch: pa.RecordBatch
    first_row: int | None


@dataclass(frozen=True)
class _Plan:
    """What one read needs: output columns, the source columns behind them, the filter."""

    query: TelemetryQuery
    output: tuple[ColumnInfo, ...]  # columns the caller asked for
    read: tuple[ColumnInfo, ...]  # those plus any column the residual filter needs
    residual: bool  # the reader cannot apply the query itself: filter here
    schema: pa.Schema = field(compare=False)


class TelemetrySource(ABC):
    """Prediction events in one table, file or folder, read under a column mapping.

    Open one with :func:`open_source`; close it (or use ``with``) to release connections.
    A source is not meant to be shared between threads: give each worker its own.
    """

    #: Text formats cannot tell an empty string from a missing value: blanks become null.
    blank_is_null = False

    def __init__(self, description: str, mapping: ColumnMapping | None) -> None:
        self.description = description
        self.mapping = mapping
        self.notes: tuple[str, ...] = ()  # remarks worth showing once, e.g. an encoding guess
        self._schema: TelemetrySchema | None = None

    # -- what a reader provides -------------------------------------------------------

    @abstractmethod
    def source_schema(self) -> pa.Schema:
        """The source's own columns and their Arrow types, before any mapping."""

    @abstractmethod
    def _scan(
        self, columns: Sequence[str], query: TelemetryQuery, batch_rows: int
    ) -> Iterator[RawBatch]:
        """Raw batches of the named source columns, the query applied as far as possible."""

    def _applies(self, query: TelemetryQuery, schema: TelemetrySchema) -> bool:
        """Whether :meth:`_scan` applies ``query`` exactly (else it is filtered here)."""
        return _is_everything(query, schema)

    def _count_selected(self, query: TelemetryQuery, schema: TelemetrySchema) -> int | None:
        """The number of selected events when the storage can count them without a scan."""
        return None

    def close(self) -> None:  # noqa: B027 - a hook: file readers hold nothing open
        """Release files and connections; the source cannot be read afterwards."""

    # -- the public interface ---------------------------------------------------------

    def schema(self) -> TelemetrySchema:
        """The columns under the mapping, in output order (roles, features, extras).

        Raises :class:`TelemetryError` for a mapped column the source lacks or a role column
        whose type can never serve its role.
        """
        if self._schema is None:
            self._schema = _resolve_schema(self.source_schema(), self.mapping, self.description)
        return self._schema

    def batches(
        self,
        query: TelemetryQuery = TelemetryQuery(),  # noqa: B008 - frozen, safe to share
        columns: Sequence[str] | None = None,
        batch_rows: int = DEFAULT_BATCH_ROWS,
    ) -> Iterator[pa.RecordBatch]:
        """The selected events as normalised batches of at most ``batch_rows`` rows.

        ``columns`` are output names (default: all). Bad columns fail here, at the call;
        bad values fail while iterating, naming the column and row.
        """
        if batch_rows < 1:
            raise ValueError("batch_rows must be positive")
        plan = self._plan(query, columns)
        return _rechunk(self._stream(plan, batch_rows), batch_rows)

    def read(
        self,
        query: TelemetryQuery = TelemetryQuery(),  # noqa: B008
        columns: Sequence[str] | None = None,
        cancelled: CancelCheck | None = None,
    ) -> pa.Table:
        """The selected events as one table: for windows that fit in memory.

        ``cancelled`` is checked between batches: a cancelled read of a wide window stops
        there and lets go of what it read, instead of holding it to the end (in an analysis
        process, beside the analysis that replaced it).
        """
        plan = self._plan(query, columns)
        batches = []
        for batch in _rechunk(self._stream(plan, DEFAULT_BATCH_ROWS), DEFAULT_BATCH_ROWS):
            check_cancelled(cancelled)
            batches.append(batch)
        return pa.Table.from_batches(batches, schema=plan.schema)

    def count(self, query: TelemetryQuery = TelemetryQuery()) -> int:  # noqa: B008
        """How many events the query selects, without materialising them."""
        schema = self.schema()
        counted = self._count_selected(query, schema)
        if counted is not None:
            return counted
        plan = self._plan(query, _count_columns(query, schema))
        return sum(batch.num_rows for batch in self._stream(plan, DEFAULT_BATCH_ROWS))

    def duplicates(
        self,
        query: TelemetryQuery = TelemetryQuery(),  # noqa: B008
        limit: int = 5,
    ) -> list[DuplicateEvent]:
        """(request id, model version) pairs seen more than once, most repeated first.

        Files are streamed on the two key columns only; their distinct keys are held in
        Arrow memory (a few tens of bytes per event), which the hash grouping needs. A
        source of one version groups by request id alone (its version is a constant); one
        without a request id has nothing to check: none, and :data:`NO_REQUEST_ID_NOTE`
        joins ``notes``.
        """
        if not self.schema().has_request_id:
            self._note(NO_REQUEST_ID_NOTE)
            return []
        plan = self._plan(query, ("request_id", "model_version"))
        keys = pa.Table.from_batches(list(self._stream(plan, DEFAULT_BATCH_ROWS)), plan.schema)
        return duplicates_in(keys, limit)

    def head(self, rows: int) -> pa.Table:
        """The first ``rows`` rows of every source column, as the source holds them.

        No mapping is applied (the source may have none of the roles yet): this is what
        ``watchkeeper init`` guesses a mapping from. CSV text that looks like time stays text.
        """
        names = self.source_schema().names
        batches, got = [], 0
        scan = self._scan(names, TelemetryQuery(), min(max(rows, 1), DEFAULT_BATCH_ROWS))
        try:
            for raw in scan:
                batches.append(raw.batch.slice(0, rows - got))
                got += batches[-1].num_rows
                if got >= rows:
                    break
        finally:
            close = getattr(scan, "close", None)
            if close is not None:
                close()
        if not batches:
            return self.source_schema().empty_table()
        return pa.Table.from_batches(batches)

    def validate(self, query: TelemetryQuery = TelemetryQuery()) -> None:  # noqa: B008
        """Raise :class:`TelemetryError` on the first problem found, else return None.

        Checks, in order: the mapped columns exist and fit their roles; every value of the
        selected events converts (timestamps parse, numbers are numbers); no id, time or
        version is missing; no text column holds mostly numbers with some text; no
        (request id, model version) pair occurs twice (skipped, with a note in ``notes``,
        when the source has no request id). Reads every selected event once.
        """
        schema = self.schema()
        _ValueChecks(self, schema).run(self._plan(query, None))
        found = self.duplicates(query, limit=1)
        if found:
            raise TelemetryError(_duplicate_message(found[0]), source=self.description)

    def _note(self, note: str) -> None:
        if note not in self.notes:
            self.notes = (*self.notes, note)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.description!r})"

    # -- the pipeline -----------------------------------------------------------------

    def _plan(self, query: TelemetryQuery, columns: Sequence[str] | None) -> _Plan:
        schema = self.schema()
        if columns is None:
            output = schema.columns
        else:
            output = tuple(_output_column(schema, name, self.description) for name in columns)
        residual = not self._applies(query, schema)
        read = output
        if residual:
            names = {c.name for c in output}
            missing = [schema.column(n) for n in _filter_columns(query, schema) if n not in names]
            read = (*output, *missing)
        arrow = pa.schema([pa.field(c.name, _arrow_type(c)) for c in output])
        return _Plan(query, output, read, residual, arrow)

    def _stream(self, plan: _Plan, batch_rows: int) -> Iterator[pa.RecordBatch]:
        for batch, _rows in self._stream_with_rows(plan, batch_rows):
            yield batch

    def _stream_with_rows(
        self, plan: _Plan, batch_rows: int
    ) -> Iterator[tuple[pa.RecordBatch, _RowNumbers]]:
        """Normalised, filtered batches with where their rows came from (for messages)."""
        # a constant column is not read; a read of constants alone scans the times, which
        # every source has, for the number of rows
        scanned = [c for c in plan.read if c.constant is None] or [self.schema().column("ts")]
        constants = [c for c in plan.read if c.constant is not None]
        sources = [c.source_name for c in scanned]
        position = 0
        read_schema = pa.schema([pa.field(c.name, _arrow_type(c)) for c in scanned])
        for raw in self._scan(sources, plan.query, batch_rows):
            rows = _RowNumbers(raw.first_row, position)
            batch = self._normalise(raw.batch, scanned, read_schema, rows)
            for column in constants:
                value = pa.scalar(column.constant, _arrow_type(column))
                batch = batch.append_column(column.name, pa.repeat(value, batch.num_rows))
            position += raw.batch.num_rows
            if plan.residual:
                mask = query_mask(batch, plan.query)
                if mask is not None:
                    batch, rows = batch.filter(mask), rows.filter(mask)
            yield batch.select([c.name for c in plan.output]), rows

    def _normalise(
        self,
        raw: pa.RecordBatch,
        columns: Sequence[ColumnInfo],
        schema: pa.Schema,
        rows: _RowNumbers,
    ) -> pa.RecordBatch:
        arrays = []
        for index, column in enumerate(columns):
            target = schema.field(index).type
            try:
                arrays.append(
                    normalise(raw.column(index), target, blank_is_null=self.blank_is_null)
                )
            except ValueProblem as problem:
                raise self._value_error(problem, column, rows) from None
        return pa.RecordBatch.from_arrays(arrays, schema=schema)

    def _value_error(
        self, problem: ValueProblem, column: ColumnInfo, rows: _RowNumbers
    ) -> TelemetryError:
        row, where = rows.describe(problem.index)
        role = f" ({column.role})" if column.role not in (None, "feature", "extra") else ""
        return TelemetryError(
            f"{problem.reason}{role}{where}",
            source=self.description,
            column=column.source_name,
            row=row,
        )


# -- open_source ----------------------------------------------------------------------


def open_source(
    location: str, mapping: ColumnMapping | None = None, *, base_dir: Path | None = None
) -> TelemetrySource:
    """Open the telemetry at ``location`` (a file, a Parquet folder, or ``URL#table``).

    Relative file paths, and relative database files in ``sqlite:///`` and ``duckdb:///``
    URLs, resolve against ``base_dir`` (a spec file's folder) or the working directory.
    Nothing is read beyond what proves the location usable: a missing file, an unknown
    extension or a missing table raise :class:`TelemetryError` here.
    """
    location = location.strip()
    if not location:
        raise TelemetryError("no telemetry source given")
    if _URL_SCHEME.match(location) and not location.lower().startswith("file://"):
        from watchkeeper.core.telemetry.sql import open_sql

        return open_sql(location, mapping, base_dir=base_dir)
    if location.lower().startswith("file://"):
        location = location[len("file://") :]
    from watchkeeper.core.telemetry.files import open_file

    return open_file(resolve_path(location, base_dir), mapping)


def resolve_path(path: str | Path, base_dir: Path | None) -> Path:
    """``path`` with ``~`` expanded, anchored at ``base_dir`` when relative."""
    resolved = Path(path).expanduser()
    if not resolved.is_absolute() and base_dir is not None:
        resolved = Path(base_dir).expanduser() / resolved
    return resolved


# -- helpers shared by readers --------------------------------------------------------


def query_mask(batch: pa.RecordBatch, query: TelemetryQuery) -> pa.Array | None:
    """Which rows of a normalised batch the query selects (None: all of them)."""
    names = batch.schema.names
    conditions = []
    if query.model is not None and "model" in names:
        conditions.append(pc.equal(batch.column("model"), query.model))
    if query.versions:
        versions = pa.array(query.versions, pa.string())
        conditions.append(pc.is_in(batch.column("model_version"), value_set=versions))
    if query.request_ids:
        ids = pa.array(query.request_ids, pa.string())
        conditions.append(pc.is_in(batch.column("request_id"), value_set=ids))
    if query.start is not None:
        start = pa.scalar(query.start, TIMESTAMP_TYPE)
        conditions.append(pc.greater_equal(batch.column("ts"), start))
    if query.end is not None:
        end = pa.scalar(query.end, TIMESTAMP_TYPE)
        conditions.append(pc.less(batch.column("ts"), end))
    if not conditions:
        return None
    return pc.fill_null(reduce(pc.and_kleene, conditions), False)


def duplicates_in(keys: pa.Table, limit: int) -> list[DuplicateEvent]:
    """Repeated (request_id, model_version) pairs in a normalised key table."""
    keys = keys.filter(pc.is_valid(keys.column("request_id")))
    counts = keys.group_by(["request_id", "model_version"]).aggregate([([], "count_all")])
    repeated = counts.filter(pc.greater(counts.column("count_all"), 1))
    ordered = repeated.sort_by(
        [("count_all", "descending"), ("request_id", "ascending"), ("model_version", "ascending")]
    )
    return [
        DuplicateEvent(str(row["request_id"]), _text(row["model_version"]), row["count_all"])
        for row in ordered.slice(0, max(limit, 0)).to_pylist()
    ]


def mask_password(text: str) -> str:
    """``scheme://user:secret@host`` becomes ``scheme://user:***@host`` (for any text)."""
    return re.sub(r"(://[^/:@\s]*:)\S*@", r"\1***@", text)  # to the last @: "p@ss" too


def show_names(names: Sequence[str], limit: int = 12) -> str:
    """Column names for a message: the first few, and how many more."""
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _text(value: object) -> str:
    return "" if value is None else str(value)


# -- schema resolution ----------------------------------------------------------------


def _resolve_schema(
    source: pa.Schema, mapping: ColumnMapping | None, description: str
) -> TelemetrySchema:
    """Apply the mapping to the source's columns; every problem names the column.

    A role left at its canonical name (``score`` for score...) is optional: a source
    without such a column simply has no score. A role mapped to another name, a feature
    and an extra must exist. Inferred features skip columns of unsupported types and
    columns bearing a role's name, which would clash with the role in the output.
    """
    mapping = mapping or ColumnMapping()
    names = source.names
    versions = version_column(mapping, names)
    duplicated = sorted(n for n, times in Counter(names).items() if times > 1)
    if duplicated:
        raise TelemetryError(
            f"duplicated column names: {show_names(duplicated)}", source=description
        )
    both = sorted(set(mapping.features) & set(mapping.extras))
    if both:
        raise TelemetryError(
            f"{show_names(both)} listed both as features and as extras", source=description
        )
    for column in mapping.kinds:
        _require(column, names, "has a kind in the mapping", description)
    columns = []
    for role, column in mapping.role_columns().items():
        if column not in names and role not in REQUIRED_ROLES and column == role:
            continue  # an optional role at its canonical name: the source has none
        if role == "model_version" and versions is None:
            continue
        columns.append(_column_info(source, role, column, mapping, description))
    if versions is None:
        # one version: emitted in the version's canonical place, after the model
        at = sum(1 for c in columns if c.role in ("request_id", "ts", "model"))
        constant = ColumnInfo(
            "model_version",
            "",
            "string",
            ColumnKind.CATEGORICAL,
            "model_version",
            constant=mapping.default_version,
        )
        columns.insert(at, constant)
    probabilities = tuple(mapping.class_probabilities.values())
    used = {c.source_name for c in columns} | set(mapping.extras) | set(probabilities)
    for column in _feature_columns(source, mapping, used):
        columns.append(_column_info(source, "feature", column, mapping, description))
    for column in mapping.extras:
        columns.append(_column_info(source, "extra", column, mapping, description))
    for klass, column in mapping.class_probabilities.items():
        # named before _column_info's generic words: which class lacks its probability
        _require(
            column,
            source.names,
            f"is the probability of class {klass!r} in [telemetry.columns] class_probabilities",
            description,
        )
        columns.append(_column_info(source, CLASS_PROBABILITY, column, mapping, description))
    return TelemetrySchema(tuple(columns))


def _feature_columns(source: pa.Schema, mapping: ColumnMapping, used: set[str]) -> list[str]:
    if mapping.features:
        return list(mapping.features)
    return [
        f.name
        for f in source
        if f.name not in used
        and f.name not in CANONICAL_ROLES
        and plain_output_type(f.type) is not None
    ]


def _column_info(
    source: pa.Schema, role: str, column: str, mapping: ColumnMapping, description: str
) -> ColumnInfo:
    _require(column, source.names, f"is mapped to {role!r}", description)
    role_name = None if role in ("feature", "extra", CLASS_PROBABILITY) else role
    try:
        # a class probability is read as a score is: a double
        typed_as = "score" if role == CLASS_PROBABILITY else role_name
        arrow_type = output_type(typed_as, source.field(column).type)
    except TypeProblem as problem:
        what = f"the {role_name} column" if role_name else f"the {role.replace('_', ' ')}"
        raise TelemetryError(f"{what} {problem}", source=description, column=column) from None
    kind = mapping.kinds.get(column) or infer_kind(role_name, arrow_type)
    name = role_name or column
    return ColumnInfo(name, column, str(arrow_type), ColumnKind(kind), role)


def _require(column: str, names: Sequence[str], why: str, description: str) -> None:
    if column not in names:
        raise TelemetryError(
            f"no such column ({why}); the source has {show_names(list(names))}",
            source=description,
            column=column,
        )


def _output_column(schema: TelemetrySchema, name: str, description: str) -> ColumnInfo:
    try:
        return schema.column(name)
    except KeyError:
        raise TelemetryError(
            f"no output column {name!r}; the columns are {show_names(schema.names)}",
            source=description,
        ) from None


_TYPES = {
    "string": pa.string(),
    "int64": pa.int64(),
    "double": pa.float64(),
    "bool": pa.bool_(),
    str(TIMESTAMP_TYPE): TIMESTAMP_TYPE,
}


def _arrow_type(column: ColumnInfo) -> pa.DataType:
    return _TYPES[column.arrow_type]


# -- queries --------------------------------------------------------------------------


def _is_everything(query: TelemetryQuery, schema: TelemetrySchema) -> bool:
    return not _filter_columns(query, schema)


def _filter_columns(query: TelemetryQuery, schema: TelemetrySchema) -> list[str]:
    """Output columns the query filters on (a model filter on a one-model source is moot)."""
    needed = []
    if query.model is not None and "model" in schema.names:
        needed.append("model")
    if query.versions:
        needed.append("model_version")
    if query.start is not None or query.end is not None:
        needed.append("ts")
    if query.request_ids:
        needed.append("request_id")
    return needed


def _count_columns(query: TelemetryQuery, schema: TelemetrySchema) -> tuple[str, ...]:
    return tuple(_filter_columns(query, schema)) or ("ts",)


def _rechunk(batches: Iterator[pa.RecordBatch], batch_rows: int) -> Iterator[pa.RecordBatch]:
    """Slices larger batches; drops empty ones (a filter may leave nothing)."""
    for batch in batches:
        for offset in range(0, batch.num_rows, batch_rows):
            yield batch.slice(offset, batch_rows)


# -- row numbers and value checks -----------------------------------------------------


class _RowNumbers:
    """Where the rows of one batch sit in the source, to name them in messages."""

    def __init__(self, first_row: int | None, position: int, mask: pa.Array | None = None) -> None:
        self.first_row = first_row
        self.position = position  # rows of the stream before this batch
        self._mask = mask  # the residual filter applied to the batch, if any

    def filter(self, mask: pa.Array) -> _RowNumbers:
        return _RowNumbers(self.first_row, self.position, mask)

    def describe(self, index: int | None) -> tuple[int | None, str]:
        """(row for the error, words to add): a real row, or the n-th selected event."""
        if index is None:
            return None, ""
        if self._mask is not None:
            index = pc.indices_nonzero(self._mask)[index].as_py()
        if self.first_row is not None:
            return self.first_row + index, ""
        return None, f" (event {self.position + index + 1} of those read)"


@dataclass
class _TextTally:
    """How many values of a text column read as numbers, and the first that does not."""

    numbers: int = 0
    texts: int = 0
    first_text: tuple[str, int | None, str] | None = None  # value, row, extra words


class _ValueChecks:
    """One pass over the selected events: values convert, keys are present, no mixed types."""

    def __init__(self, source: TelemetrySource, schema: TelemetrySchema) -> None:
        self._source = source
        overridden = set(source.mapping.kinds) if source.mapping else set()
        self._text_columns = [
            c
            for c in schema.columns
            if c.arrow_type == "string"
            and c.role in ("feature", "extra", "label", "prediction")
            and c.source_name not in overridden
        ]
        self._tallies = {c.name: _TextTally() for c in self._text_columns}
        # the keys, where the source has them, as well as the required times
        self._required = [
            c
            for c in schema.columns
            if c.role in (*REQUIRED_ROLES, "request_id", "model_version") and c.constant is None
        ]
        mapping = source.mapping or ColumnMapping()
        self._probabilities = mapping.class_probabilities
        self._outcomes = [
            (c.name, c.source_name) for c in schema.columns if c.role in ("label", "prediction")
        ]

    def run(self, plan: _Plan) -> None:
        for batch, rows in self._source._stream_with_rows(plan, DEFAULT_BATCH_ROWS):
            self._check_gaps(batch, rows)
            if self._probabilities:
                self._check_classes(batch, rows)
            for column in self._text_columns:
                self._tally(batch.column(column.name), rows, self._tallies[column.name])
        for column in self._text_columns:
            self._judge(column, self._tallies[column.name])

    def _check_gaps(self, batch: pa.RecordBatch, rows: _RowNumbers) -> None:
        for column in self._required:
            values = batch.column(column.name)
            if values.null_count:
                index = pc.index(pc.is_null(values), True).as_py()
                row, where = rows.describe(index)
                raise TelemetryError(
                    f"the {column.role} is missing{where}",
                    source=self._source.description,
                    column=column.source_name,
                    row=row,
                )

    def _check_classes(self, batch: pa.RecordBatch, rows: _RowNumbers) -> None:
        problem = multiclass_problem(batch, self._probabilities, self._outcomes)
        if problem is not None:
            row, where = rows.describe(problem.index)
            raise TelemetryError(
                problem.reason + where,
                source=self._source.description,
                column=problem.column,
                row=row,
            )

    @staticmethod
    def _tally(values: pa.Array, rows: _RowNumbers, tally: _TextTally) -> None:
        numeric = numeric_text(values)
        numbers = pc.sum(numeric).as_py() or 0
        texts = len(values) - values.null_count - numbers
        tally.numbers += numbers
        tally.texts += texts
        if texts and tally.first_text is None:
            index = pc.index(pc.invert(pc.fill_null(numeric, True)), True).as_py()
            row, where = rows.describe(index)
            tally.first_text = (values[index].as_py(), row, where)

    def _judge(self, column: ColumnInfo, tally: _TextTally) -> None:
        if not (tally.texts and tally.numbers > tally.texts and tally.first_text):
            return
        value, row, where = tally.first_text
        total = tally.numbers + tally.texts
        raise TelemetryError(
            f"mixed types: the column holds numbers, but {value[:60]!r} is text{where} "
            f"({tally.texts} of {total} values are text); correct those values, or give "
            "the column the kind 'categorical' in the mapping if it is a category",
            source=self._source.description,
            column=column.source_name,
            row=row,
        )


def _duplicate_message(event: DuplicateEvent) -> str:
    return (
        f"request id {event.request_id!r} is scored {event.count} times by model version "
        f"{event.model_version!r}; each (request id, model version) pair must occur once"
    )
