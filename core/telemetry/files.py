"""Telemetry in files: Parquet (a file or a folder of files) and CSV, read with pyarrow.

Parquet is read through ``pyarrow.dataset``: the query becomes a filter expression pushed
into the scan (row groups whose statistics exclude it are skipped), counts come from
metadata, and the scan reads ahead only a little so memory stays bounded.

CSV is streamed with ``pyarrow.csv.open_csv`` in 1 MB blocks, converting only the columns
a read needs; pyarrow keeps about 25 blocks in flight, so the block size bounds memory. A
row longer than a block (a 1 MB cell) restarts the read with larger blocks, skipping the
rows already delivered. Column types are inferred once from the first 4 MB and then
fixed, so every batch of a stream has the same types. Before pyarrow sees a file, a sniff
of its head catches what pyarrow would misreport: binary data, the encoding (UTF-8, else
Latin-1), the separator (``,`` ``;`` tab ``|``, from the header line).
Decisions worth knowing:

- a 0-byte file is an error; a header-only file is a valid source with no events;
- empty strings are missing values (CSV cannot tell them apart);
- timestamps are read as text and parsed (ISO 8601; values without a zone are UTC);
- a column empty throughout the first block is read as numbers (text for the id, model
  and version roles, or for a column whose kind the mapping sets to categorical);
- conversion errors are reported with the column's name and the data row (1-based, below
  the header), found by a serial re-read when the fast parallel read does not count rows.
"""

from __future__ import annotations

import codecs
import datetime as dt
import gzip
import re
from collections import Counter
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from watchkeeper.core.errors import TelemetryError
from watchkeeper.core.telemetry.contract import (
    ColumnKind,
    ColumnMapping,
    TelemetryQuery,
    TelemetrySchema,
)
from watchkeeper.core.telemetry.source import RawBatch, TelemetrySource

if TYPE_CHECKING:  # pyarrow.dataset imports pandas (~0.2 s): only Parquet sources pay it
    import pyarrow.dataset as ds

PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz")
#: Bytes per CSV streaming block. pyarrow keeps ~25 blocks in flight: this bounds memory.
CSV_BLOCK_BYTES = 1 << 20
#: The head of a CSV file that is sniffed and from which column types are inferred.
CSV_SAMPLE_BYTES = 4 << 20
#: The longest row (or unclosed quote) a CSV file may hold.
CSV_MAX_BLOCK_BYTES = 256 << 20
_DELIMITERS = (",", ";", "\t", "|")
_TEXT_ROLES = ("request_id", "model", "model_version")
_GZIP_MAGIC = b"\x1f\x8b"


def open_file(path: Path, mapping: ColumnMapping | None) -> TelemetrySource:
    """A reader for the file or folder at ``path``, chosen by its extension."""
    if not path.exists():
        raise TelemetryError("no such file or folder", source=str(path))
    if path.is_dir():
        return ParquetSource(path, mapping)
    name = path.name.lower()
    if name.endswith(PARQUET_SUFFIXES):
        return ParquetSource(path, mapping)
    if name.endswith(CSV_SUFFIXES):
        return CsvSource(path, mapping)
    raise TelemetryError(
        f"unknown file type {path.suffix or path.name!r}: telemetry files are .parquet, "
        ".csv or .csv.gz (or a folder of .parquet files, or a database URL)",
        source=str(path),
    )


# -- Parquet --------------------------------------------------------------------------


