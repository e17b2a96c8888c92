"""A multiclass model's performance per window counted by the database equals the in-memory
one: counts, coverage, confusion matrix, accuracy, log loss, Brier and the macro ROC AUC
(point and, for a window read whole, interval) to 1e-9; the confusion metrics' bootstrap
from the cells' multinomial to Monte Carlo error — on DuckDB and on the real Spark server."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from pushdown_worlds import close, duckdb_copy, parquet_folder

from watchkeeper.core.evaluation.data import read_events, ts_micros
from watchkeeper.core.evaluation.metrics import EvaluationError, float_array
from watchkeeper.core.evaluation.multiclass import MULTICLASS_METRICS, class_codes
from watchkeeper.core.evaluation.multiclass_performance_sql import multiclass_performance_sql
from watchkeeper.core.evaluation.performance import performance_over_time
from watchkeeper.core.telemetry.contract import ColumnMapping
from watchkeeper.core.telemetry.source import open_source
from watchkeeper.core.telemetry.sql_statements import recorded_statements, scans

T0 = dt.datetime(2026, 3, 1)
AS_OF = T0 + dt.timedelta(days=4, hours=6)
CLASSES = {"cat": "p_cat", "dog": "p_dog", "eel": "p_eel"}
EXACT = ("accuracy", "log_loss", "brier")
BOOTSTRAPPED = ("balanced_accuracy", "macro_f1", "weighted_f1")


def _table(n: int = 9_000) -> pa.Table:
    rng = np.random.default_rng(5)
    y = rng.choice(3, n, p=[0.5, 0.3, 0.2])
    # logits in steps of ½: few distinct probabilities, so ROC AUC's ties matter
    logits = np.round(2 * (rng.normal(0, 1, (n, 3)) + 1.2 * np.eye(3)[y])) / 2
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    names = np.array(list(CLASSES))
    label = np.where(rng.random(n) < 0.2, None, names[y])
    pred = np.where(rng.random(n) < 0.5, None, names[rng.choice(3, n)])  # half given
    # distinct times: a window read back in time order is the in-memory order
    secs = np.sort(rng.choice(5 * 86400, n, replace=False))
    ts = [T0 + dt.timedelta(seconds=int(x)) for x in secs]
    lag = rng.exponential(20, n)
    label_ts = [
        None if v is None else t + dt.timedelta(hours=float(h))
        for v, t, h in zip(label, ts, lag, strict=True)
    ]
    probs = {c: pa.array(p[:, j]) for j, c in enumerate(CLASSES.values())}
    unscored = np.arange(n) % 397 == 0  # a few events without probabilities
    for c in probs:
        probs[c] = pa.array(np.where(unscored, np.nan, probs[c].to_numpy()), from_pandas=True)
    return pa.table(
        {
            "request_id": [f"r{i}" for i in range(n)],
            "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "model": ["m"] * n,
            "model_version": rng.choice(["1", "2"], n, p=[0.8, 0.2]),
            **probs,
            "label": pa.array(label.tolist(), pa.string()),
            "prediction": pa.array(pred.tolist(), pa.string()),
            "label_ts": pa.array(label_ts, pa.timestamp("us", tz="UTC")),
        }
    )


@pytest.fixture(scope="module")
def parquet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return parquet_folder(tmp_path_factory, "mcperf", _table())


@pytest.fixture(scope="module")
def duck_url(parquet: Path) -> str:
    return duckdb_copy(parquet)


def _mapping() -> ColumnMapping:
    return ColumnMapping(class_probabilities=CLASSES)


def _in_memory(src, *, metrics, as_of=None, window="1d", n_boot=200):
    cols = ["ts", *CLASSES.values(), "label", "prediction", "label_ts"]
    t = read_events(src, model="m", versions=["1"], start=None, end=None, columns=cols)
    p = np.column_stack([float_array(t.column(c)) for c in CLASSES.values()])
    return performance_over_time(
        ts_micros(t.column("ts")),
        class_codes(list(CLASSES), t.column("label")),
        p,
        window=window,
        task="multiclass",
        metrics=metrics,
        min_labeled=50,
        label_ts_us=ts_micros(t.column("label_ts")),
        as_of=as_of,
        classes=tuple(CLASSES),
        predicted=class_codes(list(CLASSES), t.column("prediction"), "prediction"),
        n_boot=n_boot,
    )


def _pushed(src, *, metrics, as_of=None, window="1d", n_boot=200, **kw):
    return multiclass_performance_sql(
        src,
        classes=CLASSES,
        model="m",
        versions=["1"],
        window=window,
        prediction=True,
        metrics=metrics,
        min_labeled=50,
        as_of=as_of,
        n_boot=n_boot,
        **kw,
    )


def _same(got, want, *, auc_interval: bool = True) -> None:
    assert len(got.windows) == len(want.windows) >= 5
    assert [w.status for w in got.windows] == [w.status for w in want.windows]
    assert "ok" in [w.status for w in got.windows]
    for a, b in zip(got.windows, want.windows, strict=True):
        assert (a.start, a.end, a.events) == (b.start, b.end, b.events)
        assert (a.coverage.events, a.coverage.labeled) == (b.coverage.events, b.coverage.labeled)
        assert a.confusion == b.confusion
        assert a.per_class == b.per_class
        for m, e in b.metrics.items():
            x = a.metrics[m]
            close(x.value, e.value, m)
            assert (x.n, x.method) == (e.n, e.method), m
            if m in EXACT or (m == "roc_auc" and auc_interval):
                close(x.lower, e.lower, f"{m} lower")
                close(x.upper, e.upper, f"{m} upper")
            elif m in BOOTSTRAPPED:
                # drawn from the cells' multinomial: the same law, other draws
                assert x.lower == pytest.approx(e.lower, abs=0.02), m
                assert x.upper == pytest.approx(e.upper, abs=0.02), m


def _check_engine(location: str, duck_url: str, moments=(None, AS_OF), every=True) -> None:
    """Pushed down on ``location``; the reference is the in-memory path over the same rows
    read from DuckDB."""
    table = location.rsplit("#", 1)[1]
    pushed = open_source(location, _mapping())
    duck = open_source(duck_url, _mapping())
    with pushed, duck:
        for as_of in moments:
            want = _in_memory(duck, metrics=MULTICLASS_METRICS, as_of=as_of)
            with recorded_statements() as seen:
                got = _pushed(pushed, metrics=MULTICLASS_METRICS, as_of=as_of)
            _same(got, want)
            assert not got.notes  # every window read whole for ROC AUC's interval
            # one statement per step, not per window or class: time range, counts, rank
            # sums, the AUC sample
            assert len(scans(seen, table)) == 4, scans(seen, table)
        if not every:
            return
        # a sample smaller than the windows: ROC AUC still exact, its interval from the
        # sample's bootstrap scaled to the window's size (about the in-memory width), said so
        small = _pushed(pushed, metrics=["roc_auc"], auc_rows=300)
        want = _in_memory(duck, metrics=["roc_auc"])
        _same(small, want, auc_interval=False)
        assert any("at most 300 events" in n for n in small.notes)
        widths = [
            (a.metrics["roc_auc"].upper - a.metrics["roc_auc"].lower)
            / (b.metrics["roc_auc"].upper - b.metrics["roc_auc"].lower)
            for a, b in zip(small.windows, want.windows, strict=True)
            if a.status == "ok"
        ]
        assert 0.75 < np.median(widths) < 1.33, widths
        for a in small.windows:
            if a.status == "ok":
                auc = a.metrics["roc_auc"]
                assert auc.lower < auc.value < auc.upper
        # the statements do not multiply with windows or classes
        with recorded_statements() as seen:
            six = _pushed(pushed, metrics=["accuracy"], window="6h")
        assert len(six.windows) > 15 and len(scans(seen, table)) == 2


def test_multiclass_performance_in_duckdb_equals_in_memory(duck_url: str) -> None:
    _check_engine(duck_url, duck_url)


def test_multiclass_performance_in_sqlite_equals_in_memory(
    parquet: Path, duck_url: str, tmp_path: Path
) -> None:
    """SQLite: no array to explode, the classes stacked by ``UNION ALL``; times as ISO text."""
    import sqlite3

    import pyarrow.parquet as pq

    table = pq.read_table(parquet)
    names = table.schema.names
    rows = [
        tuple(v.isoformat() if isinstance(v, dt.datetime) else v for v in r.values())
        for r in table.to_pylist()
    ]
    types = {"ts": "TIMESTAMP", "label_ts": "TIMESTAMP", **dict.fromkeys(CLASSES.values(), "REAL")}
    ddl = ", ".join(f'"{n}" {types.get(n, "TEXT")}' for n in names)
    path = tmp_path / "t.db"
    with sqlite3.connect(path) as con:
        con.execute(f"CREATE TABLE events ({ddl})")
        con.executemany(f"INSERT INTO events VALUES ({','.join('?' * len(names))})", rows)
    con.close()
    _check_engine(f"sqlite:///{path}#events", duck_url, moments=(AS_OF,), every=False)


def test_confusion_bootstrap_from_counts_matches_in_memory_law(duck_url: str) -> None:
    """With many replicates both bootstraps' bounds converge to the same quantiles."""
    with open_source(duck_url, _mapping()) as src:
        want = _in_memory(src, metrics=BOOTSTRAPPED, window=None, n_boot=4000)
        got = _pushed(src, metrics=BOOTSTRAPPED, window=None, n_boot=4000)
        again = _pushed(src, metrics=BOOTSTRAPPED, window=None, n_boot=4000)
    assert got == again  # seeded
    for m in BOOTSTRAPPED:
        x, e = got.windows[0].metrics[m], want.windows[0].metrics[m]
        close(x.value, e.value, m)
        half = e.upper - e.lower
        assert abs(x.lower - e.lower) < 0.05 * half, m
        assert abs(x.upper - e.upper) < 0.05 * half, m


