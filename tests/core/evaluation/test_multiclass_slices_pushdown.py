"""A multiclass model's slice metrics and worst-slice search counted by the database equal
the in-memory ones: identical counts and confusion matrices, point metrics to 1e-9
(accuracy's, log loss's, Brier's and — a slice within its sample — ROC AUC's intervals too),
the same candidates found with the same supports; balanced accuracy's and the F1s' intervals
from the counts' multinomial to Monte Carlo error — on DuckDB, SQLite (categorical search: no
exact quantiles there) and Spark."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from pushdown_worlds import close, duckdb_copy, parquet_folder

from watchkeeper.core.evaluation.data import read_events
from watchkeeper.core.evaluation.metrics import EvaluationError
from watchkeeper.core.evaluation.multiclass_slices import ClassColumns
from watchkeeper.core.evaluation.multiclass_slices_sql import (
    COUNTED_METRICS,
    SEARCHED_METRICS,
    multiclass_slice_metrics_pushed,
)
from watchkeeper.core.evaluation.predicates import Condition, SlicePredicate
from watchkeeper.core.evaluation.slices import slice_metrics
from watchkeeper.core.evaluation.slices_sql import find_worst_slices_pushed
from watchkeeper.core.evaluation.worst_slices import find_worst_slices
from watchkeeper.core.telemetry.contract import ColumnMapping
from watchkeeper.core.telemetry.source import open_source
from watchkeeper.core.telemetry.sql_statements import recorded_statements

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
CUT = T0 + dt.timedelta(days=10)
END = T0 + dt.timedelta(days=20)
CLASSES = {"cat": "p cat", "dog": "p-dog", "eel": "p_eel"}  # odd column names
ODD = "Région (code)"
FEATURES = ["a", "b", ODD]
CATEGORICAL = ["a", ODD]
EXACT = ("accuracy", "log_loss", "brier")
# a slice of at most AUC_ROWS labeled, scored events comes back whole: its interval is the
# in-memory one to the digit (the same events in the same order, the same seed)
WHOLE = (*EXACT, "roc_auc")
OUTCOMES = ClassColumns(CLASSES, "label", "prediction")
SLICES = (
    SlicePredicate("z", (Condition("a", "eq", "z"),)),
    SlicePredicate("big b", (Condition("b", "range", (0.5, None)),)),
    SlicePredicate("odd & w", (Condition(ODD, "eq", "n°1"), Condition("a", "in", ("w", "x")))),
    SlicePredicate("no b", (Condition("b", "null"),)),
    SlicePredicate("empty", (Condition("a", "eq", "nowhere"),)),
    # every event of this slice is predicted cat: dog and eel never predicted there
    SlicePredicate("only cat", (Condition("a", "eq", "v"),)),
)


def _table(n: int = 8_000) -> pa.Table:
    rng = np.random.default_rng(11)
    ts = T0 + (END - T0) * np.sort(rng.random(n))
    a = rng.choice(["x", "y", "z", "w", "v"], n, p=[0.35, 0.3, 0.2, 0.1, 0.05])
    b = rng.normal(size=n)
    b[rng.random(n) < 0.05] = np.nan
    odd = rng.choice(["n°1", "n°2"], n)
    y = rng.choice(3, n, p=[0.5, 0.3, 0.2])
    # in the current window slice a == "z" lost its signal: the search must find it
    signal = np.where((ts >= CUT) & (a == "z"), 0.0, 1.5)
    logits = np.round(2 * (rng.normal(0, 1, (n, 3)) + signal[:, None] * np.eye(3)[y])) / 2
    logits[a == "v", 0] += 20  # "only cat"
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    p[::397] = np.nan  # a few events without probabilities
    names = np.array(list(CLASSES))
    label = np.where(rng.random(n) < 0.2, None, names[y])  # NULL: not labeled yet
    given = np.where(rng.random(n) < 0.3, names[p.argmax(axis=1)], None)  # sometimes given
    return pa.table(
        {
            "ts": pa.array(list(ts), pa.timestamp("us", tz="UTC")),
            "model": ["m"] * n,
            "model_version": ["1"] * n,
            **{c: pa.array(p[:, j], from_pandas=True) for j, c in enumerate(CLASSES.values())},
            "label": pa.array(label.tolist(), pa.string()),
            "prediction": pa.array(given.tolist(), pa.string()),
            "a": a,
            "b": pa.array(b, from_pandas=True),
            ODD: odd,
        }
    )


@pytest.fixture(scope="module")
def parquet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return parquet_folder(tmp_path_factory, "mcslices", _table())


@pytest.fixture(scope="module")
def duck_url(parquet: Path) -> str:
    return duckdb_copy(parquet)


def _mapping() -> ColumnMapping:
    return ColumnMapping(class_probabilities=CLASSES)


def _read(duck, start, end) -> pa.Table:
    cols = ["label", "prediction", *CLASSES.values(), *FEATURES]
    return read_events(duck, model="m", versions=["1"], start=start, end=end, columns=cols)


def _reads(statements: list[str]) -> list[str]:
    return [
        s
        for s in statements
        if "information_schema" not in s
        and "sqlite_master" not in s
        and not s.lstrip().upper().startswith(("DESCRIBE", "SHOW", "SET", "PRAGMA"))
    ]


def _check_slices(src, duck, metrics: tuple[str, ...] = COUNTED_METRICS) -> None:
    with recorded_statements() as seen:
        got, window = multiclass_slice_metrics_pushed(
            src, SLICES, outcomes=OUTCOMES, model="m", versions=["1"], start=CUT, end=END,
            metrics=metrics,
        )  # fmt: skip
    # the counts, then (for ROC AUC) its rank sums and its interval's sample
    assert len(_reads(seen)) == (3 if "roc_auc" in metrics else 1), _reads(seen)
    table = _read(duck, CUT, END)
    want = slice_metrics(table, SLICES, metrics=metrics, outcomes=OUTCOMES)
    assert (got.events, got.labeled, got.positives) == (want.events, want.labeled, None)
    assert window.events == table.num_rows
    pairs = [(got.overall, want.overall, "overall")]
    for x, e in zip(got.rows, want.rows, strict=True):
        assert (x.support, x.labeled, x.positives) == (e.support, e.labeled, e.positives)
        pairs.append((x.metrics, e.metrics, x.predicate.name))
        for k in metrics:
            close(x.delta[k], e.delta[k], f"{x.predicate.name} delta {k}")
    for got_m, want_m, name in pairs:
        assert tuple(got_m) == metrics
        for k in metrics:
            x, e = got_m[k], want_m[k]
            close(x.value, e.value, f"{name} {k}")
            assert (x.method, x.n) == (e.method, e.n), (name, k)
            if k in WHOLE:
                close(x.lower, e.lower, f"{name} {k} lower")
                close(x.upper, e.upper, f"{name} {k} upper")
            elif e.lower is not None:  # the cells' multinomial: the same law, other draws
                assert x.lower == pytest.approx(e.lower, abs=0.05), (name, k)
    assert got.row("empty").support == 0 and got.row("empty").metrics["accuracy"].value is None
    only_cat = got.row("only cat")
    assert only_cat.labeled > 100 and only_cat.metrics["macro_f1"].value is not None
    # the window's confusion matrix and counts (the Excel export's per-class sheets)
    mc = OUTCOMES.read(table)
    from watchkeeper.core.evaluation.multiclass import metrics_of_codes

    whole = metrics_of_codes(mc.classes, mc.codes, mc.p, mc.predicted, metrics=EXACT)
    assert window.metrics.confusion == whole.confusion
    assert window.metrics.per_class == whole.per_class
    assert window.metrics.scores_missing == whole.scores_missing > 0
    assert list(window.label_counts) == [int((mc.codes == j).sum()) for j in range(3)]
    np.testing.assert_allclose(window.probability_sums, np.nansum(mc.p, axis=0), rtol=1e-9)


def _worst(src, duck, metric: str, features=FEATURES, categorical=CATEGORICAL):
    with recorded_statements() as seen:
        got = find_worst_slices_pushed(
            src,
            features,
            model="m",
            version="1",
            start=CUT,
            end=END,
            baseline=("1", T0, CUT),
            metric=metric,
            categorical=categorical,
            min_support=100,
            outcomes=OUTCOMES,
        )
    want = find_worst_slices(
        _read(duck, CUT, END),
        features,
        metric=metric,
        categorical=categorical,
        baseline=_read(duck, T0, CUT),
        min_support=100,
        max_rows=None,
        outcomes=OUTCOMES,
    )
    return got, want, seen


def _same_worst(got, want, *, exact: bool, tested: int = 10) -> None:
    assert got.tested == want.tested > tested
    close(got.overall.value, want.overall.value, "overall")
    mine = {w.predicate.label: w for w in got.candidates}
    theirs = {w.predicate.label: w for w in want.candidates}
    assert mine.keys() == theirs.keys()
    for label, e in theirs.items():
        x = mine[label]
        assert (x.support, x.positives, x.features) == (e.support, e.positives, e.features)
        close(x.estimate.value, e.estimate.value, label)
        close(x.baseline_value, e.baseline_value, label)
        if exact:
            assert (x.significant, x.explained_by) == (e.significant, e.explained_by), label
            close(x.p_value, e.p_value, label)
            close(x.estimate.lower, e.estimate.lower, label)
        else:  # the jackknife of the counts against the grouped one in memory
            se_x = (x.estimate.upper - x.estimate.lower) / 2
            se_e = (e.estimate.upper - e.estimate.lower) / 2
            assert 0.5 < se_x / se_e < 2.0, (label, se_x, se_e)
    if exact:
        assert [w.predicate.label for w in got.candidates] == list(theirs)
    assert "a=z" in {w.predicate.label for w in got.significant}  # the planted slice
    assert "a=z" in {w.predicate.label for w in want.significant}


def test_multiclass_slices_in_duckdb_equal_in_memory(duck_url: str) -> None:
    with open_source(duck_url, _mapping()) as src:
        _check_slices(src, src)
        for metric, exact in (("accuracy", True), ("macro_f1", False)):
            got, want, seen = _worst(src, src, metric)
            _same_worst(got, want, exact=exact)
            # levels (numerical, categorical), singles, pairs: four statements
            assert len(_reads(seen)) == 4, _reads(seen)


def _sqlite(parquet: Path, tmp_path: Path) -> str:
    import sqlite3

    import pyarrow.parquet as pq

    table = pq.read_table(parquet)
    names = table.schema.names
    rows = [
        tuple(v.isoformat() if isinstance(v, dt.datetime) else v for v in r.values())
        for r in table.to_pylist()
    ]
    real = {*CLASSES.values(), "b"}
    ddl = ", ".join(
        f'"{n}" {"TIMESTAMP" if n == "ts" else "REAL" if n in real else "TEXT"}' for n in names
    )
    path = tmp_path / "t.db"
    with sqlite3.connect(path) as con:
        con.execute(f"CREATE TABLE events ({ddl})")
        con.executemany(f"INSERT INTO events VALUES ({','.join('?' * len(names))})", rows)
    con.close()
    return f"sqlite:///{path}#events"


def test_multiclass_slices_in_sqlite_equal_in_memory(
    parquet: Path, duck_url: str, tmp_path: Path
) -> None:
    """SQLite: no array to explode (``UNION ALL``), no exact quantiles (a categorical
    search only)."""
    lite = _sqlite(parquet, tmp_path)
    with open_source(lite, _mapping()) as src, open_source(duck_url, _mapping()) as duck:
        _check_slices(src, duck, SEARCHED_METRICS)
        got, want, _ = _worst(src, duck, "brier", ["a", ODD], ["a", ODD])
        # ROC AUC: a UNION ALL branch per group and class (SQLite ~0.3 s each here), so one
        # slice
        auc, _ = multiclass_slice_metrics_pushed(
            src, SLICES[:1], outcomes=OUTCOMES, model="m", versions=["1"], start=CUT, end=END,
            metrics=["roc_auc"],
        )  # fmt: skip
        whole = slice_metrics(
            _read(duck, CUT, END), SLICES[:1], outcomes=OUTCOMES, metrics=("roc_auc",)
        )
    _same_worst(got, want, exact=True)
    for x, e in ((auc.overall, whole.overall), (auc.rows[0].metrics, whole.rows[0].metrics)):
        for bound in ("value", "lower", "upper"):
            close(getattr(x["roc_auc"], bound), getattr(e["roc_auc"], bound), bound)


def test_what_the_database_cannot_count_is_refused(duck_url: str, tmp_path: Path) -> None:
    refused = "ROC AUC is not counted in the database"
    with open_source(duck_url, _mapping()) as src, pytest.raises(EvaluationError, match=refused):
        find_worst_slices_pushed(
            src, FEATURES, model="m", version="1", start=CUT, end=END,
            metric="roc_auc", outcomes=OUTCOMES,
        )  # fmt: skip
    # NaN and infinite probabilities (not NULL): no score, as np.isfinite says in memory
    table = _table(600)
    col = CLASSES["dog"]
    p = table.column(col).to_numpy(zero_copy_only=False).copy()
    p[[3, 5]], p[7] = np.nan, np.inf
    table = table.set_column(table.schema.get_field_index(col), col, pa.array(p))
    folder = tmp_path / "nan" / "events"
    folder.mkdir(parents=True)
    import pyarrow.parquet as pq

    pq.write_table(table, folder / "part-0.parquet")
    with open_source(duckdb_copy(folder), _mapping()) as src:
        got, window = multiclass_slice_metrics_pushed(src, SLICES, outcomes=OUTCOMES)
        want = slice_metrics(_read(src, None, None), SLICES, outcomes=OUTCOMES, metrics=WHOLE)
    assert window.metrics.scores_missing >= 2
    for k in WHOLE:
        close(got.overall[k].value, want.overall[k].value, k)
        assert got.overall[k].n == want.overall[k].n, k
    # a label that is no class: refused, as in memory
    table = _table(600)
    labels = table.column("label").to_pylist()
    labels[10] = "emu"
    table = table.set_column(table.schema.get_field_index("label"), "label", pa.array(labels))
    folder = tmp_path / "bad" / "events"
    folder.mkdir(parents=True)
    pq.write_table(table, folder / "part-0.parquet")
    with open_source(duckdb_copy(folder), _mapping()) as src:
        refused = r"1 labeled event\(s\) have a label that is not one of the classes.*'emu'"
        with pytest.raises(EvaluationError, match=refused):
            multiclass_slice_metrics_pushed(src, SLICES, outcomes=OUTCOMES)
        with pytest.raises(EvaluationError, match="not one of the classes"):
            slice_metrics(_read(src, None, None), SLICES, outcomes=OUTCOMES)


@pytest.mark.spark
def test_multiclass_slices_in_spark_equal_in_memory(spark, parquet: Path, duck_url: str) -> None:
    """Spark's time is dear (3-4 s a statement on the test server): the slices' three
    statements (counts, ROC AUC's rank sums and sample: 4.5-8.5 s more than the counts alone,
    warm, at a load of 10-11). The search's statements are the binary search's over the same
    coded events (``_worst(src, duck, "accuracy")`` passes on Spark too, in four statements,
    ~15 s)."""
    location = spark.table_from_parquet(f"mcslices_{os.getpid()}", parquet)
    with open_source(location, _mapping()) as src, open_source(duck_url, _mapping()) as duck:
        _check_slices(src, duck)


FOUR = {"c0": "q0", "c1": "q1", "c2": "q2", "c3": "q3"}
FOUR_OUTCOMES = ClassColumns(FOUR, "label", None)
#: A class without positives ("two"), a slice where no class has both positives and
#: negatives ("one", one event "few"), every probability tied ("tie"), none ("empty").
HOSTILE = (
    SlicePredicate("two", (Condition("s", "eq", "two"),)),
    SlicePredicate("one", (Condition("s", "eq", "one"),)),
    SlicePredicate("few", (Condition("s", "eq", "few"),)),
    SlicePredicate("tie", (Condition("s", "eq", "tie"),)),
    SlicePredicate("empty", (Condition("s", "eq", "nowhere"),)),
    SlicePredicate("rest or two", (Condition("s", "in", ("rest", "two")),)),
)


def _hostile(n: int = 900) -> pa.Table:
    rng = np.random.default_rng(5)
    s = rng.choice(["two", "one", "tie", "rest"], n, p=[0.25, 0.15, 0.15, 0.45])
    s[17] = "few"
    y = rng.choice(4, n)
    y[s == "two"] = rng.choice(2, int((s == "two").sum()))  # c2 and c3: no positives
    y[s == "one"] = 0  # c0 no negatives, the others no positives
    logits = rng.normal(0, 1, (n, 4)) + 1.2 * np.eye(4)[y]
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    p = np.round(p, 1)  # ties between events within every class
    p[s == "tie"] = 0.25
    p[3, 1], p[40, 2], p[41, 0], p[77] = np.nan, np.inf, -np.inf, np.nan  # no score
    names = np.array(list(FOUR))
    label = np.where(rng.random(n) < 0.15, None, names[y])
    return pa.table(
        {
            "ts": pa.array(list(T0 + (END - T0) * np.arange(n) / n), pa.timestamp("us", tz="UTC")),
            "model": ["m"] * n,
            "model_version": ["1"] * n,
            **{c: pa.array(p[:, j]) for j, c in enumerate(FOUR.values())},
            "label": pa.array(label.tolist(), pa.string()),
            "s": s,
        }
    )


def test_multiclass_slice_roc_auc_where_undefined_as_in_memory(tmp_path: Path) -> None:
    """ROC AUC per slice from the rank sums is the in-memory one, interval too, where it is
    hostile: a class without positives leaves the macro average (two classes remain), a
    slice with no class both positive and negative has none, ties count ½, NaN and ±inf
    probabilities are no score — and three statements whatever the slices and classes."""
    import pyarrow.parquet as pq

    folder = tmp_path / "hostile" / "events"
    folder.mkdir(parents=True)
    pq.write_table(_hostile(), folder / "part-0.parquet")
    with open_source(duckdb_copy(folder), ColumnMapping(class_probabilities=FOUR)) as src:
        with recorded_statements() as seen:
            got, window = multiclass_slice_metrics_pushed(src, HOSTILE, outcomes=FOUR_OUTCOMES)
        assert len(_reads(seen)) == 3, _reads(seen)
        columns = ["label", *FOUR.values(), "s"]
        table = read_events(src, model="m", versions=["1"], start=None, end=None, columns=columns)
    want = slice_metrics(table, HOSTILE, outcomes=FOUR_OUTCOMES, metrics=WHOLE)
    assert window.notes == ()  # every slice fits the sample: no interval scaled
    pairs = [("overall", got.overall, want.overall)]
    pairs += [
        (x.predicate.name, x.metrics, e.metrics) for x, e in zip(got.rows, want.rows, strict=True)
    ]
    for name, x_m, e_m in pairs:
        for k in WHOLE:
            x, e = x_m[k], e_m[k]
            assert (x.method, x.n) == (e.method, e.n), (name, k)
            close(x.value, e.value, f"{name} {k}")
        x, e = x_m["roc_auc"], e_m["roc_auc"]
        # (not log loss's: where every term is equal its variance from the sums of squares
        # is a cancellation, 3e-9 off in "tie")
        close(x.lower, e.lower, f"{name} roc_auc lower")
        close(x.upper, e.upper, f"{name} roc_auc upper")
    auc = {r.predicate.name: r.metrics["roc_auc"] for r in got.rows}
    assert auc["two"].value is not None and auc["two"].lower is not None
    assert auc["one"].value is None and auc["one"].n > 100
    assert auc["few"].value is None and auc["few"].n == 1
    assert auc["tie"].value == pytest.approx(0.5) and auc["empty"].n == 0


def test_multiclass_slice_roc_auc_beyond_its_sample(duck_url: str) -> None:
    """A slice larger than ``auc_rows``: the value still exact, the interval its seeded
    sample's bootstrap scaled by √(sample/slice) (said in a note); a slice that fits stays
    the in-memory one; one slice or six, three statements."""
    limit = 400
    with open_source(duck_url, _mapping()) as src:
        with recorded_statements() as seen:
            got, window = multiclass_slice_metrics_pushed(
                src, SLICES, outcomes=OUTCOMES, model="m", versions=["1"], start=CUT, end=END,
                metrics=["roc_auc"], auc_rows=limit,
            )  # fmt: skip
        with recorded_statements() as one:
            multiclass_slice_metrics_pushed(
                src, SLICES[:1], outcomes=OUTCOMES, model="m", versions=["1"], start=CUT,
                end=END, metrics=["roc_auc"], auc_rows=limit,
            )  # fmt: skip
        assert len(_reads(seen)) == len(_reads(one)) == 3
        table = _read(src, CUT, END)
    want = slice_metrics(table, SLICES, outcomes=OUTCOMES, metrics=("roc_auc",))
    assert any("√(sample/slice)" in n for n in window.notes)
    pairs = [("overall", got.overall["roc_auc"], want.overall["roc_auc"])]
    pairs += [
        (x.predicate.name, x.metrics["roc_auc"], e.metrics["roc_auc"])
        for x, e in zip(got.rows, want.rows, strict=True)
    ]
    scaled = 0
    for name, x, e in pairs:
        close(x.value, e.value, name)
        if e.value is None:
            continue
        if x.n <= limit:
            close(x.lower, e.lower, name)
            close(x.upper, e.upper, name)
        else:  # ROC AUC's standard error falls as 1/√n: the width is the right size
            scaled += 1
            assert x.lower < x.value < x.upper, name
            ratio = (x.upper - x.lower) / (e.upper - e.lower)
            assert 0.6 < ratio < 1.6, (name, ratio)
    assert scaled >= 3
