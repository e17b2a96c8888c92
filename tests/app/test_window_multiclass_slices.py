"""The real window on a multiclass workspace (``tests/multiclass_shadow.py``: a triage model
with a challenger in shadow, planted worse on the critical slice ``channel = branch``): the
Slices view shows the slices on macro-F1 with the worst slices, the Champion vs challenger
view the gate failing on that slice, and the Slices export writes the confusion matrix."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
from multiclass_shadow import write_shadow_workspace
from PySide6.QtCore import QSettings

from watchkeeper.app.main_window import MainWindow
from watchkeeper.core.workbench.slices import MULTICLASS_SLICE_METRICS

SHOTS = Path(__file__).resolve().parents[2] / "resources" / "screenshots"


@pytest.fixture
def window(qtbot, tmp_path: Path) -> MainWindow:
    write_shadow_workspace(tmp_path / "ws", worse_on="branch")
    settings = QSettings(str(tmp_path / "layout.ini"), QSettings.Format.IniFormat)
    window = MainWindow(tmp_path / "ws", settings=settings, check_health=False)
    qtbot.addWidget(window)
    window.resize(1500, 950)
    window.show()
    qtbot.waitUntil(lambda: window.models_table.rowCount() >= 2, timeout=30_000)
    return window


def test_slices_and_champion_views_on_a_multiclass_model(
    qtbot, window: MainWindow, tmp_path: Path
) -> None:
    window.portfolio.select("triage", "1")
    window.tabs.setCurrentWidget(window.slices)
    slices = window.slices
    qtbot.waitUntil(lambda: slices.state.status in ("ready", "failed"), timeout=60_000)
    assert slices.state.status == "ready", slices.state.error
    view = slices.state.result
    assert view.metric == "macro_f1" and view.multiclass
    offered = [slices.metric_combo.itemData(i) for i in range(1, slices.metric_combo.count())]
    assert offered == list(MULTICLASS_SLICE_METRICS)
    frame = slices.slice_model.frame
    assert list(frame["slice"]) == ["overall", "branch", "web"]
    branch = view.slices.row("branch").metrics["macro_f1"].value
    assert frame.set_index("slice").loc["branch", "macro_f1"] == pytest.approx(branch)
    assert "3 classes (low, medium, high)" in slices.heading.text()
    worst = slices.worst_model.frame
    assert len(worst) > 0 and "predicted right" in worst.columns
    assert "by macro_f1" in slices.worst_title.text()
    slices.metric_combo.setCurrentIndex(offered.index("balanced_accuracy") + 1)
    assert "balanced_accuracy" in slices.slice_model.frame.columns
    slices.metric_combo.setCurrentIndex(0)
    qtbot.wait(50)
    window.grab().save(str(SHOTS / "slices-multiclass.png"))

    # the window's export: the same workbook as `report slices`, with the confusion matrix
    out = tmp_path / "triage-slices.xlsx"
    slices.export(out)
    qtbot.waitUntil(lambda: slices.state.export_status in ("done", "failed"), timeout=60_000)
    assert slices.state.export_status == "done", slices.state.export_message
    wb = openpyxl.load_workbook(out)
    assert "Confusion matrix" in wb.sheetnames
    assert wb["Confusion matrix"]["B5"].value + wb["Confusion matrix"]["C5"].value > 0

    panel = window.challenger
    panel.n_boot = 100  # the statistics are core's, tested there; here the view draws them
    window.tabs.setCurrentWidget(panel)
    qtbot.waitUntil(lambda: panel.state.status in ("ready", "failed"), timeout=90_000)
    assert panel.state.status == "ready", panel.state.error
    v = panel.state.result
    assert (v.champion, v.challenger) == ("1", "2") and v.classes == ("low", "medium", "high")
    assert [c.id for c in v.gate.failed] == ["critical_slice:channel=branch"]
    assert panel.gate_model.outcome("critical_slice:channel=branch") == "FAIL"
    assert "Gate: FAIL" in panel.verdict.text()
    assert "critical_slice:channel=branch" in panel.verdict.text()
    deltas = panel.deltas_model.frame.set_index("metric")
    f1 = v.comparison.differences["macro_f1"].value
    assert deltas.loc["macro_f1", "difference"] == pytest.approx(f1)
    # the plots are drawn in a turn of the event loop after the tables (CI once read the title
    # straight after "ready", before they were drawn)
    qtbot.waitUntil(lambda: not panel.drawing(), timeout=10_000)
    assert "one-vs-rest" in panel.roc_title.text()
    legend = panel.roc.legend.getLabel(panel.roc.challenger_curve).text
    assert f"micro AUC {v.curve_auc[1]:.3f}" in legend
    assert "Probability of the true class" in panel.scatter_title.text()
    assert "McNemar on correctness" in panel.summary.text()
    d = panel.disagree_model.frame
    assert len(d) > 0 and (d["champion predicts"] != d["challenger predicts"]).all()
    qtbot.wait(50)
    window.grab().save(str(SHOTS / "champion-multiclass.png"))
