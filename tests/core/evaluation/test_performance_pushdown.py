"""Performance per window aggregated by the database equals the in-memory metrics: exact
metrics to 1e-9, ROC AUC within its stated bound (and exact for few-valued scores), on
DuckDB and on the real Spark Thrift server."""

from __future__ import annotations

import datetime as dt
import math
import os
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from pushdown_worlds import close, duckdb_copy, parquet_folder

from watchkeeper.core.evaluation.binned import BINARY_FROM_BINS, REGRESSION_FROM_BINS
from watchkeeper.core.evaluation.data import read_events, ts_micros
from watchkeeper.core.evaluation.metrics import EvaluationError, float_array
from watchkeeper.core.evaluation.performance import performance_over_time
from watchkeeper.core.evaluation.performance_sql import performance_over_time_sql
from watchkeeper.core.telemetry.contract import ColumnMapping
from watchkeeper.core.telemetry.source import open_source

T0 = dt.datetime(2026, 3, 1)
AS_OF = T0 + dt.timedelta(days=4, hours=6)
EXACT = ("precision", "recall", "accuracy", "f1", "brier")


def _table(n: int = 12_000) -> pa.Table:
    rng = np.random.default_rng(11)
    y = (rng.random(n) < 0.15).astype(float)
    score = 1 / (1 + np.exp(-(rng.normal(-2, 1, n) + 1.8 * y)))
    label = np.where(rng.random(n) < 0.25, np.nan, y)
    ts = [T0 + dt.timedelta(seconds=int(x)) for x in np.sort(rng.uniform(0, 5 * 86400, n))]
    lag = rng.exponential(20, n)  # hours: some labels arrive after AS_OF
    label_ts = [
        None if math.isnan(v) else t + dt.timedelta(hours=float(h))
        for v, t, h in zip(label, ts, lag, strict=True)
    ]
    score[::997] = np.nan  # a few events without a score
    # zoned: a naive Parquet timestamp is TIMESTAMP_NTZ to Spark, which PyHive cannot type
    return pa.table(
        {
            "request_id": [f"r{i}" for i in range(n)],
            "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "model": ["m"] * n,
            "model_version": rng.choice(["1", "2"], n, p=[0.8, 0.2]),
            "score": pa.array(score, from_pandas=True),
            "coarse": pa.array(np.round(score, 2), from_pandas=True),  # few-valued
            "label": pa.array(label, from_pandas=True),
            "label_ts": pa.array(label_ts, pa.timestamp("us", tz="UTC")),
        }
    )


@pytest.fixture(scope="module")
def parquet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return parquet_folder(tmp_path_factory, "perf", _table())


@pytest.fixture(scope="module")
def duck_url(parquet: Path) -> str:
    return duckdb_copy(parquet)


def _in_memory(src, *, task: str, metrics, as_of=None, window="1d"):
    t = read_events(
        src,
        model="m",
        versions=["1"],
        start=None,
        end=None,
        columns=["ts", "score", "label", "label_ts"],
    )
    return performance_over_time(
        ts_micros(t.column("ts")),
        float_array(t.column("label")),
        float_array(t.column("score")),
        window=window,
        task=task,
        threshold=0.3 if task == "binary" else 0.5,
        metrics=metrics,
        min_labeled=50,
        label_ts_us=ts_micros(t.column("label_ts")),
        as_of=as_of,
        n_boot=20,
    )


def _pushed(src, *, task: str, metrics, as_of=None, window="1d", bins=2000, exact_auc_rows=None):
    return performance_over_time_sql(
        src,
        model="m",
        versions=["1"],
        window=window,
        task=task,
        threshold=0.3 if task == "binary" else 0.5,
        metrics=metrics,
        min_labeled=50,
        as_of=as_of,
        bins=bins,
        **({} if exact_auc_rows is None else {"exact_auc_rows": exact_auc_rows}),
    )


