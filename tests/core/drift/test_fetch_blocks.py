"""Raw rows for the exact statistics, fetched as float blocks: DuckDB's Arrow stream and the
DB-API cursor give the same numbers; an early stop leaves the connection usable."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import sqlalchemy as sa

from watchkeeper.core.drift.sql_counts import fetch_float_blocks


def _table(engine: sa.Engine) -> sa.Table:
    meta = sa.MetaData()
    t = sa.Table(
        "events",
        meta,
        sa.Column("w", sa.Integer),
        sa.Column("x", sa.Double),
        sa.Column("n", sa.BigInteger),
        sa.Column('odd "name" é', sa.Double),
    )
    meta.create_all(engine)
    rng = np.random.default_rng(0)
    rows = [
        {
            "w": i // 1000,
            "x": None if i % 97 == 0 else float(rng.normal()),
            "n": None if i % 89 == 0 else int(rng.integers(-(2**40), 2**40)),
            'odd "name" é': float("inf") if i == 5 else float(i),
        }
        for i in range(5_000)
    ]
    with engine.begin() as conn:
        conn.execute(t.insert(), rows)
    return t


def _fetch(url: str, stop_after: int | None = None) -> np.ndarray:
    engine = sa.create_engine(url)
    t = _table(engine)
    stmt = (
        sa.select(*t.c).where(t.c.w >= sa.bindparam("lo", 1)).order_by(t.c.w, t.c['odd "name" é'])
    )  # unique: same order everywhere
    with engine.connect() as conn:
        blocks = fetch_float_blocks(conn, stmt, 4, rows=700)
        got = []
        for i, b in enumerate(blocks):
            got.append(b)
            if stop_after is not None and i + 1 == stop_after:
                blocks.close()
                break
        # the connection takes new work at once
        assert conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one() == 5_000
    engine.dispose()
    return np.concatenate(got)


def test_duckdb_arrow_and_dbapi_give_the_same_blocks(tmp_path: Path) -> None:
    duck = _fetch(f"duckdb:///{tmp_path / 'a.duckdb'}")
    lite = _fetch(f"sqlite:///{tmp_path / 'a.sqlite'}")
    assert duck.shape == lite.shape == (4_000, 4)
    assert duck.dtype == np.float64
    np.testing.assert_array_equal(duck, lite)  # NaN where NULL, inf kept, big ints exact
    assert np.isnan(duck[:, 1]).sum() == sum(1 for i in range(1000, 5000) if i % 97 == 0)
    assert np.isposinf(lite[:, 3]).sum() == 0  # row 5 is in window 0, filtered out


def test_stopping_early_frees_the_connection(tmp_path: Path) -> None:
    part = _fetch(f"duckdb:///{tmp_path / 'b.duckdb'}", stop_after=1)
    assert 0 < part.shape[0] <= 4_000
