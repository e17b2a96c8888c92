"""Slice metrics and the worst-slice search counted in the database equal the in-memory
ones: identical counts, metrics to 1e-9 (ROC AUC and its DeLong interval too, from rank
sums), in one statement for the slices and at most four for the search — on DuckDB, and
on the real Spark Thrift server (one test: Spark's time is dear)."""

from __future__ import annotations

import datetime as dt
import math
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from pushdown_worlds import close, duckdb_copy, parquet_folder

from watchkeeper.core.evaluation.data import read_events
from watchkeeper.core.evaluation.metrics import EvaluationError
from watchkeeper.core.evaluation.predicates import Condition, SlicePredicate
from watchkeeper.core.evaluation.slices import slice_metrics
from watchkeeper.core.evaluation.slices_sql import find_worst_slices_pushed, slice_metrics_pushed
from watchkeeper.core.evaluation.worst_slices import find_worst_slices
from watchkeeper.core.telemetry.contract import ColumnMapping
from watchkeeper.core.telemetry.source import open_source
from watchkeeper.core.telemetry.sql_statements import recorded_statements

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
CUT = T0 + dt.timedelta(days=10)  # the reference before, the current window after
END = T0 + dt.timedelta(days=20)
FEATURES = ["a", "b", "c", "d"]
CATEGORICAL = ["a", "c"]
#: The pushed worst-slice search's arguments but the source, features and metric.
SEARCH = dict(
    model="m",
    version="1",
    start=CUT,
    end=END,
    baseline=("1", T0, CUT),
    categorical=CATEGORICAL,
    threshold=0.4,
    min_support=150,
)
METRICS = ("roc_auc", "pr_auc", "precision", "recall", "accuracy", "f1", "brier", "log_loss")
SLICES = (
    SlicePredicate("z", (Condition("a", "eq", "z"),)),
    SlicePredicate("big", (Condition("b", "range", (0.5, None)),), critical=True),
    SlicePredicate("z-or-w & p", (Condition("a", "in", ("z", "w")), Condition("c", "eq", "p"))),
    SlicePredicate("no b", (Condition("b", "null"),)),
    SlicePredicate("empty", (Condition("a", "eq", "nowhere"),)),
)


def _table(n: int = 30_000) -> pa.Table:
    rng = np.random.default_rng(5)
    ts = T0 + (END - T0) * np.sort(rng.random(n))
    current = ts >= CUT
    a = rng.choice(["x", "y", "z", "w"], n, p=[0.4, 0.3, 0.2, 0.1])
    b = rng.normal(size=n)
    b[rng.random(n) < 0.02] = np.nan  # missing: a level of its own
    c = rng.choice(["p", "q"], n)
    d = rng.integers(0, 4, n)
    y = (rng.random(n) < 0.25).astype(float)
    # in the current window slice a == "z" lost its signal: the search must find it
    signal = np.where(current & (a == "z"), 0.1, 1.4)
    score = 1 / (1 + np.exp(-(rng.normal(-1, 1, n) + signal * y)))
    label = np.where(rng.random(n) < 0.2, np.nan, y)  # not labeled yet
    score[::991] = np.nan  # a few events without a score
    return pa.table(
        {
            "ts": pa.array(list(ts), pa.timestamp("us", tz="UTC")),
            "model": ["m"] * n,
            "model_version": ["1"] * n,
            "score": pa.array(score, from_pandas=True),
            "coarse": pa.array(np.round(score, 2), from_pandas=True),  # few-valued: ties
            "label": pa.array(label, from_pandas=True),
            "a": a,
            "b": pa.array(b, from_pandas=True),
            "c": c,
            "d": d,
        }
    )


@pytest.fixture(scope="module")
def parquet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return parquet_folder(tmp_path_factory, "slices", _table())


@pytest.fixture(scope="module")
def duck_url(parquet: Path) -> str:
    return duckdb_copy(parquet)


def _reads(statements: list[str]) -> list[str]:
    """The statements that read rows (a CTE's ``WITH`` included; reflection left out)."""
    return [
        s
        for s in statements
        if "information_schema" not in s
        and not s.lstrip().upper().startswith(("DESCRIBE", "SHOW", "SET"))
    ]