def _same(got, want, exact: tuple[str, ...], auc: str | None) -> None:
    assert len(got.windows) == len(want.windows) >= 5
    assert [w.status for w in got.windows] == [w.status for w in want.windows]
    for a, b in zip(got.windows, want.windows, strict=True):
        assert (a.start, a.end, a.events) == (b.start, b.end, b.events)
        assert (a.coverage.events, a.coverage.labeled) == (b.coverage.events, b.coverage.labeled)
        for m in exact:
            x, e = a.metrics.get(m), b.metrics.get(m)
            assert (x is None) == (e is None), m
            if x is None:
                continue
            close(x.value, e.value, m)
            assert x.n == e.n, m
            if e.method != "bootstrap":  # F1's interval is bootstrapped in memory only
                close(x.lower, e.lower, f"{m} lower")
                close(x.upper, e.upper, f"{m} upper")
        if auc == "exact" and "roc_auc" in b.metrics:
            x, e = a.metrics["roc_auc"], b.metrics["roc_auc"]
            assert x.method == "delong"
            for part in ("value", "lower", "upper"):
                assert getattr(x, part) == pytest.approx(getattr(e, part), rel=1e-9), part
        elif auc == "bounded" and "roc_auc" in b.metrics:
            x, e = a.metrics["roc_auc"], b.metrics["roc_auc"]
            assert x.method == "delong-binned"
            # 40 bins: the binned AUC is off by less than its bound (which widens the interval)
            assert 0 < abs(x.value - e.value) < 0.01
            assert x.lower <= e.value <= x.upper
            assert x.upper - x.lower > e.upper - e.lower


def _check_engine(location: str, duck_url: str, moments=(None, AS_OF), every=True) -> None:
    """Pushed down on ``location``; the reference is the in-memory path over the same rows
    read from DuckDB (reading them back through Spark's Thrift server costs most of a minute)."""
    plain = open_source(location, ColumnMapping())
    coarse = open_source(location, ColumnMapping(score="coarse"))
    duck = open_source(duck_url, ColumnMapping())
    duck_coarse = open_source(duck_url, ColumnMapping(score="coarse"))
    with plain, coarse, duck, duck_coarse:
        for as_of in moments:
            kw = {"task": "binary", "metrics": BINARY_FROM_BINS, "as_of": as_of}
            want = _in_memory(duck, **kw)
            # the mixed bins' rows read back (bounded): exact
            _same(_pushed(plain, **kw, bins=40), want, EXACT, "exact")
            if every:  # the engine-independent cases, on one engine (Spark's time is dear)
                # without reading any row back: the binned AUC, within its bound
                _same(_pushed(plain, **kw, bins=40, exact_auc_rows=0), want, EXACT, "bounded")
                # few-valued scores: exact from the counts alone
                _same(_pushed(coarse, **kw), _in_memory(duck_coarse, **kw), EXACT, "exact")
        kw = {"task": "regression", "metrics": REGRESSION_FROM_BINS, "window": "6h"}
        _same(_pushed(plain, **kw), _in_memory(duck, **kw), REGRESSION_FROM_BINS, None)
        with pytest.raises(EvaluationError, match="pr_auc cannot be computed"):
            _pushed(plain, task="binary", metrics=["pr_auc"])


def test_performance_per_window_in_duckdb_equals_in_memory(duck_url: str) -> None:
    _check_engine(duck_url, duck_url)


@pytest.mark.spark
def test_performance_per_window_in_spark_equals_in_memory(
    spark, parquet: Path, duck_url: str
) -> None:
    location = spark.table_from_parquet(f"perf_{os.getpid()}", parquet)
    _check_engine(location, duck_url, moments=(AS_OF,), every=False)


def test_binary_labels_other_than_0_and_1_are_refused_when_aggregated(tmp_path: Path) -> None:
    """The per-bin sums would count a label 2 as two positives: refused, naming how many;
    a regression target takes any value."""
    path = tmp_path / "odd.duckdb"
    with duckdb.connect(str(path)) as con:
        con.sql(
            "CREATE TABLE events AS SELECT TIMESTAMPTZ '2026-03-01 00:00:00+00' "
            "+ to_minutes(i::BIGINT) AS ts, 'm' AS model, '1' AS model_version, "
            "(i % 10) / 10.0 AS score, CASE WHEN i % 50 = 0 THEN 2 ELSE i % 2 END AS label "
            "FROM range(1000) t(i)"
        )
    with open_source(f"duckdb:///{path}#events", ColumnMapping()) as src:
        with pytest.raises(EvaluationError, match=r"must be 0 or 1; 20 labeled event\(s\)"):
            _pushed(src, task="binary", metrics=["precision"])
        got = _pushed(src, task="regression", metrics=["mae"])
    assert got.windows[0].metrics["mae"].value is not None