class ParquetSource(TelemetrySource):
    """A Parquet file, or a folder of them (Hive-style ``key=value`` folders included)."""

    def __init__(self, path: Path, mapping: ColumnMapping | None) -> None:
        super().__init__(str(path), mapping)
        self._dataset = _open_dataset(path)

    def source_schema(self) -> pa.Schema:
        return self._dataset.schema

    def _applies(self, query: TelemetryQuery, schema: TelemetrySchema) -> bool:
        return _ParquetFilter(query, schema, self._dataset.schema).complete

    def _count_selected(self, query: TelemetryQuery, schema: TelemetrySchema) -> int | None:
        pushed = _ParquetFilter(query, schema, self._dataset.schema)
        if not pushed.complete:
            return None
        try:
            return self._dataset.count_rows(filter=pushed.expression)
        except (pa.ArrowInvalid, OSError) as exc:
            raise TelemetryError(
                f"cannot read the Parquet data: {_first_line(exc)}", source=self.description
            ) from None

    def head(self, rows: int) -> pa.Table:
        # the scan applies the mapping's filter, and there may be no mapping yet
        try:
            return self._dataset.head(max(rows, 0))
        except (pa.ArrowInvalid, OSError) as exc:
            raise TelemetryError(
                f"cannot read the Parquet data (damaged file?): {_first_line(exc)}",
                source=self.description,
            ) from None

    def _scan(
        self, columns: Sequence[str], query: TelemetryQuery, batch_rows: int
    ) -> Iterator[RawBatch]:
        import pyarrow.dataset as ds

        pushed = _ParquetFilter(query, self.schema(), self._dataset.schema)
        first_row: int | None = 1 if pushed.expression is None else None
        try:
            # One scanner a row group: a dataset's scanner reads ahead of a slow consumer
            # whatever its readahead options — 378 MB of a 504 MB file held while a sampler
            # took its batches (tests/core/workbench/test_slices_bounded.py), against one
            # row group (21 MB) this way. Row groups the filter's statistics exclude are
            # skipped as before; the order is the files' and their row groups'.
            for fragment in self._dataset.get_fragments(filter=pushed.expression):
                # a hive partition's fragment keeps its partition's columns whole (a row
                # group split from it does not know them)
                whole = not fragment.partition_expression.equals(ds.scalar(True))
                groups = [fragment] if whole else fragment.split_by_row_group(pushed.expression)
                for group in groups:
                    scanner = ds.Scanner.from_fragment(
                        group,
                        schema=self._dataset.schema,
                        columns=list(columns),
                        filter=pushed.expression,
                        batch_size=batch_rows,
                        batch_readahead=1,
                        fragment_readahead=1,
                        # Pre-buffering reads whole row groups ahead: ~200 MB more for a
                        # 2M-row file.
                        fragment_scan_options=ds.ParquetFragmentScanOptions(pre_buffer=False),
                    )
                    for batch in scanner.to_batches():
                        yield RawBatch(batch, first_row)
                        if first_row is not None:
                            first_row += batch.num_rows
        except (pa.ArrowInvalid, OSError) as exc:
            raise TelemetryError(
                f"cannot read the Parquet data (damaged file?): {_first_line(exc)}",
                source=self.description,
            ) from None


class _ParquetFilter:
    """The query as a dataset expression over source columns, as far as types allow.

    Model and version compare as strings in the output; an integer column is matched with
    the integers whose text is exactly the asked version ("2" matches 2, "02" nothing).
    Timestamps compare in the column's own type (naive columns hold UTC). A source of one
    version (no version column) keeps every row for that version and none for another.
    What cannot be expressed exactly leaves ``complete`` False and is filtered after normalisation.
    """

    def __init__(self, query: TelemetryQuery, schema: TelemetrySchema, source: pa.Schema):
        self.complete = True
        parts = []
        if query.model is not None and "model" in schema.names:
            parts.append(self._values(schema.column("model").source_name, [query.model], source))
        constant = schema.constant_version
        if query.versions and constant is not None:
            # one version: every row or none
            parts.append(None if constant in query.versions else pc.scalar(False))
        elif query.versions:
            column = schema.column("model_version").source_name
            parts.append(self._values(column, list(query.versions), source))
        ts = schema.column("ts").source_name
        if query.start is not None:
            parts.append(self._time(ts, query.start, source, ">="))
        if query.end is not None:
            parts.append(self._time(ts, query.end, source, "<"))
        if query.request_ids and "request_id" in schema.names:
            column = schema.column("request_id").source_name
            parts.append(self._values(column, list(query.request_ids), source))
        elif query.request_ids:
            self.complete = False
        kept = [p for p in parts if p is not None]
        self.expression = None
        for part in kept:
            self.expression = part if self.expression is None else self.expression & part

    def _values(self, column: str, values: list[str], source: pa.Schema) -> ds.Expression | None:
        arrow_type = source.field(column).type
        if pa.types.is_dictionary(arrow_type):
            arrow_type = arrow_type.value_type
        if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
            return pc.field(column).isin(values)
        if pa.types.is_integer(arrow_type):
            numbers = [int(v) for v in values if re.fullmatch(r"-?(0|[1-9]\d*)", v)]
            return pc.field(column).isin(numbers) if numbers else pc.scalar(False)
        self.complete = False
        return None

    def _time(
        self, column: str, moment: dt.datetime, source: pa.Schema, op: str
    ) -> ds.Expression | None:
        arrow_type = source.field(column).type
        if not pa.types.is_timestamp(arrow_type) or arrow_type.unit not in ("us", "ns"):
            self.complete = False
            return None
        if arrow_type.tz is None:
            moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
        bound = pa.scalar(moment, arrow_type)
        field = pc.field(column)
        return field >= bound if op == ">=" else field < bound


