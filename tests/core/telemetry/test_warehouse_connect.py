"""Spark SQL sources: the address a team types, the spec's ``hive://…#table``, what a wrong
address says, and the limits every statement and read on a warehouse runs under."""

from __future__ import annotations

import os
import time
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa

from watchkeeper.core.errors import TelemetryError
from watchkeeper.core.spec import parse_spec
from watchkeeper.core.telemetry.source import open_source
from watchkeeper.core.telemetry.sql import open_engine, open_sql
from watchkeeper.core.telemetry.sql_cancel import StatementTimeout, cancellable
from watchkeeper.core.telemetry.warehouse import (
    DEFAULT_MAX_ROWS,
    DEFAULT_TIMEOUT_S,
    MAX_ROWS_OPTION,
    TIMEOUT_OPTION,
    WarehouseAddress,
    list_tables,
    split_limits,
)

# Runs far longer than a minute if nothing stops it (a cross join of two small ranges).
SLOW = (
    "SELECT count(*) FROM range(0, 300000) a CROSS JOIN range(0, 3000000) b WHERE a.id + b.id = 7"
)


def test_an_address_becomes_a_url_without_secrets_and_back() -> None:
    plain = WarehouseAddress("spark.example", 10001, "lake")
    assert plain.url() == "hive://spark.example:10001/lake"
    ldap = WarehouseAddress("spark.example", 10000, "lake", auth="LDAP", username="a@corp")
    assert ldap.url() == "hive://a%40corp@spark.example:10000/lake?auth=LDAP"
    assert ldap.source("events") == f"{ldap.url()}#events"
    assert WarehouseAddress.from_url(ldap.source("events")) == ldap
    kerberos = WarehouseAddress("h", auth="KERBEROS", kerberos_service_name="hive")
    assert WarehouseAddress.from_url(kerberos.url()) == kerberos
    with pytest.raises(TelemetryError, match="service name"):
        WarehouseAddress("h", auth="KERBEROS")
    with pytest.raises(TelemetryError, match="not one of NONE, NOSASL, LDAP, KERBEROS"):
        WarehouseAddress("h", auth="PAM")
    with pytest.raises(TelemetryError, match="not a TCP port"):
        WarehouseAddress("h", port=70000)
    with pytest.raises(TelemetryError, match="needs a host"):
        WarehouseAddress(" ")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("hive://spark:notaport/default#t", "not a database URL"),
        ("hive://spark:10000/default", "name the table after '#'"),
        ("hive://spark:10000/default#", "name the table after '#'"),
        ("hive://spark:10000/default?timeout_s=soon#t", "timeout_s='soon' is not a number"),
        ("hive://spark:10000/default?max_rows=0#t", "max_rows must be positive"),
    ],
)
def test_a_malformed_source_says_what_is_wrong(source: str, message: str) -> None:
    with pytest.raises(TelemetryError, match=message):
        open_source(source)


def test_limits_come_from_the_url_and_a_warehouse_has_them_by_default() -> None:
    url, options = split_limits(sa.make_url("hive://h:1/db?timeout_s=30&auth=LDAP"), "x")
    assert options == {TIMEOUT_OPTION: 30.0, MAX_ROWS_OPTION: DEFAULT_MAX_ROWS}
    assert dict(url.query) == {"auth": "LDAP"}  # PyHive never sees our keys
    assert split_limits(sa.make_url("hive://h:1/db"), "x")[1] == {
        TIMEOUT_OPTION: DEFAULT_TIMEOUT_S,
        MAX_ROWS_OPTION: DEFAULT_MAX_ROWS,
    }
    assert split_limits(sa.make_url("duckdb:///x.duckdb"), "x")[1] == {}


def test_an_unreachable_server_fails_fast_and_clearly() -> None:
    from servers import free_port

    port = free_port()  # nothing listens there
    t0 = time.monotonic()
    with pytest.raises(
        TelemetryError, match=rf"cannot connect: no Spark/Hive server answers at .*:{port}"
    ):
        list_tables(f"hive://127.0.0.1:{port}/default")
    assert time.monotonic() - t0 < 5


