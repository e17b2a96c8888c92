"""One-pass counting: equal to a naive group-by, chunk-invariant, with progress and cancel."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from watchkeeper.core.drift.counting import bin_categorical, bin_numeric, count_windows
from watchkeeper.core.drift.profile import build_profile
from watchkeeper.core.progress import Cancelled
from watchkeeper.core.telemetry.windows import parse_window


def _data(n: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    x[rng.random(n) < 0.02] = np.nan
    x[rng.random(n) < 0.001] = np.inf
    c = rng.choice(["a", "b", "c", "new"], n).astype(object)
    c[rng.random(n) < 0.03] = None
    return pa.table({"x": x, "c": pa.array(c.tolist()), "i": rng.integers(0, 50, n)})


@pytest.mark.parametrize("chunk_rows", [7, 1000, 1 << 20])
@pytest.mark.parametrize("threads", [1, 3])
def test_counts_equal_a_naive_group_by(chunk_rows: int, threads: int) -> None:
    ref = _data(3000, 0).filter(pa.compute.not_equal(_data(3000, 0).column("c"), "new"))
    profile = build_profile(ref, bins=7, max_categories=2)
    cur = _data(5000, 1)
    rng = np.random.default_rng(2)
    w = rng.integers(-1, 4, cur.num_rows)
    counts = count_windows(cur, profile, w, 4, chunk_rows=chunk_rows, threads=threads)
    keep = w >= 0
    assert counts.rows.tolist() == np.bincount(w[keep], minlength=4).tolist()
    for name in ("x", "c", "i"):
        fp = profile.feature(name)
        if fp.kind == "numerical":
            b = bin_numeric(np.asarray(fp.edges), cur.column(name).to_numpy().astype(float))
        else:
            b = bin_categorical(fp, cur.column(name))
        naive = pd.crosstab(w[keep], b[keep]).reindex(
            index=range(4), columns=range(fp.n_bins), fill_value=0
        )
        assert np.array_equal(counts.of(name), naive.to_numpy()), name
        assert counts.of(name).sum(axis=1).tolist() == counts.rows.tolist()
    # categories only in the current data land in "unseen"
    unseen = profile.feature("c").unseen_bin
    assert counts.of("c")[:, unseen].sum() > 0


def test_progress_and_cancel_between_chunks() -> None:
    cur = _data(10_000, 3)
    profile = build_profile(cur)
    w = np.zeros(cur.num_rows, dtype=np.int64)
    seen: list[float] = []
    count_windows(cur, profile, w, 1, chunk_rows=1000, progress=lambda f, m: seen.append(f))
    assert len(seen) == 10 and seen[-1] == 1.0 and seen == sorted(seen)
    calls = iter(range(100))
    with pytest.raises(Cancelled):
        count_windows(cur, profile, w, 1, chunk_rows=1000, cancelled=lambda: next(calls) >= 3)


def test_results_are_read_only() -> None:
    cur = _data(100, 4)
    counts = count_windows(cur, build_profile(cur), np.zeros(100, np.int64), 1)
    with pytest.raises(ValueError):
        counts.of("x")[0, 0] = 1


def test_counts_from_the_exact_statistics_sort_equal_the_counting_pass() -> None:
    """Numerical counts read off each window's sorted values equal count_windows'."""
    from watchkeeper.core.drift.engine import analyze_drift

    rng = np.random.default_rng(4)
    ref = pa.table({"x": rng.normal(size=5000), "k": rng.integers(0, 4, 5000)})
    profile = build_profile(ref)
    n = 20_000
    x = rng.normal(0.2, 1, n)
    x[rng.random(n) < 0.02] = np.nan
    x[:30] = np.inf
    x[30:60] = -np.inf
    x[60 : 60 + len(profile.feature("x").edges)] = profile.feature("x").edges  # on the edges
    ts = rng.integers(0, 5 * 86_400_000_000, n)  # unsorted: windows interleave
    cur = pa.table(
        {
            "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "x": pa.array(x, mask=rng.random(n) < 0.01),
            "k": rng.integers(0, 5, n),
        }
    )
    fused = analyze_drift(ref, cur, window=parse_window("1d"), profile=profile, multivariate=False)
    plain = analyze_drift(
        ref, cur, window=parse_window("1d"), profile=profile, exact=False, multivariate=False
    )
    assert fused.feature("x").windows[0].exact == "all"
    for name in ("x", "k"):
        assert np.array_equal(fused.feature(name).counts, plain.feature(name).counts)


@pytest.mark.parametrize("chunk_rows", [7, 1000, 1 << 20])
def test_rows_in_time_order_are_counted_run_by_run_to_the_same_counts(chunk_rows: int) -> None:
    """Windows in runs (rows in time order) take the comparison-count path: same counts."""
    ref = _data(3000, 0)
    profile = build_profile(ref, bins=7)
    cur = _data(5000, 1)
    # out-of-range rows first and last, then four windows in order
    w = np.sort(np.random.default_rng(3).integers(0, 4, cur.num_rows))
    w[:100] = -1
    w[-50:] = -1
    counts = count_windows(cur, profile, w, 4, chunk_rows=chunk_rows, threads=1)
    shuffled = np.random.default_rng(4).permutation(cur.num_rows)
    again = count_windows(cur.take(pa.array(shuffled)), profile, w[shuffled], 4, threads=1)
    assert counts.equals(again)
    fp = profile.feature("x")
    b = bin_numeric(np.asarray(fp.edges), cur.column("x").to_numpy())
    for win in range(4):
        expected = np.bincount(b[w == win], minlength=fp.n_bins)
        assert counts.of("x")[win].tolist() == expected.tolist()
