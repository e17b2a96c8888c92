"""open_source's locations, and column mappings applied the same way by every reader."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest
from telemetry_events import FILE_KINDS, StoreFactory

from watchkeeper.core.errors import TelemetryError
from watchkeeper.core.telemetry.contract import ColumnKind, ColumnMapping, TelemetryQuery
from watchkeeper.core.telemetry.files import CsvSource, ParquetSource
from watchkeeper.core.telemetry.source import open_source

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _error(excinfo: pytest.ExceptionInfo[TelemetryError]) -> TelemetryError:
    assert type(excinfo.value) is TelemetryError
    return excinfo.value


def _user_table(n: int = 12) -> pa.Table:
    """A user's own names: nothing is called like a role."""
    return pa.table(
        {
            "event id": [f"e{i}" for i in range(n)],
            "event_time": pa.array(
                [T0 + dt.timedelta(hours=i) for i in range(n)], pa.timestamp("us", tz="UTC")
            ),
            "ver": [1 + i % 2 for i in range(n)],
            "proba": [i / n for i in range(n)],
            "hour_of_day": [i % 24 for i in range(n)],
            "segment": ["a" if i % 3 else "b" for i in range(n)],
            "latency": [float(i) for i in range(n)],
        }
    )


_MAPPING = ColumnMapping(
    request_id="event id",
    ts="event_time",
    model=None,
    model_version="ver",
    score="proba",
    prediction=None,
    label=None,
    label_ts=None,
    extras=("latency",),
    kinds={"hour_of_day": ColumnKind.CATEGORICAL},
)


# -- locations ------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TelemetryError) as excinfo:
        open_source(str(tmp_path / "nope.parquet"))
    message = str(_error(excinfo))
    assert "nope.parquet" in message
    assert "no such file" in message


