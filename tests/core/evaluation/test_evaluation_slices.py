"""Metrics per slice: support, intervals and the difference from the overall value."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from watchkeeper.core.evaluation.predicates import Condition, SlicePredicate
from watchkeeper.core.evaluation.slices import slice_metrics


def _world(rng: np.random.Generator, n: int, bad: bool) -> pa.Table:
    a = rng.choice(["x", "y", "z", "w"], n)
    b = rng.normal(size=n)
    c = rng.choice(["p", "q"], n)
    y = (rng.random(n) < 0.3).astype(float)
    signal = np.where(bad & (a == "z"), 0.1, 1.2)  # the planted weak slice: a == "z"
    s = rng.normal(size=n) + signal * y
    return pa.table({"a": a, "b": b, "c": c, "label": y, "score": s})


def test_slice_metrics_report_support_and_delta() -> None:
    rng = np.random.default_rng(3)
    t = _world(rng, 5000, True)
    p = SlicePredicate("z", (Condition("a", "eq", "z"),), critical=True)
    r = slice_metrics(t, [p], metrics=("roc_auc", "precision"), threshold=0.5, n_boot=50)
    row = r.row("z")
    assert row.support == int((np.asarray(t.column("a")) == "z").sum())
    assert row.delta["roc_auc"] == pytest.approx(
        row.metrics["roc_auc"].value - r.overall["roc_auc"].value
    )
    assert row.metrics["roc_auc"].upper < r.overall["roc_auc"].lower
