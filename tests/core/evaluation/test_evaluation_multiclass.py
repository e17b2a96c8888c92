"""Multiclass metrics equal scikit-learn's, and their intervals cover about as often as they say.

Coverage world: three classes with priors (0.5, 0.3, 0.2); features ``x ~ N(μ_y, I₂)``; the
model's probabilities are the true posteriors (a calibrated model). Every metric's true
value is taken from one sample of 400,000 events (Monte Carlo error ~1e-3, far below the
interval widths at n = 400). 150 runs of 150 bootstrap replicates; a 95 % interval's
coverage has a binomial SE of 1.8 % over 150 runs, so it must lie in [0.90, 0.99].
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as sk

from watchkeeper.core.errors import WatchkeeperError
from watchkeeper.core.evaluation.multiclass import (
    MULTICLASS_METRICS,
    multiclass_metrics,
)

CLASSES = ("low", "medium", "high")


def _random(rng: np.random.Generator, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    p = rng.dirichlet(np.ones(k), n)
    # labels that follow the probabilities a little, so the metrics are not all at chance
    y = np.array([rng.choice(k, p=0.5 * row + 0.5 / k) for row in p])
    return y, p


@pytest.mark.parametrize(("seed", "n", "k"), [(0, 300, 3), (1, 1000, 4), (2, 57, 5)])
def test_metrics_equal_scikit_learn(seed: int, n: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    y, p = _random(rng, n, k)
    classes = [f"c{j}" for j in range(k)]
    labels = [classes[j] for j in y]
    m = multiclass_metrics(classes, labels, p, n_boot=20)
    pred = p.argmax(axis=1)
    expected = {
        "accuracy": sk.accuracy_score(y, pred),
        "balanced_accuracy": sk.balanced_accuracy_score(y, pred),
        "macro_f1": sk.f1_score(y, pred, average="macro"),
        "weighted_f1": sk.f1_score(y, pred, average="weighted"),
        "roc_auc": sk.roc_auc_score(y, p, multi_class="ovr", average="macro"),
        "log_loss": sk.log_loss(y, p, labels=list(range(k))),
        "brier": sk.brier_score_loss(y, p, labels=list(range(k)), scale_by_half=False),
    }
    for name, value in expected.items():
        assert m[name].value == pytest.approx(value, rel=1e-12, abs=1e-12), name
    precision = sk.precision_score(y, pred, average=None, labels=list(range(k)), zero_division=0)
    recall = sk.recall_score(y, pred, average=None, labels=list(range(k)), zero_division=0)
    for j, name in enumerate(classes):
        assert (m.per_class[name]["precision"].value or 0.0) == pytest.approx(precision[j])
        assert m.per_class[name]["recall"].value == pytest.approx(recall[j])
    assert np.array_equal(
        np.array(m.confusion.counts), sk.confusion_matrix(y, pred, labels=list(range(k)))
    )


def test_given_predictions_and_integer_labels_and_unlabeled_events() -> None:
    rng = np.random.default_rng(5)
    y, p = _random(rng, 400, 3)
    pred = rng.integers(0, 3, 400)  # a decision rule other than argmax
    labels: list[object] = [int(v) for v in y]
    for i in range(0, 400, 7):
        labels[i] = None  # not yet labeled
    m = multiclass_metrics(("0", "1", "2"), labels, p, pred.tolist(), n_boot=20)
    keep = np.array([v is not None for v in labels])
    assert m.coverage.labeled == keep.sum() and m.coverage.events == 400
    assert m["accuracy"].value == pytest.approx(sk.accuracy_score(y[keep], pred[keep]))
    assert m["macro_f1"].value == pytest.approx(sk.f1_score(y[keep], pred[keep], average="macro"))
    shares = m.confusion.shares()
    assert all(sum(row) == pytest.approx(1.0) for row in shares if None not in row)


def test_an_unknown_class_is_refused_by_name() -> None:
    p = np.full((3, 3), 1 / 3)
    # named with how many, as the database's count names them (a row index it has not)
    refused = r"1 labeled event\(s\) have a label that is not one of the classes .*: 'urgent'"
    with pytest.raises(WatchkeeperError, match=refused):
        multiclass_metrics(CLASSES, ["low", "urgent", "high"], p)


def _world(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    priors = np.array([0.5, 0.3, 0.2])
    means = np.array([[0.0, 0.0], [1.2, 0.3], [0.4, 1.4]])
    y = rng.choice(3, size=n, p=priors)
    x = means[y] + rng.normal(size=(n, 2))
    log_post = np.log(priors) - 0.5 * ((x[:, None, :] - means[None]) ** 2).sum(axis=2)
    log_post -= log_post.max(axis=1, keepdims=True)
    post = np.exp(log_post)
    return y, post / post.sum(axis=1, keepdims=True)


def test_interval_coverage_is_close_to_nominal() -> None:
    classes = ("0", "1", "2")
    y, p = _world(np.random.default_rng(2024), 400_000)
    big = multiclass_metrics(classes, y.tolist(), p, n_boot=0)
    truth = {k: big[k].value for k in MULTICLASS_METRICS}
    recall_truth = big.per_class["2"]["recall"].value
    rng = np.random.default_rng(11)
    runs = 150
    hits = dict.fromkeys((*truth, "recall_c"), 0)
    for run in range(runs):
        yy, pp = _world(rng, 400)
        m = multiclass_metrics(classes, yy.tolist(), pp, n_boot=150, seed=run)
        for name, value in truth.items():
            assert value is not None
            hits[name] += m[name].contains(value)
        assert recall_truth is not None
        hits["recall_c"] += m.per_class["2"]["recall"].contains(recall_truth)
    coverage = {k: v / runs for k, v in hits.items()}
    print(coverage)
    for name, c in coverage.items():
        assert 0.90 <= c <= 0.99, (name, c)


def _covariate_world(
    rng: np.random.Generator, n: int, centre: float
) -> tuple[np.ndarray, np.ndarray]:
    """Features shifted by ``centre``; labels from a fixed P(y | x); an overconfident model."""
    means = np.array([[0.0, 0.0], [1.2, 0.3], [0.4, 1.4]])
    x = centre + 1.3 * rng.normal(size=(n, 2))
    logits = -0.5 * ((x[:, None, :] - means[None]) ** 2).sum(axis=2)
    truth = np.exp(logits - logits.max(axis=1, keepdims=True))
    truth /= truth.sum(axis=1, keepdims=True)
    y = (rng.random((n, 1)) > np.cumsum(truth, axis=1)).sum(axis=1).clip(0, 2)
    sharp = np.exp(1.8 * (logits - logits.max(axis=1, keepdims=True)))  # overconfident
    return y, sharp / sharp.sum(axis=1, keepdims=True)


def test_estimate_without_labels_overlaps_the_realized_value_under_covariate_shift() -> None:
    """Multiclass CBPE: calibrated on a reference, estimated on shifted windows whose labels
    are hidden; the estimate's interval holds the realized value in nearly every window,
    and calibration matters: the model's own (overconfident) probabilities miss it."""
    from watchkeeper.core.evaluation.multiclass_estimation import (
        estimate_multiclass,
        fit_multiclass_calibrator,
    )

    rng = np.random.default_rng(8)
    classes = ("0", "1", "2")
    ry, rp = _covariate_world(rng, 30_000, 0.0)  # isotonic fits on fewer are optimistic
    calibrator = fit_multiclass_calibrator(classes, ry.astype(float), rp, n_boot=20)
    names = ("accuracy", "macro_f1", "roc_auc", "brier")
    hits = dict.fromkeys(names, 0)
    windows = 24
    for w in range(windows):
        y, p = _covariate_world(rng, 800, 0.08 * w)  # drifting further each window
        est = estimate_multiclass(classes, p, calibrator, metrics=names, n_sim=100, seed=w)
        real = multiclass_metrics(classes, y.tolist(), p, metrics=names, n_boot=0)
        for name in names:
            value = real[name].value
            assert value is not None
            hits[name] += est[name].contains(value)
    print(hits)
    for name, hit in hits.items():
        assert hit >= 0.85 * windows, (name, hit)
    # without calibration (q = p) the expected accuracy is the mean top probability: too high
    y, p = _covariate_world(rng, 4000, 1.0)
    realized = multiclass_metrics(classes, y.tolist(), p, metrics=("accuracy",), n_boot=0)
    naive = float(p.max(axis=1).mean())
    estimated = estimate_multiclass(classes, p, calibrator, metrics=("accuracy",), n_sim=50)
    assert realized["accuracy"].value is not None and estimated["accuracy"].value is not None
    assert abs(estimated["accuracy"].value - realized["accuracy"].value) < 0.5 * abs(
        naive - realized["accuracy"].value
    )