def _check_slices(location: str, duck_url: str, score: str) -> None:
    mapping = ColumnMapping(score=score)
    with open_source(location, mapping) as src, open_source(duck_url, mapping) as duck:
        with recorded_statements() as seen:
            got, whole = slice_metrics_pushed(
                src,
                SLICES,
                model="m",
                versions=["1"],
                start=CUT,
                end=END,
                metrics=METRICS,
                threshold=0.4,
            )
        table = read_events(
            duck,
            model="m",
            versions=["1"],
            start=CUT,
            end=END,
            columns=["score", "label", *FEATURES],
        )
    assert len(_reads(seen)) == 1, _reads(seen)
    want = slice_metrics(table, SLICES, metrics=METRICS, threshold=0.4, n_boot=20)
    assert (got.events, got.labeled, got.positives) == (want.events, want.labeled, want.positives)
    assert int(whole.events) == table.num_rows
    pairs = [(got.overall, want.overall, "overall")]
    for a, b in zip(got.rows, want.rows, strict=True):
        assert (a.support, a.labeled, a.positives) == (b.support, b.labeled, b.positives)
        pairs.append((a.metrics, b.metrics, a.predicate.name))
        for k in METRICS:
            close(a.delta[k], b.delta[k], f"{a.predicate.name} delta {k}")
    for got_m, want_m, name in pairs:
        for k in METRICS:
            x, e = got_m[k], want_m[k]
            close(x.value, e.value, f"{name} {k}")
            if k in ("pr_auc", "f1"):  # bootstrapped in memory: no interval counted
                continue
            assert x.method == e.method and x.n == e.n, (name, k)
            close(x.lower, e.lower, f"{name} {k} lower")
            close(x.upper, e.upper, f"{name} {k} upper")
    assert got.row("z").support > 1000 and got.row("empty").support == 0


def _worst_pair(location: str, duck_url: str, metric: str, score: str = "score", **kw):
    mapping = ColumnMapping(score=score)
    with open_source(location, mapping) as src, open_source(duck_url, mapping) as duck:
        with recorded_statements() as seen:
            got = find_worst_slices_pushed(src, FEATURES, metric=metric, **SEARCH, **kw)
        cols = ["score", "label", *FEATURES]
        cur = read_events(duck, model="m", versions=["1"], start=CUT, end=END, columns=cols)
        base = read_events(duck, model="m", versions=["1"], start=T0, end=CUT, columns=cols)
    want = find_worst_slices(
        cur,
        FEATURES,
        metric=metric,
        categorical=CATEGORICAL,
        baseline=base,
        threshold=0.4,
        min_support=150,
        max_rows=None,
    )
    return got, want, seen


def _same_worst(got, want, *, exact: bool = True) -> None:
    assert got.tested == want.tested > 20
    assert got.compared_with == want.compared_with == "baseline"
    mine = {w.predicate.label: w for w in got.candidates}
    theirs = {w.predicate.label: w for w in want.candidates}
    assert mine.keys() == theirs.keys()
    for label, e in theirs.items():
        x = mine[label]
        assert (x.support, x.positives, x.features) == (e.support, e.positives, e.features)
        if not exact:
            continue
        assert (x.significant, x.explained_by) == (e.significant, e.explained_by), label
        for part in ("delta", "conservative_delta", "p_value", "q_value", "baseline_value"):
            close(getattr(x, part), getattr(e, part), f"{label} {part}")
        for part in ("value", "lower", "upper"):
            close(getattr(x.estimate, part), getattr(e.estimate, part), f"{label} {part}")
    if exact:
        assert [w.predicate.label for w in got.candidates] == [
            w.predicate.label for w in want.candidates
        ]


def test_slice_metrics_in_duckdb_equal_in_memory(duck_url: str) -> None:
    _check_slices(duck_url, duck_url, "score")
    _check_slices(duck_url, duck_url, "coarse")  # tied scores: midranks, as in memory


