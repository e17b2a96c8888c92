"""What the pushdown parity tests share (slices, performance): the events written once as
Parquet (what Spark's table reads) and copied into DuckDB (the reference engine), and the
closeness every pushed number is held to."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

#: A pushed-down number against the in-memory one: summation order only.
REL, ABS = 1e-9, 1e-12


def parquet_folder(factory: pytest.TempPathFactory, name: str, table: pa.Table) -> Path:
    """``table`` as one Parquet file in a fresh folder (a Spark table's location)."""
    folder = factory.mktemp(name) / "events"
    folder.mkdir()
    pq.write_table(table, folder / "part-0.parquet")
    return folder


def duckdb_copy(parquet: Path) -> str:
    """The Parquet folder's rows as a DuckDB table next to it: its source URL."""
    path = parquet.parent / "t.duckdb"
    with duckdb.connect(str(path)) as con:
        con.sql(f"CREATE TABLE events AS SELECT * FROM read_parquet('{parquet}/*.parquet')")
    return f"duckdb:///{path}#events"


def close(x: float | None, e: float | None, what: str) -> None:
    """Both missing, or equal to :data:`REL` / :data:`ABS`."""
    assert (x is None) == (e is None), what
    if e is not None:
        assert x == pytest.approx(e, rel=REL, abs=ABS), what
