"""CSV files as people really send them: every failure is a TelemetryError naming where."""

from __future__ import annotations

import datetime as dt
import gzip
import math
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from watchkeeper.core.errors import TelemetryError
from watchkeeper.core.telemetry.contract import ColumnKind, ColumnMapping, TelemetryQuery
from watchkeeper.core.telemetry.files import CsvSource
from watchkeeper.core.telemetry.source import open_source

HEADER = "request_id,ts,model_version,amount"


def _rows(n: int, start: int = 0, sep: str = ",") -> list[str]:
    return [
        sep.join([f"r{i}", f"2026-01-01T00:00:{i % 60:02d}", "1", f"{i}.5"])
        for i in range(start, start + n)
    ]


def _write(path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def _error(excinfo: pytest.ExceptionInfo[TelemetryError]) -> TelemetryError:
    assert type(excinfo.value) is TelemetryError
    return excinfo.value


def test_utf8_bom_is_not_part_of_the_first_name(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + "\n".join([HEADER, *_rows(3)]).encode())
    with open_source(str(path)) as source:
        assert source.schema().names[0] == "request_id"
        assert source.read().column("request_id").to_pylist() == ["r0", "r1", "r2"]


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_separator_is_sniffed_from_the_header(tmp_path: Path, sep: str) -> None:
    path = _write(tmp_path / "sep.csv", [HEADER.replace(",", sep), *_rows(4, sep=sep)])
    with open_source(str(path)) as source:
        table = source.read()
    assert table.column("amount").to_pylist() == [0.5, 1.5, 2.5, 3.5]


def test_semicolon_file_with_commas_inside_quotes(tmp_path: Path) -> None:
    lines = ['request_id;ts;model_version;"note, with comma"', 'r1;2026-01-01;1;"a, b"']
    with open_source(str(_write(tmp_path / "q.csv", lines))) as source:
        assert source.read().column("note, with comma").to_pylist() == ["a, b"]


def test_latin1_text_is_read_not_crashed_on(tmp_path: Path) -> None:
    lines = [f"{HEADER},city", "r1,2026-01-01,1,1.0,Montréal", "r2,2026-01-01,1,2.0,Zürich"]
    path = _write(tmp_path / "latin.csv", lines, encoding="latin-1")
    with open_source(str(path)) as source:
        assert source.read().column("city").to_pylist() == ["Montréal", "Zürich"]
        assert any("Latin-1" in note for note in source.notes)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("garbage.csv", bytes(range(256)) * 50),
        ("random.csv", os.urandom(4096).replace(b"\x00", b"\x01")),
        ("utf16.csv", "request_id,ts\nr1,2026\n".encode("utf-16")),
    ],
)
def test_binary_data_does_not_look_like_csv(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(TelemetryError) as excinfo:
        open_source(str(path))
    error = _error(excinfo)
    assert "does not look like CSV text" in str(error)
    assert name in str(error)


def test_parquet_file_named_csv(tmp_path: Path) -> None:
    path = tmp_path / "really.csv"
    pq.write_table(pa.table({"a": [1, 2]}), path)
    with pytest.raises(TelemetryError, match="does not look like CSV text"):
        open_source(str(path))


def test_gzip_file_named_csv_says_so(tmp_path: Path) -> None:
    path = tmp_path / "packed.csv"
    path.write_bytes(gzip.compress(b"a,b\n1,2\n"))
    with pytest.raises(TelemetryError, match=r"gzip-compressed \(name it .csv.gz\)"):
        open_source(str(path))


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(TelemetryError) as excinfo:
        open_source(str(path))
    assert "empty.csv" in str(excinfo.value)
    assert "empty (0 bytes)" in str(excinfo.value)


def test_blank_first_line_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "blank.csv", ["", HEADER, *_rows(2)])
    with pytest.raises(TelemetryError, match="first line is empty"):
        open_source(str(path))


def test_header_only_is_a_source_with_no_events(tmp_path: Path) -> None:
    path = _write(tmp_path / "header.csv", [HEADER])
    with open_source(str(path)) as source:
        assert source.count() == 0
        table = source.read()
        assert table.num_rows == 0
        assert table.schema.field("ts").type == pa.timestamp("us", tz="UTC")
        assert table.schema.field("model_version").type == pa.string()
        assert list(source.batches()) == []
        assert source.duplicates() == []
        source.validate()