@pytest.mark.parametrize("name", ["events.xlsx", "events.json", "events"])
def test_unknown_extension(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text("x")
    with pytest.raises(TelemetryError) as excinfo:
        open_source(str(tmp_path / name))
    message = str(_error(excinfo))
    assert "unknown file type" in message
    assert name in message


@pytest.mark.parametrize("location", ["", "   "])
def test_empty_location(location: str) -> None:
    with pytest.raises(TelemetryError, match="no telemetry source"):
        open_source(location)


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_relative_paths_resolve_against_base_dir(
    tmp_path: Path, kind: str, make_store: StoreFactory, raw_events: pa.Table
) -> None:
    written = Path(make_store(kind, raw_events))
    spec_dir = written.parent
    with open_source(written.name, base_dir=spec_dir) as source:
        assert source.count() == raw_events.num_rows
    with open_source(f"file://{written}") as source:
        assert source.count() == raw_events.num_rows


def test_readers_by_extension(
    tmp_path: Path, make_store: StoreFactory, raw_events: pa.Table
) -> None:
    assert isinstance(open_source(make_store("parquet", raw_events)), ParquetSource)
    assert isinstance(open_source(make_store("parquet_dir", raw_events)), ParquetSource)
    assert isinstance(open_source(make_store("csv", raw_events)), CsvSource)
    assert isinstance(open_source(make_store("csv_gz", raw_events)), CsvSource)


# -- mappings -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", FILE_KINDS)
def test_a_users_own_names_map_onto_roles(kind: str, make_store: StoreFactory) -> None:
    with open_source(make_store(kind, _user_table()), _MAPPING) as source:
        schema = source.schema()
        assert schema.names == (
            "request_id",
            "ts",
            "model_version",
            "score",
            "hour_of_day",
            "segment",
            "latency",
        )
        assert [c.role for c in schema.columns][-3:] == ["feature", "feature", "extra"]
        assert schema.column("hour_of_day").kind is ColumnKind.CATEGORICAL
        assert schema.column("hour_of_day").arrow_type == "int64"
        assert schema.column("request_id").source_name == "event id"
        table = source.read(TelemetryQuery(versions=("2",), model="ignored: no model column"))
        assert table.column("model_version").to_pylist() == ["2"] * 6
        assert source.count(TelemetryQuery(start=T0 + dt.timedelta(hours=3))) == 9


@pytest.mark.parametrize("kind", ["parquet", "csv", "sqlite"])
def test_missing_mapped_column_is_named(kind: str, make_store: StoreFactory) -> None:
    mapping = ColumnMapping(request_id="event id", ts="event_time", model_version="version")
    source = open_source(make_store(kind, _user_table()), mapping)
    with pytest.raises(TelemetryError) as excinfo:
        source.validate()
    error = _error(excinfo)
    assert error.column == "version"
    assert "is mapped to 'model_version'" in str(error)
    assert "'ver'" in str(error)  # what the source does have


def test_optional_roles_at_their_own_names_may_be_absent(make_store: StoreFactory) -> None:
    mapping = ColumnMapping(request_id="event id", ts="event_time", model_version="ver")
    with open_source(make_store("parquet", _user_table()), mapping) as source:
        roles = [c.role for c in source.schema().columns]
    assert roles[:3] == ["request_id", "ts", "model_version"]
    assert "score" not in roles  # mapped to "score" by default; the source has "proba"


def test_renamed_optional_role_must_exist(make_store: StoreFactory) -> None:
    mapping = ColumnMapping(request_id="event id", ts="event_time", model_version="ver", label="y")
    with pytest.raises(TelemetryError, match=r"column 'y'.*is mapped to 'label'"):
        open_source(make_store("parquet", _user_table()), mapping).schema()


def test_missing_feature_extra_and_kind_columns(make_store: StoreFactory) -> None:
    location = make_store("parquet", _user_table())
    base = {"request_id": "event id", "ts": "event_time", "model_version": "ver"}
    for mapping, column in [
        (ColumnMapping(**base, features=("segment", "colour")), "colour"),
        (ColumnMapping(**base, extras=("cost",)), "cost"),
        (ColumnMapping(**base, kinds={"hour": ColumnKind.CATEGORICAL}), "hour"),
    ]:
        with pytest.raises(TelemetryError) as excinfo:
            open_source(location, mapping).schema()
        assert _error(excinfo).column == column


def test_explicit_features_keep_their_order(make_store: StoreFactory) -> None:
    mapping = ColumnMapping(
        request_id="event id", ts="event_time", model_version="ver", features=("segment", "proba")
    )
    with open_source(make_store("csv", _user_table()), mapping) as source:
        assert source.schema().names[-2:] == ("segment", "proba")


@pytest.mark.parametrize("kind", ["parquet", "csv", "duckdb", "sqlite"])
def test_role_column_of_the_wrong_type(kind: str, make_store: StoreFactory) -> None:
    epoch = _user_table().append_column("epoch", pa.array(range(12), pa.int64()))
    mapping = ColumnMapping(request_id="event id", ts="epoch", model_version="ver")
    with pytest.raises(TelemetryError) as excinfo:
        open_source(make_store(kind, epoch), mapping).schema()
    error = _error(excinfo)
    assert error.column == "epoch"
    assert "the ts column holds numbers" in str(error)
    assert "not timestamps" in str(error)


def test_score_of_the_wrong_type(make_store: StoreFactory) -> None:
    table = _user_table().append_column("scored_at", _user_table().column("event_time"))
    mapping = ColumnMapping(
        request_id="event id", ts="event_time", model_version="ver", score="scored_at"
    )
    with pytest.raises(TelemetryError) as excinfo:
        open_source(make_store("parquet", table), mapping).schema()
    error = _error(excinfo)
    assert error.column == "scored_at"
    assert "the score column holds timestamps" in str(error)


def test_unknown_output_column_fails_at_the_call(
    make_store: StoreFactory, raw_events: pa.Table
) -> None:
    source = open_source(make_store("parquet", raw_events))
    with pytest.raises(TelemetryError, match="no output column 'colour'"):
        source.batches(columns=["ts", "colour"])  # not even iterated
    with pytest.raises(ValueError, match="batch_rows"):
        source.batches(batch_rows=0)


def test_canonically_named_leftovers_are_not_features(make_store: StoreFactory) -> None:
    """A column called 'label' that plays no role would clash with the role's name."""
    table = _user_table().append_column("label", pa.array([0] * 12))
    mapping = ColumnMapping(request_id="event id", ts="event_time", model_version="ver", label=None)
    with open_source(make_store("parquet", table), mapping) as source:
        assert "label" not in source.schema().names
