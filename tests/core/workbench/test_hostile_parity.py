"""The same hostile log gives the same answer whichever engine holds it: the views read into
memory and counted in the database (the row threshold lowered so the SQL path runs) refuse
an unknown label in the same words — also one that had not arrived by ``as_of`` — and treat
NaN and ±inf scores alike (no score: labeled, left out of the metrics). On DuckDB, SQLite
(where NaN is stored as NULL, so only ±inf is hostile there) and PostgreSQL (where NaN is a
value of double precision, as in DuckDB); the Slices view is counted in the database where
``slices_pushed.PUSHED_DIALECTS`` lists the dialect, and the worst-slice search only where
the database has exact quantiles (not SQLite). The PostgreSQL cases share a database on the
session's one cluster, a table each."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import sqlite3
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from watchkeeper.core.evaluation.data import read_events
from watchkeeper.core.evaluation.gate import gate_from_spec
from watchkeeper.core.evaluation.metrics import EvaluationError
from watchkeeper.core.evaluation.slices_sql import find_worst_slices_pushed
from watchkeeper.core.evaluation.worst_slices import find_worst_slices
from watchkeeper.core.spec import load_spec
from watchkeeper.core.workbench import analyses, slices_pushed
from watchkeeper.core.workbench.analyses import open_source_of, run_performance
from watchkeeper.core.workbench.common import class_columns, spec_of
from watchkeeper.core.workbench.portfolio import ModelEntry, portfolio_of_spec
from watchkeeper.core.workbench.slices import run_slices

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
AS_OF = START + dt.timedelta(days=20)
DAYS, PER_DAY = 21, 40
PROBABILITIES = {"a": "p_a", "b": "p_b", "c": "p_c"}

SPEC = """\
[model]
name = "m"
task = "{task}"

[telemetry]
source = "{source}"

[telemetry.columns]
model = ""
label = "outcome"
features = ["x"]
{outputs}

[reference]
kind = "window"
version = "1"
start = 2026-01-01
end = 2026-01-08

[drift]
window = "7d"

[gate]
primary_metric = "{metric}"

[health]
window = "7d"
metric = "{metric}"
min_labeled = 50
estimate = false
"""


def _events(task: str, *, unknown: bool, hostile_scores: bool) -> pa.Table:
    """Version 1 over three weeks, labels arriving ~a day late (some after ``AS_OF``), and
    version 2 scoring the last week's requests again in shadow."""
    rng = np.random.default_rng(3)
    n = DAYS * PER_DAY
    secs = np.sort(rng.choice(DAYS * 86_400, n, replace=False))
    ts = [START + dt.timedelta(seconds=int(s)) for s in secs]
    arrives = [
        t + dt.timedelta(hours=float(h)) for t, h in zip(ts, rng.exponential(30, n), strict=True)
    ]
    truth = rng.choice(3, n, p=[0.5, 0.3, 0.2]) if task == "multiclass" else rng.random(n) < 0.3
    labeled = rng.random(n) > 0.1
    # spread over the three weeks: the shadow week (the gate's pairs) holds some too
    hostile = [i for i in range(60, n, 61) if labeled[i]][:12]
    cols: dict[str, Any] = {
        "request_id": [f"r{i:05d}" for i in range(n)],
        "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
        "model_version": ["1"] * n,
        "x": rng.normal(size=n),
    }
    if task == "binary":
        s = 1 / (1 + np.exp(-(rng.normal(-1, 1, n) + 2 * truth)))
        if hostile_scores:
            s[hostile] = [np.nan, np.inf, -np.inf] * 4
        y = np.where(labeled, truth.astype(float), np.nan)
        labels: Any = pa.array(y, from_pandas=True)
        outputs = {"score": pa.array(s)}  # NaN kept as NaN, not made NULL
    else:
        logits = rng.normal(0, 1, (n, 3)) + 1.5 * np.eye(3)[truth]
        p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        if hostile_scores:
            for j, i in enumerate(hostile):
                p[i, j % 3] = [np.nan, np.inf, -np.inf][j % 3]
        names = np.array(list(PROBABILITIES))
        labels = [str(names[v]) if k else None for v, k in zip(truth, labeled, strict=True)]
        outputs = {c: pa.array(p[:, j]) for j, c in enumerate(PROBABILITIES.values())}
    if unknown:  # labeled before AS_OF, arriving after it
        late = next(
            i for i in range(n) if labeled[i] and ts[i] < AS_OF < arrives[i] and i not in hostile
        )
        if task == "binary":
            y[late] = 2.0
            labels = pa.array(y, from_pandas=True)
        else:
            labels[late] = "emu"
    table = pa.table({**cols, **outputs, "outcome": labels, "label_ts": arrives})
    table = table.set_column(
        table.schema.get_field_index("label_ts"),
        "label_ts",
        pa.array(arrives, pa.timestamp("us", tz="UTC")),
    )
    shadow = table.filter(pa.array([t >= START + dt.timedelta(days=14) for t in ts]))
    shadow = shadow.set_column(
        shadow.schema.get_field_index("model_version"),
        "model_version",
        pa.array(["2"] * shadow.num_rows),
    )
    if task == "binary":
        moved = np.asarray(shadow.column("score").to_numpy(zero_copy_only=False)) * 0.9 + 0.05
        shadow = shadow.set_column(shadow.schema.get_field_index("score"), "score", pa.array(moved))
    return pa.concat_tables([table, shadow])


