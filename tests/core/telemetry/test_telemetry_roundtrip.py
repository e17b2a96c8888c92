"""Every reader returns the same events, filtered the same way, whatever the store."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pytest
from telemetry_events import ALL_KINDS, OUTPUT_ORDER, StoreFactory, sorted_table

from watchkeeper.core.telemetry.contract import ColumnKind, TelemetryQuery
from watchkeeper.core.telemetry.source import open_source


def _rows(table: pa.Table) -> list[dict[str, Any]]:
    return sorted_table(table).to_pylist()


def _select(expected: pa.Table, query: TelemetryQuery) -> list[dict[str, Any]]:
    """The query applied in plain Python: an independent statement of its meaning."""
    return [
        r
        for r in _rows(expected)
        if (query.model is None or r["model"] == query.model)
        and (not query.versions or r["model_version"] in query.versions)
        and (query.start is None or r["ts"] >= query.start)
        and (query.end is None or r["ts"] < query.end)
        and (not query.request_ids or r["request_id"] in query.request_ids)
    ]


def _assert_same(actual: pa.Table, expected: pa.Table) -> None:
    actual, expected = sorted_table(actual), sorted_table(expected)
    assert actual.schema == expected.schema
    for name in expected.schema.names:
        assert actual.column(name).equals(expected.column(name)), name
    assert actual.equals(expected)


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_every_store_returns_identical_events(
    kind: str, events_store: Callable[[str], str], expected_events: pa.Table
) -> None:
    with open_source(events_store(kind)) as source:
        table = source.read()
        assert source.count() == table.num_rows == expected_events.num_rows
    _assert_same(table, expected_events)


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_schema_names_types_and_kinds(kind: str, events_store: Callable[[str], str]) -> None:
    with open_source(events_store(kind)) as source:
        schema = source.schema()
    assert list(schema.names) == OUTPUT_ORDER
    kinds = {c.name: c.kind for c in schema.columns}
    assert kinds["request_id"] is ColumnKind.ID
    assert kinds["ts"] is kinds["label_ts"] is ColumnKind.TIMESTAMP
    assert kinds["amount"] is kinds["n_items"] is kinds["latency_ms"] is ColumnKind.NUMERICAL
    assert kinds["country"] is kinds["is_new"] is kinds["model"] is ColumnKind.CATEGORICAL
    assert schema.column("ts").arrow_type == "timestamp[us, tz=UTC]"
    assert schema.column("model_version").arrow_type == "string"
    features = ["amount", "n_items", "country", "is_new", "latency_ms"]
    assert [c.name for c in schema.features] == features


def _queries(expected: pa.Table) -> list[TelemetryQuery]:
    ts = sorted(expected.column("ts").to_pylist())
    start, end = ts[100], ts[400]  # both exact event times: start inclusive, end exclusive
    ids = expected.column("request_id").to_pylist()
    return [
        TelemetryQuery(model="fraud"),
        TelemetryQuery(versions=("2",)),
        TelemetryQuery(versions=("1", "3")),
        TelemetryQuery(start=start),
        TelemetryQuery(end=end),
        TelemetryQuery(model="churn", versions=("2",), start=start, end=end),
        TelemetryQuery(versions=("9",)),
        TelemetryQuery(model="no-such-model"),
        TelemetryQuery(start=start.replace(tzinfo=None), end=start + dt.timedelta(hours=36)),
        # the few rows a view lists, by their ids (one id twice, one that is not there)
        TelemetryQuery(request_ids=(ids[3], ids[3], ids[250], "req-nope", "")),
        TelemetryQuery(versions=("2",), start=start, request_ids=tuple(ids[::7])),
        TelemetryQuery(request_ids=("no-such-request",)),
    ]


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_filters_count_and_read_agree(
    kind: str, events_store: Callable[[str], str], expected_events: pa.Table
) -> None:
    with open_source(events_store(kind)) as source:
        for query in _queries(expected_events):
            wanted = _select(expected_events, query)
            table = source.read(query)
            assert _rows(table) == wanted, query
            assert source.count(query) == table.num_rows == len(wanted), query


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_batches_stream_bounded_and_columns_pick(
    kind: str, events_store: Callable[[str], str]
) -> None:
    query = TelemetryQuery(versions=("1",))
    with open_source(events_store(kind)) as source:
        batches = list(source.batches(query, columns=["score", "ts"], batch_rows=50))
        assert batches, "no batches"
        assert all(0 < b.num_rows <= 50 for b in batches)
        assert {tuple(b.schema.names) for b in batches} == {("score", "ts")}
        assert sum(b.num_rows for b in batches) == source.count(query)


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_duplicates_found_by_every_store(
    kind: str, make_store: StoreFactory, raw_events: pa.Table
) -> None:
    first = raw_events.slice(0, 1)
    third = raw_events.slice(2, 1)
    doubled = pa.concat_tables([raw_events, first, first, third])
    with open_source(make_store(kind, doubled)) as source:
        found = source.duplicates()
        assert source.duplicates(limit=1) == found[:1]
        assert source.duplicates(TelemetryQuery(model="nobody")) == []
    assert [(d.request_id, d.model_version, d.count) for d in found] == [
        (first["request_id"][0].as_py(), first["model_version"][0].as_py(), 3),
        (third["request_id"][0].as_py(), third["model_version"][0].as_py(), 2),
    ]


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_clean_events_validate(kind: str, events_store: Callable[[str], str]) -> None:
    with open_source(events_store(kind)) as source:
        source.validate()
        source.validate(TelemetryQuery(model="fraud", versions=("2",)))


@pytest.mark.parametrize("kind", ["parquet", "csv", "duckdb", "sqlite"])
def test_integer_versions_and_ids_read_as_text(
    kind: str, make_store: StoreFactory, raw_events: pa.Table
) -> None:
    table = raw_events.set_column(
        raw_events.schema.get_field_index("model_version"),
        "model_version",
        raw_events.column("model_version").cast(pa.int64()),
    )
    with open_source(make_store(kind, table)) as source:
        assert source.schema().column("model_version").arrow_type == "string"
        versions = set(source.read(columns=["model_version"]).column(0).to_pylist())
        assert versions == {"1", "2", "3"}
        assert (
            source.count(TelemetryQuery(versions=("2",)))
            == source.read(TelemetryQuery(versions=("2",))).num_rows
        )
        assert source.count(TelemetryQuery(versions=("02",))) == 0


@pytest.mark.parametrize("kind", ["parquet", "csv", "duckdb", "sqlite"])
def test_integer_request_ids_are_selected_by_their_text(
    kind: str, make_store: StoreFactory, raw_events: pa.Table
) -> None:
    """A request id stored as an integer reads as its text, and is selected by it: "42"
    finds 42, "042" and "x" nothing (pushed down as integers where the store can)."""
    n = raw_events.num_rows
    table = raw_events.set_column(
        raw_events.schema.get_field_index("request_id"),
        "request_id",
        pa.array(range(1_000, 1_000 + n), pa.int64()),
    )
    with open_source(make_store(kind, table)) as source:
        got = source.read(TelemetryQuery(request_ids=("1042", "01043", "x", "1007")))
        assert sorted(got.column("request_id").to_pylist()) == ["1007", "1042"]
        assert source.count(TelemetryQuery(request_ids=("01043", "x"))) == 0
