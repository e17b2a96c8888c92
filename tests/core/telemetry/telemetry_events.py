"""Test helpers: one set of prediction events, generated with numpy, for every kind of store.

``expected_events`` is what every reader must return for them (the normalised form);
``raw_events`` is what gets written: NaN where a number is missing, as real stores hold it.
The writers put the same events in Parquet, CSV, DuckDB, SQLite and PostgreSQL the way
each is usually filled (SQLite with ISO text timestamps, PostgreSQL with timestamptz and a
naive timestamp), so the round-trip tests compare readers, not writers.
"""

from __future__ import annotations

import datetime as dt
import math
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
N_REQUESTS = 500
TS = pa.timestamp("us", tz="UTC")
SORT_KEYS = [("request_id", "ascending"), ("model_version", "ascending")]


def make_events(n_requests: int = N_REQUESTS, seed: int = 7) -> pa.Table:
    """Events with every role, NaN, ±inf, nulls, and shadow rows (same id, version "2")."""
    rng = np.random.default_rng(seed)
    seconds = np.sort(rng.uniform(0, 10 * 86_400, n_requests))
    micros = (seconds * 1e6).astype(np.int64)
    ts = [T0 + dt.timedelta(microseconds=int(m)) for m in micros]
    models = rng.choice(["fraud", "churn"], n_requests)
    shadow = rng.random(n_requests) < 0.3  # also scored by version "2"
    rows: list[dict[str, Any]] = []
    for i in range(n_requests):
        versions = ["1", "2"] if shadow[i] else [str(rng.choice(["1", "3"]))]
        for version in versions:
            rows.append(_event(rng, i, ts[i], str(models[i]), version))
    return pa.Table.from_pylist(rows, schema=RAW_SCHEMA)


def _event(
    rng: np.random.Generator, i: int, ts: dt.datetime, model: str, version: str
) -> dict[str, Any]:
    amount = float(rng.lognormal(3, 1))
    if rng.random() < 0.08:
        amount = math.nan
    if i == 3:
        amount = math.inf
    if i == 4:
        amount = -math.inf
    labelled = rng.random() < 0.7
    return {
        "request_id": f"req-{i:05d}",
        "ts": ts,
        "model": model,
        "model_version": version,
        "amount": amount,
        "n_items": int(rng.integers(0, 20)),
        "country": None if rng.random() < 0.1 else str(rng.choice(["FR", "DE", "NA", "ZA"])),
        "is_new": bool(rng.random() < 0.2),
        "score": float(rng.random()),
        "prediction": int(rng.random() < 0.5),
        "label": int(rng.random() < 0.3) if labelled else None,
        "label_ts": ts + dt.timedelta(days=float(rng.uniform(1, 3))) if labelled else None,
        "latency_ms": float(np.round(rng.gamma(2.0, 10.0), 3)),
    }


RAW_SCHEMA = pa.schema(
    [
        ("request_id", pa.string()),
        ("ts", TS),
        ("model", pa.string()),
        ("model_version", pa.string()),
        ("amount", pa.float64()),
        ("n_items", pa.int64()),
        ("country", pa.string()),
        ("is_new", pa.bool_()),
        ("score", pa.float64()),
        ("prediction", pa.int64()),
        ("label", pa.int64()),
        ("label_ts", TS),
        ("latency_ms", pa.float64()),
    ]
)
#: Output order: roles in canonical order, then the features in source order.
OUTPUT_ORDER = [
    "request_id",
    "ts",
    "model",
    "model_version",
    "score",
    "prediction",
    "label",
    "label_ts",
    "amount",
    "n_items",
    "country",
    "is_new",
    "latency_ms",
]


def expected_of(raw: pa.Table) -> pa.Table:
    """The normalised form: NaN is null, columns in output order."""
    amount = raw.column("amount")
    amount = pc.if_else(pc.is_nan(amount), pa.scalar(None, pa.float64()), amount)
    table = raw.set_column(raw.schema.get_field_index("amount"), "amount", amount)
    return table.select(OUTPUT_ORDER)


def sorted_table(table: pa.Table) -> pa.Table:
    return table.sort_by(SORT_KEYS).combine_chunks()


# -- writers --------------------------------------------------------------------------


def write_parquet(table: pa.Table, path: Path) -> Path:
    pq.write_table(table, path, row_group_size=200)
    return path


def write_csv(table: pa.Table, path: Path) -> Path:
    pcsv.write_csv(table, path)
    return path


def write_duckdb(table: pa.Table, path: Path, name: str = "predictions") -> Path:
    with duckdb.connect(str(path)) as con:
        con.register("incoming", table)
        con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM incoming')
    return path


def _sqlite_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_timestamp(arrow_type):
        return "TIMESTAMP"
    if pa.types.is_boolean(arrow_type):
        return "BOOLEAN"
    if pa.types.is_integer(arrow_type):
        return "INTEGER"
    if pa.types.is_floating(arrow_type):
        return "REAL"
    return "TEXT"


