"""Metrics per slice: support, intervals and the difference from the overall value."""

from __future__ import annotations

import numpy as np
import pytest
from slice_worlds import planted_world

from watchkeeper.core.evaluation.predicates import Condition, SlicePredicate
from watchkeeper.core.evaluation.slices import slice_metrics


def test_slice_metrics_report_support_and_delta() -> None:
    rng = np.random.default_rng(3)
    t = planted_world(rng, 5000, True)
    p = SlicePredicate("z", (Condition("a", "eq", "z"),), critical=True)
    r = slice_metrics(t, [p], metrics=("roc_auc", "precision"), threshold=0.5, n_boot=50)
    row = r.row("z")
    assert row.support == int((np.asarray(t.column("a")) == "z").sum())
    assert row.delta["roc_auc"] == pytest.approx(
        row.metrics["roc_auc"].value - r.overall["roc_auc"].value
    )
    assert row.metrics["roc_auc"].upper < r.overall["roc_auc"].lower
