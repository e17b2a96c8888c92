"""Worst-slice discovery: planted slices found, false discoveries controlled, parsimony."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from slice_worlds import planted_world

from watchkeeper.core.evaluation.worst_slices import find_worst_slices


def test_worst_slice_discovery_finds_the_planted_slice() -> None:
    rng = np.random.default_rng(1)
    world = planted_world(rng, 8000, True)
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
        cur, base = planted_world(rng, 3000, False), planted_world(rng, 3000, False)
        w = find_worst_slices(cur, ["a", "b", "c"], baseline=base, min_support=150)
        with_any += bool(w.significant)
    assert w.tested > 20
    assert with_any <= 6  # expected ≤ 2 of 40; 6 would happen with probability < 1 %


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


def test_the_search_is_bounded_and_says_so() -> None:
    """Pairs only among the strongest features, rows sampled, the list capped — each in a note;
    the planted slice (on the 2 informative of 40 features) is still found."""
    rng = np.random.default_rng(4)
    n = 6000
    t = _nested_world(rng, n, "single")
    noise = {f"n{k:02d}": rng.normal(size=n) for k in range(37)}
    wide = pa.table({**{c: t.column(c) for c in t.column_names}, **noise})
    features = ["a", "b", "c", *noise]
    w = find_worst_slices(wide, features, min_support=200, max_pair_features=4, max_rows=5000)
    assert w.candidates[0].predicate.label == "a=z"
    paired = {c.features for c in w.candidates if len(c.features) == 2}
    chosen = {f for pair in paired for f in pair}
    assert "a" in chosen and len(chosen) <= 4
    assert w.notes == (
        "worst slices searched on a seeded sample of 5,000 of 6,000 events",
        "pairs searched among the 4 of 40 features whose single-feature slices are strongest "
        "(6 of 780 pairs)",
    )
    capped = find_worst_slices(wide, features, min_support=200, max_pair_features=4, limit=3)
    assert len(capped.candidates) == 3
    assert capped.notes[-1] == f"showing the strongest 3 of {capped.tested:,} candidate slices"
    assert w.to_dict()["notes"] == list(w.notes)


def test_pairs_with_a_column_every_event_shares_are_not_tested_twice(tmp_path) -> None:
    """A constant column and an empty one (common in a real log) made, for every other
    level, a pair with the very events of that level's slice: repeated rows, and tests that
    weakened the correction. Those pairs are left out, and said so — in memory and counted
    in the database alike; the other candidates are those of the search without the two
    columns."""
    import duckdb

    from watchkeeper.core.evaluation.slices_sql import find_worst_slices_pushed
    from watchkeeper.core.telemetry.contract import ColumnMapping
    from watchkeeper.core.telemetry.source import open_source

    rng = np.random.default_rng(5)
    t = _nested_world(rng, 12_000, "single")
    n = t.num_rows
    wide = t.append_column("constant", pa.array(np.ones(n))).append_column(
        "empty", pa.nulls(n, pa.float64())
    )
    plain = find_worst_slices(t, ["a", "b", "c"], min_support=200)
    got = find_worst_slices(wide, ["a", "b", "c", "constant", "empty"], min_support=200)
    labels = [w.predicate.label for w in got.candidates]
    assert not [x for x in labels if " & " in x and ("constant" in x or "empty" in x)]
    pairs_left = [x for x in got.notes if x.endswith("as a constant or an empty column's is)")]
    # every single of a, b and c with each of the two columns, and the two columns together
    singles = sum(len(w.features) == 1 for w in plain.candidates)
    left = 2 * singles + 1
    assert len(pairs_left) == 1 and pairs_left[0].startswith(f"{left} pairs left out")
    lone = {x for x in labels if "constant" in x or "empty" in x}
    assert lone == {"constant>=1", "empty is missing"}  # each the whole window, as a single
    others = [w for w in got.candidates if w.predicate.label not in lone]
    assert {w.predicate.label for w in others} == {w.predicate.label for w in plain.candidates}
    assert got.tested == plain.tested + len(lone)

    import datetime as dt

    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    stamped = (
        wide.append_column(
            "ts",
            pa.array([t0 + dt.timedelta(seconds=i) for i in range(n)], pa.timestamp("us", "UTC")),
        )
        .append_column("model", pa.array(["m"] * n))
        .append_column("model_version", pa.array(["1"] * n))
    )
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as con:
        con.register("s", stamped)
        con.execute("CREATE TABLE events AS SELECT * FROM s")
    with open_source(f"duckdb:///{path}#events", ColumnMapping()) as src:
        pushed = find_worst_slices_pushed(
            src,
            ["a", "b", "c", "constant", "empty"],
            model="m",
            version="1",
            start=t0,
            end=t0 + dt.timedelta(seconds=n),
            categorical=["a", "c"],
            min_support=200,
        )
    assert sorted(w.predicate.label for w in pushed.candidates if " & " in w.predicate.label) == (
        sorted(x for x in labels if " & " in x)
    )
    assert [x for x in pushed.notes if x.startswith(f"{left} pairs left out")]
