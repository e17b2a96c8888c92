"""A table without a version column (and without a request id) is a telemetry source.

The whole table is one version — ``"1"`` unless the spec's ``[telemetry] version`` says —
emitted as the ``model_version`` column by every reader; a filter on versions selects every
row for that version and none for another, and counts agree with reads. Duplicates are
checked by request id alone, and skipped (with a note) where there is no request id.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from telemetry_events import FILE_KINDS, T0, StoreFactory, expected_of

from watchkeeper.core.errors import TelemetryError
from watchkeeper.core.spec import parse_spec
from watchkeeper.core.telemetry.contract import ColumnMapping, TelemetryQuery
from watchkeeper.core.telemetry.source import NO_REQUEST_ID_NOTE, open_source
from watchkeeper.core.telemetry.sql import SqlSource, reflect_table

KINDS = (*FILE_KINDS, pytest.param("postgres", marks=pytest.mark.postgres))
QUERIES = (
    TelemetryQuery(),
    TelemetryQuery(versions=("1",)),
    TelemetryQuery(versions=("2",)),
    TelemetryQuery(versions=("2", "1")),
    TelemetryQuery(model="fraud", versions=("1",)),
    TelemetryQuery(model="fraud", versions=("3",)),
    TelemetryQuery(versions=("1",), start=T0 + dt.timedelta(days=2), end=T0 + dt.timedelta(days=5)),
    TelemetryQuery(start=T0 + dt.timedelta(days=8)),
)


def _one_version(raw: pa.Table, *, with_ids: bool) -> pa.Table:
    """Version "1"'s rows (one per request) with no version column, and maybe no ids."""
    table = raw.filter(pc.equal(raw.column("model_version"), "1"))
    table = table.drop_columns(["model_version"])
    return table if with_ids else table.drop_columns(["request_id"])


def _expected(raw: pa.Table, version: str, *, with_ids: bool) -> pa.Table:
    table = expected_of(raw.filter(pc.equal(raw.column("model_version"), "1")))
    table = table.set_column(
        table.schema.get_field_index("model_version"),
        "model_version",
        pa.array([version] * table.num_rows, pa.string()),
    )
    return table if with_ids else table.drop_columns(["request_id"])


def _selected(table: pa.Table, query: TelemetryQuery) -> pa.Table:
    """The query in plain Python, over the expected rows."""
    keep = [
        (query.model is None or r["model"] == query.model)
        and (not query.versions or r["model_version"] in query.versions)
        and (query.start is None or r["ts"] >= query.start)
        and (query.end is None or r["ts"] < query.end)
        for r in table.select(["model", "model_version", "ts"]).to_pylist()
    ]
    return table.filter(pa.array(keep))


def _by_time(table: pa.Table) -> pa.Table:
    return table.sort_by([("ts", "ascending"), ("score", "ascending")]).combine_chunks()


@pytest.mark.parametrize("with_ids", [True, False], ids=["with-ids", "no-ids"])
@pytest.mark.parametrize("kind", KINDS)
def test_every_reader_reads_a_table_without_versions(
    kind: str, with_ids: bool, make_store: StoreFactory, raw_events: pa.Table
) -> None:
    location = make_store(kind, _one_version(raw_events, with_ids=with_ids))
    expected = _expected(raw_events, "1", with_ids=with_ids)
    with open_source(location) as source:
        schema = source.schema()
        assert schema.constant_version == "1"
        assert schema.has_request_id is with_ids
        assert list(schema.names) == expected.schema.names
        for query in QUERIES:
            table = source.read(query)
            want = _selected(expected, query)
            assert table.num_rows == want.num_rows == source.count(query), query
            assert _by_time(table).equals(_by_time(want)), query
        assert source.read(TelemetryQuery(versions=("2",))).num_rows == 0
        source.validate()
        assert source.duplicates() == []
        assert (NO_REQUEST_ID_NOTE in source.notes) is not with_ids


@pytest.mark.parametrize("kind", KINDS)
def test_the_spec_names_the_one_version(
    kind: str, make_store: StoreFactory, raw_events: pa.Table
) -> None:
    location = make_store(kind, _one_version(raw_events, with_ids=False))
    spec = parse_spec('[model]\nname = "fraud"\n[telemetry]\nsource = "x"\nversion = 7\n')
    mapping = spec.telemetry.mapping()
    assert mapping.model_version is None and mapping.default_version == "7"
    expected = _expected(raw_events, "7", with_ids=False)
    with open_source(location, mapping) as source:
        assert source.count(TelemetryQuery(versions=("1",))) == 0
        seven = source.read(TelemetryQuery(versions=("7",)))
        assert seven.num_rows == source.count(TelemetryQuery(versions=("7",)))
        assert _by_time(seven).equals(_by_time(expected))


@pytest.mark.parametrize("kind", KINDS)
def test_duplicates_of_a_one_version_table_are_by_request_id(
    kind: str, make_store: StoreFactory, raw_events: pa.Table
) -> None:
    table = _one_version(raw_events, with_ids=True)
    table = pa.concat_tables([table, table.slice(10, 1), table.slice(10, 1)])
    rid = table.column("request_id")[10].as_py()
    with open_source(make_store(kind, table)) as source:
        found = source.duplicates()
        assert [(d.request_id, d.model_version, d.count) for d in found] == [(rid, "1", 3)]
        with pytest.raises(TelemetryError, match=f"request id '{rid}' is scored 3 times"):
            source.validate()


@pytest.mark.parametrize(
    "kind", ["duckdb", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_pushed_down_filter_is_a_constant_on_sql(
    kind: str, make_store: StoreFactory, raw_events: pa.Table
) -> None:
    """``SqlSource.where`` (drift's and slices' filter) counts what a read returns."""
    location = make_store(kind, _one_version(raw_events, with_ids=False))
    with open_source(location) as source:
        assert isinstance(source, SqlSource)
        with source.engine.connect() as conn:
            table = reflect_table(conn, source.table_name)
            for query in QUERIES:
                statement = sa.select(sa.func.count()).select_from(table)
                counted = conn.execute(statement.where(*source.where(table, query))).scalar()
                assert counted == source.read(query).num_rows, query


def test_a_mapped_version_column_must_exist(tmp_path: Path) -> None:
    """Only the default name is optional: a version column named otherwise is required."""
    table = pa.table({"ts": pa.array([T0], pa.timestamp("us", tz="UTC")), "x": [1.0]})
    path = tmp_path / "t.parquet"
    pq.write_table(table, path)
    with (
        open_source(str(path), ColumnMapping(model_version="release")) as source,
        pytest.raises(TelemetryError, match="release"),
    ):
        source.schema()


def test_spec_refuses_a_version_with_a_version_column() -> None:
    text = (
        '[model]\nname = "m"\n[telemetry]\nsource = "x"\nversion = "3"\n'
        '[telemetry.columns]\nmodel_version = "release"\n'
    )
    with pytest.raises(Exception, match="keep one of the two"):
        parse_spec(text)
    # "" says "no version column" as for any optional role
    spec = parse_spec(
        '[model]\nname = "m"\n[telemetry]\nsource = "x"\n'
        '[telemetry.columns]\nmodel_version = ""\nrequest_id = ""\n'
    )
    mapping = spec.telemetry.mapping()
    assert mapping.model_version is None and mapping.request_id is None
    assert mapping.default_version == "1"
