"""Bootstrap replicates computed a block at a time (an index matrix of draws, every metric
of the block at once) equal the replicates evaluated one at a time, bit for bit: the draws,
each replicate's value, and the intervals of a metric and of a paired difference."""

from __future__ import annotations

import math

import numpy as np
import pytest

from watchkeeper.core.evaluation.compare import paired_bootstrap
from watchkeeper.core.evaluation.intervals import (
    bootstrap_blocks,
    bootstrap_resample,
    bounded_subsample,
    percentile_interval,
    rescaled_replicates,
)
from watchkeeper.core.evaluation.metrics import Prepared, by_blocks, evaluate, metric_estimate

DRAWN = ("roc_auc", "pr_auc", "precision", "recall", "f1", "accuracy")


def _events(n: int, ties: bool, seed: int = 11) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.15).astype(float)
    a = np.clip(0.3 * y + rng.random(n) * 0.8, 0, 1)
    b = np.clip(0.35 * y + rng.random(n) * 0.8, 0, 1)
    if ties:  # few distinct scores: every group holds many events
        a, b = np.round(a, 2), np.round(b, 2)
    return y, a, b


@pytest.mark.parametrize("n", [1, 7, 2001])
def test_blocks_draw_what_the_loop_draws(n: int) -> None:
    loop, blocks = np.random.default_rng(4), np.random.default_rng(4)
    expected = np.stack([bootstrap_resample(loop, n).idx for _ in range(23)])
    got = np.concatenate([idx for _, idx in bootstrap_blocks(blocks, n, 23, max_draws=5 * n)])
    assert np.array_equal(got, expected)
    assert loop.integers(0, 10**9) == blocks.integers(0, 10**9)  # the streams go on alike


@pytest.mark.parametrize("ties", [False, True])
def test_a_block_of_replicates_equals_each_replicate(ties: bool) -> None:
    y, s, _ = _events(3000, ties)
    prep = Prepared(y, s, 0.3)
    for metric in DRAWN:
        loop, blocks = np.random.default_rng(3), np.random.default_rng(3)
        one = np.array(
            [evaluate(metric, prep, bootstrap_resample(loop, prep.n)) for _ in range(40)]
        )
        block = np.concatenate(
            [prep.drawn_block(metric, idx) for _, idx in bootstrap_blocks(blocks, prep.n, 40)]
        )
        assert np.array_equal(one, block, equal_nan=True), metric


def test_replicates_without_a_positive_or_a_predicted_event_are_nan_alike() -> None:
    y = np.zeros(50)
    y[0] = 1.0  # one positive: many replicates draw none
    s = np.linspace(0.0, 0.4, 50)
    prep = Prepared(y, s, 0.9)  # nothing predicted: precision never exists
    for metric in DRAWN:
        loop, blocks = np.random.default_rng(8), np.random.default_rng(8)
        one = np.array(
            [evaluate(metric, prep, bootstrap_resample(loop, prep.n)) for _ in range(60)]
        )
        block = np.concatenate(
            [prep.drawn_block(metric, idx) for _, idx in bootstrap_blocks(blocks, prep.n, 60)]
        )
        assert np.array_equal(one, block, equal_nan=True), metric
        assert np.isnan(block).any() == (metric != "accuracy"), metric


def _paired_by_loop(
    metric: str, pa_: Prepared, pb_: Prepared, n_boot: int, seed: int, max_events: int | None
) -> tuple[float | None, float | None, float | None]:
    """paired_bootstrap as it was: one replicate at a time."""
    n = pa_.n
    value = evaluate(metric, pb_) - evaluate(metric, pa_)
    rng = np.random.default_rng(seed)
    sub = bounded_subsample(rng, n, max_events)
    ta, tb = (pa_, pb_) if sub is None else (pa_.subset(sub), pb_.subset(sub))
    reps = np.empty(n_boot)
    for i in range(n_boot):
        w = bootstrap_resample(rng, ta.n)
        reps[i] = evaluate(metric, tb, w) - evaluate(metric, ta, w)
    if sub is not None:
        reps = rescaled_replicates(
            reps, value, evaluate(metric, tb) - evaluate(metric, ta), ta.n, n
        )
    est = percentile_interval(value, reps, n)
    return est.value, est.lower, est.upper


@pytest.mark.parametrize("max_events", [None, 1500])
@pytest.mark.parametrize("ties", [False, True])
def test_paired_and_single_intervals_are_the_loops(max_events: int | None, ties: bool) -> None:
    y, a, b = _events(4000, ties, seed=5)
    pa_, pb_ = Prepared(y, a, 0.4), Prepared(y, b, 0.4)
    assert by_blocks("pr_auc", pa_, pb_)
    for metric in ("pr_auc", "precision", "recall", "f1"):
        est = paired_bootstrap(metric, pa_, pb_, n_boot=120, seed=21, max_events=max_events)
        assert (est.value, est.lower, est.upper) == _paired_by_loop(
            metric, pa_, pb_, 120, 21, max_events
        ), metric
    # a bootstrapped metric's own interval: the loop's, written out
    for metric in ("pr_auc", "f1"):
        rng = np.random.default_rng(2)
        sub = bounded_subsample(rng, pa_.n, max_events)
        target = pa_ if sub is None else pa_.subset(sub)
        reps = np.array(
            [evaluate(metric, target, bootstrap_resample(rng, target.n)) for _ in range(90)]
        )
        value = evaluate(metric, pa_)
        if sub is not None:
            reps = rescaled_replicates(reps, value, evaluate(metric, target), target.n, pa_.n)
        want = percentile_interval(value, reps, pa_.n)
        got = metric_estimate(metric, pa_, n_boot=90, seed=2, max_events=max_events)
        assert (got.value, got.lower, got.upper) == (want.value, want.lower, want.upper)
        assert got.lower is not None and math.isfinite(got.lower)


def test_a_callable_or_non_binary_labels_take_the_loop() -> None:
    rng = np.random.default_rng(2)
    prep = Prepared(rng.random(300), rng.random(300))
    assert not by_blocks("pr_auc", prep)
    assert not by_blocks(lambda p, w: 0.0, Prepared(np.ones(3), np.ones(3)))
    assert not by_blocks("brier", Prepared(np.ones(3), np.ones(3)))