def test_duplicated_column_names_are_named(tmp_path: Path) -> None:
    path = _write(tmp_path / "dups.csv", [f"{HEADER},amount,x,x", "r1,2026-01-01,1,1,2,3,4"])
    with pytest.raises(TelemetryError) as excinfo:
        open_source(str(path)).schema()
    message = str(_error(excinfo))
    assert "duplicated column names" in message
    assert "'amount' is columns 4, 5" in message
    assert "'x' is columns 6, 7" in message


def test_one_megabyte_cell_reads(tmp_path: Path) -> None:
    big = "x" * 1_200_000
    path = _write(
        tmp_path / "big.csv",
        [f"{HEADER},blob", f"r1,2026-01-01,1,1.0,{big}", "r2,2026-01-02,1,2.0,y"],
    )
    with open_source(str(path)) as source:
        blobs = source.read().column("blob").to_pylist()
    assert [len(b) for b in blobs] == [1_200_000, 1]


def test_long_row_late_in_the_file_restarts_without_repeating_rows(tmp_path: Path) -> None:
    """Blocks grow when a row outgrows them; rows already delivered are not repeated."""
    lines = [f"{HEADER},blob"]
    lines += [f"{row},x" for row in _rows(3000)]
    lines += [f"r-big,2026-01-01,1,1.0,{'y' * 300_000}"]
    lines += [f"{row},z" for row in _rows(3000, start=3000)]
    source = CsvSource(
        _write(tmp_path / "late-big.csv", lines), None, block_bytes=64 << 10, sample_bytes=64 << 10
    )
    table = source.read(columns=["request_id", "blob"])
    ids = table.column("request_id").to_pylist()
    assert ids == [f"r{i}" for i in range(3000)] + ["r-big"] + [f"r{i}" for i in range(3000, 6000)]
    assert len(table.column("blob")[3000].as_py()) == 300_000
    assert source.count() == 6001


def test_three_thousand_columns_read_only_what_is_asked(tmp_path: Path) -> None:
    """Column f2 turns to text after the first block: only reading it can fail."""
    names = [f"f{i}" for i in range(3000)]
    lines = [",".join(["request_id", "ts", "model_version", *names])]
    row = ",".join(str(i % 7) for i in range(3000))
    lines += [f"r{i},2026-01-01T00:00:00,1,{row}" for i in range(300)]
    lines.append(f"rX,2026-01-01T00:00:00,1,0,1,surprise,{','.join(['1'] * 2997)}")
    path = _write(tmp_path / "wide.csv", lines)
    source = CsvSource(path, None, block_bytes=256 << 10, sample_bytes=256 << 10)
    assert len(source.schema().features) == 3000
    table = source.read(columns=["request_id", "f2999"])
    assert table.num_rows == 301
    assert source.count(TelemetryQuery(versions=("1",))) == 301
    with pytest.raises(TelemetryError) as excinfo:
        source.read(columns=["f2"])
    error = _error(excinfo)
    assert (error.column, error.row) == ("f2", 301)
    assert "'surprise'" in str(error)


def test_conversion_error_names_column_and_data_row(tmp_path: Path) -> None:
    lines = [HEADER, *_rows(3000), "r-bad,2026-01-01,1,oops", *_rows(10, start=3000)]
    path = _write(tmp_path / "late.csv", lines)
    source = CsvSource(
        path, None, block_bytes=32 << 10, sample_bytes=32 << 10
    )  # the bad row is blocks away
    with pytest.raises(TelemetryError) as excinfo:
        source.read()
    error = _error(excinfo)
    assert (error.column, error.row) == ("amount", 3001)
    assert "late.csv" in str(error)
    assert "'oops'" in str(error)
    assert "mixed types" in str(error)
    assert source.read(columns=["request_id"]).num_rows == 3011  # other columns still read


def test_integer_column_turning_decimal_is_reported(tmp_path: Path) -> None:
    lines = [
        f"{HEADER},n",
        *[f"{r},{i}" for i, r in enumerate(_rows(2000))],
        "rz,2026-01-01,1,1.0,2.5",
    ]
    source = CsvSource(
        _write(tmp_path / "ints.csv", lines), None, block_bytes=16 << 10, sample_bytes=16 << 10
    )
    with pytest.raises(TelemetryError) as excinfo:
        source.read()
    error = _error(excinfo)
    assert (error.column, error.row) == ("n", 2001)
    assert "'2.5' is not a whole number" in str(error)


