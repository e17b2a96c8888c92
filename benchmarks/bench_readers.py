"""How fast the telemetry readers stream, against the plainest way to load the same data.

Generates ~2M prediction events once, writes them as Parquet, CSV, DuckDB and SQLite (and
to PostgreSQL with ``--postgres URL``), then times for each store:

- ``stream``: every event through ``TelemetrySource.batches()`` (normalised, all columns);
- ``count`` and ``count(q)``: ``count()`` without and with a version + time-range filter;
- ``baseline``: the same rows loaded by the library alone (``pyarrow.parquet.read_table``,
  ``pyarrow.csv.read_csv``, ``duckdb ... to_arrow_table()``, DB-API ``fetchall``), in this
  run, on this machine; ``ratio`` is stream / baseline.

No assertions: numbers to read, not to gate on. Run from the repository root:

    .venv/bin/python benchmarks/bench_readers.py [--rows 2000000] [--postgres URL]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from watchkeeper.core.telemetry.contract import TelemetryQuery
from watchkeeper.core.telemetry.source import open_source

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
CHUNK_ROWS = 200_000
QUERY = TelemetryQuery(
    versions=("2",), start=T0 + dt.timedelta(days=2), end=T0 + dt.timedelta(days=5)
)


def events(rows: int, seed: int = 0) -> pa.Table:
    """Prediction events: ids, UTC times over ten days, three versions, six features."""
    rng = np.random.default_rng(seed)
    ids = pc.binary_join_element_wise("req-", pa.array(np.arange(rows)).cast(pa.string()), "")
    micros = np.sort(rng.integers(0, 10 * 86_400 * 10**6, rows)) + 1_767_225_600 * 10**6
    columns: dict[str, Any] = {
        "request_id": ids,
        "ts": pa.array(micros).cast(pa.timestamp("us", tz="UTC")),
        "model": _labels(rng, rows, ["fraud", "churn"]),
        "model_version": _labels(rng, rows, ["1", "2", "3"]),
        "score": rng.random(rows),
        "segment": _labels(rng, rows, ["alpha", "beta", "gamma"]),
    }
    for j in range(6):
        columns[f"f{j}"] = rng.normal(size=rows)
    return pa.table(columns)


def _labels(rng: np.random.Generator, rows: int, words: list[str]) -> pa.Array:
    indices = pa.array(rng.integers(0, len(words), rows).astype(np.int8))
    return pa.DictionaryArray.from_arrays(indices, pa.array(words)).cast(pa.string())


# -- writers --------------------------------------------------------------------------


def write_parquet(table: pa.Table, folder: Path) -> str:
    path = folder / "events.parquet"
    pq.write_table(table, path, row_group_size=CHUNK_ROWS)
    return str(path)


def write_csv(table: pa.Table, folder: Path) -> str:
    path = folder / "events.csv"
    pcsv.write_csv(table, path)
    return str(path)


def write_duckdb(table: pa.Table, folder: Path) -> str:
    path = folder / "events.duckdb"
    with duckdb.connect(str(path)) as con:
        con.register("incoming", table)
        con.execute("CREATE TABLE predictions AS SELECT * FROM incoming")
    return f"duckdb:///{path}#predictions"


def write_sqlite(table: pa.Table, folder: Path) -> str:
    path = folder / "events.db"
    names = table.schema.names
    types = {"score": "REAL", "ts": "TEXT"} | {f"f{j}": "REAL" for j in range(6)}
    ddl = ", ".join(f'"{n}" {types.get(n, "TEXT")}' for n in names)
    with sqlite3.connect(path) as con:
        con.execute("PRAGMA journal_mode=OFF")
        con.execute("PRAGMA synchronous=OFF")
        con.execute(f"CREATE TABLE events ({ddl})")
        marks = ",".join("?" * len(names))
        for batch in table.to_batches(CHUNK_ROWS):
            text_ts = pc.strftime(batch.column("ts"), "%Y-%m-%dT%H:%M:%S+00:00")
            batch = batch.set_column(names.index("ts"), "ts", text_ts)
            con.executemany(
                f"INSERT INTO events VALUES ({marks})",
                zip(*batch.to_pydict().values(), strict=True),
            )
    con.close()
    return f"sqlite:///{path}#events"


def write_postgres(table: pa.Table, url: str) -> str:
    import psycopg
    import sqlalchemy as sa

    dsn = sa.engine.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    types = {"ts": "timestamptz", "score": "double precision"}
    types |= {f"f{j}": "double precision" for j in range(6)}
    columns = ", ".join(f'"{n}" {types.get(n, "text")}' for n in table.schema.names)
    with psycopg.connect(dsn) as con:
        con.execute("DROP TABLE IF EXISTS bench_events")
        con.execute(f"CREATE TABLE bench_events ({columns})")
        with con.cursor().copy("COPY bench_events FROM STDIN") as copy:
            for batch in table.to_batches(CHUNK_ROWS):
                for row in zip(*batch.to_pydict().values(), strict=True):
                    copy.write_row(row)
    return f"{url}#bench_events"


# -- baselines ------------------------------------------------------------------------


def baseline_for(kind: str, location: str) -> Callable[[], int]:
    """The library's own fastest load of every row, for comparison."""
    path = location.rpartition("#")[0].split(":///", 1)[-1] if "#" in location else location
    if kind == "parquet":
        return lambda: pq.read_table(location).num_rows
    if kind == "csv":
        return lambda: pcsv.read_csv(location).num_rows
    if kind == "duckdb":

        def load_duckdb() -> int:
            with duckdb.connect(path, read_only=True) as con:
                return con.sql("SELECT * FROM predictions").to_arrow_table().num_rows

        return load_duckdb
    if kind == "sqlite":

        def load_sqlite() -> int:
            with sqlite3.connect(path) as con:
                return len(con.execute("SELECT * FROM events").fetchall())

        return load_sqlite
    if kind == "postgres":
        import psycopg
        import sqlalchemy as sa

        url = sa.engine.make_url(location.rpartition("#")[0])
        dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)

        def load_postgres() -> int:
            with psycopg.connect(dsn) as con:
                return len(con.execute("SELECT * FROM bench_events").fetchall())

        return load_postgres
    raise ValueError(kind)