def write_sqlite(table: pa.Table, path: Path) -> Path:
    """As an application logging to SQLite would: ISO text times, in two shapes.

    ``ts`` as ``2026-01-01T00:00:00.123456+00:00``; other timestamps naive and
    space-separated (SQLAlchemy's own shape), UTC by convention.
    """
    names = table.schema.names
    times = [n for n in names if pa.types.is_timestamp(table.schema.field(n).type)]
    rows = []
    for r in table.to_pylist():
        for name in times:
            if r[name] is None:
                continue
            if name == "ts":
                r[name] = r[name].isoformat()
            else:
                r[name] = r[name].replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
        rows.append(tuple(r[name] for name in names))
    ddl = ", ".join(f'"{n}" {_sqlite_type(table.schema.field(n).type)}' for n in names)
    with sqlite3.connect(path) as con:
        con.execute(f"CREATE TABLE events ({ddl})")
        con.executemany(f"INSERT INTO events VALUES ({','.join('?' * len(names))})", rows)
    con.close()
    return path


def write_postgres(table: pa.Table, url: str, name: str = "events") -> None:
    """timestamptz for ts, a naive timestamp (UTC by convention) for label_ts."""
    import sqlalchemy as sa
    from sqlalchemy.dialects import postgresql

    meta = sa.MetaData(schema="telemetry")
    columns = {
        "request_id": sa.Text,
        "ts": postgresql.TIMESTAMP(timezone=True),
        "model": sa.Text,
        "model_version": sa.Text,
        "amount": postgresql.DOUBLE_PRECISION,
        "n_items": sa.BigInteger,
        "country": sa.Text,
        "is_new": sa.Boolean,
        "score": postgresql.DOUBLE_PRECISION,
        "prediction": sa.BigInteger,
        "label": sa.BigInteger,
        "label_ts": postgresql.TIMESTAMP(timezone=False),
        "latency_ms": postgresql.DOUBLE_PRECISION,
    }
    # only the table's own columns: a table may lack roles (no version, no request id)
    present = [sa.Column(n, t) for n, t in columns.items() if n in table.schema.names]
    target = sa.Table(name, meta, *present)
    rows = table.to_pylist()
    for r in rows:
        if r["label_ts"] is not None:
            r["label_ts"] = r["label_ts"].replace(tzinfo=None)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE SCHEMA IF NOT EXISTS telemetry"))
        # Every later session runs in a zone far from UTC: readers must not depend on it.
        database = sa.engine.make_url(url).database
        conn.execute(sa.text(f"ALTER DATABASE \"{database}\" SET timezone TO 'Asia/Kolkata'"))
        meta.create_all(conn)
        conn.execute(target.insert(), rows)
    engine.dispose()


# -- one location per kind of store ----------------------------------------------------

FILE_KINDS = ("parquet", "parquet_dir", "csv", "csv_gz", "duckdb", "sqlite")
ALL_KINDS = (
    *FILE_KINDS,
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("spark", marks=pytest.mark.spark),
)


class StoreFactory:
    """Writes a table to one kind of store and returns its location string.

    PostgreSQL tables go to ``postgres_url`` (a fresh database per test), or, for a
    session-wide factory, to one database made on the session's cluster.
    """

    def __init__(
        self, request: pytest.FixtureRequest, folder: Path, postgres_url: str | None = None
    ) -> None:
        self._request = request
        self._folder = folder
        self._count = 0
        self._postgres_url = postgres_url

    def __call__(self, kind: str, table: pa.Table) -> str:
        self._count += 1
        stem = self._folder / f"{kind}{self._count}"
        if kind == "parquet":
            return str(write_parquet(table, stem.with_suffix(".parquet")))
        if kind == "parquet_dir":
            stem.mkdir()
            half = table.num_rows // 2
            write_parquet(table.slice(0, half), stem / "part-0.parquet")
            write_parquet(table.slice(half), stem / "part-1.parquet")
            return str(stem)
        if kind == "csv":
            return str(write_csv(table, stem.with_suffix(".csv")))
        if kind == "csv_gz":
            path = stem.with_suffix(".csv.gz")
            with pa.CompressedOutputStream(str(path), "gzip") as out:
                pcsv.write_csv(table, out)
            return str(path)
        if kind == "duckdb":
            return f"duckdb:///{write_duckdb(table, stem.with_suffix('.duckdb'))}#predictions"
        if kind == "sqlite":
            return f"sqlite:///{write_sqlite(table, stem.with_suffix('.db'))}#events"
        if kind == "postgres":
            url = self._postgres_url or self._request.getfixturevalue("postgres_url")
            name = f"events{self._count}"
            write_postgres(table, url, name)
            return f"{url}#telemetry.{name}"
        if kind == "spark":
            # Spark tables are Parquet files: Spark's TIMESTAMP holds instants, so both
            # time columns go in as UTC instants (naive and zoned differ only on write)
            server = self._request.getfixturevalue("spark")
            stem.mkdir()
            write_parquet(table, stem / "part-0.parquet")
            return server.table_from_parquet(f"events_{uuid.uuid4().hex[:12]}", stem)
        raise ValueError(kind)