@pytest.mark.parametrize("engine", ["duckdb", "sqlite"])
def test_a_binary_label_other_than_0_and_1_is_refused_alike_before_it_arrived(
    engine: str, tmp_path: Path
) -> None:
    """Every stored label counts, arrived by ``as_of`` or not, in a window with enough labels
    or not: both paths refuse in the same words (before, a label arriving after ``as_of``
    passed both, and memory let a 2 through in a window short of ``min_labeled``)."""
    import pyarrow.parquet as pq

    table = _table(2_000)
    label = table.column("label").to_numpy(zero_copy_only=False).copy()
    cut = AS_OF.replace(tzinfo=dt.UTC)
    late = next(i for i, t in enumerate(table.column("label_ts").to_pylist()) if t and t > cut)
    label[late] = 2.0
    table = table.set_column(
        table.schema.get_field_index("label"), "label", pa.array(label, from_pandas=True)
    )
    if engine == "duckdb":
        (tmp_path / "events").mkdir()
        pq.write_table(table, tmp_path / "events" / "part-0.parquet")
        url = duckdb_copy(tmp_path / "events")
    else:
        url = _sqlite_copy(table, tmp_path / "t.db")
    cols = ["ts", "label", "score", "label_ts"]
    with open_source(url, ColumnMapping()) as src:
        t = read_events(src, model="m", versions=[], start=None, end=None, columns=cols)
        for as_of, min_labeled in ((AS_OF, 50), (None, 10**6)):
            kw = {"window": "1d", "min_labeled": min_labeled, "as_of": as_of}
            with pytest.raises(EvaluationError) as memory:
                performance_over_time(
                    ts_micros(t.column("ts")),
                    float_array(t.column("label")),
                    float_array(t.column("score")),
                    label_ts_us=ts_micros(t.column("label_ts")),
                    label_column="label",
                    **kw,
                )
            with pytest.raises(EvaluationError) as counted:
                performance_over_time_sql(src, model="m", **kw)
            assert str(memory.value) == str(counted.value)
            assert "1 labeled event(s) have another value: 2 (column 'label')" in str(memory.value)


def _sqlite_copy(table: pa.Table, path: Path) -> str:
    import sqlite3

    names = table.schema.names
    rows = [
        tuple(v.isoformat() if isinstance(v, dt.datetime) else v for v in r.values())
        for r in table.to_pylist()
    ]
    types = {"ts": "TIMESTAMP", "label_ts": "TIMESTAMP", "score": "REAL", "label": "REAL"}
    ddl = ", ".join(f'"{n}" {types.get(n, "TEXT")}' for n in names)
    with sqlite3.connect(path) as con:
        con.execute(f"CREATE TABLE events ({ddl})")
        con.executemany(f"INSERT INTO events VALUES ({','.join('?' * len(names))})", rows)
    con.close()
    return f"sqlite:///{path}#events"


def test_a_nan_target_is_no_target_when_aggregated(tmp_path: Path) -> None:
    """A DuckDB float column keeps NaN (not NULL) for a missing target: the readers hand it
    over as missing, so the sums must leave it out too (they counted it: coverage 500 of 500
    and MAE 0.001 here, against 428 and 0.5 in memory)."""
    n = 500
    target = np.arange(n) / 10
    target[::7] = np.nan
    path = tmp_path / "nan.duckdb"
    times = [T0 + dt.timedelta(minutes=i) for i in range(n)]
    table = pa.table(
        {
            "ts": pa.array(times, pa.timestamp("us", tz="UTC")),
            "model": ["m"] * n,
            "model_version": ["1"] * n,
            "score": target + 0.5,
            "label": pa.array(target),  # NaN, not NULL
            "label_ts": pa.array(times, pa.timestamp("us", tz="UTC")),
        }
    )
    with duckdb.connect(str(path)) as con:
        con.register("rows", table)
        con.sql("CREATE TABLE events AS SELECT * FROM rows")
    with open_source(f"duckdb:///{path}#events", ColumnMapping()) as src:
        want = _in_memory(src, task="regression", metrics=REGRESSION_FROM_BINS, window=None)
        got = _pushed(src, task="regression", metrics=REGRESSION_FROM_BINS, window=None)
    assert got.windows[0].coverage.labeled == want.windows[0].coverage.labeled == 428
    for m in REGRESSION_FROM_BINS:
        close(got.windows[0].metrics[m].value, want.windows[0].metrics[m].value, m)


