"""Bootstrap replicates counted from their draws equal the weighted path bit for bit, and the
Champion-vs-challenger view's first answer decides as its complete one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from workbench_results import fraud_entry

from watchkeeper.core.evaluation.intervals import bootstrap_counts, bootstrap_resample
from watchkeeper.core.evaluation.metrics import Prepared, evaluate
from watchkeeper.core.workbench.challenger import run_challenger, run_gate

METRICS = ("roc_auc", "pr_auc", "precision", "recall", "f1", "accuracy", "brier", "ece")


@pytest.mark.parametrize("ties", [False, True])
def test_a_replicate_from_its_draws_equals_the_weighted_replicate(ties: bool) -> None:
    rng = np.random.default_rng(11)
    n = 3000
    y = (rng.random(n) < 0.2).astype(float)
    s = rng.random(n)
    if ties:  # few distinct scores: every group holds many events
        s = np.round(s, 2)
    prep = Prepared(y, s, 0.3)
    for metric in METRICS:
        weighted, drawn = np.random.default_rng(3), np.random.default_rng(3)
        for _ in range(25):
            w = bootstrap_counts(weighted, n)
            r = bootstrap_resample(drawn, n)
            a, b = evaluate(metric, prep, w), evaluate(metric, prep, r)
            assert a == b or (np.isnan(a) and np.isnan(b)), (metric, a, b)
            assert np.array_equal(r.counts(), w)


def test_labels_other_than_0_1_take_the_weighted_path() -> None:
    rng = np.random.default_rng(2)
    y, s = rng.random(500), rng.random(500)  # not a binary outcome
    prep = Prepared(y, s)
    assert not prep.binary_labels
    a, b = np.random.default_rng(1), np.random.default_rng(1)
    for metric in ("roc_auc", "precision"):
        assert evaluate(metric, prep, bootstrap_counts(a, 500)) == evaluate(
            metric, prep, bootstrap_resample(b, 500)
        )


def test_the_first_answer_decides_as_the_complete_view(demo_workspace: Path) -> None:
    fraud = fraud_entry(demo_workspace)
    early = []
    view = run_challenger(fraud, "1", "2", n_boot=30, on_partial=early.append)
    assert [v.complete for v in early] == [False] and view.complete
    first = early[0]
    # the same criteria and verdict, and the same plots (the pairs were read once)
    assert [c.to_dict() for c in first.gate.criteria] == [c.to_dict() for c in view.gate.criteria]
    assert first.gate.passed == view.gate.passed
    assert first.score_a is view.score_a and first.disagreements is view.disagreements
    assert set(first.comparison.differences) == {"roc_auc"}
    assert set(view.comparison.differences) == {"roc_auc", "pr_auc", "precision", "recall"}
    # one read serves the gate and the plots: the evidence is the gate's own
    alone = run_gate(fraud, "1", "2", n_boot=30)
    assert view.gate.to_evidence().digest == alone.to_evidence().digest
