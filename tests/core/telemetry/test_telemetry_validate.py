"""validate(): the problems a model owner must hear about before trusting an analysis."""

from __future__ import annotations

import pyarrow as pa
import pytest
from telemetry_events import StoreFactory

from watchkeeper.core.errors import TelemetryError
from watchkeeper.core.telemetry.contract import ColumnKind, ColumnMapping, TelemetryQuery
from watchkeeper.core.telemetry.source import open_source

KINDS = ["parquet", "csv", "duckdb", "sqlite"]


def _error(excinfo: pytest.ExceptionInfo[TelemetryError]) -> TelemetryError:
    assert type(excinfo.value) is TelemetryError
    return excinfo.value


def _replace(table: pa.Table, name: str, values: list[object], arrow_type: pa.DataType) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), name, pa.array(values, arrow_type))


@pytest.mark.parametrize("kind", KINDS)
def test_duplicated_pair_is_named_with_its_count(
    kind: str, make_store: StoreFactory, raw_events: pa.Table
) -> None:
    row = raw_events.slice(10, 1)
    doubled = pa.concat_tables([raw_events, row, row])
    with open_source(make_store(kind, doubled)) as source:
        with pytest.raises(TelemetryError) as excinfo:
            source.validate()
        other = "churn" if row["model"][0].as_py() == "fraud" else "fraud"
        source.validate(TelemetryQuery(model=other))  # the duplicate is outside the query
    rid, version = row["request_id"][0].as_py(), row["model_version"][0].as_py()
    assert f"request id {rid!r} is scored 3 times by model version {version!r}" in str(
        _error(excinfo)
    )


@pytest.mark.parametrize("kind", KINDS)
def test_mostly_numbers_with_some_text(
    kind: str, make_store: StoreFactory, raw_events: pa.Table
) -> None:
    """A text column of numbers with a stray word: named with the word and its row."""
    values = [str(i % 50) for i in range(raw_events.num_rows)]
    values[41] = "unknown"
    values[90] = "n.a."
    table = raw_events.append_column("n_children", pa.array(values, pa.string()))
    source = open_source(make_store(kind, table))
    with source, pytest.raises(TelemetryError) as excinfo:
        source.validate()
    error = _error(excinfo)
    assert error.column == "n_children"
    assert "'unknown' is text" in str(error)
    assert "mixed types" in str(error)
    if kind == "csv":  # in a file the row is the file's own
        assert error.row == 42
    else:
        assert error.row == 42 or "event 42" in str(error)


def test_categorical_kind_silences_the_mixed_check(
    make_store: StoreFactory, raw_events: pa.Table
) -> None:
    values = [str(i % 50) for i in range(raw_events.num_rows)]
    values[41] = "SW1A"  # postcodes: mostly digits, legitimately not numbers
    table = raw_events.append_column("postcode", pa.array(values, pa.string()))
    mapping = ColumnMapping(kinds={"postcode": ColumnKind.CATEGORICAL})
    with open_source(make_store("parquet", table), mapping) as source:
        source.validate()


def test_mostly_text_is_not_mixed(make_store: StoreFactory, raw_events: pa.Table) -> None:
    values = ["red" if i % 3 else str(i) for i in range(raw_events.num_rows)]
    table = raw_events.append_column("colour", pa.array(values, pa.string()))
    with open_source(make_store("csv", table)) as source:
        source.validate()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("role", ["ts", "model_version", "request_id"])
def test_missing_key_value(
    kind: str, role: str, make_store: StoreFactory, raw_events: pa.Table
) -> None:
    values = raw_events.column(role).to_pylist()
    values[7] = None
    table = _replace(raw_events, role, values, raw_events.schema.field(role).type)
    source = open_source(make_store(kind, table))
    with source, pytest.raises(TelemetryError) as excinfo:
        source.validate()
    error = _error(excinfo)
    assert error.column == role
    assert f"the {role} is missing" in str(error)
    assert error.row == 8 or "event 8 " in str(error)


@pytest.mark.parametrize("kind", ["csv", "sqlite"])
def test_timestamp_that_does_not_parse(
    kind: str, make_store: StoreFactory, raw_events: pa.Table
) -> None:
    values = [t.isoformat() for t in raw_events.column("ts").to_pylist()]
    values[12] = "31/02/2026 25:00"
    table = _replace(raw_events, "ts", values, pa.string())
    source = open_source(make_store(kind, table))
    with source, pytest.raises(TelemetryError) as excinfo:
        source.validate()
    error = _error(excinfo)
    assert (error.column, error.row) == ("ts", 13)
    assert "'31/02/2026 25:00' is not a date/time" in str(error)


def test_validate_checks_only_the_selected_events(
    make_store: StoreFactory, raw_events: pa.Table
) -> None:
    values = raw_events.column("ts").to_pylist()
    models = raw_events.column("model").to_pylist()
    bad = models.index("churn")
    values[bad] = None
    table = _replace(raw_events, "ts", values, raw_events.schema.field("ts").type)
    with open_source(make_store("parquet", table)) as source:
        source.validate(TelemetryQuery(model="fraud"))
        with pytest.raises(TelemetryError, match="the ts is missing"):
            source.validate(TelemetryQuery(model="churn"))
