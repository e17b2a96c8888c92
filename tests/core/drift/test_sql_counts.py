"""Pushed-down counts: numpy, DuckDB, SQLite and PostgreSQL give identical counts."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import sqlalchemy as sa

from watchkeeper.core.drift import sql_counts
from watchkeeper.core.drift.counting import count_windows
from watchkeeper.core.drift.data import timestamps_us
from watchkeeper.core.drift.engine import analyze_drift
from watchkeeper.core.drift.errors import DriftError
from watchkeeper.core.drift.profile import build_profile
from watchkeeper.core.drift.sql_counts import (
    count_statement,
    count_windows_sql,
    plan_windows_sql,
)
from watchkeeper.core.errors import TelemetryError
from watchkeeper.core.telemetry.sql import reflect_table
from watchkeeper.core.telemetry.sql_statements import recorded_statements
from watchkeeper.core.telemetry.windows import assign_windows, parse_window
from watchkeeper.core.times import to_us

N = 4000
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _rows(seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(N):
        x = float(rng.normal())
        r = rng.random()
        if r < 0.02:
            x = None
        elif r < 0.03:
            x = math.nan
        elif r < 0.035:
            x = math.inf if rng.random() < 0.5 else -math.inf
        ts = T0 + dt.timedelta(seconds=int(rng.integers(0, 5 * 86400)), microseconds=i)
        out.append(
            {
                "request_id": f"r{i:06d}",
                "ts": None if rng.random() < 0.01 else ts,
                "Amount Paid": x,  # an identifier that must be quoted
                "n_items": int(rng.integers(0, 12)),
                "city": None
                if rng.random() < 0.05
                else str(rng.choice(["a", "b", "c", "d", "zz"])),
                "code": int(rng.choice([1, 2, 3, 99])),
            }
        )
    # values sitting exactly on the bin edges: the off-by-one trap
    return out


def _reference() -> pa.Table:
    rng = np.random.default_rng(7)
    n = 3000
    return pa.table(
        {
            "Amount Paid": rng.normal(size=n),
            "n_items": rng.integers(0, 10, n),
            "city": rng.choice(["a", "b", "c", "d"], n, p=[0.5, 0.3, 0.15, 0.05]),
            "code": rng.choice([1, 2, 3], n),
        }
    )


@pytest.fixture(scope="module")
def profile():
    p = build_profile(_reference(), categorical=["code"], max_categories=2)
    # put current values exactly on edges
    return p


def _with_edges(rows: list[dict], profile) -> list[dict]:
    edges = profile.feature("Amount Paid").edges
    for i, e in enumerate(edges):
        rows[i]["Amount Paid"] = e
        rows[100 + i]["Amount Paid"] = float(np.nextafter(e, -np.inf))
    return rows


_SPARK_DATA: dict[str, Path] = {}  # a Spark database's folder for its Parquet tables


def _spark_engine(server, tmp_path: Path) -> sa.Engine:
    """An engine on a fresh database of the shared Spark server (tables named as elsewhere)."""
    name = f"wk_{uuid.uuid4().hex[:12]}"
    server.execute(f"CREATE DATABASE {name}")
    _SPARK_DATA[name] = tmp_path / name
    return sa.create_engine(server.url.rsplit("/", 1)[0] + f"/{name}")


def _write_spark(engine: sa.Engine, rows: list[dict]) -> sa.Table:
    """Spark tables are Parquet files: the same rows as the other engines' inserts."""
    import pyarrow.parquet as pq

    folder = _SPARK_DATA[engine.url.database] / "events"
    folder.mkdir(parents=True)
    pq.write_table(_arrow(rows, nan_as_null=False), folder / "part-0.parquet")
    with engine.connect() as conn:
        conn.exec_driver_sql(f"CREATE TABLE events USING parquet LOCATION '{folder}'")
        return reflect_table(conn, "events")


