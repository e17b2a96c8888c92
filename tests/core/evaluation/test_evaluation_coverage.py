"""Intervals cover the true value about as often as they say (seeded simulation).

The world: ``y ~ Bernoulli(0.3)``, ``z ~ N(1.2 y, 1)``, ``score = sigmoid(z - 1)``. The true
ROC AUC is Φ(1.2/√2); precision at 0.4 and recall are closed-form; Brier and PR AUC are taken
from one sample of 2,000,000 events (their Monte Carlo error, ~1e-4, is far below the
interval widths). 300 runs of n = 400 per metric; a 95 % interval's coverage has a binomial
SE of 1.3 % over 300 runs, so it must lie in [0.915, 0.985] (about ±2.7 SE). The fuller
study (more runs, sizes and metrics) is ``benchmarks/evaluation.py``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from watchkeeper.core.evaluation.metrics import Prepared, binary_metrics, evaluate

RUNS, N, PI, SHIFT, T = 300, 400, 0.3, 1.2, 0.4
LOW, HIGH = 0.915, 0.985


def _draw(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    y = (rng.random(n) < PI).astype(float)
    z = rng.normal(size=n) + SHIFT * y
    return y, 1 / (1 + np.exp(-(z - 1)))


def _truth() -> dict[str, float]:
    zt = math.log(T / (1 - T)) + 1  # score >= T  <=>  z >= zt
    tpr, fpr = stats.norm.sf(zt - SHIFT), stats.norm.sf(zt)
    y, s = _draw(np.random.default_rng(2024), 2_000_000)
    big = Prepared(y, s, T)
    return {
        "roc_auc": float(stats.norm.cdf(SHIFT / math.sqrt(2))),
        "precision": PI * tpr / (PI * tpr + (1 - PI) * fpr),
        "recall": float(tpr),
        "brier": evaluate("brier", big),
        "pr_auc": evaluate("pr_auc", big),
        "f1": evaluate("f1", big),
    }


def test_interval_coverage_is_close_to_nominal() -> None:
    truth = _truth()
    rng = np.random.default_rng(11)
    hits = dict.fromkeys(truth, 0)
    for run in range(RUNS):
        y, s = _draw(rng, N)
        m = binary_metrics(y, s, threshold=T, metrics=tuple(truth), n_boot=200, seed=run)
        for name, value in truth.items():
            hits[name] += m[name].contains(value)
    coverage = {k: v / RUNS for k, v in hits.items()}
    print(coverage)
    for name, c in coverage.items():
        assert LOW <= c <= HIGH, (name, c)