def _exact_groups_per_bin(bins, raw):
    """The former loop (one pass over the rows per mixed bin): the reference."""
    g = bins.grid
    mixed = (bins.positives > 0) & (bins.negatives > 0) & ~bins.single_valued
    at = (np.clip(raw[:, 0], g.first, g.last) - g.first).astype(np.int64)
    pos, neg = [], []
    for j in range(g.size):
        if not mixed[j]:
            pos.append(float(bins.positives[j]))
            neg.append(float(bins.negatives[j]))
            continue
        rows = raw[at == j]
        scores, inverse = np.unique(rows[:, 1], return_inverse=True)
        p = np.bincount(inverse, weights=rows[:, 2], minlength=scores.size)
        pos.extend(p.tolist())
        neg.extend((np.bincount(inverse, minlength=scores.size) - p).tolist())
    return np.asarray(pos), np.asarray(neg)


@pytest.mark.parametrize("seed", range(5))
def test_exact_groups_equal_the_per_bin_loop(seed: int) -> None:
    """Tied scores within mixed bins, bins without rows, a grid clipped at both ends."""
    from types import SimpleNamespace

    from watchkeeper.core.evaluation.performance_sql import _exact_groups

    rng = np.random.default_rng(seed)
    size = 40
    k = rng.integers(-3, size + 3, 2_000).astype(np.float64)  # beyond the grid: clipped
    s = np.round(rng.random(2_000), 2)  # ties
    y = (rng.random(2_000) < 0.3).astype(np.float64)
    at = np.clip(k, 0, size - 1).astype(int)
    positives = np.bincount(at, weights=y, minlength=size)
    negatives = np.bincount(at, minlength=size) - positives
    single = rng.random(size) < 0.2
    positives[rng.random(size) < 0.2] = 0  # bins that are not mixed
    grid = SimpleNamespace(first=0, last=size - 1, size=size)
    bins = SimpleNamespace(
        grid=grid, positives=positives, negatives=negatives, single_valued=single
    )
    raw = np.column_stack([k, s, y])
    got, want = _exact_groups(bins, raw), _exact_groups_per_bin(bins, raw)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    empty = _exact_groups(bins, raw[:0])
    np.testing.assert_array_equal(empty[0], _exact_groups_per_bin(bins, raw[:0])[0])


def test_the_estimates_reference_comes_with_its_count_in_one_statement(duck_url: str) -> None:
    """The estimate's reference (labeled ``(label, score)`` pairs in time order, a seeded
    systematic sample beyond ``limit``) and how many labeled events the selection holds, in
    one statement — the count used to come from a time-range query of its own, a scan more
    (0.4 s warm on local Spark)."""
    from watchkeeper.core.drift.sql_counts import SAMPLE_MULTIPLIER
    from watchkeeper.core.evaluation.estimation_sql import reference_labeled_sql
    from watchkeeper.core.telemetry.sql_statements import recorded_statements, scans

    where = {"model": "m", "versions": ["1"], "start": T0, "end": T0 + dt.timedelta(days=3)}
    with open_source(duck_url, ColumnMapping()) as src:
        with recorded_statements() as seen:
            y, s, n = reference_labeled_sql(src, **where, limit=1_000_000)
        assert len(scans(seen, "events")) == 1, seen
        sy, ss, sn = reference_labeled_sql(src, **where, limit=500)
        none = reference_labeled_sql(src, **{**where, "versions": ["nope"]}, limit=500)
    path = duck_url.removeprefix("duckdb:///").split("#")[0]
    with duckdb.connect(path, read_only=True) as con:
        want = con.execute(
            "SELECT label, score FROM events WHERE model = 'm' AND model_version = '1' "
            "AND ts >= ? AND ts < ? AND label IS NOT NULL ORDER BY ts",
            [where["start"].replace(tzinfo=dt.UTC), where["end"].replace(tzinfo=dt.UTC)],
        ).fetchall()
    want_y = np.array([r[0] for r in want], float)
    want_s = np.array([np.nan if r[1] is None else r[1] for r in want], float)
    assert n == sn == len(want) > 500
    np.testing.assert_array_equal(y, want_y)
    np.testing.assert_array_equal(s, want_s)
    p = np.arange(1, n + 1, dtype=np.int64)
    kept = (p * SAMPLE_MULTIPLIER + 104_729 % SAMPLE_MULTIPLIER) % n < 500
    np.testing.assert_array_equal(sy, want_y[kept])
    np.testing.assert_array_equal(ss, want_s[kept])
    assert len(sy) == 500
    assert none[2] == 0 and len(none[0]) == len(none[1]) == 0
