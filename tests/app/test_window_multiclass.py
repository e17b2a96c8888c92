"""The Performance view of a multiclass model: its metric with the band, each class's
precision and recall, and the confusion matrix heat map (counts and row shares)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from multiclass_world import write_workspace

from watchkeeper.app.panels.per_class import MULTICLASS_METRIC_CHOICES, newest_measured
from watchkeeper.app.panels.performance import PerformancePanel
from watchkeeper.app.workers import TaskRunner
from watchkeeper.core.workbench.portfolio import ModelEntry, portfolio_of_spec
from watchkeeper.widgets.confusion_matrix import cell_values

SHOTS = Path(__file__).resolve().parents[2] / "resources" / "screenshots"


@pytest.fixture(scope="module")
def triage(tmp_path_factory: pytest.TempPathFactory) -> ModelEntry:
    return portfolio_of_spec(write_workspace(tmp_path_factory.mktemp("mc-window"))).models[0]


def test_performance_shows_the_metric_per_class_and_the_confusion_matrix(
    qtbot, triage: ModelEntry
) -> None:
    runner = TaskRunner()
    panel = PerformancePanel(runner)
    qtbot.addWidget(panel)
    panel.resize(1200, 900)
    panel.show()
    panel.set_selection(triage, "1")
    qtbot.waitUntil(lambda: panel.state.status == "ready", timeout=60_000)
    view = panel.state.result
    assert view.metric == "macro_f1"
    offered = [panel.metric_combo.itemData(i) for i in range(1, panel.metric_combo.count())]
    assert offered == list(MULTICLASS_METRIC_CHOICES)
    data = panel.timeline.data
    assert data is not None and np.isfinite(data.realized[:, 1:]).any()  # the band
    box = panel.per_class
    assert box.isVisible()
    window = newest_measured(view)
    for name in ("low", "medium", "high"):
        assert name in box.table.text()
    matrix = box.matrix
    drawn = matrix.image.image
    assert drawn.shape == (3, 3)
    np.testing.assert_allclose(drawn, cell_values(window.confusion, shares=True), atol=1e-6)
    assert matrix._texts[0].toPlainText().endswith("%")
    panel.grab().save(str(SHOTS / "performance-multiclass.png"))
    matrix.shares_box.setChecked(False)  # counts
    np.testing.assert_array_equal(matrix.image.image, np.asarray(window.confusion.counts))
    assert matrix._texts[0].toPlainText() == f"{window.confusion.counts[0][0]:,}"
    matrix.resize(520, 420)
    matrix.grab().save(str(SHOTS / "confusion-matrix-counts.png"))
