"""SQL sources: odd names, dynamic types, text timestamps, bad URLs, secrets kept secret."""

from __future__ import annotations

import datetime as dt
import socket
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from watchkeeper.core.errors import TelemetryError
from watchkeeper.core.telemetry.contract import (
    CANONICAL_ROLES,
    ColumnMapping,
    DuplicateEvent,
    TelemetryQuery,
)
from watchkeeper.core.telemetry.source import open_source

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _error(excinfo: pytest.ExceptionInfo[TelemetryError]) -> TelemetryError:
    assert type(excinfo.value) is TelemetryError
    return excinfo.value


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sqlite(path: Path, ddl: str, rows: list[tuple[Any, ...]], table: str = "events") -> str:
    with sqlite3.connect(path) as con:
        con.execute(ddl)
        if rows:
            marks = ",".join("?" * len(rows[0]))
            con.executemany(f"INSERT INTO {_q(table)} VALUES ({marks})", rows)
    con.close()
    return f"sqlite:///{path}#{table}"


def _duckdb(path: Path, ddl: str, rows: list[tuple[Any, ...]], table: str = "events") -> str:
    with duckdb.connect(str(path)) as con:
        con.execute(ddl)
        if rows:
            marks = ",".join(f"${i + 1}" for i in range(len(rows[0])))
            con.executemany(f"INSERT INTO {_q(table)} VALUES ({marks})", rows)
    return f"duckdb:///{path}#{table}"


# -- odd identifiers (hypothesis) -----------------------------------------------------

_KEYWORDS = ["select", "order", "from", "group", "where", "table", "limit", "having", "desc"]
_ALPHABET = "abcXYZ019 _\"'`.;-()[]%?$:éß日ü€"
_names = st.one_of(
    st.sampled_from(_KEYWORDS),
    st.text(alphabet=_ALPHABET, min_size=1, max_size=10),
).filter(lambda s: s.strip() == s and s.lower() not in CANONICAL_ROLES)
_name_sets = st.lists(_names, min_size=6, max_size=6, unique_by=lambda s: s.casefold()).filter(
    lambda names: not names[5].lower().startswith("sqlite_") and "#" not in names[5]
)
_ODD_ROWS = [
    ("r0", T0, "1", 0.1, 5),
    ("r0", T0 + dt.timedelta(hours=1), "1", 0.2, 6),
    ("r1", T0 + dt.timedelta(hours=2), "2", 0.3, 7),
    ("r2", T0 + dt.timedelta(hours=3), "2", 0.4, 8),
    ("r3", T0 + dt.timedelta(hours=4), "1", 0.5, 9),
]


def _check_odd_names(location: str, names: list[str]) -> None:
    rid, ts, version, score, feature = names[:5]
    mapping = ColumnMapping(
        request_id=rid, ts=ts, model=None, model_version=version, score=score,
        prediction=None, label=None, label_ts=None,
    )  # fmt: skip
    with open_source(location, mapping) as source:
        assert source.schema().names == ("request_id", "ts", "model_version", "score", feature)
        table = source.read()
        assert table.column(feature).to_pylist() == [5, 6, 7, 8, 9]
        query = TelemetryQuery(
            versions=("2",), start=T0 + dt.timedelta(hours=2), end=T0 + dt.timedelta(hours=3)
        )
        assert source.count(query) == source.read(query).num_rows == 1
        assert source.duplicates() == [DuplicateEvent("r0", "1", 2)]
        with pytest.raises(TelemetryError, match="'r0' is scored 2 times"):
            source.validate()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(names=_name_sets)
def test_odd_identifiers_sqlite(names: list[str]) -> None:
    cols = ", ".join(
        f"{_q(n)} {t}"
        for n, t in zip(names[:5], ["TEXT", "TEXT", "TEXT", "REAL", "INTEGER"], strict=True)
    )
    rows = [(r, t.isoformat(), v, s, f) for r, t, v, s, f in _ODD_ROWS]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "odd.db"
        location = _sqlite(path, f"CREATE TABLE {_q(names[5])} ({cols})", rows, names[5])
        location = location.rpartition("#")[0] + "#" + _q(names[5])
        _check_odd_names(location, names)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(names=_name_sets)
def test_odd_identifiers_duckdb(names: list[str]) -> None:
    types = ["VARCHAR", "TIMESTAMPTZ", "VARCHAR", "DOUBLE", "BIGINT"]
    cols = ", ".join(f"{_q(n)} {t}" for n, t in zip(names[:5], types, strict=True))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "odd.duckdb"
        location = _duckdb(path, f"CREATE TABLE {_q(names[5])} ({cols})", _ODD_ROWS, names[5])
        location = location.rpartition("#")[0] + "#" + _q(names[5])
        _check_odd_names(location, names)


