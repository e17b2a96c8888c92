"""The exact statistics' per-window samples: drawn at once per feature, seeded, within each
window, the same from a float column or from Arrow; measured like scipy on those samples."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats

from watchkeeper.core.drift.exact import WindowSampler, exact_statistics


def _column(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    sizes = np.array([300, 2_000, 0, 1_200, 800, 5_000])
    values = rng.normal(size=int(sizes.sum()))
    values[rng.random(values.size) < 0.02] = np.nan  # missing values
    values[5] = np.inf  # a hostile value in a whole window
    splits = np.concatenate([[0], np.cumsum(sizes)])
    return values, splits


def test_samples_are_seeded_within_their_window_and_the_same_from_arrow() -> None:
    values, splits = _column()
    column = pa.chunked_array([pa.array(values, from_pandas=False)])
    order = np.random.default_rng(1).permutation(values.size)  # rows in another order
    a = WindowSampler(column, "x", values[order], order, splits, 1_000, 7, 3)
    b = WindowSampler(column, "x", None, order, splits, 1_000, 7, 3)
    assert a.sampled().tolist() == [False, True, False, True, False, True]
    ids = np.flatnonzero(a.sampled())
    x, y = a.samples(ids), b.samples(ids)
    assert x.shape == (3, 1_000)
    np.testing.assert_array_equal(x, y)  # the same rows, from floats or from Arrow
    np.testing.assert_array_equal(x, a.samples(ids))  # seeded
    other = WindowSampler(column, "x", values[order], order, splits, 1_000, 7, 4).samples(ids)
    assert not np.array_equal(x, other, equal_nan=True)  # each feature its own draw
    for row, i in zip(x, ids.tolist(), strict=True):
        window = values[order][splits[i] : splits[i + 1]]
        assert np.isin(row[~np.isnan(row)], window).all()  # only the window's own values
    np.testing.assert_array_equal(a.whole(0), b.whole(0))


@pytest.mark.parametrize("seed", [0, 1])
def test_exact_statistics_on_the_samples_match_scipy(seed: int) -> None:
    values, splits = _column(seed)
    column = pa.chunked_array([values])
    rng = np.random.default_rng(seed + 10)
    ref = np.sort(rng.normal(0.1, 1.0, 20_000))
    sampler = WindowSampler(column, "x", values, None, splits, 1_000, seed, 0)
    result, counts = exact_statistics(ref, "all", sampler, len(splits) - 1, 1.0)
    assert counts is None
    ids = np.flatnonzero(sampler.sampled())
    drawn = dict(zip(ids.tolist(), sampler.samples(ids), strict=True))
    for i in range(len(splits) - 1):
        x = drawn[i] if i in drawn else values[splits[i] : splits[i + 1]]
        x = x[np.isfinite(x)]
        if not x.size:
            assert np.isnan(result.ks[i]) and result.mode[i] is None
            continue
        assert result.mode[i] == ("sample" if i in drawn else "all")
        assert result.sizes[i] == (ref.size, x.size)
        want = stats.ks_2samp(ref, x, method="asymp")
        assert result.ks[i] == pytest.approx(want.statistic, abs=1e-12)
        assert result.w1[i] == pytest.approx(stats.wasserstein_distance(ref, x), rel=1e-9)