def test_champion_challenger_mcnemar_and_paired_differences() -> None:
    """McNemar on correctness equals the textbook exact binomial test; each paired difference
    is the difference of scikit-learn's values, its interval narrower than unpaired ones."""
    import math

    from watchkeeper.core.evaluation.multiclass_compare import compare_multiclass

    rng = np.random.default_rng(21)
    y, champion = _world(rng, 1500)
    noise = rng.dirichlet(np.ones(3), 1500)
    challenger = 0.8 * champion + 0.2 * noise  # a blurred model: worse, strongly paired
    result = compare_multiclass(("0", "1", "2"), y.astype(float), champion, challenger, n_boot=200)
    right_a, right_b = champion.argmax(1) == y, challenger.argmax(1) == y
    n10, n01 = int((right_a & ~right_b).sum()), int((~right_a & right_b).sum())
    n = n10 + n01
    tail = sum(math.comb(n, i) for i in range(min(n10, n01) + 1)) / 2**n
    assert (result.mcnemar.champion_only, result.mcnemar.challenger_only) == (n10, n01)
    assert result.mcnemar.p_value == pytest.approx(min(1.0, 2 * tail), rel=1e-9)
    expected = sk.f1_score(y, challenger.argmax(1), average="macro") - sk.f1_score(
        y, champion.argmax(1), average="macro"
    )
    diff = result.differences["macro_f1"]
    assert diff.value == pytest.approx(expected)
    assert diff.lower is not None and diff.upper is not None
    brier = result.differences["brier"]
    assert brier.lower is not None and brier.lower > 0  # the blurred model is worse, surely
    single = result.champion["brier"]
    assert single.lower is not None and single.upper is not None
    assert brier.upper - brier.lower < single.upper - single.lower  # pairing removes noise
