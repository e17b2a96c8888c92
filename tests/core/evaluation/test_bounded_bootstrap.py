"""The comparison's bounded bootstrap keeps the documented tolerance against the full one
(:mod:`watchkeeper.core.evaluation.intervals`), is the full one up to its bound, and the
complete comparison that takes a first answer's numbers equals the one computed whole."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from watchkeeper.core.evaluation.compare import compare, paired_bootstrap
from watchkeeper.core.evaluation.metrics import Prepared, evaluate, metric_estimate
from watchkeeper.core.evaluation.predicates import Condition, SlicePredicate


def _pairs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.12).astype(float)
    a = np.clip(0.25 * y + rng.random(n) * 0.75, 0, 1)
    b = np.clip(a + rng.normal(0.01 * y, 0.05, n), 0, 1)
    return y, a, b


@pytest.mark.parametrize("seed", [0, 3])
def test_the_bounded_interval_lies_within_a_quarter_width_of_the_full_one(seed: int) -> None:
    y, a, b = _pairs(50_000, seed)
    pa_, pb_ = Prepared(y, a, 0.4), Prepared(y, b, 0.4)
    runs = []
    for metric in ("pr_auc", "precision", "recall"):
        full = paired_bootstrap(metric, pa_, pb_, n_boot=200, seed=seed)
        bounded = paired_bootstrap(metric, pa_, pb_, n_boot=200, seed=seed, max_events=5_000)
        runs.append((metric, full, bounded))
    for metric in ("pr_auc", "f1"):
        full = metric_estimate(metric, pa_, n_boot=200, seed=seed)
        bounded = metric_estimate(metric, pa_, n_boot=200, seed=seed, max_events=5_000)
        runs.append((metric, full, bounded))
    for metric, full, bounded in runs:
        assert bounded.value == full.value and bounded.n == full.n == 50_000, metric
        assert full.lower is not None and full.upper is not None
        assert bounded.lower is not None and bounded.upper is not None
        width = full.upper - full.lower
        assert width > 0
        assert abs(bounded.lower - full.lower) <= 0.25 * width, (metric, full, bounded)
        assert abs(bounded.upper - full.upper) <= 0.25 * width, (metric, full, bounded)
        # the replicates came from the subsample: not the full bootstrap's numbers
        assert (bounded.lower, bounded.upper) != (full.lower, full.upper), metric


@pytest.mark.parametrize("seed", [0, 3])
def test_a_slices_bounded_interval_keeps_the_tolerance_and_is_whole_up_to_its_bound(
    seed: int,
) -> None:
    """``binary_metrics(max_events=)``, what the Slices view's PR AUC interval takes."""
    from watchkeeper.core.evaluation.metrics import binary_metrics

    y, a, _ = _pairs(50_000, seed)
    metrics = ("pr_auc", "roc_auc")
    full = binary_metrics(y, a, threshold=0.4, metrics=metrics, n_boot=200, seed=seed)
    bounded = binary_metrics(
        y, a, threshold=0.4, metrics=metrics, n_boot=200, seed=seed, max_events=5_000
    )
    assert bounded["roc_auc"] == full["roc_auc"]  # DeLong: no bootstrap to bound
    f, b = full["pr_auc"], bounded["pr_auc"]
    assert b.value == f.value and b.n == f.n == 50_000
    width = f.upper - f.lower
    assert abs(b.lower - f.lower) <= 0.25 * width and abs(b.upper - f.upper) <= 0.25 * width
    assert (b.lower, b.upper) != (f.lower, f.upper)
    small = binary_metrics(y[:4_000], a[:4_000], metrics=metrics, n_boot=100, seed=seed)
    assert (
        binary_metrics(
            y[:4_000], a[:4_000], metrics=metrics, n_boot=100, seed=seed, max_events=4_000
        ).metrics
        == small.metrics
    )


def test_up_to_its_bound_the_bootstrap_is_the_full_one() -> None:
    y, a, b = _pairs(4_000, 1)
    pa_, pb_ = Prepared(y, a, 0.4), Prepared(y, b, 0.4)
    for metric in ("pr_auc", "precision"):
        full = paired_bootstrap(metric, pa_, pb_, n_boot=100, seed=2)
        assert paired_bootstrap(metric, pa_, pb_, n_boot=100, seed=2, max_events=4_000) == full
        assert paired_bootstrap(metric, pa_, pb_, n_boot=100, seed=2, max_events=3_999) != full
    est = metric_estimate("pr_auc", pa_, n_boot=100, seed=2)
    assert metric_estimate("pr_auc", pa_, n_boot=100, seed=2, max_events=4_000) == est