def test_worst_slices_in_duckdb_equal_in_memory(duck_url: str) -> None:
    got, want, seen = _worst_pair(duck_url, duck_url, "roc_auc", auc_bins=None)
    _same_worst(got, want)
    assert "a=z" in {w.predicate.label for w in got.significant}  # the planted slice
    # levels (numerical, categorical), singles, pairs: four statements whatever the features
    assert len(_reads(seen)) == 4, _reads(seen)
    for metric in ("precision", "brier"):
        _same_worst(*_worst_pair(duck_url, duck_url, metric)[:2])
    # counted per score bin: the same candidates, each AUC within the stated bound
    binned, want, _ = _worst_pair(duck_url, duck_url, "roc_auc", auc_bins=200)
    _same_worst(binned, want, exact=False)
    (note,) = [n for n in binned.notes if "score bins" in n]
    bound = float(note.split("within ")[1].split(" ")[0])
    assert 0 < bound < 0.02
    theirs = {w.predicate.label: w for w in want.candidates}
    for w in binned.candidates:
        assert abs(w.estimate.value - theirs[w.predicate.label].estimate.value) <= bound
    # few-valued scores: every bin holds one score, the binned AUC is exact
    coarse, coarse_want, _ = _worst_pair(duck_url, duck_url, "roc_auc", score="coarse")
    _same_worst(coarse, coarse_want)


def test_pushed_slices_refuse_what_they_cannot_count(duck_url: str) -> None:
    with open_source(duck_url, ColumnMapping()) as src:
        with pytest.raises(EvaluationError, match="ece cannot be counted"):
            slice_metrics_pushed(src, SLICES, metrics=("ece",))
        with pytest.raises(EvaluationError, match="no feature column 'nope'"):
            find_worst_slices_pushed(src, ["nope"], model="m", version="1", start=CUT, end=END)


#: Categorical features only, so that a search over the pairs' sample has the same levels
#: as one over every event (numerical levels are quantiles of the events searched).
PAIR_FEATURES = ["a", "c", "d"]
#: AUC by distinct score: a binned one's grid spans the scores searched, which a sample changes.
PAIR_SEARCH = SEARCH | {"categorical": PAIR_FEATURES, "auc_bins": None}


def _pairs_sample(parquet: Path, limit: int, tmp: Path) -> str:
    """The events the pushed search keeps for its pairs, drawn here in numpy — each
    period's searched events (labeled, a finite score) in time order, position ``p`` of
    ``n`` kept when ``(p·M + offset) mod n < limit`` (seed 0) — as a DuckDB table's URL."""
    import duckdb
    import pyarrow.parquet as pq

    from watchkeeper.core.drift.sql_counts import SAMPLE_MULTIPLIER

    t = pq.read_table(parquet)
    # ties in time by request id, as the pushed search numbers them
    t = t.sort_by([(c, "ascending") for c in ("ts", "request_id") if c in t.column_names])
    ts = t["ts"]
    finite = pc.fill_null(pc.is_finite(t["score"]), False)
    searched = pc.and_(pc.is_valid(t["label"]), finite).to_numpy(zero_copy_only=False)
    keep = np.zeros(t.num_rows, bool)
    for lo, hi in ((T0, CUT), (CUT, END)):
        inside = pc.and_(pc.greater_equal(ts, lo), pc.less(ts, hi)).to_numpy(zero_copy_only=False)
        (rows,) = np.nonzero(inside & searched)
        p = np.arange(1, len(rows) + 1, dtype=np.int64)
        assert len(rows) > limit  # the sample is a sample
        keep[rows[(p * SAMPLE_MULTIPLIER + 104_729 % SAMPLE_MULTIPLIER) % len(rows) < limit]] = True
    sample = t.filter(pa.array(keep))  # noqa: F841 (read by DuckDB by name)
    path = tmp / "pairs-sample.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE events AS SELECT * FROM sample")
    return f"duckdb:///{path}#events"


def _pairs_counted_on_the_sample(location: str, sample_url: str, limit: int) -> None:
    """The search over every event with ``pair_rows=limit`` has the pair candidates of a
    search over the numpy-drawn sample alone, and the single candidates of an unsampled
    search over every event."""

    def search(where: str, **kw):
        with open_source(where, ColumnMapping()) as src:
            return find_worst_slices_pushed(
                src, PAIR_FEATURES, metric="roc_auc", **PAIR_SEARCH, **kw
            )

    got = search(location, pair_rows=limit)
    on_sample = search(sample_url, pair_rows=None)
    every = search(location, pair_rows=None)

    def part(result, size: int) -> dict:
        return {
            w.predicate.label: (w.support, w.positives, w.estimate.value, w.baseline_value)
            for w in result.candidates
            if len(w.features) == size
        }

    pairs = part(got, 2)
    assert len(pairs) > 20
    assert pairs.keys() == part(on_sample, 2).keys()
    for label, (support, positives, value, base) in part(on_sample, 2).items():
        assert pairs[label][:2] == (support, positives), label
        close(pairs[label][2], value, f"{label} value")
        close(pairs[label][3], base, f"{label} baseline")
    assert part(got, 1) == part(every, 1)  # single features: every event
    assert part(every, 2) != pairs  # the sample changed the pairs' counts
    (note,) = [n for n in got.notes if n.startswith("pairs counted on a seeded sample")]
    assert f"{limit:,} of " in note, note
    assert got.settings["pair_rows"] == limit
    assert not [n for n in every.notes if "sample" in n]