def _open_dataset(path: Path) -> ds.Dataset:
    """The dataset over one file or a folder's ``*.parquet`` files, footers checked."""
    import pyarrow.dataset as ds

    files = _parquet_files(path)
    schemas = [_file_schema(f) for f in files]
    partitioning = None
    if path.is_dir() and any("=" in p for f in files for p in f.relative_to(path).parts[:-1]):
        partitioning = "hive"
    options = {"format": "parquet", "partitioning": partitioning}
    if path.is_dir():
        options["partition_base_dir"] = str(path)
    try:
        dataset = ds.dataset([str(f) for f in files], **options)
        unified = pa.unify_schemas([dataset.schema, *schemas], promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
        raise TelemetryError(
            f"the Parquet files do not share one schema: {_first_line(exc)}", source=str(path)
        ) from None
    if unified != dataset.schema:
        dataset = ds.dataset([str(f) for f in files], schema=unified, **options)
    return dataset


def _parquet_files(path: Path) -> list[Path]:
    if not path.is_dir():
        return [path]
    files = sorted(
        f
        for f in path.rglob("*")
        if f.is_file()
        and f.name.lower().endswith(PARQUET_SUFFIXES)
        and not any(part.startswith((".", "_")) for part in f.relative_to(path).parts)
    )
    if not files:
        raise TelemetryError(
            "the folder holds no .parquet files (a folder source is a Parquet dataset)",
            source=str(path),
        )
    return files


def _file_schema(path: Path) -> pa.Schema:
    if path.stat().st_size == 0:
        raise TelemetryError("the file is empty (0 bytes), not Parquet", source=str(path))
    try:
        return pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as exc:
        reason = str(exc)
        if "magic bytes" in reason:
            reason = "it has no Parquet footer: the file is truncated, or not Parquet at all"
        raise TelemetryError(
            f"not a readable Parquet file: {_first_line(reason)}", source=str(path)
        ) from None


# -- CSV ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CsvDialect:
    """How to read a CSV file, as sniffed from its first block."""

    delimiter: str
    encoding: str  # "utf8", or "latin-1" when the text is not valid UTF-8
    header: str  # the first line, for messages


class CsvSource(TelemetrySource):
    """A CSV file (optionally gzip-compressed) with a header line.

    ``block_bytes`` is the streaming block (pyarrow holds some 25 blocks in flight, so it
    bounds memory); ``sample_bytes`` is the sniffed and type-inferred head of the file.
    A row longer than a block makes the read restart with blocks four times larger.
    """

    blank_is_null = True

    def __init__(
        self,
        path: Path,
        mapping: ColumnMapping | None,
        *,
        block_bytes: int = CSV_BLOCK_BYTES,
        sample_bytes: int = CSV_SAMPLE_BYTES,
    ) -> None:
        super().__init__(str(path), mapping)
        self._path = path
        self._block_bytes = block_bytes
        self._sample_bytes = max(sample_bytes, block_bytes)
        self.dialect = sniff_csv(path, self._sample_bytes)
        if self.dialect.encoding != "utf8":
            self.notes = ("read as Latin-1 text: the file is not valid UTF-8",)
        self._inferred: pa.Schema | None = None
        self._logical: pa.Schema | None = None

    def source_schema(self) -> pa.Schema:
        """Column names from the header, types inferred from the sample."""
        if self._logical is None:
            inferred = self._infer()
            self._inferred = inferred
            fields = [pa.field(f.name, self._logical_type(f)) for f in inferred]
            self._logical = pa.schema(fields)
        return self._logical

    def _scan(
        self, columns: Sequence[str], query: TelemetryQuery, batch_rows: int
    ) -> Iterator[RawBatch]:
        include = list(columns)
        types = {name: self._read_type(name) for name in include}
        done = 0  # rows delivered so far; a restart skips them
        while True:
            try:
                for batch in self._batches(include, types, skip=done):
                    yield RawBatch(batch, done + 1)
                    done += batch.num_rows
                return
            except pa.ArrowInvalid as exc:
                if not (_straddles(exc) and self._grow_blocks()):
                    raise self._diagnose(exc, include, types) from None

    # -- types ------------------------------------------------------------------------

    def _infer(self) -> pa.Schema:
        """Types from the first ``sample_bytes`` (pyarrow infers from its first block)."""
        while True:
            try:
                reader = self._open(None, None, threads=True, block=self._sample_bytes)
                break
            except pa.ArrowInvalid as exc:
                if not _straddles(exc) or self._sample_bytes >= CSV_MAX_BLOCK_BYTES:
                    raise self._diagnose(exc, None, None) from None
                self._sample_bytes *= 4
        schema = reader.schema
        reader.close()
        _check_unique(schema.names, self.description)
        return schema

    def _roles(self) -> dict[str, str]:
        """{source column: role} under the mapping (or the default names)."""
        mapping = self.mapping or ColumnMapping()
        return {column: role for role, column in mapping.role_columns().items()}

    def _logical_type(self, inferred: pa.Field) -> pa.DataType:
        """What the column holds, as the reader will present it to the mapping."""
        arrow_type = inferred.type
        if pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type):
            return pa.timestamp("us")
        if pa.types.is_time(arrow_type) or pa.types.is_binary(arrow_type):
            return pa.string()
        if pa.types.is_null(arrow_type):
            return self._type_of_empty(inferred.name)
        return arrow_type

    def _type_of_empty(self, column: str) -> pa.DataType:
        role = self._roles().get(column)
        if role in ("ts", "label_ts"):
            return pa.timestamp("us")
        kinds = self.mapping.kinds if self.mapping else {}
        if role in _TEXT_ROLES or kinds.get(column) == ColumnKind.CATEGORICAL:
            return pa.string()
        return pa.float64()

    def _read_type(self, column: str) -> pa.DataType:
        """The type pyarrow converts to: timestamps and id-like roles stay text."""
        logical = self.source_schema().field(column).type
        if pa.types.is_timestamp(logical) or self._roles().get(column) in _TEXT_ROLES:
            return pa.string()
        return logical

    # -- reading ----------------------------------------------------------------------

    def _batches(
        self, include: list[str], types: dict[str, pa.DataType], *, skip: int
    ) -> Iterator[pa.RecordBatch]:
        """The file's batches from data row ``skip + 1`` on."""
        reader = self._open(include, types, threads=True)
        try:
            for batch in reader:
                if skip >= batch.num_rows:
                    skip -= batch.num_rows
                    continue
                yield batch.slice(skip) if skip else batch
                skip = 0
        finally:
            reader.close()

    def _grow_blocks(self) -> bool:
        """Four times larger blocks for a row longer than one; False at the ceiling."""
        if self._block_bytes >= CSV_MAX_BLOCK_BYTES:
            return False
        self._block_bytes = min(self._block_bytes * 4, CSV_MAX_BLOCK_BYTES)
        return True

    def _open(
        self,
        include: list[str] | None,
        types: dict[str, pa.DataType] | None,
        *,
        threads: bool,
        block: int | None = None,
    ) -> pcsv.CSVStreamingReader:
        read = pcsv.ReadOptions(
            block_size=block or self._block_bytes,
            use_threads=threads,
            encoding=self.dialect.encoding,
        )
        parse = pcsv.ParseOptions(delimiter=self.dialect.delimiter, newlines_in_values=True)
        convert = pcsv.ConvertOptions(
            include_columns=include or [],
            column_types=types or {},
            strings_can_be_null=False,
        )
        return pcsv.open_csv(
            self._path, read_options=read, parse_options=parse, convert_options=convert
        )

    def _diagnose(
        self,
        exc: pa.ArrowInvalid,
        include: list[str] | None,
        types: dict[str, pa.DataType] | None,
    ) -> TelemetryError:
        """A pyarrow error as a message naming the column and the data row.

        Parallel reads do not number rows; re-reading serially up to the error does.
        """
        message = str(exc)
        if "Row #" not in message and not _straddles(exc):
            try:
                for _batch in self._open(include, types, threads=False):
                    pass
            except pa.ArrowInvalid as again:
                message = str(again)
        empty = {f.name for f in self._inferred or () if pa.types.is_null(f.type)}
        names = self._inferred.names if self._inferred is not None else _split_header(self.dialect)
        return csv_error(message, names, self.description, CSV_MAX_BLOCK_BYTES, empty)