def test_column_empty_at_first_then_text(tmp_path: Path) -> None:
    lines = [f"{HEADER},note", *[f"{r}," for r in _rows(2000)], "rz,2026-01-01,1,1.0,hello"]
    path = _write(tmp_path / "sparse.csv", lines)
    with pytest.raises(TelemetryError) as excinfo:
        CsvSource(path, None, block_bytes=16 << 10, sample_bytes=16 << 10).read()
    error = _error(excinfo)
    assert (error.column, error.row) == ("note", 2001)
    assert "kind 'categorical'" in str(error)
    mapping = ColumnMapping(kinds={"note": ColumnKind.CATEGORICAL})
    notes = (
        CsvSource(path, mapping, block_bytes=16 << 10, sample_bytes=16 << 10).read().column("note")
    )
    assert notes.to_pylist()[-2:] == [None, "hello"]


def test_invalid_utf8_after_the_sniffed_block(tmp_path: Path) -> None:
    lines = [f"{HEADER},city", *[f"{r},Paris" for r in _rows(2000)]]
    path = tmp_path / "late-latin.csv"
    path.write_bytes(
        ("\n".join(lines) + "\n").encode() + "rz,2026-01-01,1,1.0,Zürich\n".encode("latin-1")
    )
    with pytest.raises(TelemetryError) as excinfo:
        CsvSource(path, None, block_bytes=16 << 10, sample_bytes=16 << 10).read()
    error = _error(excinfo)
    assert (error.column, error.row) == ("city", 2001)
    assert "not valid UTF-8" in str(error)


def test_row_with_missing_fields(tmp_path: Path) -> None:
    path = _write(tmp_path / "ragged.csv", [HEADER, *_rows(5), "r9,2026-01-01", *_rows(2)])
    with pytest.raises(TelemetryError) as excinfo:
        open_source(str(path)).read()
    error = _error(excinfo)
    assert error.row == 6
    assert "2 fields where the header has 4" in str(error)


def test_unparseable_timestamp_names_value_and_row(tmp_path: Path) -> None:
    lines = [HEADER, *_rows(3), "r3,yesterday,1,1.0"]
    with pytest.raises(TelemetryError) as excinfo:
        open_source(str(_write(tmp_path / "when.csv", lines))).read()
    error = _error(excinfo)
    assert (error.column, error.row) == ("ts", 4)
    assert "'yesterday' is not a date/time" in str(error)


def test_timestamp_shapes_and_zones(tmp_path: Path) -> None:
    lines = [
        "request_id,ts,model_version",
        "a,2026-01-01T01:00:00+01:00,1",
        "b,2026-01-01 00:00:00,1",
        "c,2026-01-01T00:00:00Z,1",
        "d,2026-01-01,1",
        "e,2026-01-01T00:00:00.000000123,1",
    ]
    with open_source(str(_write(tmp_path / "zones.csv", lines))) as source:
        times = source.read().column("ts").to_pylist()
    assert times == [dt.datetime(2026, 1, 1, tzinfo=dt.UTC)] * 5


def test_nan_is_missing_and_infinity_stays(tmp_path: Path) -> None:
    lines = [
        HEADER,
        "r1,2026-01-01,1,nan",
        "r2,2026-01-01,1,inf",
        "r3,2026-01-01,1,-inf",
        "r4,2026-01-01,1,",
    ]
    with open_source(str(_write(tmp_path / "nan.csv", lines))) as source:
        amounts = source.read().column("amount").to_pylist()
    assert amounts[0] is None and amounts[3] is None
    assert amounts[1] == math.inf and amounts[2] == -math.inf


def test_text_that_looks_like_null_stays_text(tmp_path: Path) -> None:
    """'NA' is Namibia in a country column; only an empty cell is missing."""
    lines = [
        f"{HEADER},country",
        "r1,2026-01-01,1,1,NA",
        "r2,2026-01-01,1,1,",
        "r3,2026-01-01,1,1,FR",
    ]
    with open_source(str(_write(tmp_path / "na.csv", lines))) as source:
        assert source.read().column("country").to_pylist() == ["NA", None, "FR"]


def test_versions_keep_their_text(tmp_path: Path) -> None:
    lines = ["request_id,ts,model_version", "007,2026-01-01,01", "8,2026-01-01,2"]
    with open_source(str(_write(tmp_path / "ids.csv", lines))) as source:
        table = source.read()
        assert table.column("request_id").to_pylist() == ["007", "8"]
        assert source.count(TelemetryQuery(versions=("01",))) == 1
        assert source.count(TelemetryQuery(versions=("1",))) == 0
