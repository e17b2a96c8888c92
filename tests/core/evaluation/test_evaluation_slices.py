"""Slice predicates (numpy and SQL agree), worst-slice discovery, paired statistics."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
import sqlalchemy as sa
from scipy import stats

from watchkeeper.core.evaluation.compare import compare, join_shadow, mcnemar
from watchkeeper.core.evaluation.metrics import EvaluationError
from watchkeeper.core.evaluation.slices import (
    Condition,
    SlicePredicate,
    find_worst_slices,
    predicate_from_spec,
    slice_metrics,
)
from watchkeeper.core.spec import parse_spec

TABLE = pa.table(
    {
        "channel": ["web", "pos", None, "app", "web", "pos"],
        "amount": [100.0, 500.0, 999.99, None, 1000.0, float("nan")],
        "hour": [0, 5, 6, 23, 3, 4],
    }
)

SPEC = """
[model]
name = "m"
[telemetry]
source = "x.parquet"
[[slices]]
name = "web-night"
where = { channel = "web", hour = [0, 1, 2, 3] }
[[slices]]
name = "mid"
where = { amount = { min = 500, max = 1000 } }
critical = true
[[slices]]
name = "many"
where = { channel = ["pos", "app"] }
"""


def _sql_rows(predicate: SlicePredicate, url: str) -> list[int]:
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    t = sa.Table(
        "t",
        meta,
        sa.Column("i", sa.Integer),
        sa.Column("channel", sa.String),
        sa.Column("amount", sa.Double),
        sa.Column("hour", sa.Integer),
    )
    meta.create_all(engine)
    rows = [
        {"i": i, "channel": c, "amount": None if a is None or a != a else a, "hour": h}
        for i, (c, a, h) in enumerate(
            zip(*(TABLE.column(n).to_pylist() for n in ("channel", "amount", "hour")), strict=True)
        )
    ]
    with engine.begin() as conn:
        conn.execute(t.insert(), rows)
        got = conn.execute(sa.select(t.c.i).where(predicate.where(t.c)).order_by(t.c.i))
        out = [r[0] for r in got]
    engine.dispose()
    return out


@pytest.mark.parametrize("url", ["sqlite://", "duckdb:///:memory:"])
def test_spec_slices_select_the_same_rows_in_numpy_and_sql(url: str) -> None:
    spec = parse_spec(SPEC)
    expected = {"web-night": [0, 4], "mid": [1, 2], "many": [1, 3, 5]}
    for s in spec.slices:
        p = predicate_from_spec(s)
        assert list(np.flatnonzero(p.mask(TABLE))) == expected[s.name], s.name
        assert _sql_rows(p, url) == expected[s.name], (s.name, url)
    mid = predicate_from_spec(spec.slices[1])
    assert mid.label == "500<=amount<1000" and mid.critical
    assert predicate_from_spec(spec.slices[0]).label == "channel=web & hour in {0,1,2,3}"
    missing = SlicePredicate("m", (Condition("amount", "null"),))
    assert list(np.flatnonzero(missing.mask(TABLE))) == [3, 5]  # NaN counts as missing
    with pytest.raises(EvaluationError, match="no column 'country'"):
        SlicePredicate("c", (Condition("country", "eq", "DE"),)).mask(TABLE)


def _world(rng: np.random.Generator, n: int, bad: bool) -> pa.Table:
    a = rng.choice(["x", "y", "z", "w"], n)
    b = rng.normal(size=n)
    c = rng.choice(["p", "q"], n)
    y = (rng.random(n) < 0.3).astype(float)
    signal = np.where(bad & (a == "z"), 0.1, 1.2)  # the planted weak slice: a == "z"
    s = rng.normal(size=n) + signal * y
    return pa.table({"a": a, "b": b, "c": c, "label": y, "score": s})


def test_worst_slice_discovery_finds_the_planted_slice() -> None:
    rng = np.random.default_rng(1)
    world = _world(rng, 8000, True)
    singles = find_worst_slices(world, ["a", "b", "c"], min_support=200, pairs=False)
    assert singles.candidates[0].predicate.label == "a=z"
    assert [c.predicate.label for c in singles.significant] == ["a=z"]
    w = find_worst_slices(world, ["a", "b", "c"], min_support=200)
    assert w.tested > singles.tested
    # with pairs, every discovery lies inside the planted slice (a pair may rank first)
    assert w.significant and all("a=z" in c.predicate.label for c in w.significant)


def test_worst_slice_discovery_controls_false_discoveries() -> None:
    """Same world in baseline and current: any discovery is false. BH at 5 %: P(any) ≤ 5 %."""
    rng = np.random.default_rng(2)
    runs, with_any = 40, 0
    for _ in range(runs):
        cur, base = _world(rng, 3000, False), _world(rng, 3000, False)
        w = find_worst_slices(cur, ["a", "b", "c"], baseline=base, min_support=150)
        with_any += bool(w.significant)
    assert w.tested > 20
    assert with_any <= 6  # expected ≤ 2 of 40; 6 would happen with probability < 1 %


def test_slice_metrics_report_support_and_delta() -> None:
    rng = np.random.default_rng(3)
    t = _world(rng, 5000, True)
    p = SlicePredicate("z", (Condition("a", "eq", "z"),), critical=True)
    r = slice_metrics(t, [p], metrics=("roc_auc", "precision"), threshold=0.5, n_boot=50)
    row = r.row("z")
    assert row.support == int((np.asarray(t.column("a")) == "z").sum())
    assert row.delta["roc_auc"] == pytest.approx(
        row.metrics["roc_auc"].value - r.overall["roc_auc"].value
    )
    assert row.metrics["roc_auc"].upper < r.overall["roc_auc"].lower


def test_mcnemar_equals_scipys_exact_binomial_test() -> None:
    rng = np.random.default_rng(4)
    for n in (30, 300, 3000):
        y = (rng.random(n) < 0.5).astype(float)
        a = np.where(rng.random(n) < 0.8, y, 1 - y)
        b = np.where(rng.random(n) < 0.75, y, 1 - y)
        m = mcnemar(y, a, b)
        k = min(m.champion_only, m.challenger_only)
        expected = stats.binomtest(k, m.champion_only + m.challenger_only, 0.5).pvalue
        assert m.p_value == pytest.approx(expected, rel=1e-9)


def test_shadow_pairs_join_on_request_id_and_paired_statistics() -> None:
    rng = np.random.default_rng(5)
    n = 4000
    y = (rng.random(n) < 0.3).astype(float)
    shared = rng.normal(size=n)
    ids = [f"r{i:05d}" for i in range(n)]
    a = shared + 0.8 * y
    b = shared + 1.0 * y + 0.3 * rng.normal(size=n)
    rows = pa.table(
        {
            "request_id": ids + ids[::-1][: n - 10],  # 10 challenger rows never scored
            "model_version": ["1"] * n + ["2"] * (n - 10),
            "score": np.concatenate([a, b[::-1][: n - 10]]),
            "label": pa.array(np.concatenate([y, y[::-1][: n - 10]])),
            "seg": ["s"] * (2 * n - 10),
        }
    )
    joined = join_shadow(rows.take(rng.permutation(rows.num_rows)), "1", "2", carry=["seg"])
    assert joined.num_rows == n - 10
    assert joined.column("request_id").to_pylist() == sorted(ids[10:])
    np.testing.assert_allclose(joined.column("score_a").to_numpy(), a[10:])
    np.testing.assert_allclose(joined.column("score_b").to_numpy(), b[10:])
    seg = SlicePredicate("all", (Condition("seg", "eq", "s"),))
    c = compare(joined, threshold=0.5, metrics=("roc_auc", "brier"), slices=[seg], n_boot=300)
    d = c.differences["roc_auc"]
    assert d.lower < d.value < d.upper and d.method == "delong"
    # per-slice delta over a slice holding everything equals the overall delta
    assert c.slice_delta("all").difference.value == pytest.approx(d.value)
    # the paired bootstrap of ΔAUC agrees with DeLong's paired interval (same width ±25 %)
    from watchkeeper.core.evaluation.compare import paired_bootstrap
    from watchkeeper.core.evaluation.metrics import Prepared

    yy = joined.column("label").to_numpy()
    pa_, pb_ = (
        Prepared(yy, joined.column("score_a").to_numpy()),
        Prepared(yy, joined.column("score_b").to_numpy()),
    )
    boot = paired_bootstrap("roc_auc", pa_, pb_, n_boot=400, seed=1)
    assert (boot.upper - boot.lower) == pytest.approx(d.upper - d.lower, rel=0.25)
    assert 0.5 < c.agreement <= 1 and c.pearson > 0.5 and c.spearman > 0.5


def _nested_world(rng: np.random.Generator, n: int, bad: str) -> pa.Table:
    """``a == "z"`` is weak; with ``bad == "pair"`` only where also ``c == "p"``."""
    a = rng.choice(["x", "y", "z", "w"], n)
    c = rng.choice(["p", "q"], n)
    b = rng.normal(size=n)
    y = (rng.random(n) < 0.3).astype(float)
    weak = (a == "z") if bad == "single" else (a == "z") & (c == "p")
    signal = np.where(weak, 0.2, 1.4)
    s = rng.normal(size=n) + signal * y
    return pa.table({"a": a, "b": b, "c": c, "label": y, "score": s})


def test_a_pair_inside_a_bad_single_slice_does_not_outrank_it() -> None:
    rng = np.random.default_rng(11)
    for seed in range(3):
        t = _nested_world(np.random.default_rng(seed), 12_000, "single")
        w = find_worst_slices(t, ["a", "b", "c"], min_support=200)
        top = w.candidates[0]
        assert top.predicate.label == "a=z" and top.explained_by is None
        inside = [c for c in w.significant if len(c.features) == 2 and "a=z" in c.predicate.label]
        assert inside and all(c.explained_by == "a=z" for c in inside)
        assert all(c.q_beyond > w.fdr for c in inside)
        # explained pairs rank after every significant finding that is not explained
        flags = [c.explained_by is not None for c in w.significant]
        assert flags == sorted(flags)
        assert w.to_dict()["slices"][len(flags) - 1]["explained_by"] == "a=z"
    # a pair really worse than its single slice stays a finding, and leads
    t = _nested_world(rng, 12_000, "pair")
    w = find_worst_slices(t, ["a", "b", "c"], min_support=200)
    top = w.candidates[0]
    assert top.predicate.label == "a=z & c=p" and top.explained_by is None
    assert top.significant and top.q_beyond is None