def _straddles(exc: BaseException) -> bool:
    """pyarrow's word for a row (or an unclosed quote) longer than one block."""
    return "straddl" in str(exc)


def _check_unique(names: Sequence[str], source: str) -> None:
    repeated = sorted(n for n, times in Counter(names).items() if times > 1)
    if repeated:
        where = "; ".join(
            f"{n!r} is columns {', '.join(str(i + 1) for i, m in enumerate(names) if m == n)}"
            for n in repeated
        )
        raise TelemetryError(f"duplicated column names in the header: {where}", source=source)


# -- sniffing -------------------------------------------------------------------------


def sniff_csv(path: Path, sample_bytes: int = CSV_SAMPLE_BYTES) -> CsvDialect:
    """Look at the file's head before pyarrow does, to fail on what is not CSV text."""
    source = str(path)
    sample = _first_bytes(path, sample_bytes)
    if not sample:
        raise TelemetryError(
            "the file is empty (0 bytes); a CSV file needs at least a header line",
            source=source,
        )
    if sample.startswith(_GZIP_MAGIC):
        raise TelemetryError(
            "does not look like CSV text: it is gzip-compressed (name it .csv.gz)", source=source
        )
    if b"\x00" in sample:
        raise TelemetryError(
            "does not look like CSV text: it holds NUL bytes (binary data, or UTF-16 text; "
            "save it as UTF-8 CSV)",
            source=source,
        )
    text, encoding = _decode(sample)
    if _control_share(text) > 0.01:
        raise TelemetryError(
            "does not look like CSV text: it holds binary control characters", source=source
        )
    header = text.removeprefix("\ufeff").split("\n", 1)[0].rstrip("\r")
    if not header.strip():
        raise TelemetryError(
            "the first line is empty; a CSV file starts with a header naming the columns",
            source=source,
            row=0,
        )
    return CsvDialect(_sniff_delimiter(header), encoding, header)


