"""PR AUC of a bootstrap replicate counted on the score groups holding a positive only
equals the weighted per-group computation bit for bit, in the cases that could tell them
apart: ties of positives and negatives, a positive in the first or last group, rare
positives, replicates that draw no positive, a threshold-free tail of negatives."""

from __future__ import annotations

import numpy as np
import pytest

from watchkeeper.core.evaluation.intervals import bootstrap_counts, bootstrap_resample
from watchkeeper.core.evaluation.metrics import Prepared, evaluate


def _same_replicates(y: np.ndarray, s: np.ndarray, replicates: int, seed: int = 3) -> int:
    """Replicates of PR AUC by draws and by weights, compared; how many were NaN."""
    prep = Prepared(y, s)
    weighted, drawn = np.random.default_rng(seed), np.random.default_rng(seed)
    nan = 0
    for _ in range(replicates):
        a = evaluate("pr_auc", prep, bootstrap_counts(weighted, y.size))
        b = evaluate("pr_auc", prep, bootstrap_resample(drawn, y.size))
        assert a == b or (np.isnan(a) and np.isnan(b)), (a, b)
        nan += int(np.isnan(b))
    return nan


@pytest.mark.parametrize("rate", [0.002, 0.05, 0.5, 0.97])
@pytest.mark.parametrize("decimals", [1, 3, None])
def test_replicates_equal_the_weighted_path(rate: float, decimals: int | None) -> None:
    rng = np.random.default_rng(7)
    n = 2500
    y = (rng.random(n) < rate).astype(float)
    s = np.clip(rng.random(n) * 0.9 + 0.2 * y, 0.0, 1.0)
    if decimals is not None:  # ties, of positives with negatives too
        s = np.round(s, decimals)
    _same_replicates(y, s, 30)


def test_positives_in_the_first_and_last_groups_and_replicates_without_one() -> None:
    y = np.zeros(40)
    y[[0, 39]] = 1.0
    s = np.linspace(1.0, 0.0, 40)  # the positives score highest and lowest
    assert _same_replicates(y, s, 200) > 0  # some replicates draw neither positive
    s_tied = np.where(y == 1, 0.5, s)  # both positives tied with each other
    _same_replicates(y, s_tied, 100)


def test_no_positive_at_all_and_all_positive() -> None:
    s = np.random.default_rng(1).random(30)
    assert _same_replicates(np.zeros(30), s, 10) == 10
    assert _same_replicates(np.ones(30), s, 10) == 0
