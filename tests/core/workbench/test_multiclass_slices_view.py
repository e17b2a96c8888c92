"""The Slices view's analysis of a multiclass model: the spec's slices and the worst slices
on its primary metric, and a slice built by the user recomputed over the events read."""

from __future__ import annotations

from pathlib import Path

import pytest
from multiclass_shadow import write_shadow_workspace
from sklearn import metrics as sk

from watchkeeper.core.evaluation.predicates import Condition, SlicePredicate
from watchkeeper.core.workbench.portfolio import portfolio_of_spec
from watchkeeper.core.workbench.slices import MULTICLASS_SLICE_METRICS, recompute_slices, run_slices


def test_slices_of_a_multiclass_model_and_a_slice_built_by_the_user(tmp_path: Path) -> None:
    entry = portfolio_of_spec(write_shadow_workspace(tmp_path)).models[0]
    view = run_slices(entry, "1")
    assert view.multiclass and view.metric == "macro_f1"
    assert tuple(view.slices.overall) == MULTICLASS_SLICE_METRICS
    assert view.worst is not None and view.worst.metric == "macro_f1"
    frame = view.table.to_pandas()
    low_x1 = SlicePredicate("low x1", (Condition("x1", "range", (None, 0.0)),))
    again = recompute_slices(view, [low_x1])
    row = again.slices.row("low x1")
    rows = frame[(frame.x1 < 0) & frame.label.notna()]
    expected = sk.f1_score(rows.label, rows.prediction, average="macro")
    assert row.metrics["macro_f1"].value == pytest.approx(expected, abs=1e-12)
    assert row.positives is None and row.labeled == len(rows)
    shown = again.metrics_frame().set_index("slice")
    assert shown.loc["low x1", "from"] == "builder"
    assert shown.loc["low x1", "balanced_accuracy"] == pytest.approx(
        sk.balanced_accuracy_score(rows.label, rows.prediction), abs=1e-12
    )
