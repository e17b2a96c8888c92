"""A reference profile built in the database equals the in-memory one on the same rows:
every count, edge, category and flag (the mean and spread to 1e-12), on DuckDB and on the
real Spark server; only aggregates come back (rows fetched bounded)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from watchkeeper.core.drift.profile import ReferenceProfile, build_profile
from watchkeeper.core.drift.profile_sql import (
    FEW,
    build_profile_sql,
    numpy_quantiles,
    order_fraction,
)
from watchkeeper.core.telemetry.contract import CANONICAL_ROLES, ColumnMapping, TelemetryQuery
from watchkeeper.core.telemetry.source import open_source

N = 6000
OPTIONS = {
    "categorical": ["c_str", "c_int"],
    "exclude": CANONICAL_ROLES,
    "bins": 10,
    "max_categories": 3,
    "high_cardinality": 20,
}


def _events(n: int = N) -> pa.Table:
    rng = np.random.default_rng(11)
    t0 = np.datetime64("2026-03-01T00:00:00", "us").astype(np.int64)
    ts = t0 + np.sort(rng.integers(0, 6 * 86_400_000_000, n))
    cont = rng.normal(size=n) * 1e3
    cont[rng.random(n) < 0.02] = np.nan
    cont[:3] = [np.inf, -np.inf, np.inf]
    cont_mask = rng.random(n) < 0.03  # nulls besides NaN
    few = rng.integers(0, 5, n).astype(np.float64)  # 5 values: a bin per value and gap
    mid = rng.integers(0, 25, n)  # 25 values: quantile edges from counted values
    ties = np.round(rng.normal(size=n), 1)  # ~60 values, heavy ties: order statistics
    # categories tied at the top's boundary: repr order ("10" < "9") is not SQL's
    # over the whole table 9, 10 and 11 tie for the top's last two places
    c_int = rng.permutation(np.repeat([7, 9, 10, 11, 12, 100], [2000, 1000, 1000, 1000, 500, 500]))
    words = np.array(["a", "b", "it's", "z", 'say "x"', "ü"] + [f"w{i}" for i in range(30)])
    c_str = rng.choice(words, n)
    return pa.table(
        {
            "request_id": [f"r{i}" for i in range(n)],
            "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "model_version": rng.choice(["1", "2"], n, p=[0.8, 0.2]).tolist(),
            "score": rng.random(n),
            "cont": pa.array(cont, mask=cont_mask),
            "few": few,
            "mid": pa.array(mid, pa.int64()),
            "ties": ties,
            "c_int": pa.array(c_int, pa.int64()),
            "c_str": pa.array(c_str.tolist(), mask=rng.random(n) < 0.05),
        }
    )


QUERY = TelemetryQuery(
    versions=("1",),
    start=np.datetime64("2026-03-02").astype("datetime64[us]").item(),
    end=np.datetime64("2026-03-05").astype("datetime64[us]").item(),
)


def _same(got: ReferenceProfile, want: ReferenceProfile) -> None:
    assert got.rows == want.rows
    assert got.names == want.names
    for g, w in zip(got.features, want.features, strict=True):
        assert (g.name, g.kind, g.counts, g.edges) == (w.name, w.kind, w.counts, w.edges)
        assert (g.categories, g.other) == (w.categories, w.other)
        assert (g.cardinality, g.high_cardinality, g.vocabulary_complete) == (
            w.cardinality,
            w.high_cardinality,
            w.vocabulary_complete,
        )
        if w.mean is None:
            assert g.mean is None and g.std is None
        else:
            assert g.mean == pytest.approx(w.mean, rel=1e-12, abs=1e-12)
            assert g.std == pytest.approx(w.std, rel=1e-12)


def _duckdb_url(tmp_path: Path, events: pa.Table) -> str:
    path = tmp_path / "events.duckdb"
    con = duckdb.connect(str(path))
    con.register("ev", events)
    con.execute("CREATE TABLE events AS SELECT * FROM ev")
    con.close()
    return f"duckdb:///{path}#events"


def test_numpy_quantiles_from_order_statistics_are_numpys_bit_for_bit() -> None:
    rng = np.random.default_rng(3)
    qs = np.arange(1, 10) / 10
    for n in (1, 2, 3, 7, 10, 11, 99, 1000, 12_345):
        for v in (np.sort(rng.normal(size=n) * 1e6), np.sort(np.round(rng.normal(size=n), 1))):
            got = numpy_quantiles(n, qs, lambda k, v=v: v[k])
            assert got.tobytes() == np.quantile(v, qs).tobytes()


def test_order_fraction_lands_on_the_exact_position() -> None:
    for n in (2, 3, 7, 10, 1001, 999_983, 10_000_019):
        for k in {0, 1, n // 3, n // 2, n - 2, n - 1}:
            p = order_fraction(n, k)
            assert 0.0 <= p <= 1.0
            assert math.floor((n - 1) * p) == k  # the lower neighbour of (n - 1) p
            assert max(math.ceil(n * p) - 1, 0) == k  # the first with a share >= p


def test_duckdb_profile_equals_the_in_memory_one(tmp_path: Path) -> None:
    events = _events()
    with open_source(_duckdb_url(tmp_path, events), ColumnMapping()) as src:
        rows = src.read(QUERY)
        want = build_profile(rows, None, **OPTIONS)
        got = build_profile_sql(src, QUERY, None, **OPTIONS)
        assert got is not None
        _same(got, want)
        # the paths of the description all taken: values counted, quantiles from counts,
        # order statistics; a tie at the top's boundary broken as in memory
        few, mid, ties = (got.feature(n) for n in ("few", "mid", "ties"))
        assert len(few.edges) == 10 and 10 < 25 <= FEW * 10 and len(ties.edges) >= 8
        assert len(mid.edges) >= 8
        # the whole table: a tie at the top's boundary broken by repr, as in memory
        everything = TelemetryQuery()
        whole = build_profile_sql(src, everything, None, **OPTIONS)
        assert whole is not None
        _same(whole, build_profile(src.read(everything), None, **OPTIONS))
        assert whole.feature("c_int").categories == (7, 10, 11)
        # a vocabulary cut short, and nothing selected
        small = {**OPTIONS, "vocabulary_limit": 4}
        _same(
            build_profile_sql(src, QUERY, ["c_str"], **small),  # type: ignore[arg-type]
            build_profile(rows, ["c_str"], **small),
        )
        nothing = TelemetryQuery(versions=("9",))
        assert build_profile_sql(src, nothing, None, **OPTIONS) is None


def _spark_percentile(a: float, b: float, t: float) -> float:
    """Spark's ``percentile`` between neighbours a < b at fraction t of the way
    (``(higher - position) * lower + (position - lower) * higher``, Percentile.scala)."""
    return (1.0 - t) * a + t * b


def _differing_case() -> tuple[np.ndarray, float]:
    """Sorted values and a fraction where Spark's interpolation is not numpy's."""
    rng = np.random.default_rng(0)
    while True:
        x = np.sort(rng.normal(size=11) * 1e3)
        for q in (0.15, 0.35, 0.45, 0.65, 0.85):
            virtual = (x.size - 1) * q
            lo = math.floor(virtual)
            if _spark_percentile(x[lo], x[lo + 1], virtual - lo) != np.quantile(x, q):
                return x, q


@pytest.mark.spark
def test_spark_profile_equals_the_in_memory_one(spark, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from watchkeeper.core.drift import profile_sql
    from watchkeeper.core.telemetry.sql_statements import recorded_statements

    events = _events()
    folder = tmp_path / "events"
    folder.mkdir()
    pq.write_table(events, folder / "part-0.parquet")
    location = spark.table_from_parquet(f"profile_{os.getpid()}", folder)
    with open_source(location, ColumnMapping()) as src:
        rows = src.read(QUERY)
        want = build_profile(rows, None, **OPTIONS)
        with recorded_statements() as seen:
            got = build_profile_sql(src, QUERY, None, **OPTIONS)
        assert got is not None
        _same(got, want)
        # aggregates only: a handful of statements, each one counting or ordering values;
        # one for the categorical features together
        reads = [s for s in seen if s.lstrip().upper().startswith("SELECT")]
        assert 3 <= len(reads) <= 7
        assert sum("stack(" in s for s in reads) == 1
        assert all("count(" in s.lower() or "percentile_approx(" in s for s in reads)
        # a coarse estimate (ranks off by up to n / 200): wider brackets, the same profile
        monkeypatch.setattr(profile_sql, "ACCURACY", 200)
        coarse = build_profile_sql(src, QUERY, None, **OPTIONS)
        assert coarse is not None
        _same(coarse, want)
        engine = src.engine
    # the engine difference the order statistics avoid: Spark's own interpolated percentile
    # is not numpy's in its last bits (pinned here)
    x, q = _differing_case()
    values = ", ".join(f"(CAST('{v!r}' AS DOUBLE))" for v in x.tolist())
    with engine.connect() as conn:
        (spark_value,) = conn.execute(
            sa.text(f"SELECT percentile(v, CAST('{q!r}' AS DOUBLE)) FROM VALUES {values} AS t(v)")
        ).one()
    virtual = (x.size - 1) * q
    lo = math.floor(virtual)
    assert spark_value == _spark_percentile(x[lo], x[lo + 1], virtual - lo)
    assert spark_value != np.quantile(x, q)
    assert spark_value == pytest.approx(np.quantile(x, q), rel=1e-13)


def _kinds(n: int = 3000) -> pa.Table:
    """Categorical features of every kind: strings, int32, floats (NaN missing), booleans,
    wider integer vocabularies, and a date."""
    rng = np.random.default_rng(5)
    floats = rng.choice([0.5, 1.0, 2.25, -3.0, np.nan], n)
    columns: dict[str, pa.Array] = {
        "s": pa.array(rng.choice(["a", "b", "c", "10", "9"], n).tolist(), mask=rng.random(n) < 0.1),
        "i": pa.array(rng.choice([10, 9, 7, -1], n), pa.int32()),
        "f": pa.array(floats, mask=rng.random(n) < 0.05),
        "b": pa.array(rng.random(n) < 0.3, mask=rng.random(n) < 0.05),
    }
    for k in range(8):  # wider vocabularies, cut at the limit
        columns[f"w{k}"] = pa.array(rng.integers(0, 40 + 10 * k, n))
    day = np.datetime64("2026-01-01") + rng.integers(0, 5, n).astype("timedelta64[D]")
    columns["d"] = pa.array(day.astype("datetime64[D]"))
    t0 = np.datetime64("2026-03-01T00:00:00", "us")
    ts = pa.array(t0 + np.arange(n).astype("timedelta64[s]"), pa.timestamp("us", tz="UTC"))
    return pa.table({"ts": ts, **columns})


def test_duckdb_categorical_step_is_one_statement_whatever_the_features(tmp_path: Path) -> None:
    # values of every kind travel through one UNION ALL; a date has no shared column and
    # keeps a statement of its own
    events = _kinds()
    columns = [c for c in events.column_names if c != "ts"]
    options = {"max_categories": 3, "high_cardinality": 20, "vocabulary_limit": 30}
    everything = TelemetryQuery()
    with open_source(_duckdb_url(tmp_path, events), ColumnMapping()) as src:
        rows = src.read(everything)
        seen: list[object] = []
        aggregate = src.aggregate
        src.aggregate = lambda s: (seen.append(s), aggregate(s))[1]  # type: ignore[method-assign]
        for names in (["s"], ["s", "i"], columns[:-1]):
            seen.clear()
            want = build_profile(rows, names, categorical=names)
            got = build_profile_sql(src, everything, names, categorical=names)
            assert got is not None
            _same(got, want)
            assert len(seen) == 2  # the size, then the levels of every feature
            small = build_profile_sql(src, everything, names, categorical=names, **options)
            _same(small, build_profile(rows, names, categorical=names, **options))  # type: ignore[arg-type]
        seen.clear()  # (the reader hands a date over as a UTC timestamp: not compared)
        dated = build_profile_sql(src, everything, columns, categorical=columns)
        assert dated is not None and dated.feature("d").cardinality == 5
        assert len(seen) == 3
        assert got.feature("f").categories[0] in (0.5, 1.0, 2.25, -3.0)
        assert isinstance(got.feature("b").categories[0], bool)
        assert dated.feature("s") == got.feature("s")


@pytest.mark.spark
def test_spark_categorical_step_is_one_statement(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from watchkeeper.core.telemetry.sql_statements import recorded_statements

    events = _kinds().drop_columns(["d"])
    names = [c for c in events.column_names if c != "ts"]
    folder = tmp_path / "kinds"
    folder.mkdir()
    pq.write_table(events, folder / "part-0.parquet")
    location = spark.table_from_parquet(f"kinds_{os.getpid()}", folder)
    everything = TelemetryQuery()
    options = {"max_categories": 3, "high_cardinality": 20, "vocabulary_limit": 30}
    with open_source(location, ColumnMapping()) as src:
        rows = src.read(everything)
        with recorded_statements() as seen:
            got = build_profile_sql(src, everything, names, categorical=names, **options)
        assert got is not None
        _same(got, build_profile(rows, names, categorical=names, **options))  # type: ignore[arg-type]
        reads = [s for s in seen if s.lstrip().upper().startswith("SELECT")]
        assert len(reads) == 2 and "stack(12," in reads[1]  # the size, then every level


@pytest.mark.postgres
def test_postgresql_categorical_step_is_one_statement(postgres_url: str) -> None:
    # PostgreSQL resolves a UNION's column types branch by branch: typed NULLs make it work
    events = _kinds().drop_columns(["d"])
    names = [c for c in events.column_names if c != "ts"]
    engine = sa.create_engine(postgres_url)
    try:
        events.to_pandas().to_sql("events", engine, index=False)
    finally:
        engine.dispose()
    everything = TelemetryQuery()
    options = {"max_categories": 3, "high_cardinality": 20, "vocabulary_limit": 30}
    with open_source(f"{postgres_url}#events", ColumnMapping()) as src:
        rows = src.read(everything)
        seen: list[object] = []
        aggregate = src.aggregate
        src.aggregate = lambda s: (seen.append(s), aggregate(s))[1]  # type: ignore[method-assign]
        got = build_profile_sql(src, everything, names, categorical=names, **options)
        assert got is not None
        _same(got, build_profile(rows, names, categorical=names, **options))  # type: ignore[arg-type]
        assert len(seen) == 2
        assert isinstance(got.feature("b").categories[0], bool)