# -- opening --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sqlite", "duckdb"])
def test_missing_table_lists_what_is_there(tmp_path: Path, kind: str) -> None:
    make = _sqlite if kind == "sqlite" else _duckdb
    location = make(tmp_path / f"db.{kind}", "CREATE TABLE predictions (a INTEGER)", [])
    with pytest.raises(TelemetryError) as excinfo:
        open_source(location.replace("#events", "#predictons"))
    message = str(_error(excinfo))
    assert "no table 'predictons'" in message
    assert "'predictions'" in message


@pytest.mark.parametrize("kind", ["sqlite", "duckdb"])
def test_missing_database_file_is_not_created(tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"absent.{kind}"
    with pytest.raises(TelemetryError, match="no such database file"):
        open_source(f"{kind}:///{path}#events")
    assert not path.exists()


@pytest.mark.parametrize("kind", ["sqlite", "duckdb"])
def test_relative_database_resolves_against_base_dir(tmp_path: Path, kind: str) -> None:
    make = _sqlite if kind == "sqlite" else _duckdb
    (tmp_path / "data").mkdir()
    make(
        tmp_path / "data" / f"t.{kind}",
        "CREATE TABLE events (request_id TEXT, ts TEXT, model_version TEXT)",
        [("r1", "2026-01-01", "1")],
    )
    with open_source(f"{kind}:///data/t.{kind}#events", base_dir=tmp_path) as source:
        assert source.count() == 1
    with pytest.raises(TelemetryError, match="no such database file"):
        open_source(f"{kind}:///data/t.{kind}#events", base_dir=tmp_path / "elsewhere")


@pytest.mark.parametrize(
    ("location", "words"),
    [
        ("sqlite:///x.db", "name the table after '#'"),
        ("sqlite:///x.db#", "name the table after '#'"),
        ("duckdb:///:memory:#t", "in-memory database"),
        ("sqlite://#t", "in-memory database"),
        ("nosuchdb://host/db#t", "no SQLAlchemy dialect for 'nosuchdb'"),
        ("postgresql+nodriver://u:pw@h/db#t", "no SQLAlchemy dialect"),
    ],
)
def test_bad_locations(location: str, words: str) -> None:
    with pytest.raises(TelemetryError) as excinfo:
        open_source(location)
    assert words in str(_error(excinfo))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_server_never_shows_the_password() -> None:
    location = f"postgresql+psycopg://alice:s3cret-pw@127.0.0.1:{_closed_port()}/db#events"
    with pytest.raises(TelemetryError) as excinfo:
        open_source(location)
    message = str(_error(excinfo))
    assert "s3cret-pw" not in message
    assert "alice:***@127.0.0.1" in message
    assert "cannot connect" in message


@pytest.mark.postgres
def test_wrong_password_and_missing_table_on_postgres(postgres_url: str) -> None:
    url = sa.engine.make_url(postgres_url)
    wrong = url.set(password="not-the-password").render_as_string(hide_password=False)
    with pytest.raises(TelemetryError) as excinfo:
        open_source(f"{wrong}#events")
    assert "not-the-password" not in str(_error(excinfo))
    assert "password authentication failed" in str(excinfo.value)
    with pytest.raises(TelemetryError) as excinfo:
        open_source(f"{postgres_url}#public.nothing_here")
    message = str(_error(excinfo))
    assert "no table 'nothing_here' in schema 'public'" in message
    assert str(url.password) not in message


# -- SQLite's dynamic typing and text timestamps --------------------------------------

_EVENTS_DDL = (
    "CREATE TABLE events (request_id TEXT, ts TEXT, model_version TEXT, score REAL, amount REAL)"
)


def test_sqlite_text_in_a_real_column_names_value_and_row(tmp_path: Path) -> None:
    rows = [
        ("a", "2026-01-01", "1", 0.1, 1.0),
        ("b", "2026-01-01", "1", 0.2, 2.0),
        ("c", "2026-01-01", "1", 0.3, "abc"),
    ]
    location = _sqlite(tmp_path / "mixed.db", _EVENTS_DDL, rows)
    with open_source(location) as source, pytest.raises(TelemetryError) as excinfo:
        source.read()
    error = _error(excinfo)
    assert (error.column, error.row) == ("amount", 3)
    assert "'abc' is not a number" in str(error)
    assert "mixed.db" in str(error)


def test_sqlite_text_score_is_reported(tmp_path: Path) -> None:
    rows = [("a", "2026-01-01", "1", 0.1, 1.0), ("b", "2026-01-01", "1", "high", 2.0)]
    source = open_source(_sqlite(tmp_path / "s.db", _EVENTS_DDL, rows))
    with source, pytest.raises(TelemetryError) as excinfo:
        source.validate()
    error = _error(excinfo)
    assert (error.column, error.row) == ("score", 2)
    assert "'high' is not a number (score)" in str(error)


def test_sqlite_timestamp_shapes_and_time_filter(tmp_path: Path) -> None:
    shapes = [
        "2026-01-01T01:00:00+01:00",  # 00:00 UTC
        "2026-01-01 00:30:00",
        "2026-01-01T00:45:00Z",
        "2026-01-01",  # 00:00 UTC
        "2026-01-01 00:40:00.000000",  # exactly the end: excluded
    ]
    rows = [(f"r{i}", ts, "1", 0.5, 1.0) for i, ts in enumerate(shapes)]
    with open_source(_sqlite(tmp_path / "times.db", _EVENTS_DDL, rows)) as source:
        times = source.read().column("ts").to_pylist()
        query = TelemetryQuery(start=T0, end=T0 + dt.timedelta(minutes=40))
        selected = source.read(query).column("request_id").to_pylist()
        assert source.count(query) == len(selected)
    minutes = [0, 30, 45, 0, 40]
    assert times == [T0 + dt.timedelta(minutes=m) for m in minutes]
    assert selected == ["r0", "r1", "r3"]


def test_sqlite_unparseable_timestamp(tmp_path: Path) -> None:
    rows = [("a", "2026-01-01", "1", 0.1, 1.0), ("b", "last tuesday", "1", 0.2, 2.0)]
    source = open_source(_sqlite(tmp_path / "t.db", _EVENTS_DDL, rows))
    with source, pytest.raises(TelemetryError) as excinfo:
        source.read()
    error = _error(excinfo)
    assert (error.column, error.row) == ("ts", 2)
    assert "'last tuesday' is not a date/time" in str(error)


def test_sqlite_columns_without_declared_types(tmp_path: Path) -> None:
    rows = [
        ("a", "2026-01-01 00:00:00", 1, 0.25, 3, "x"),
        ("b", "2026-01-02 00:00:00", 2, 0.75, 4, "y"),
    ]
    ddl = "CREATE TABLE events (request_id, ts, model_version, score, n, c)"
    with open_source(_sqlite(tmp_path / "loose.db", ddl, rows)) as source:
        table = source.read()
        assert source.count(TelemetryQuery(versions=("2",))) == 1
    assert table.column("model_version").to_pylist() == ["1", "2"]
    assert table.column("n").type.id == table.schema.field("n").type.id
    assert table.column("n").to_pylist() == [3, 4]
    assert table.column("c").to_pylist() == ["x", "y"]


def test_values_are_bound_never_spliced(tmp_path: Path) -> None:
    rows = [("a", "2026-01-01", "1", 0.1, 1.0), ("b", "2026-01-01", "2", 0.2, 2.0)]
    location = _sqlite(tmp_path / "safe.db", _EVENTS_DDL, rows)
    with open_source(location) as source:
        assert source.count(TelemetryQuery(versions=("1' OR '1'='1",))) == 0
        assert source.count(TelemetryQuery(versions=("1); DROP TABLE events; --",))) == 0
        assert source.count() == 2


# -- DuckDB ---------------------------------------------------------------------------

_DUCK_DDL = (
    "CREATE TABLE events (request_id VARCHAR, ts TIMESTAMP, model_version INTEGER, score DOUBLE)"
)


def _duck_rows(n: int) -> list[tuple[Any, ...]]:
    return [
        (f"r{i}", dt.datetime(2026, 1, 1) + dt.timedelta(minutes=i), i % 3, i / n) for i in range(n)
    ]


def test_duckdb_half_read_stream_does_not_block_other_queries(tmp_path: Path) -> None:
    location = _duckdb(tmp_path / "busy.duckdb", _DUCK_DDL, _duck_rows(500))
    with open_source(location) as source:
        stream = source.batches(batch_rows=10)
        assert next(stream).num_rows == 10
        assert source.count() == 500
        assert source.duplicates() == []
        stream.close()
        assert source.count(TelemetryQuery(versions=("1",))) == 167
        assert sum(b.num_rows for b in source.batches(batch_rows=64)) == 500


def test_duckdb_two_sources_on_one_file_and_memory_limit(tmp_path: Path) -> None:
    location = _duckdb(tmp_path / "shared.duckdb", _DUCK_DDL, _duck_rows(50))
    with open_source(location) as reference, open_source(location) as current:
        assert reference.count() == current.count() == 50
        with current._engine.connect() as conn:  # the limit our reader asked for
            limit = conn.exec_driver_sql("SELECT current_setting('memory_limit')").scalar()
    assert limit.startswith(("1.8 GiB", "1.9 GiB", "2.0 GiB", "1.8GiB", "1.9GiB"))


def test_duckdb_file_open_elsewhere_in_this_process(tmp_path: Path) -> None:
    location = _duckdb(tmp_path / "held.duckdb", _DUCK_DDL, _duck_rows(5))
    with duckdb.connect(str(tmp_path / "held.duckdb")), pytest.raises(TelemetryError) as excinfo:
        open_source(location)
    assert "already open in this program" in str(_error(excinfo))


def test_duckdb_date_column_filters_after_reading(tmp_path: Path) -> None:
    ddl = "CREATE TABLE events (request_id VARCHAR, ts DATE, model_version VARCHAR)"
    rows = [(f"r{i}", dt.date(2026, 1, 1 + i), "1") for i in range(10)]
    with open_source(_duckdb(tmp_path / "dates.duckdb", ddl, rows)) as source:
        query = TelemetryQuery(start=T0 + dt.timedelta(days=2), end=T0 + dt.timedelta(days=5))
        assert source.count(query) == source.read(query).num_rows == 3


def test_duckdb_mixed_case_table_name(tmp_path: Path) -> None:
    location = _duckdb(
        tmp_path / "c.duckdb", _DUCK_DDL.replace("events", '"Events"'), _duck_rows(3), "Events"
    )
    with open_source(location.replace("#Events", "#events")) as source:
        assert source.count() == 3


# -- PostgreSQL -----------------------------------------------------------------------


@pytest.mark.postgres
def test_postgres_types_and_text_timestamps(postgres_url: str) -> None:
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE odd (request_id uuid, ts text, model_version integer, "
            "score numeric(6, 3), payload jsonb, at_hour smallint)"
        )
        conn.exec_driver_sql(
            "INSERT INTO odd SELECT gen_random_uuid(), "
            "'2026-01-0' || (1 + mod(i, 9)) || 'T00:00:00Z', mod(i, 2), i / 100.0, "
            "'{\"a\": 1}', mod(i, 24) FROM generate_series(0, 99) AS i"
        )
    engine.dispose()
    with open_source(f"{postgres_url}#odd") as source:
        schema = source.schema()
        assert [c.name for c in schema.features] == ["at_hour"]  # jsonb is not analysable
        table = source.read()
        assert str(table.schema.field("score").type) == "double"  # numeric -> float64
        assert table.column("score").to_pylist()[:3] == [0.0, 0.01, 0.02]
        assert str(table.schema.field("at_hour").type) == "int64"
        assert len(set(table.column("request_id").to_pylist())) == 100
        query = TelemetryQuery(
            versions=("1",), start=T0 + dt.timedelta(days=2), end=T0 + dt.timedelta(days=4)
        )
        assert source.count(query) == source.read(query).num_rows
        assert source.count(query) == sum(1 for i in range(100) if i % 2 == 1 and 2 <= i % 9 < 4)


@pytest.mark.postgres
def test_postgres_naive_timestamps_filter_as_utc_whatever_the_session_zone(
    postgres_url: str,
) -> None:
    engine = sa.create_engine(postgres_url)
    database = sa.engine.make_url(postgres_url).database
    with engine.begin() as conn:
        conn.exec_driver_sql(f"ALTER DATABASE \"{database}\" SET timezone TO 'America/New_York'")
        conn.exec_driver_sql(
            "CREATE TABLE naive AS SELECT 'r' || i AS request_id, "
            "timestamp '2026-01-01 00:00:00' + i * interval '1 hour' AS ts, "
            "'1' AS model_version FROM generate_series(0, 47) AS i"
        )
    engine.dispose()
    with open_source(f"{postgres_url}#naive") as source:
        assert "***" in source.description
        assert str(sa.engine.make_url(postgres_url).password) not in source.description
        query = TelemetryQuery(start=T0 + dt.timedelta(hours=5), end=T0 + dt.timedelta(hours=8))
        table = source.read(query)
        assert source.count(query) == table.num_rows == 3
        assert table.column("ts").to_pylist()[0] == T0 + dt.timedelta(hours=5)


def test_duckdb_connections_draw_no_progress_bar(tmp_path: Path) -> None:
    """DuckDB draws a progress bar on standard output for a statement running longer than two
    seconds: in `watchkeeper drift --json` that was text before the document. Every
    connection of a source has it off. In a plain process (the command line's), where a bare
    connection has it on: under pytest DuckDB starts with it off."""
    import subprocess
    import sys

    location = _duckdb(tmp_path / "quiet.duckdb", _DUCK_DDL, _duck_rows(5))
    child = (
        "import sys, duckdb\n"
        "from watchkeeper.core.telemetry.source import open_source\n"
        "q = \"SELECT current_setting('enable_progress_bar')\"\n"
        "print(duckdb.connect().execute(q).fetchone()[0])\n"
        "with open_source(sys.argv[1]) as src:\n"
        "    with src._engine.connect() as a, src._engine.connect() as b:\n"
        "        print(a.exec_driver_sql(q).scalar(), b.exec_driver_sql(q).scalar())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", child, location], capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["True", "False", "False"], out.stdout