def test_a_label_that_is_no_class_is_refused(tmp_path: Path) -> None:
    table = _table(600)
    labels = table.column("label").to_pylist()
    labels[10] = "emu"
    table = table.set_column(table.schema.get_field_index("label"), "label", pa.array(labels))
    url = duckdb_copy(parquet_folder_at(tmp_path, table))
    refused = pytest.raises(EvaluationError, match=r"1 labeled event.*not one of the classes")
    with open_source(url, _mapping()) as src, refused:
        _pushed(src, metrics=["accuracy"], window=None)


def parquet_folder_at(root: Path, table: pa.Table) -> Path:
    import pyarrow.parquet as pq

    folder = root / "events"
    folder.mkdir()
    pq.write_table(table, folder / "part-0.parquet")
    return folder


@pytest.mark.spark
def test_multiclass_performance_in_spark_equals_in_memory(
    spark, parquet: Path, duck_url: str
) -> None:
    location = spark.table_from_parquet(f"mcperf_{os.getpid()}", parquet)
    _check_engine(location, duck_url, moments=(AS_OF,), every=False)


def _sqlite_copy(table: pa.Table, path: Path) -> str:
    """``table`` as a SQLite table (times as ISO text, probabilities REAL): its source URL."""
    import sqlite3

    names = table.schema.names
    rows = [
        tuple(v.isoformat() if isinstance(v, dt.datetime) else v for v in r.values())
        for r in table.to_pylist()
    ]
    types = {"ts": "TIMESTAMP", "label_ts": "TIMESTAMP", **dict.fromkeys(CLASSES.values(), "REAL")}
    ddl = ", ".join(f'"{n}" {types.get(n, "TEXT")}' for n in names)
    with sqlite3.connect(path) as con:
        con.execute(f"CREATE TABLE events ({ddl})")
        con.executemany(f"INSERT INTO events VALUES ({','.join('?' * len(names))})", rows)
    con.close()
    return f"sqlite:///{path}#events"