def _write(engine: sa.Engine, rows: list[dict], tz: bool) -> sa.Table:
    if engine.dialect.name == "hive":
        return _write_spark(engine, rows)
    md = sa.MetaData()
    t = sa.Table(
        "events",
        md,
        sa.Column("request_id", sa.String),
        sa.Column("ts", sa.DateTime(timezone=tz)),
        sa.Column("Amount Paid", sa.Double),
        sa.Column("n_items", sa.BigInteger),
        sa.Column("city", sa.String),
        sa.Column("code", sa.BigInteger),
    )
    md.create_all(engine)
    data = (
        rows
        if tz
        else [{**r, "ts": r["ts"].replace(tzinfo=None) if r["ts"] else None} for r in rows]
    )
    with engine.begin() as conn:
        conn.execute(t.insert(), data)
    with engine.connect() as conn:
        return reflect_table(conn, "events")


def _arrow(rows: list[dict], nan_as_null: bool) -> pa.Table:
    x = [r["Amount Paid"] for r in rows]
    if nan_as_null:  # SQLite stores NaN as NULL
        x = [None if v is not None and math.isnan(v) else v for v in x]
    return pa.table(
        {
            "request_id": [r["request_id"] for r in rows],
            "ts": pa.array([r["ts"] for r in rows], pa.timestamp("us", tz="UTC")),
            "Amount Paid": pa.array(x, pa.float64()),
            "n_items": [r["n_items"] for r in rows],
            "city": [r["city"] for r in rows],
            "code": [r["code"] for r in rows],
        }
    )


def _numpy_counts(table: pa.Table, profile, spec: str | None, start=None, end=None):
    ws = parse_window(spec)
    ts = timestamps_us(table.column("ts"))
    valid = ts != np.iinfo(np.int64).min
    in_range = valid.copy()
    if start is not None:
        in_range &= ts >= start
    if end is not None:
        in_range &= ts < end
    from watchkeeper.core.telemetry.windows import plan_windows

    lo, hi = int(ts[in_range].min()), int(ts[in_range].max())
    windows = plan_windows(ws, lo, hi, n_rows=int(in_range.sum()), start=start, end=end)
    order = None
    if ws.kind == "rows":
        cand = np.flatnonzero(in_range)
        rid = table.column("request_id").to_numpy(zero_copy_only=False)[cand]
        order = cand[np.lexsort((rid, ts[cand]))]
    w = assign_windows(windows, ts, order)
    if ws.kind == "all" and (start is not None or end is not None):
        w[~in_range] = -1
    return windows, count_windows(table, profile, w, len(windows))


ENGINES = ["duckdb", "sqlite", "postgresql", "spark"]


@pytest.fixture(params=ENGINES)
def engine(request, tmp_path):
    if request.param == "duckdb":
        eng = sa.create_engine(f"duckdb:///{tmp_path / 't.duckdb'}")
    elif request.param == "sqlite":
        eng = sa.create_engine(f"sqlite:///{tmp_path / 't.sqlite'}")
    elif request.param == "spark":
        eng = _spark_engine(request.getfixturevalue("spark"), tmp_path)
    else:
        eng = sa.create_engine(request.getfixturevalue("postgres_url"))
    yield eng
    eng.dispose()


@pytest.mark.parametrize(
    ("spec", "start", "end"),
    [
        (None, None, None),
        ("1d", None, None),
        ("6h", to_us("2026-01-01T03:00"), to_us("2026-01-04T17:30")),
        ("700rows", None, None),
        (None, to_us("2026-01-02"), to_us("2026-01-03")),
    ],
)
def test_sql_counts_equal_numpy(engine: sa.Engine, profile, spec, start, end) -> None:
    rows = _with_edges(_rows(), profile)
    table = _write(engine, rows, tz=engine.dialect.name != "sqlite")
    expected_windows, expected = _numpy_counts(
        _arrow(rows, nan_as_null=engine.dialect.name == "sqlite"), profile, spec, start, end
    )
    with engine.connect() as conn:
        windows = plan_windows_sql(
            conn, table, parse_window(spec), timestamp="ts", start=start, end=end
        )
        assert windows.bounds == expected_windows.bounds and len(windows) == len(expected_windows)
        got = count_windows_sql(
            conn,
            table,
            profile,
            windows,
            timestamp="ts",
            order_by=["request_id"],
            start=start,
            end=end,
        )
        # at most features × windows × bins rows come back
        stmt = count_statement(
            table, profile, windows, timestamp="ts", order_by=["request_id"], start=start, end=end
        )
        n_result = len(conn.execute(stmt).all())
    assert got.equals(expected), engine.dialect.name
    assert n_result <= sum(len(windows) * fp.n_bins for fp in profile.features)
    assert got.of("city")[:, profile.feature("city").unseen_bin].sum() > 0  # "zz"