def _store(engine: str, table: pa.Table, root: Path, request: Any = None) -> str:
    """``table`` in a new database of ``engine`` (PostgreSQL: a fresh database on the
    session's cluster, asked of ``request``), as a telemetry source URL."""
    root.mkdir(parents=True, exist_ok=True)
    if engine == "postgresql":
        return _store_postgres(table, request.getfixturevalue("hostile_postgres"))
    if engine == "duckdb":
        pq.write_table(table, root / "e.parquet")
        path = root / "t.duckdb"
        with duckdb.connect(str(path)) as con:
            con.sql(f"CREATE TABLE events AS SELECT * FROM read_parquet('{root / 'e.parquet'}')")
        return f"duckdb:///{path}#events"
    names = table.schema.names
    rows = [
        tuple(v.isoformat() if isinstance(v, dt.datetime) else v for v in r.values())
        for r in table.to_pylist()
    ]
    real = {"x", "score", *PROBABILITIES.values()}
    text = {"outcome"} if pa.types.is_string(table.schema.field("outcome").type) else set()
    types = {n: "REAL" if n in real or (n == "outcome" and not text) else "TEXT" for n in names}
    types |= {"ts": "TIMESTAMP", "label_ts": "TIMESTAMP"}
    path = root / "t.db"
    with sqlite3.connect(path) as con:
        con.execute(f"CREATE TABLE events ({', '.join(f'{n} {types[n]}' for n in names)})")
        con.executemany(f"INSERT INTO events VALUES ({','.join('?' * len(names))})", rows)
    con.close()
    return f"sqlite:///{path}#events"


_TABLES = itertools.count()


@pytest.fixture(scope="module")
def hostile_postgres(postgres: Any) -> str:
    """One database on the session's cluster for this module's logs (a table each): a
    database each case took ~0.15 s more."""
    return str(postgres.create_database(f"wk_hostile_{os.getpid()}"))


def _store_postgres(table: pa.Table, url: str) -> str:
    from sqlalchemy.dialects import postgresql

    def kind(field: pa.Field) -> Any:
        if pa.types.is_timestamp(field.type):
            return postgresql.TIMESTAMP(timezone=True)
        return sa.Double if pa.types.is_floating(field.type) else sa.Text

    name = f"events{next(_TABLES)}"  # a test's one database may hold two logs
    engine = sa.create_engine(url)
    events = sa.Table(name, sa.MetaData(), *[sa.Column(f.name, kind(f)) for f in table.schema])
    with engine.begin() as conn:
        events.create(conn)
        conn.execute(events.insert(), table.to_pylist())  # NaN stays NaN in double precision
    engine.dispose()
    return f"{url}#{name}"


def _entry(root: Path, task: str, metric: str, source: str) -> ModelEntry:
    (root / "specs").mkdir(parents=True, exist_ok=True)
    outputs = (
        'class_probabilities = { a = "p_a", b = "p_b", c = "p_c" }\nscore = ""'
        if task == "multiclass"
        else ""
    )
    spec = root / "specs" / f"m-{metric}.toml"
    spec.write_text(SPEC.format(task=task, source=source, metric=metric, outputs=outputs))
    return portfolio_of_spec(spec).models[0]


#: PostgreSQL's cases are marked so xdist runs them with the session's one cluster.
POSTGRES = pytest.param("postgresql", marks=pytest.mark.postgres)
ENGINES = ["duckdb", "sqlite", POSTGRES]
#: Where the Slices view and the worst-slice search can be counted (exact quantiles).
SEARCHING = ["duckdb", POSTGRES]