def _hostile_url(engine: str, table: pa.Table, root: Path) -> str:
    if engine == "duckdb":
        return duckdb_copy(parquet_folder_at(root, table))
    return _sqlite_copy(table, root / "t.db")


@pytest.mark.parametrize("engine", ["duckdb", "sqlite"])
def test_a_label_that_is_no_class_is_refused_also_before_it_arrived(
    engine: str, tmp_path: Path
) -> None:
    """An unknown label is bad data whether or not it had arrived by ``as_of``: in memory
    every stored label is coded before arrival is replayed, so the database refuses it too
    (it used to mask the label first and count the window without it)."""
    table = _table(600)
    labels = table.column("label").to_pylist()
    arrived = table.column("label_ts").to_pylist()
    version = table.column("model_version").to_pylist()
    cut = AS_OF.replace(tzinfo=dt.UTC)
    late = next(
        i
        for i, (v, t, m) in enumerate(zip(labels, arrived, version, strict=True))
        if v is not None and t > cut and m == "1"
    )
    labels[late] = "emu"
    table = table.set_column(table.schema.get_field_index("label"), "label", pa.array(labels))
    refused = pytest.raises(EvaluationError, match="not one of the classes")
    with open_source(_hostile_url(engine, table, tmp_path), _mapping()) as src:
        with refused:
            _in_memory(src, metrics=["accuracy"], as_of=AS_OF)
        with refused:
            _pushed(src, metrics=["accuracy"], as_of=AS_OF)