def test_the_pairs_are_counted_on_a_bounded_sample(parquet: Path, duck_url: str, tmp_path) -> None:
    _pairs_counted_on_the_sample(duck_url, _pairs_sample(parquet, 3_000, tmp_path), 3_000)


def test_the_pairs_sample_breaks_ties_in_time_by_request_id(tmp_path_factory, tmp_path) -> None:
    """Logged to the hour, ~60 events share each time; stored in an order that is not their
    request ids'. The pairs' sample numbers them by time, then request id — what a read in
    any engine's order could not reproduce — and its pairs equal those of the numpy draw."""
    t = _table()
    hours = pc.floor_temporal(t["ts"], unit="hour")
    rng = np.random.default_rng(11)
    ids = pa.array([f"r{x:07d}" for x in rng.permutation(t.num_rows)])
    tied = t.set_column(0, "ts", hours).append_column("request_id", ids)
    assert len(pc.unique(hours)) < t.num_rows // 40
    parquet = parquet_folder(tmp_path_factory, "tied", tied)
    _pairs_counted_on_the_sample(
        duckdb_copy(parquet), _pairs_sample(parquet, 3_000, tmp_path), 3_000
    )


@pytest.mark.spark
def test_spark_draws_the_pairs_sample_as_duckdb_does(spark, parquet: Path, tmp_path) -> None:
    location = spark.table_from_parquet(f"slices_sample_{os.getpid()}", parquet)
    _pairs_counted_on_the_sample(location, _pairs_sample(parquet, 3_000, tmp_path), 3_000)


@pytest.mark.spark
def test_slices_and_worst_slices_in_spark_equal_in_memory(
    spark, parquet: Path, duck_url: str
) -> None:
    location = spark.table_from_parquet(f"slices_{os.getpid()}", parquet)
    _check_slices(location, duck_url, "score")
    got, want, seen = _worst_pair(location, duck_url, "roc_auc", auc_bins=None)
    _same_worst(got, want)
    assert not math.isnan(got.overall.value)
    # levels (with the scores' span), categorical levels, singles, pairs; and the reference
    # quantiles' order statistics in three bounded scans, never Spark's exact percentile,
    # which keeps every distinct value in the driver (a 1 GB driver ran out of heap on the
    # quantiles of 8 features over 5,000,000 reference events)
    assert len(_reads(seen)) == 7, _reads(seen)
    exact = [s for s in seen if "percentile(" in s.lower().replace("percentile_approx(", "")]
    assert not exact, exact


@pytest.mark.spark
def test_a_cancel_stops_the_spark_search_in_its_levels_statement(spark, parquet: Path) -> None:
    """Cancelled from the start, the search stops at its first statement (the levels), and
    no other is tried — not the Spark quantiles' scans, the categorical levels or the counts, which
    took minutes at 10,000,000 events before the first count. (Before, the levels ran
    outside the cancel's guard, and only the counts could be stopped.)"""
    from watchkeeper.core.progress import Cancelled

    location = spark.table_from_parquet(f"slices_cancel_{os.getpid()}", parquet)
    with (
        open_source(location, ColumnMapping()) as src,
        recorded_statements() as seen,
        pytest.raises(Cancelled, match="cancelled in the database"),
    ):
        find_worst_slices_pushed(src, FEATURES, metric="roc_auc", **SEARCH, cancelled=lambda: True)
    # the levels statement reached the driver's hook, which refused to send it; nothing after
    reads = _reads(seen)
    assert len(reads) == 1 and "min_3" in reads[0], reads