@pytest.mark.parametrize("engine", ["duckdb", "postgresql", "spark"], indirect=True)
def test_single_scan_counts_equal_numpy_and_the_union(engine: sa.Engine) -> None:
    """The single-scan form (sent on PostgreSQL only, where it measured faster) reads the
    table once (no ``UNION ALL``) on Spark, DuckDB and PostgreSQL, with the ``UNION ALL``'s
    rows and numpy's counts on odd data: NaN, ±inf, NULL, an unknown category, and a feature
    whose reference held one value (one bin inside)."""
    ref = _reference()
    ref = ref.set_column(ref.schema.get_field_index("n_items"), "n_items", pa.array([3] * len(ref)))
    profile = build_profile(ref, categorical=["code"], max_categories=2)
    rows = _with_edges(_rows(1), profile)
    table = _write(engine, rows, tz=True)
    windows, expected = _numpy_counts(_arrow(rows, nan_as_null=False), profile, "1d")
    name = engine.dialect.name
    single = count_statement(table, profile, windows, timestamp="ts", dialect=name)
    assert "UNION" not in str(single.compile(dialect=engine.dialect)).upper()
    union = count_statement(table, profile, windows, timestamp="ts")
    with engine.connect() as conn:
        with recorded_statements() as sent:
            got = count_windows_sql(conn, table, profile, windows, timestamp="ts")
        one = sorted(tuple(map(int, r)) for r in conn.execute(single).all())
        many = sorted(tuple(map(int, r)) for r in conn.execute(union).all())
    assert got.equals(expected), name
    # what count_windows_sql sends: the single scan where it measured faster (PostgreSQL)
    assert any("UNION" in t.upper() for t in sent) == (name not in sql_counts.SINGLE_SCAN_USED)
    assert (name == "postgresql") == (name in sql_counts.SINGLE_SCAN_USED)
    assert one == many
    assert got.of("city")[:, profile.feature("city").unseen_bin].sum() > 0  # "zz"
    assert got.of("n_items")[:, 0].sum() > 0 and got.of("n_items")[:, -2].sum() > 0


