"""Metrics equal scikit-learn's; DeLong's variance agrees with independent computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from watchkeeper.core.evaluation.intervals import wilson
from watchkeeper.core.evaluation.metrics import (
    EvaluationError,
    Prepared,
    binary_metrics,
    delong,
    delong_paired,
    evaluate,
    label_coverage,
    regression_metrics,
)


def _sample(rng: np.random.Generator, n: int, decimals: int | None) -> tuple[np.ndarray, ...]:
    y = (rng.random(n) < rng.uniform(0.05, 0.6)).astype(float)
    s = 1 / (1 + np.exp(-(rng.normal(size=n) * rng.uniform(0.5, 2) + rng.uniform(0, 2) * y - 1)))
    if decimals is not None:  # ties, and scores sitting exactly on bin edges
        s = np.round(s, decimals)
    return y, s


@pytest.mark.parametrize("seed", range(12))
def test_binary_metrics_equal_scikit_learn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y, s = _sample(rng, int(rng.integers(50, 3000)), [None, 1, 2, 3][seed % 4])
    t = float(rng.choice([0.2, 0.3, 0.5]))
    m = binary_metrics(y, s, threshold=t, n_boot=20)
    pred = (s >= t).astype(int)
    expected = {
        "roc_auc": skm.roc_auc_score(y, s),
        "pr_auc": skm.average_precision_score(y, s),
        "precision": skm.precision_score(y, pred, zero_division=np.nan),
        "recall": skm.recall_score(y, pred),
        "f1": skm.f1_score(y, pred),
        "accuracy": skm.accuracy_score(y, pred),
        "log_loss": skm.log_loss(y, s),
        "brier": skm.brier_score_loss(y, s),
    }
    for name, value in expected.items():
        got = m[name].value
        if math.isnan(value):
            assert got is None, name
        else:
            assert got == pytest.approx(value, rel=1e-10, abs=1e-12), name


@pytest.mark.parametrize("seed", range(6))
def test_ece_uses_calibration_curves_bins(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    y, s = _sample(rng, 2000, 1 if seed % 2 else None)  # 1 decimal: every score on an edge
    prob_true, prob_pred = calibration_curve(y, s, n_bins=10, strategy="uniform")
    # counts per bin by the documented rule: [0, 0.1], (0.1, 0.2], ..., (0.9, 1]
    edges = np.linspace(0, 1, 11)
    counts = [((s > edges[k]) | (k == 0)) & (s <= edges[k + 1]) for k in range(10)]
    counts = np.array([c.sum() for c in counts])
    counts = counts[counts > 0]
    expected = float(np.sum(counts / len(s) * np.abs(prob_true - prob_pred)))
    assert binary_metrics(y, s, n_boot=20)["ece"].value == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_regression_metrics_equal_scikit_learn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.normal(10, 3, 500)
    p = y + rng.normal(0.3, 2, 500)
    m = regression_metrics(y, p)
    assert m["mae"].value == pytest.approx(skm.mean_absolute_error(y, p), rel=1e-12)
    assert m["rmse"].value == pytest.approx(skm.root_mean_squared_error(y, p), rel=1e-12)
    assert m["bias"].value == pytest.approx(np.mean(p - y), rel=1e-12)
    assert m["rmse"].lower < m["rmse"].value < m["rmse"].upper


def test_weighted_metrics_equal_scikit_learn_with_sample_weight() -> None:
    """The bootstrap evaluates metrics with counts as weights: same as repeating events."""
    rng = np.random.default_rng(7)
    y, s = _sample(rng, 800, 2)
    w = np.bincount(rng.integers(0, 800, 800), minlength=800).astype(float)
    prep = Prepared(y, s, 0.3)
    assert evaluate("roc_auc", prep, w) == pytest.approx(skm.roc_auc_score(y, s, sample_weight=w))
    assert evaluate("pr_auc", prep, w) == pytest.approx(
        skm.average_precision_score(y, s, sample_weight=w)
    )
    assert evaluate("f1", prep, w) == pytest.approx(skm.f1_score(y, s >= 0.3, sample_weight=w))
    assert evaluate("log_loss", prep, w) == pytest.approx(skm.log_loss(y, s, sample_weight=w))
    assert evaluate("brier", prep, w) == pytest.approx(skm.brier_score_loss(y, s, sample_weight=w))


def test_missing_labels_are_coverage_not_errors() -> None:
    y = np.array([1, 0, np.nan, 1, np.nan, 0, 1, 0])
    s = np.array([0.9, 0.2, 0.5, 0.7, 0.1, 0.4, np.nan, 0.3])
    ts = np.arange(8) * 3.6e9
    m = binary_metrics(y, s, ts_us=ts, label_ts_us=ts + 7.2e9, n_boot=20)
    assert (m.coverage.events, m.coverage.labeled, m.scores_missing) == (8, 6, 1)
    assert m.coverage.lag_hours["p50"] == pytest.approx(2.0)
    assert m["roc_auc"].value == 1.0
    one_class = binary_metrics([1, 1, np.nan], [0.2, 0.4, 0.1], n_boot=20)
    assert one_class["roc_auc"].value is None and one_class["roc_auc"].to_dict()["value"] is None
    assert label_coverage([np.nan, np.nan]).share == 0.0


def test_bad_labels_are_refused_with_the_event() -> None:
    with pytest.raises(EvaluationError, match="must be 0 or 1; found 2 \\(event 3\\)"):
        binary_metrics([0, 1, 2], [0.1, 0.2, 0.3])


def test_wilson_matches_the_closed_form() -> None:
    # Wilson (1927) for 8/10 at 95%: [0.4902, 0.9433] (Newcombe 1998, table I style check)
    e = wilson(8, 10)
    assert (round(e.lower, 4), round(e.upper, 4)) == (0.4902, 0.9433)
    assert wilson(0, 20).lower == 0.0 and wilson(0, 0).value is None


# -- DeLong ---------------------------------------------------------------------------


def _brute_force_delong(y: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    """The Mann–Whitney kernel over all (positive, negative) pairs, computed directly."""
    x, z = s[y == 1], s[y == 0]
    k = (x[:, None] > z[None, :]) + 0.5 * (x[:, None] == z[None, :])
    v10, v01 = k.mean(axis=1), k.mean(axis=0)
    return float(k.mean()), float(v10.var(ddof=1) / x.size + v01.var(ddof=1) / z.size)


@pytest.mark.parametrize("seed", range(5))
def test_delong_equals_the_pairwise_mann_whitney_form(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y, s = _sample(rng, 600, 2)
    auc, var = _brute_force_delong(y, s)
    d = delong(y, s)
    assert d.auc == pytest.approx(auc, rel=1e-12)
    assert d.variance == pytest.approx(var, rel=1e-10)


def test_delong_variance_matches_monte_carlo_and_bootstrap() -> None:
    """Independent of the formula: the spread of AUC over fresh samples, and the bootstrap."""
    rng = np.random.default_rng(42)
    n, runs = 300, 2000
    aucs, variances = np.empty(runs), np.empty(runs)
    for r in range(runs):
        y = (rng.random(n) < 0.3).astype(float)
        s = rng.normal(size=n) + 1.0 * y
        d = delong(y, s)
        aucs[r], variances[r] = d.auc, d.variance
    # the sampling variance of the AUC estimate vs DeLong's average estimate: within 10 %
    # (the Monte Carlo variance itself has a relative SE of about sqrt(2/2000) = 3 %)
    assert variances.mean() == pytest.approx(aucs.var(ddof=1), rel=0.10)
    y = (rng.random(2000) < 0.3).astype(float)
    s = rng.normal(size=2000) + y
    prep = Prepared(y, s)
    boot = np.array(
        [
            evaluate("roc_auc", prep, np.bincount(rng.integers(0, 2000, 2000), minlength=2000))
            for _ in range(1500)
        ]
    )
    assert delong(y, s).variance == pytest.approx(boot.var(ddof=1), rel=0.15)


def test_paired_delong_equals_brute_force_and_monte_carlo() -> None:
    rng = np.random.default_rng(3)
    n = 500
    y = (rng.random(n) < 0.4).astype(float)
    shared = rng.normal(size=n)
    a = shared + 0.8 * y + 0.5 * rng.normal(size=n)
    b = shared + 1.0 * y + 0.5 * rng.normal(size=n)
    p = delong_paired(y, a, b)

    def kern(s: np.ndarray) -> np.ndarray:
        x, z = s[y == 1], s[y == 0]
        return (x[:, None] > z[None, :]) + 0.5 * (x[:, None] == z[None, :])

    ka, kb = kern(a), kern(b)
    d10 = kb.mean(axis=1) - ka.mean(axis=1)
    d01 = kb.mean(axis=0) - ka.mean(axis=0)
    var = d10.var(ddof=1) / d10.size + d01.var(ddof=1) / d01.size
    assert p.diff == pytest.approx(kb.mean() - ka.mean())
    assert p.variance == pytest.approx(var, rel=1e-10)
    # Monte Carlo of the difference's sampling variance
    diffs, vars_ = [], []
    for _ in range(1000):
        y = (rng.random(n) < 0.4).astype(float)
        shared = rng.normal(size=n)
        a = shared + 0.8 * y + 0.5 * rng.normal(size=n)
        b = shared + 1.0 * y + 0.5 * rng.normal(size=n)
        q = delong_paired(y, a, b)
        diffs.append(q.diff)
        vars_.append(q.variance)
    assert np.mean(vars_) == pytest.approx(np.var(diffs, ddof=1), rel=0.12)