def read_csv_whole(path: Path, columns: Sequence[str] | None = None) -> pa.Table:
    """A whole CSV file (``columns`` of it, default all) by the telemetry's conventions —
    the sniffed delimiter and encoding, a blank field missing also in a text column — for
    files that play no telemetry role (a reference file, without a time column)."""
    convert = pcsv.ConvertOptions(strings_can_be_null=True, null_values=[""])
    if columns is not None:
        convert.include_columns = list(columns)
    return pcsv.read_csv(path, **_sniffed_options(path), convert_options=convert)


def csv_column_names(path: Path) -> list[str]:
    """The header's column names, read as :func:`read_csv_whole` reads them."""
    with pcsv.open_csv(path, **_sniffed_options(path)) as reader:
        return list(reader.schema.names)


def _sniffed_options(path: Path) -> dict[str, Any]:
    dialect = sniff_csv(path)
    return {
        "read_options": pcsv.ReadOptions(encoding=dialect.encoding),
        "parse_options": pcsv.ParseOptions(delimiter=dialect.delimiter, newlines_in_values=True),
    }


def _first_bytes(path: Path, size: int) -> bytes:
    name = path.name.lower()
    try:
        if name.endswith(".gz"):
            with gzip.open(path, "rb") as handle:
                return handle.read(size)
        with path.open("rb") as handle:
            return handle.read(size)
    except (OSError, EOFError) as exc:
        raise TelemetryError(f"cannot read the file: {exc}", source=str(path)) from None