@pytest.mark.parametrize("primary", ["roc_auc", "pr_auc", "precision"])
def test_the_complete_comparison_from_its_first_answer_equals_the_whole_one(
    primary: str,
) -> None:
    y, a, b = _pairs(6_000, 7)
    rng = np.random.default_rng(8)
    y[rng.random(y.size) < 0.3] = np.nan  # unlabeled pairs count in agreement, not metrics
    table = pa.table(
        {
            "request_id": [f"r{i:05d}" for i in range(y.size)],
            "label": y,
            "score_a": a,
            "score_b": b,
            "country": rng.choice(["DE", "FR", "NL"], y.size),
        }
    )
    slices = (
        SlicePredicate("DE", (Condition("country", "eq", "DE"),)),
        SlicePredicate("FR or NL", (Condition("country", "in", ("FR", "NL")),)),
    )
    metrics = tuple(dict.fromkeys((primary, "roc_auc", "pr_auc", "precision", "recall")))
    settings = {
        "threshold": 0.4,
        "slices": slices,
        "slice_metric": primary,
        "cost_false_positive": 1.0,
        "cost_false_negative": 4.0,
        "n_boot": 60,
        "seed": 5,
        "max_events": 2_000,  # bounded as well: the subsample is seeded alike
    }
    first = compare(table, metrics=(primary,), **settings)
    whole = compare(table, metrics=metrics, **settings)
    assert compare(table, metrics=metrics, earlier=first, **settings).to_dict() == whole.to_dict()
    assert whole.differences[primary] == first.differences[primary]
    with pytest.raises(ValueError):
        compare(table, metrics=("recall", primary), earlier=first, **settings)


def test_a_subset_keeps_the_order_its_own_stable_sort_gives() -> None:
    rng = np.random.default_rng(4)
    y = (rng.random(5_000) < 0.2).astype(float)
    s = np.round(rng.random(5_000), 2)  # many ties: their order is the events' order
    prep = Prepared(y, s, 0.5)
    _ = prep.order
    keep = rng.random(5_000) < 0.3
    for part in (keep, np.flatnonzero(keep)):
        sub = prep.subset(part)
        alone = Prepared(y[keep], s[keep], 0.5)
        assert np.array_equal(sub.order, alone.order)
        for metric in ("roc_auc", "pr_auc", "precision"):
            assert evaluate(metric, sub) == evaluate(metric, alone)


def test_a_multiclass_bounded_interval_keeps_the_tolerance_and_is_whole_up_to_its_bound() -> None:
    """``metrics_of_codes(max_events=)``, what a multiclass Slices view's intervals take."""
    from watchkeeper.core.evaluation.multiclass import metrics_of_codes

    rng = np.random.default_rng(4)
    n, classes = 50_000, ("a", "b", "c")
    codes = rng.integers(0, 3, n).astype(float)
    logits = rng.normal(size=(n, 3))
    logits[np.arange(n), codes.astype(int)] += 1.0
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    metrics = ("balanced_accuracy", "macro_f1", "weighted_f1", "accuracy")
    full = metrics_of_codes(classes, codes, p, metrics=metrics, n_boot=200, seed=1)
    bounded = metrics_of_codes(
        classes, codes, p, metrics=metrics, n_boot=200, seed=1, max_events=5_000
    )
    assert bounded["accuracy"] == full["accuracy"]  # Wilson: no bootstrap to bound
    for name in ("balanced_accuracy", "macro_f1", "weighted_f1"):
        f, b = full[name], bounded[name]
        assert b.value == f.value and b.n == f.n == n, name
        width = f.upper - f.lower
        assert abs(b.lower - f.lower) <= 0.25 * width, (name, f, b)
        assert abs(b.upper - f.upper) <= 0.25 * width, (name, f, b)
        assert (b.lower, b.upper) != (f.lower, f.upper), name
    few = metrics_of_codes(classes, codes[:4_000], p[:4_000], metrics=metrics, n_boot=100)
    same = metrics_of_codes(
        classes, codes[:4_000], p[:4_000], metrics=metrics, n_boot=100, max_events=4_000
    )
    assert same.metrics == few.metrics