# -- timing ---------------------------------------------------------------------------


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def bench(kind: str, location: str, rows: int) -> dict[str, float]:
    def stream() -> int:
        with open_source(location) as source:
            return sum(batch.num_rows for batch in source.batches())

    def count(query: TelemetryQuery) -> Callable[[], int]:
        def run() -> int:
            with open_source(location) as source:
                return source.count(query)

        return run

    stream_s, streamed = timed(stream)
    count_s, counted = timed(count(TelemetryQuery()))
    filtered_s, _ = timed(count(QUERY))
    baseline_s, loaded = timed(baseline_for(kind, location))
    assert streamed == counted == loaded == rows, (kind, streamed, counted, loaded)
    return {
        "stream": stream_s,
        "count": count_s,
        "count(q)": filtered_s,
        "baseline": baseline_s,
        "ratio": stream_s / baseline_s,
    }


WRITERS: dict[str, Callable[[pa.Table, Path], str]] = {
    "parquet": write_parquet,
    "csv": write_csv,
    "duckdb": write_duckdb,
    "sqlite": write_sqlite,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--kinds", default=",".join(WRITERS), help="comma-separated stores")
    parser.add_argument("--postgres", metavar="URL", help="also bench this PostgreSQL database")
    args = parser.parse_args()
    table = events(args.rows)
    print(f"{args.rows:,} events, {table.nbytes / 2**20:.0f} MB in memory")
    with tempfile.TemporaryDirectory(prefix="wk-bench-") as folder:
        locations = {}
        for kind in args.kinds.split(","):
            seconds, locations[kind] = timed(lambda k=kind: WRITERS[k](table, Path(folder)))
            print(f"  wrote {kind:<8} in {seconds:5.1f} s")
        if args.postgres:
            seconds, locations["postgres"] = timed(lambda: write_postgres(table, args.postgres))
            print(f"  wrote postgres in {seconds:5.1f} s")
        print(f"{'store':<9}{'stream s':>10}{'count s':>10}{'count(q) s':>12}", end="")
        print(f"{'baseline s':>12}{'ratio':>8}")
        for kind, location in locations.items():
            r = bench(kind, location, args.rows)
            print(
                f"{kind:<9}{r['stream']:>10.2f}{r['count']:>10.2f}{r['count(q)']:>12.2f}"
                f"{r['baseline']:>12.2f}{r['ratio']:>8.1f}"
            )


if __name__ == "__main__":
    main()