def _decode(sample: bytes) -> tuple[str, str]:
    """The sample as text, and the encoding pyarrow should read the file with."""
    try:
        return codecs.getincrementaldecoder("utf-8")().decode(sample, final=False), "utf8"
    except UnicodeDecodeError:
        return sample.decode("latin-1"), "latin-1"


def _control_share(text: str) -> float:
    if not text:
        return 0.0
    controls = sum(1 for ch in text[:65_536] if ord(ch) < 32 and ch not in "\t\r\n\f")
    return controls / min(len(text), 65_536)


def _sniff_delimiter(header: str) -> str:
    """The separator used most in the header line outside quotes (``,`` when none)."""
    outside = re.sub(r'"[^"]*"', "", header)
    counts = {d: outside.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _split_header(dialect: CsvDialect) -> list[str]:
    import csv

    row = next(csv.reader([dialect.header.removeprefix("\ufeff")], delimiter=dialect.delimiter))
    return list(row)


# -- pyarrow's CSV errors, retold -----------------------------------------------------

_CONVERSION = re.compile(
    r"In CSV column #(\d+): (?:Row #(\d+): )?CSV conversion error to ([^:]+): (.*)", re.DOTALL
)
_RAGGED = re.compile(r"CSV parse error: (?:Row #(\d+): )?Expected (\d+) columns, got (\d+)")
_INVALID_VALUE = re.compile(r"invalid value '(.*)'$", re.DOTALL)


def csv_error(
    message: str,
    names: Sequence[str],
    source: str,
    block_bytes: int,
    empty_columns: Collection[str] = (),
) -> TelemetryError:
    """pyarrow's CSV error text as a :class:`TelemetryError` with column name and data row.

    ``empty_columns`` were empty throughout the first block, so their type was a guess.
    """
    if match := _CONVERSION.match(message):
        index, row, target, detail = match.groups()
        column = names[int(index)] if int(index) < len(names) else f"#{int(index) + 1}"
        reason = _conversion_reason(target.strip(), detail, column in empty_columns)
        return TelemetryError(reason, source=source, column=column, row=_row(row))
    if match := _RAGGED.search(message):
        row, expected, got = match.groups()
        return TelemetryError(
            f"the row has {got} fields where the header has {expected} "
            "(a stray separator or quote?)",
            source=source,
            row=_row(row),
        )
    if "straddl" in message:
        return TelemetryError(
            f"a row is longer than {block_bytes >> 20} MB, or a quote is never closed",
            source=source,
        )
    if "Empty CSV file" in message:
        return TelemetryError("the file holds no header line", source=source)
    return TelemetryError(f"cannot read the CSV text: {_first_line(message)}", source=source)


def _conversion_reason(target: str, detail: str, was_empty: bool) -> str:
    if "UTF8" in detail or "UTF-8" in detail:
        return "the text is not valid UTF-8 (save the file as UTF-8)"
    match = _INVALID_VALUE.search(detail)
    value = match.group(1) if match else detail
    shown = repr(value if len(value) <= 60 else value[:57] + "...")
    if was_empty or target == "null":
        return (
            f"{shown} is text, but the column is empty in the first rows and was read as "
            "numbers; give it the kind 'categorical' in the mapping"
        )
    words = {"int64": "a whole number", "double": "a number", "bool": "true or false"}
    wanted = words.get(target, target)
    return (
        f"mixed types: {shown} is not {wanted}, though the column's first rows are "
        f"(correct the value, or make the column consistent)"
    )


def _row(pyarrow_row: str | None) -> int | None:
    """pyarrow counts records with the header as #1; a data row counts from below it."""
    return int(pyarrow_row) - 1 if pyarrow_row else None


def _first_line(exc: BaseException | str) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
