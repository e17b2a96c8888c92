"""The Drift view at width: which feature drifted, and since when, in at most two steps."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt

from watchkeeper.app.panels.drift import DriftPanel
from watchkeeper.app.workers import TaskRunner
from watchkeeper.core.workbench.analyses import window_for
from watchkeeper.core.workbench.portfolio import load_portfolio
from watchkeeper.widgets.drift_summary import SINCE


def _panel(qtbot, wide_workspace: Path, wide_drift: Any) -> DriftPanel:
    (entry,) = load_portfolio(wide_workspace).models
    # the result the health sweep would have cached: the test is about reading it
    cache = {("drift", entry.name, "1", window_for(entry, None)): wide_drift}
    panel = DriftPanel(TaskRunner(), cache=cache)
    qtbot.addWidget(panel)
    panel.resize(1400, 1000)
    panel.show()
    qtbot.waitExposed(panel)
    panel.set_selection(entry, "1")
    assert panel.state.status == "ready"
    return panel


def test_each_drifted_feature_and_its_onset_in_two_interactions(
    qtbot, wide_workspace: Path, wide_drift: Any
) -> None:
    panel = _panel(qtbot, wide_workspace, wide_drift)
    events = json.loads((wide_workspace / "manifest.json").read_text("utf-8"))["events"]
    planted = {e["features"][0]: e for e in events}
    summary = panel.summary
    # no interaction: the list opens with the drifting features first, each with its onset
    top = summary.visible_rows()[: len(planted)]
    assert {r.name for r in top} == set(planted)
    assert "5 drifting now" in summary.count.text()
    for name, e in planted.items():
        summary.search.clear()
        qtbot.keyClicks(summary.search, name)  # 1: type its name
        qtbot.keyClick(summary.search, Qt.Key.Key_Return)  # 2: open the first match
        (row,) = summary.visible_rows()
        shown = summary.proxy.index(0, SINCE).data()
        onset = dt.date.fromisoformat(shown)
        planted_day = dt.date.fromisoformat(e["onset"])
        assert -2 <= (onset - planted_day).days <= e["ramp_days"] // 3 + 1, name
        # the distributions at the onset and now are open for that feature
        assert panel.state.cell == (name, row.onset)
        assert f"<b>{name}</b>" in panel.distribution.title.text()
        assert shown in panel.distribution.title.text()
        last = wide_drift.windows[-1].start.date().isoformat()
        assert last in panel.now_view.title.text() and "drift" in panel.now_view.title.text()


def test_the_list_filters_sorts_and_navigates_by_keyboard(
    qtbot, wide_workspace: Path, wide_drift: Any
) -> None:
    panel = _panel(qtbot, wide_workspace, wide_drift)
    summary = panel.summary
    summary.kind_combo.setCurrentIndex(summary.kind_combo.findData("categorical"))
    rows = summary.visible_rows()
    assert len(rows) == 24 and all(r.kind == "categorical" for r in rows)
    summary.decision_combo.setCurrentIndex(summary.decision_combo.findData("drift"))
    assert [r.name for r in summary.visible_rows()] == ["cat_003", "cat_012"]
    summary.kind_combo.setCurrentIndex(0)
    summary.decision_combo.setCurrentIndex(0)
    # the largest PSI first when sorted by magnitude, as numbers (not as text)
    summary.table.sortByColumn(4, Qt.SortOrder.DescendingOrder)
    magnitudes = [r.magnitude for r in summary.visible_rows()]
    assert magnitudes == sorted(magnitudes, reverse=True)
    psi_max = max(np.nanmax([w.psi or 0 for w in f.windows]) for f in wide_drift.features)
    assert magnitudes[0] == psi_max
    # arrow keys walk the list, and each step opens that feature
    summary.table.setFocus()
    summary.select_first()
    first = panel.state.cell[0]
    qtbot.keyClick(summary.table, Qt.Key.Key_Down)
    assert panel.state.cell[0] == summary.visible_rows()[1].name != first
    # importance is not known here: the column says so rather than guess
    assert summary.proxy.index(0, 5).data() == "—"