def _both(monkeypatch: pytest.MonkeyPatch, run: Any) -> tuple[Any, Any]:
    """``run()`` read into memory, then counted in the database: each its result, or the
    refusal's message."""
    out = []
    for rows in (10**9, 0):
        monkeypatch.setattr(analyses, "IN_MEMORY_ROWS", rows)
        try:
            out.append(run())
        except EvaluationError as exc:
            out.append(str(exc))
    return out[0], out[1]


@pytest.mark.parametrize("task", ["binary", "multiclass"])
@pytest.mark.parametrize("engine", ENGINES)
def test_an_unknown_label_is_refused_in_the_same_words_also_before_it_arrived(
    engine: str,
    task: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    """Before, a label not arrived by ``as_of`` went through the database unchecked (and,
    binary, through memory too), and the two engines worded the refusal differently."""
    table = _events(task, unknown=True, hostile_scores=False)
    source = _store(engine, table, tmp_path, request)
    metric = "accuracy"
    entry = _entry(tmp_path, task, metric, source)
    for as_of in (None, AS_OF):
        memory, counted = _both(
            monkeypatch, lambda a=as_of: run_performance(entry, "1", "7d", metric, as_of=a)
        )
        assert isinstance(memory, str) and memory == counted, (memory, counted)
        value = "2" if task == "binary" else "'emu'"
        assert "1 labeled event(s) have" in memory and f": {value} (column 'outcome')" in memory


@pytest.mark.parametrize("task", ["binary", "multiclass"])
@pytest.mark.parametrize("engine", ENGINES)
def test_nan_and_infinite_scores_are_no_score_on_either_engine(
    engine: str,
    task: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    """Before, the database took a NaN or ±inf class probability as a score: one more event
    in a window's ``n``, its class guessed from the NaN, an infinite Brier score. (A binary
    model's scores agreed already; its cases guard that.)"""
    table = _events(task, unknown=False, hostile_scores=True)
    source = _store(engine, table, tmp_path, request)
    for metric in ("brier", "roc_auc"):
        entry = _entry(tmp_path, task, metric, source)
        memory, counted = _both(
            monkeypatch, lambda e=entry, m=metric: run_performance(e, "1", "7d", m, as_of=AS_OF)
        )
        assert len(memory.realized.windows) == len(counted.realized.windows) == 4
        for a, b in zip(counted.realized.windows, memory.realized.windows, strict=True):
            assert (a.events, a.coverage.labeled) == (b.events, b.coverage.labeled)
            assert a.status == b.status
            if b.status == "ok":
                x, e = a.metrics[metric], b.metrics[metric]
                assert x.n == e.n and x.value == pytest.approx(e.value, rel=1e-9), metric
        assert sum(w.status == "ok" for w in memory.realized.windows) >= 3
        base = counted.baseline
        assert base is not None and memory.baseline is not None
        assert base.value == pytest.approx(memory.baseline.value, rel=1e-9)


@pytest.mark.parametrize("task", ["binary", "multiclass"])
@pytest.mark.parametrize("engine", SEARCHING)
def test_slices_view_refuses_and_counts_alike_in_the_database(
    engine: str,
    task: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    monkeypatch.setattr(slices_pushed, "PUSHED_DIALECTS", (engine,))
    metric = "accuracy"
    bad = _events(task, unknown=True, hostile_scores=False)
    entry = _entry(tmp_path / "bad", task, metric, _store(engine, bad, tmp_path / "bad", request))
    memory, counted = _both(monkeypatch, lambda: run_slices(entry, "1"))
    assert isinstance(memory, str) and memory == counted, (memory, counted)
    odd = _events(task, unknown=False, hostile_scores=True)
    entry = _entry(tmp_path / "odd", task, metric, _store(engine, odd, tmp_path / "odd", request))
    memory, counted = _both(monkeypatch, lambda: run_slices(entry, "1"))
    a, b = counted.slices, memory.slices
    assert (a.events, a.labeled) == (b.events, b.labeled)
    for k, est in a.overall.items():
        assert est.n == b.overall[k].n and est.value == pytest.approx(b.overall[k].value), k
    # the worst-slice search on the same events: NaN and ±inf scores are no score there too
    assert counted.worst is not None and memory.worst is not None
    assert _found(counted.worst) == _found(memory.worst)
    # and with candidates small enough to be tested (the view's need 200 events)
    memory, counted = _searched(entry, REFERENCE[1], min_support=30, bins=4)
    assert _found(counted) == _found(memory) and memory.tested > 0


@pytest.mark.parametrize("engine", ENGINES)
def test_the_gate_takes_infinite_scores_alike_in_the_database_and_in_memory(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Before, an inf and a -inf score made the pairs' score sum NaN and the evidence digest
    refused it: the gate failed on every engine."""
    table = _events("binary", unknown=False, hostile_scores=True)
    source = _store(engine, table, tmp_path, request)
    _entry(tmp_path, "binary", "roc_auc", source)
    spec = load_spec(tmp_path / "specs" / "m-roc_auc.toml")
    got = [
        gate_from_spec(spec, champion="1", challenger="2", in_database=inside, n_boot=50)
        for inside in (False, True)
    ]
    memory, counted = (g.document() for g in got)
    assert memory == counted
    assert got[0].comparison.pairs == got[1].comparison.pairs > 0


@pytest.mark.parametrize("engine", SEARCHING)
def test_a_nan_label_is_no_label_on_either_engine(
    engine: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """A float label column may hold NaN, not NULL, for "no label" (DuckDB and PostgreSQL
    keep it; SQLite stores NULL). The readers hand a NaN over as missing; the database used
    to count it as a label and refuse it as "not 0 or 1"."""
    monkeypatch.setattr(slices_pushed, "PUSHED_DIALECTS", (engine,))
    table = _events("binary", unknown=False, hostile_scores=False)
    y = table.column("outcome").to_numpy(zero_copy_only=False)  # NULL → NaN
    table = table.set_column(table.schema.get_field_index("outcome"), "outcome", pa.array(y))
    assert table.column("outcome").null_count == 0
    source = _store(engine, table, tmp_path, request)
    entry = _entry(tmp_path, "binary", "brier", source)
    memory, counted = _both(monkeypatch, lambda: run_performance(entry, "1", "7d", as_of=AS_OF))
    for a, b in zip(counted.realized.windows, memory.realized.windows, strict=True):
        assert (a.events, a.coverage.labeled, a.status) == (b.events, b.coverage.labeled, b.status)
        assert a.coverage.labeled < a.events
        if b.status == "ok":
            assert a.metrics["brier"].value == pytest.approx(b.metrics["brier"].value, rel=1e-9)
    memory, counted = _both(monkeypatch, lambda: run_slices(entry, "1"))
    assert (counted.slices.events, counted.slices.labeled) == (
        memory.slices.events,
        memory.slices.labeled,
    )
    assert counted.slices.overall["brier"].value == pytest.approx(
        memory.slices.overall["brier"].value, rel=1e-9
    )


@pytest.mark.parametrize("engine", ENGINES)
def test_the_gate_refuses_a_binary_label_other_than_0_and_1_alike(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Before, neither engine's gate refused a label 2: it was scored as both versions'
    wrong answer and the verdict signed on it, while performance and slices refused it."""
    table = _events("binary", unknown=True, hostile_scores=False)
    source = _store(engine, table, tmp_path, request)
    _entry(tmp_path, "binary", "roc_auc", source)
    spec = load_spec(tmp_path / "specs" / "m-roc_auc.toml")
    said = []
    for inside in (False, True):
        with pytest.raises(EvaluationError) as refused:
            gate_from_spec(spec, champion="1", challenger="2", in_database=inside, n_boot=50)
        said.append(str(refused.value))
    assert said[0] == said[1]
    assert said[0].endswith("1 labeled event(s) have another value: 2 (column 'outcome')")


def _found(worst: Any) -> tuple[Any, ...]:
    """What a worst-slice search found, to compare across engines (values to 1e-9)."""
    overall = worst.overall
    found = [(c.predicate.label, c.support, round(c.estimate.value, 9)) for c in worst.candidates]
    return worst.tested, overall.n, round(overall.value, 9), found


END = START + dt.timedelta(days=DAYS)
REFERENCE = (START, START + dt.timedelta(days=7))  # the spec's [reference] window


def _searched(entry: ModelEntry, start: dt.datetime, **bounds: Any) -> tuple[Any, Any]:
    """The worst-slice search of version 1 from ``start`` against the reference window, in
    memory (with the source's column names, as the Slices view passes them) and counted in
    the database: each its result, or its refusal's message."""
    spec = spec_of(entry)
    out: list[Any] = []
    with open_source_of(entry) as src:
        outcomes = class_columns(spec, src.schema().names)
        cols = ["ts", *(["score", "label"] if outcomes is None else outcomes.columns()), "x"]
        now = read_events(src, model="m", versions=["1"], start=start, end=END, columns=cols)
        before = read_events(src, model="m", versions=["1"], start=REFERENCE[0],
                             end=REFERENCE[1], columns=cols)  # fmt: skip
        runs = [
            lambda: find_worst_slices(
                now,
                ["x"],
                metric="accuracy",
                baseline=before,
                outcomes=outcomes,
                label_column="outcome",
                **bounds,
            ),
            lambda: find_worst_slices_pushed(
                src,
                ["x"],
                model="m",
                version="1",
                start=start,
                end=END,
                baseline=("1", *REFERENCE),
                metric="accuracy",
                outcomes=outcomes,
                **bounds,
            ),
        ]
        for run in runs:
            try:
                out.append(run())
            except EvaluationError as exc:
                out.append(str(exc))
    return out[0], out[1]


@pytest.mark.parametrize(
    ("task", "value", "named"),
    [("binary", 2.0, "2"), ("binary", 0.5, "0.5"), ("multiclass", "emu", "'emu'")],
)
@pytest.mark.parametrize("engine", SEARCHING)
def test_the_worst_slice_search_refuses_a_label_that_is_not_the_models_alike(
    engine: str, task: str, value: Any, named: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Two such labels in the reference window, searched in the current period (a search
    from the log's start) and in the baseline only (a search from the reference's end).
    Before, the search in memory took a binary 2 or 0.5 as a label, the database refused it
    in words of its own (counting the largest group), and a class that is none was refused
    in two other wordings (the database counting it once per group)."""
    table = _events(task, unknown=False, hostile_scores=False)
    labels = table.column("outcome").to_pylist()
    ts = table.column("ts").to_pylist()
    versions = table.column("model_version").to_pylist()
    early = [i for i, (t, v, y) in enumerate(zip(ts, versions, labels, strict=True))
             if v == "1" and REFERENCE[0] <= t < REFERENCE[1] and y is not None]  # fmt: skip
    for i in early[5:7]:
        labels[i] = value
    table = table.set_column(table.schema.get_field_index("outcome"), "outcome",
                             pa.array(labels))  # fmt: skip
    entry = _entry(tmp_path, task, "accuracy", _store(engine, table, tmp_path, request))
    if task == "binary":
        said = f"a binary label must be 0 or 1; 2 labeled event(s) have another value: {named}"
    else:
        said = (
            "2 labeled event(s) have a label that is not one of the classes ('a', 'b', 'c'): "
            f"{named}"
        )
    for start in (START, REFERENCE[1]):  # the current period holds them; the baseline only
        memory, counted = _searched(entry, start)
        assert memory == counted == f"{said} (column 'outcome')", start


REGRESSION = """\
[model]
name = "m"
task = "regression"

[telemetry]
source = "{source}"

[telemetry.columns]
model = ""
label = "outcome"
features = ["x"]

[reference]
kind = "window"
version = "1"
start = 2026-01-01
end = 2026-01-08

[gate]
primary_metric = "mae"
"""


@pytest.mark.parametrize("engine", ENGINES)
def test_an_infinite_regression_target_is_a_label_left_out_of_the_metric_alike(
    engine: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """In memory an infinite target counts as labeled (coverage, the window's least labels)
    and ``regression_metrics`` leaves it out; before, the database summed it: an MAE of
    7e305 and one event more in its ``n``, in a window and in the baseline."""
    table = _events("binary", unknown=False, hostile_scores=False)
    y = table.column("outcome").to_numpy(zero_copy_only=False).copy()
    labeled = np.flatnonzero(~np.isnan(y))
    y[labeled[[100, 300, 310]]] = [np.inf, -np.inf, np.inf]  # the reference's, a later window's
    table = table.set_column(table.schema.get_field_index("outcome"), "outcome",
                             pa.array(y, from_pandas=True))  # fmt: skip
    (tmp_path / "specs").mkdir()
    spec = tmp_path / "specs" / "m.toml"
    spec.write_text(REGRESSION.format(source=_store(engine, table, tmp_path, request)))
    entry = portfolio_of_spec(spec).models[0]
    memory, counted = _both(monkeypatch, lambda: run_performance(entry, "1", "7d", "mae"))
    beyond = 0
    for a, b in zip(counted.realized.windows, memory.realized.windows, strict=True):
        assert (a.events, a.coverage.labeled, a.status) == (b.events, b.coverage.labeled, b.status)
        if b.status == "ok":
            x, e = a.metrics["mae"], b.metrics["mae"]
            assert x.n == e.n and x.value == pytest.approx(e.value, rel=1e-9)
            beyond += a.coverage.labeled - x.n
    assert beyond == 2  # labeled, in no metric (the third: the reference's, a short window)
    assert counted.baseline is not None and memory.baseline is not None
    assert counted.baseline.n == memory.baseline.n
    assert counted.baseline.value == pytest.approx(memory.baseline.value, rel=1e-9)


@pytest.mark.spark
def test_a_nan_label_is_no_label_on_spark_either(
    spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Spark keeps a Parquet NaN as NaN and always counts in the warehouse: its Slices view
    (slices and worst slices) of a log with NaN for "no label" and NaN and ±inf scores is
    that of the same log read into memory (from DuckDB). The performance view's NaN label
    takes the same ``nan_as_null``: left to the DuckDB and PostgreSQL cases, as on Spark it
    took 5 s more (warm)."""
    table = _events("binary", unknown=False, hostile_scores=True)
    y = table.column("outcome").to_numpy(zero_copy_only=False)  # NULL → NaN
    table = table.set_column(table.schema.get_field_index("outcome"), "outcome", pa.array(y))
    assert table.column("outcome").null_count == 0
    folder = tmp_path / "events"
    folder.mkdir()
    pq.write_table(table, folder / "part-0.parquet")
    on_spark = _entry(tmp_path / "spark", "binary", "brier",
                      spark.table_from_parquet(f"hostile_{os.getpid()}", folder))  # fmt: skip
    in_memory = _entry(tmp_path / "duck", "binary", "brier",
                       _store("duckdb", table, tmp_path / "duck"))  # fmt: skip
    monkeypatch.setattr(analyses, "IN_MEMORY_ROWS", 10**9)  # DuckDB: read into memory
    counted, memory = (run_slices(e, "1") for e in (on_spark, in_memory))
    assert counted.table is None and memory.table is not None  # each path taken
    assert (counted.slices.events, counted.slices.labeled) == (
        memory.slices.events,
        memory.slices.labeled,
    )
    assert counted.slices.overall["brier"].value == pytest.approx(
        memory.slices.overall["brier"].value, rel=1e-9
    )
    assert counted.worst is not None and memory.worst is not None
    assert _found(counted.worst) == _found(memory.worst)


@pytest.mark.parametrize("task", ["binary", "multiclass"])
@pytest.mark.parametrize("engine", ENGINES)
def test_a_bounded_slices_read_refuses_and_counts_as_the_whole_read(
    engine: str,
    task: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    """The window read in bounded parts (its narrow columns; the search's sampled as they
    stream: evaluation/slice_window) on every engine: the same refusal of a label that is
    not the model's, and with NaN and ±inf scores the same slices and worst slices."""
    from watchkeeper.core.evaluation import slice_window

    def both(entry: ModelEntry) -> tuple[Any, Any]:
        out = []
        for bound in (1 << 50, 0):
            monkeypatch.setattr(slice_window, "WINDOW_BYTES", bound)
            try:
                out.append(run_slices(entry, "1"))
            except EvaluationError as exc:
                out.append(str(exc))
        return out[0], out[1]

    metric = "accuracy"
    bad = _events(task, unknown=True, hostile_scores=False)
    entry = _entry(tmp_path / "bad", task, metric, _store(engine, bad, tmp_path / "bad", request))
    whole, bounded = both(entry)
    assert isinstance(whole, str) and whole == bounded, (whole, bounded)
    odd = _events(task, unknown=False, hostile_scores=True)
    entry = _entry(tmp_path / "odd", task, metric, _store(engine, odd, tmp_path / "odd", request))
    whole, bounded = both(entry)
    assert whole.reread is None and bounded.reread is entry
    a, b = bounded.slices, whole.slices
    assert (a.events, a.labeled) == (b.events, b.labeled)
    for k, est in a.overall.items():
        assert (est.n, est.value, est.lower, est.upper) == (
            b.overall[k].n,
            b.overall[k].value,
            b.overall[k].lower,
            b.overall[k].upper,
        ), k
    assert bounded.worst is not None and whole.worst is not None
    assert _found(bounded.worst) == _found(whole.worst)