@pytest.mark.usefixtures("plaintext_keyring")
def test_ldap_without_a_remembered_password_says_where_to_keep_one() -> None:
    # no profile names this server: refused before any packet is sent
    with pytest.raises(TelemetryError, match=r"LDAP needs a password.*OS keyring"):
        list_tables("hive://ana@127.0.0.1:9/default?auth=LDAP")


@pytest.fixture(scope="module")
def small_table(spark, demo_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """500 of the demo's events as a Parquet-backed Spark table; its source ``URL#table``."""
    folder = tmp_path_factory.mktemp("spark-small") / "events"
    folder.mkdir()
    with duckdb.connect(str(demo_workspace / "telemetry.duckdb"), read_only=True) as con:
        con.sql(
            "COPY (SELECT * FROM predictions ORDER BY ts LIMIT 500) "
            f"TO '{folder / 'part-0.parquet'}' (FORMAT parquet)"
        )
    # named to sort first: the "no table" message names the first dozen tables of a shared
    # server that the other Spark tests fill, in order, then "and N more"
    return spark.table_from_parquet(f"a_small_{os.getpid()}", folder)


@pytest.mark.spark
def test_the_specs_hive_source_opens_lists_and_refuses_what_is_not_there(
    spark, small_table: str, demo_workspace: Path
) -> None:
    text = (demo_workspace / "specs" / "fraud-detector.toml").read_text(encoding="utf-8")
    url, table = small_table.split("#")
    source = f"{url}?timeout_s=120#{table}"
    lines = [
        f'source = "{source}"' if ln.startswith("source = ") else ln for ln in text.split("\n")
    ]
    spec = parse_spec("\n".join(lines), base_dir=demo_workspace / "specs")
    assert spec.telemetry.source == source
    with open_source(spec.telemetry.source, spec.telemetry.mapping()) as src:
        assert src.warehouse
        assert src.engine.get_execution_options()[TIMEOUT_OPTION] == 120
        assert src.count() == 500
        src.validate()  # reads the 500 events: every value converts
    assert table in list_tables(url)

    with pytest.raises(TelemetryError, match=rf"no table 'missing'; it has .*'{table}'"):
        open_sql(f"{url}#missing", None)
    with pytest.raises(TelemetryError, match="the server has no database 'nosuchdb'"):
        open_sql(f"hive://127.0.0.1:{spark.port}/nosuchdb#{table}", None)


@pytest.mark.spark
def test_a_read_of_raw_events_from_a_warehouse_is_cut_at_max_rows(small_table: str) -> None:
    url, table = small_table.split("#")
    with (
        open_sql(f"{url}?max_rows=100#{table}", None) as src,
        pytest.raises(TelemetryError, match=r"reading stopped at 100 events.*max_rows=<n>"),
    ):
        src.read()


@pytest.mark.spark
def test_a_statement_past_its_timeout_is_cancelled_on_spark_and_the_server_answers_after(
    spark,
) -> None:
    engine, _ = open_engine(f"{spark.url}?timeout_s=3")
    after, _ = open_engine(spark.url)  # the default timeout: the server's answer is timed here
    try:
        with engine.connect() as conn:
            t0 = time.monotonic()
            with (
                pytest.raises(StatementTimeout, match=r"statement timeout of 3 s.*timeout_s="),
                cancellable(conn, None),
            ):
                conn.exec_driver_sql(SLOW).all()
            assert time.monotonic() - t0 < 15
            # outside a cancellable block the timeout holds too (reflection, reads)
            with pytest.raises(sa.exc.OperationalError, match="statement timeout of 3 s"):
                conn.exec_driver_sql(SLOW).all()
        # the jobs are gone from the server: a statement does not wait behind them
        with after.connect() as conn:
            t1 = time.monotonic()
            assert conn.exec_driver_sql("SELECT count(*) FROM range(1000)").scalar() == 1000
            # left running, the cross join would hold both task slots for minutes; 30 s
            # leaves room for a machine shared by other jobs
            assert time.monotonic() - t1 < 30
    finally:
        engine.dispose()
        after.dispose()


@pytest.mark.spark
def test_fetched_blocks_decode_in_c_and_equal_the_pure_python_decoding(spark) -> None:
    """The client decodes with Thrift's C extension (``fastbinary``), and what it decodes —
    doubles with NaN and ±inf, NULLs, big integers, text beyond ASCII, booleans, timestamps,
    several fetch blocks — equals what PyHive's own pure-Python protocol gives."""
    from TCLIService import TCLIService
    from thrift.protocol.TBinaryProtocol import TBinaryProtocol

    query = (
        "SELECT id, CAST(id AS DOUBLE) / 7 AS x, "
        "CASE WHEN mod(id, 5) = 0 THEN NULL WHEN mod(id, 7) = 0 THEN CAST('NaN' AS DOUBLE) "
        "WHEN mod(id, 11) = 0 THEN CAST('-Infinity' AS DOUBLE) ELSE id * 1e300 END AS odd, "
        "id * 3000000000 AS big, "
        "CASE WHEN mod(id, 3) = 0 THEN NULL ELSE concat('é-', id) END AS t, "
        "mod(id, 2) = 0 AS b, timestamp_seconds(1700000000 + id) AS ts FROM range(0, 25000)"
    )
    engine, _ = open_engine(spark.url)  # connected as Watchkeeper connects
    try:
        with engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            assert raw._client._iprot._fast_decode is not None
            fast = conn.exec_driver_sql(query).fetchall()
            raw._client = TCLIService.Client(TBinaryProtocol(raw._transport))
            slow = conn.exec_driver_sql(query).fetchall()
    finally:
        engine.dispose()
    assert len(fast) == len(slow) == 25_000
    for a, b in zip(fast, slow, strict=True):
        assert a[:2] == b[:2] and a[3:] == b[3:]
        assert (a[2] is None and b[2] is None) or (a[2] == b[2] or (a[2] != a[2] and b[2] != b[2]))
    assert {type(v).__name__ for v in fast[1]} >= {"int", "float", "str", "bool"}
    assert fast[1][4] == "é-1"


@pytest.mark.spark
def test_a_result_fetched_as_columns_equals_its_rows(spark) -> None:
    """``fetched_columns`` gives ``fetchall``'s values column by column — NULLs of every
    plain type at their places, over several fetch blocks — and declines a result with a
    column PyHive converts (a timestamp), which is then fetched as rows."""
    from watchkeeper.core.telemetry.warehouse import fetched_columns

    plain = (
        "SELECT id, CASE WHEN mod(id, 5) = 0 THEN NULL ELSE CAST(id AS DOUBLE) / 7 END AS x, "
        "CASE WHEN mod(id, 7) = 0 THEN NULL ELSE concat('é-', id) END AS t, "
        "CASE WHEN mod(id, 3) = 0 THEN NULL ELSE mod(id, 2) = 0 END AS b, "
        "CASE WHEN mod(id, 11) = 0 THEN NULL ELSE CAST(id AS INT) END AS i "
        "FROM range(0, 23457) ORDER BY id"
    )
    engine, _ = open_engine(spark.url)
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(plain).fetchall()
            columns = fetched_columns(conn.exec_driver_sql(plain))
            assert fetched_columns(conn.exec_driver_sql("SELECT current_timestamp() AS ts")) is None
            empty = fetched_columns(conn.exec_driver_sql(plain.replace("23457", "0")))
    finally:
        engine.dispose()
    assert columns is not None and len(columns) == 5
    assert [list(c) for c in zip(*rows, strict=True)] == columns
    assert columns[1][0] is None and columns[2][7] is None and columns[4][11] is None
    assert len(rows) == 23_457  # three blocks of 10,000 (sql_cancel.FETCH_ROWS)
    assert empty == [[], [], [], [], []]


@pytest.mark.spark
def test_a_fetch_the_server_refuses_is_a_dbapi_error_as_through_the_rows(spark) -> None:
    """A block the server will not hand over (its operation closed, as after a cancel or a
    lost session) fails as ``fetchmany`` fails through SQLAlchemy: a ``DBAPIError``, which
    the analyses turn into "the database refused …" — not PyHive's own exception."""
    from TCLIService import ttypes

    from watchkeeper.core.evaluation.binned import fetch_numbers
    from watchkeeper.core.evaluation.metrics import EvaluationError
    from watchkeeper.core.telemetry.sql_cancel import cancellable_or_refused
    from watchkeeper.core.telemetry.warehouse import fetched_columns

    statement = "SELECT id, CAST(id AS DOUBLE) / 3 AS x FROM range(0, 25000)"

    def closed(result: sa.CursorResult) -> sa.CursorResult:
        cursor = result.cursor
        req = ttypes.TCloseOperationReq(operationHandle=cursor._operationHandle)
        cursor._connection.client.CloseOperation(req)
        return result

    engine, _ = open_engine(spark.url)
    try:
        with engine.connect() as conn:
            with pytest.raises(sa.exc.DBAPIError) as through_rows:
                closed(conn.exec_driver_sql(statement)).fetchall()
            with pytest.raises(sa.exc.DBAPIError) as as_columns:
                fetched_columns(closed(conn.exec_driver_sql(statement)))
            assert type(as_columns.value.orig) is type(through_rows.value.orig)
            assert as_columns.value.statement == statement

            real_execute = conn.execute
            conn.execute = lambda st: closed(real_execute(st))  # type: ignore[method-assign]
            with (
                pytest.raises(EvaluationError, match="the database refused the probe"),
                cancellable_or_refused(
                    conn, None, what="probe", refused="the probe", error=EvaluationError
                ),
            ):
                fetch_numbers(conn, sa.text(statement), 2)
            # the connection still answers after the refused fetch
            del conn.execute
            assert conn.exec_driver_sql("SELECT 1").scalar() == 1
    finally:
        engine.dispose()


@pytest.mark.spark
def test_a_sample_fetched_as_float_blocks_equals_its_rows(spark, monkeypatch) -> None:
    """The drift samples' ``fetch_float_blocks`` and the estimate's ``fetch_numbers`` take
    the fetched blocks' columns on Spark (``column_blocks``): the same float array, NULL as
    NaN, as through the rows (500,000 × 5 on the local server: 8.4-10.2 s through the rows,
    0.8 s as columns)."""
    import numpy as np

    import watchkeeper.core.telemetry.warehouse as warehouse
    from watchkeeper.core.drift.sql_counts import fetch_float_blocks
    from watchkeeper.core.evaluation.binned import fetch_numbers

    statement = sa.select(
        sa.literal_column("id").label("w"),
        sa.literal_column("CASE WHEN mod(id, 4) = 0 THEN NULL ELSE id / 3 END").label("x"),
        sa.literal_column("CASE WHEN mod(id, 6) = 0 THEN NULL ELSE mod(id, 5) END").label("k"),
        sa.literal_column("mod(id, 2) = 0").label("b"),
    ).select_from(sa.text("range(0, 21000)"))
    engine, _ = open_engine(spark.url)
    try:
        with engine.connect() as conn:
            fast = np.concatenate(list(fetch_float_blocks(conn, statement, 4)))
            numbers = fetch_numbers(conn, statement, 4)  # the estimate's and slices' reader
            monkeypatch.setattr(warehouse, "column_blocks", lambda result: None)
            slow = np.concatenate(list(fetch_float_blocks(conn, statement, 4)))
            slow_numbers = fetch_numbers(conn, statement, 4)
    finally:
        engine.dispose()
    assert fast.shape == slow.shape == numbers.shape == (21_000, 4)
    np.testing.assert_array_equal(fast, slow)  # NaN where NULL, in both
    np.testing.assert_array_equal(numbers, slow_numbers)
    np.testing.assert_array_equal(numbers, fast)
    assert np.isnan(fast[0, 1]) and fast[1, 1] == pytest.approx(1 / 3) and fast[2, 3] == 1.0