@pytest.mark.parametrize("engine", ["duckdb", "sqlite"])
def test_nan_and_infinite_probabilities_are_no_score_as_in_memory(
    engine: str, tmp_path: Path
) -> None:
    """A labeled event with a NaN or ±inf probability is unscored in memory (``np.isfinite``):
    counted as labeled, left out of the metrics. The database used to take it as scored
    (NaN and inf are not NULL there): one more event in ``n``, its class guessed from the
    NaN, and an infinite Brier score."""
    table = _table(900)
    version = table.column("model_version").to_pylist()
    labels = table.column("label").to_pylist()
    mine = [i for i, (v, y) in enumerate(zip(version, labels, strict=True)) if v == "1" and y]
    for j, column in enumerate(CLASSES.values()):
        p = table.column(column).to_numpy(zero_copy_only=False).copy()
        for bad, start in ((np.nan, 0), (np.inf, 1), (-np.inf, 2)):
            p[mine[start::40][j::3]] = bad
        # NaN kept as NaN, not made a NULL: the case a NULL test alone misses
        table = table.set_column(table.schema.get_field_index(column), column, pa.array(p))
    with open_source(_hostile_url(engine, table, tmp_path), _mapping()) as src:
        for as_of in (None, AS_OF):
            metrics = [*EXACT, "roc_auc"]
            want = _in_memory(src, metrics=metrics, as_of=as_of)
            assert any(w.metrics.get("brier") for w in want.windows)
            _same(_pushed(src, metrics=metrics, as_of=as_of), want)


@pytest.mark.spark
def test_hostile_probabilities_and_a_late_unknown_label_in_spark(spark, tmp_path: Path) -> None:
    """Spark (NaN above every number, as on DuckDB): NaN and ±inf probabilities are no score
    in version 1, and a label that is no class, arriving after ``as_of``, is refused in
    version 2 in the in-memory words. One table, one statement set per case."""
    table = _table(900)
    version = table.column("model_version").to_pylist()
    labels = table.column("label").to_pylist()
    mine = [i for i, (v, y) in enumerate(zip(version, labels, strict=True)) if v == "1" and y]
    for j, column in enumerate(CLASSES.values()):
        p = table.column(column).to_numpy(zero_copy_only=False).copy()
        for bad, start in ((np.nan, 0), (np.inf, 1), (-np.inf, 2)):
            p[mine[start::40][j::3]] = bad
        table = table.set_column(table.schema.get_field_index(column), column, pa.array(p))
    cut = AS_OF.replace(tzinfo=dt.UTC)
    arrived = table.column("label_ts").to_pylist()
    late = next(
        i
        for i, (v, y, t) in enumerate(zip(version, labels, arrived, strict=True))
        if v == "2" and y and t > cut
    )
    labels[late] = "emu"
    table = table.set_column(table.schema.get_field_index("label"), "label", pa.array(labels))
    folder = parquet_folder_at(tmp_path, table)
    location = spark.table_from_parquet(f"mchostile_{os.getpid()}", folder)
    metrics = [*EXACT, "roc_auc"]
    with (
        open_source(location, _mapping()) as src,
        open_source(duckdb_copy(folder), _mapping()) as duck,
    ):
        _same(
            _pushed(src, metrics=metrics, as_of=AS_OF),
            _in_memory(duck, metrics=metrics, as_of=AS_OF),
        )
        with pytest.raises(EvaluationError) as counted:
            multiclass_performance_sql(
                src, classes=CLASSES, model="m", versions=["2"], as_of=AS_OF, metrics=["accuracy"]
            )
        t = read_events(duck, model="m", versions=["2"], start=None, end=None, columns=["label"])
        with pytest.raises(EvaluationError) as memory:
            class_codes(list(CLASSES), t.column("label"), column="label")
    assert str(counted.value) == str(memory.value)
    assert str(memory.value).endswith(": 'emu' (column 'label')")
