"""Cancel stops a statement where the database runs it, on every engine we push down to."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from watchkeeper.core.telemetry.sql_cancel import cancellable

# Each runs for far longer than a minute if nothing stops it.
SLOW = {
    "duckdb": "SELECT count(*) FROM range(400000) a, range(400000) b WHERE a.range + b.range = 7",
    "sqlite": (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5000000000) "
        "SELECT count(*) FROM c"
    ),
    "postgresql": "SELECT pg_sleep(120)",
    "spark": (
        "SELECT count(*) FROM range(0, 300000) a CROSS JOIN range(0, 3000000) b "
        "WHERE a.id + b.id = 7"
    ),
}


@pytest.fixture(params=list(SLOW))
def engine(request: pytest.FixtureRequest, tmp_path: Path):
    name = request.param
    if name == "duckdb":
        url = f"duckdb:///{tmp_path / 'c.duckdb'}"
    elif name == "sqlite":
        url = f"sqlite:///{tmp_path / 'c.db'}"
    elif name == "postgresql":
        url = request.getfixturevalue("postgres_url")
    else:
        url = request.getfixturevalue("spark").url
    eng = sa.create_engine(url)
    yield name, eng
    eng.dispose()


def test_a_running_statement_is_cancelled_where_it_runs(engine) -> None:
    name, eng = engine
    with eng.connect() as conn:
        t0 = time.monotonic()
        with (
            cancellable(conn, lambda: time.monotonic() - t0 > 1.0) as guard,
            pytest.raises(sa.exc.DBAPIError),
        ):
            conn.exec_driver_sql(SLOW[name]).all()
        elapsed = time.monotonic() - t0
        assert guard.fired
        assert elapsed < 45, f"{name}: the statement ran on for {elapsed:.0f} s"
        conn.rollback()
        assert conn.exec_driver_sql("SELECT 1").scalar() == 1  # the connection is usable


def test_nothing_is_cancelled_without_a_callback_or_when_it_says_go_on(tmp_path: Path) -> None:
    eng = sa.create_engine(f"sqlite:///{tmp_path / 'ok.db'}")
    with eng.connect() as conn:
        with cancellable(conn, None) as guard:
            assert conn.exec_driver_sql("SELECT 2").scalar() == 2
        assert not guard.fired
        with cancellable(conn, lambda: False) as guard:
            time.sleep(0.3)
            assert conn.exec_driver_sql("SELECT 3").scalar() == 3
        assert not guard.fired
        # after the block nothing watches: a statement run once the callback says stop
        # still completes
        stop = [False]
        with cancellable(conn, lambda: stop[0]):
            pass
        stop[0] = True
        counted = conn.exec_driver_sql(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000) "
            "SELECT count(*) FROM c"
        ).scalar()
        assert counted == 2_000_000
    eng.dispose()


@pytest.mark.spark
def test_cancelling_a_drift_count_on_spark_cancels_its_job(spark, tmp_path: Path) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from watchkeeper.core.drift.profile import build_profile
    from watchkeeper.core.drift.sql_counts import count_windows_sql, plan_windows_sql
    from watchkeeper.core.progress import Cancelled
    from watchkeeper.core.telemetry.sql import reflect_table
    from watchkeeper.core.telemetry.windows import parse_window

    rng = np.random.default_rng(3)
    n = 300_000
    data = pa.table(
        {
            "ts": pa.array(
                (np.sort(rng.integers(0, 90 * 86_400_000_000, n)) + 1_767_225_600_000_000),
                pa.timestamp("us", tz="UTC"),
            ),
            **{f"x{i}": rng.normal(size=n) for i in range(30)},
        }
    )
    folder = tmp_path / "wide"
    folder.mkdir()
    pq.write_table(data, folder / "part-0.parquet")
    location = spark.table_from_parquet(f"wide_{n}", folder)
    profile = build_profile(data.drop(["ts"]).slice(0, 20_000))
    eng = sa.create_engine(location.split("#")[0])
    jobs_before = spark.log.read_bytes().count(b"cancelled because")
    with eng.connect() as conn:
        table = reflect_table(conn, f"wide_{n}")
        windows = plan_windows_sql(conn, table, parse_window("1d"), timestamp="ts")
        t0 = time.monotonic()
        with pytest.raises(Cancelled, match="cancelled in the database"):
            count_windows_sql(
                conn,
                table,
                profile,
                windows,
                timestamp="ts",
                cancelled=lambda: time.monotonic() - t0 > 0.5,
            )
        assert conn.exec_driver_sql("SELECT 1").scalar() == 1
    eng.dispose()
    log = spark.log.read_bytes()
    assert log.count(b"cancelled because") > jobs_before or b"Cancel" in log


@pytest.mark.parametrize("kind", ["duckdb", "parquet"])
def test_a_cancelled_read_stops_between_batches_and_the_source_reads_again(
    kind: str, tmp_path: Path
) -> None:
    """A wide window's read checks ``cancelled`` after each batch (65,536 rows): cancelled,
    it stops there, not at the end, and the same source reads again afterwards (its
    unfinished DuckDB stream gave its connection up)."""
    import duckdb

    from watchkeeper.core.progress import Cancelled
    from watchkeeper.core.telemetry.source import open_source

    rows = 200_000  # four batches
    select = (
        f"SELECT TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_seconds(i) AS ts, "
        f"i * 0.5 AS x FROM range({rows}) t(i)"
    )
    if kind == "duckdb":
        path = tmp_path / "t.duckdb"
        with duckdb.connect(str(path)) as con:
            con.execute(f"CREATE TABLE events AS {select}")
        location = f"duckdb:///{path}#events"
    else:
        path = tmp_path / "t.parquet"
        duckdb.sql(select).write_parquet(str(path))
        location = str(path)
    checks: list[int] = []

    def cancelled() -> bool:
        checks.append(1)
        return len(checks) >= 2  # go on after the first batch, stop after the second

    with open_source(location) as source:
        with pytest.raises(Cancelled):
            source.read(columns=["ts", "x"], cancelled=cancelled)
        assert len(checks) == 2  # not one check per batch to the end
        table = source.read(columns=["ts", "x"])
        assert table.num_rows == rows
        assert table.column("x").to_pylist()[-1] == (rows - 1) * 0.5