@pytest.mark.parametrize("group", [1, 2, 8])
def test_duckdb_counts_features_in_groups_with_the_same_counts(
    tmp_path, profile, group: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DuckDB runs the ``UNION ALL``'s branches side by side in this process, so its features
    are counted a group per statement (``COUNT_GROUPS``): the counts are numpy's, in as many
    statements as groups; other engines still get one."""
    monkeypatch.setitem(sql_counts.COUNT_GROUPS, "duckdb", group)
    n = len(profile.features)
    for name in ("duckdb", "sqlite"):
        eng = sa.create_engine(f"{name}:///{tmp_path / f'g{group}.{name}'}")
        rows = _with_edges(_rows(), profile)
        table = _write(eng, rows, tz=name != "sqlite")
        windows, expected = _numpy_counts(_arrow(rows, nan_as_null=name == "sqlite"), profile, "1d")
        with eng.connect() as conn, recorded_statements() as sent:
            got = count_windows_sql(conn, table, profile, windows, timestamp="ts")
        eng.dispose()
        assert got.equals(expected), (name, group)
        counts = [t for t in sent if "count(" in t.lower()]
        assert len(counts) == (-(-n // group) if name == "duckdb" else 1), (name, sent)


def test_statement_binds_values_and_quotes_identifiers(profile) -> None:
    md = sa.MetaData()
    t = sa.Table(
        "ev'ents",
        md,
        sa.Column("ts", sa.DateTime(timezone=True)),
        sa.Column("Amount Paid", sa.Double),
        sa.Column("n_items", sa.BigInteger),
        sa.Column("city", sa.String),
        sa.Column("code", sa.BigInteger),
    )
    from watchkeeper.core.telemetry.windows import plan_windows

    windows = plan_windows(parse_window("1d"), to_us(T0), to_us(T0) + 3 * 86_400_000_000)
    stmt = count_statement(t, profile, windows, timestamp="ts")
    from sqlalchemy.dialects import postgresql

    sql = str(stmt.compile(dialect=postgresql.dialect()))
    assert '"Amount Paid"' in sql and '"ev\'ents"' in sql
    assert "'a'" not in sql and "floor" not in sql.lower()  # values are bound, no division


def test_sql_type_mismatch_is_a_clear_error(tmp_path, profile) -> None:
    eng = sa.create_engine(f"duckdb:///{tmp_path / 'bad.duckdb'}")
    with eng.begin() as conn:
        conn.exec_driver_sql(
            'CREATE TABLE events (ts TIMESTAMPTZ, "Amount Paid" VARCHAR, n_items BIGINT, '
            "city VARCHAR, code VARCHAR)"
        )
        conn.exec_driver_sql("INSERT INTO events VALUES ('2026-01-01', 'abc', 1, 'a', 'x')")
    with eng.connect() as conn:
        t = reflect_table(conn, "events")
        windows = plan_windows_sql(conn, t, parse_window(None), timestamp="ts")
        with pytest.raises(DriftError, match="database refused"):
            count_windows_sql(conn, t, profile, windows, timestamp="ts")
        with pytest.raises(TelemetryError, match="no table"):
            reflect_table(conn, "nope")
    eng.dispose()


def test_pushed_down_analysis_equals_in_memory(tmp_path) -> None:
    from watchkeeper.core.drift.engine_sql import analyze_drift_sql

    rows = _rows(3)
    ref = _reference()
    eng = sa.create_engine(f"duckdb:///{tmp_path / 'a.duckdb'}")
    _write(eng, rows, tz=True)
    mem = analyze_drift(
        ref,
        _arrow(rows, False),
        window=parse_window("1d"),
        categorical=["code"],
        exact=False,
        multivariate=False,
        prediction=None,
    )
    with eng.connect() as conn:
        sql = analyze_drift_sql(
            ref,
            conn,
            "events",
            window=parse_window("1d"),
            categorical=["code"],
            exact=False,
            multivariate=False,
        )
    assert sql.decisions() == mem.decisions()
    assert [w.rows for w in sql.windows] == [w.rows for w in mem.windows]
    a, b = sql.to_dict(), mem.to_dict()
    assert a["features"] == b["features"] and a["windows"] == b["windows"]
    eng.dispose()


def _exact_fields(result) -> list[tuple]:
    return [
        (f.name, w.index, w.ks, w.ks_p_value, w.wasserstein, w.exact, w.exact_rows)
        for f in result.features
        for w in f.windows
    ]


def test_pushed_down_exact_statistics_equal_in_memory(engine: sa.Engine) -> None:
    """Windows under the limit come back whole: KS, Wasserstein and PCA as in memory."""
    from watchkeeper.core.drift.engine_sql import analyze_drift_sql

    rows = _rows(4)
    ref = _reference()
    _write(engine, rows, tz=engine.dialect.name != "sqlite")
    kw = {"window": parse_window("1d"), "categorical": ["code"], "prediction": None}
    mem = analyze_drift(ref, _arrow(rows, engine.dialect.name == "sqlite"), **kw)
    with engine.connect() as conn:
        sql = analyze_drift_sql(ref, conn, "events", **kw)
    assert _exact_fields(sql) == _exact_fields(mem)
    assert {w.exact for f in sql.features if f.kind == "numerical" for w in f.windows} == {"all"}
    assert sql.multivariate is not None and mem.multivariate is not None
    for a, b in zip(sql.multivariate.windows, mem.multivariate.windows, strict=True):
        assert (a.rows, a.decision) == (b.rows, b.decision)
        assert a.error == pytest.approx(b.error, rel=1e-9)
    assert any("every row" in n for n in sql.notes)


# the servers are asked for inside the test: the marks put it with the servers' tests (one
# PostgreSQL, one Spark per run under xdist)
@pytest.mark.postgres
@pytest.mark.spark
def test_pushed_down_sample_is_bounded_seeded_and_the_same_on_every_engine(
    request: pytest.FixtureRequest, tmp_path
) -> None:
    from watchkeeper.core.drift.engine_sql import analyze_drift_sql
    from watchkeeper.core.spec import DriftSection

    rows = [r for r in _rows(5) if r["ts"] is not None]
    ref = _reference()
    settings = DriftSection(exact_sample_limit=100)  # windows of ~800 rows: sampled
    urls = {
        "duckdb": f"duckdb:///{tmp_path / 's.duckdb'}",
        "sqlite": f"sqlite:///{tmp_path / 's.sqlite'}",
        "postgresql": request.getfixturevalue("postgres_url"),
        "spark": None,
    }
    found = {}
    for name, url in urls.items():
        eng = (
            _spark_engine(request.getfixturevalue("spark"), tmp_path)
            if url is None
            else sa.create_engine(url)
        )
        _write(eng, rows, tz=name != "sqlite")
        with eng.connect() as conn:
            runs = [
                analyze_drift_sql(
                    ref,
                    conn,
                    "events",
                    window=parse_window("1d"),
                    categorical=["code"],
                    settings=settings,
                )
                for _ in range(2)
            ]
        eng.dispose()
        assert runs[0].to_dict() == runs[1].to_dict(), name  # seeded: the same rows again
        found[name] = _exact_fields(runs[0])
        result = runs[0]
        for f in result.features:
            if f.kind != "numerical":
                continue
            for w in f.windows:
                assert w.exact == "sample" and w.ks is not None
                assert 0 < w.exact_rows[1] <= 100
        assert all(w.sampled and w.rows == 100 for w in result.multivariate.windows)
        assert any("systematic sample" in n for n in result.notes)
        assert '"exact": "sample"' in result.to_json()
    assert found["duckdb"] == found["sqlite"] == found["postgresql"] == found["spark"]


def test_pushed_down_analysis_with_a_profile_says_what_it_skipped(tmp_path) -> None:
    from watchkeeper.core.drift.engine_sql import analyze_drift_sql

    rows = _rows(6)
    eng = sa.create_engine(f"sqlite:///{tmp_path / 'p.sqlite'}")
    _write(eng, rows, tz=False)
    profile = build_profile(_reference(), categorical=["code"])
    with eng.connect() as conn:
        result = analyze_drift_sql(profile, conn, "events", window=parse_window("1d"))
    eng.dispose()
    assert all(w.exact is None for f in result.features for w in f.windows)
    assert result.multivariate is None
    assert any("profile only" in n for n in result.notes)


def test_pushdown_on_a_table_without_version_and_id_equals_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A DuckDB table with no version and no request id column: the workbench's drift
    pushed down (its version filter a constant true) equals the in-memory path."""
    import duckdb

    from watchkeeper.core.spec import parse_spec
    from watchkeeper.core.workbench import analyses
    from watchkeeper.core.workbench.portfolio import ModelEntry, VersionEntry

    rows = [r for r in _rows(5) if r["ts"] is not None]
    table = _arrow(rows, nan_as_null=False).drop_columns(["request_id"])
    with duckdb.connect(str(tmp_path / "one.duckdb")) as conn:
        conn.register("t", table)
        conn.execute("CREATE TABLE events AS SELECT * FROM t")
    spec = parse_spec(
        '[model]\nname = "m"\n[telemetry]\nsource = "duckdb:///one.duckdb#events"\n'
        '[telemetry.columns]\nfeatures = ["Amount Paid", "n_items", "city", "code"]\n'
        'categorical = ["code"]\n'
        '[reference]\nstart = 2026-01-01\nend = 2026-01-02\n[drift]\nwindow = "1d"\n',
        base_dir=tmp_path,
    )
    entry = ModelEntry(name="m", task="binary", versions=(VersionEntry("1"),), spec=spec)
    memory = analyses.run_drift(entry, "1", None)
    monkeypatch.setattr(analyses, "IN_MEMORY_ROWS", 0)
    pushed = analyses.run_drift(entry, "1", None)
    assert [w.rows for w in pushed.windows] == [w.rows for w in memory.windows]
    assert sum(w.rows for w in pushed.windows) == len(rows)
    assert pushed.decisions() == memory.decisions()
    a, b = pushed.to_dict(), memory.to_dict()
    assert [f["name"] for f in a["features"]] == [f["name"] for f in b["features"]]
    for fa, fb in zip(a["features"], b["features"], strict=True):
        for wa, wb in zip(fa["windows"], fb["windows"], strict=True):
            assert wa["psi"] == pytest.approx(wb["psi"], nan_ok=True), fa["name"]
            assert wa["decision"] == wb["decision"]
    with pytest.raises(DriftError, match="version 2 has no rows"):
        analyses.run_drift(entry, "2", None)
