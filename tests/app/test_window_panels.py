"""Panels driven through the TaskRunner on the demo workspace: results, clicks, cancel, errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from workbench_results import fraud_entry

from watchkeeper.app.panels.drift import DriftPanel
from watchkeeper.app.panels.performance import PerformancePanel
from watchkeeper.app.panels.portfolio import PortfolioPanel
from watchkeeper.app.workers import TaskRunner
from watchkeeper.core.spec import parse_spec
from watchkeeper.core.workbench.portfolio import ModelEntry, load_portfolio


def done(key: str):
    return lambda k, outcome: k == key and outcome != "cancelled"


@pytest.fixture(scope="module")
def fraud(demo_workspace: Path) -> ModelEntry:
    return fraud_entry(demo_workspace)


def test_drift_panel_runs_off_the_gui_thread_and_clicks_drive_the_distribution(
    qtbot, fraud: ModelEntry
) -> None:
    runner = TaskRunner()
    panel = DriftPanel(runner)
    qtbot.addWidget(panel)
    panel.resize(1200, 800)
    panel.show()
    qtbot.waitExposed(panel)
    progress = []
    runner.task_progressed.connect(lambda k, f, m: progress.append(f))
    with qtbot.waitSignal(runner.task_finished, timeout=30_000, check_params_cb=done("drift")):
        panel.set_selection(fraud, "1")
        assert panel.state.status == "running"  # the call returned at once
        assert panel.busy.isVisible()
    assert panel.state.status == "ready", panel.state.error
    assert progress and max(progress) > 0.5
    assert not panel.busy.isVisible() and not panel.banner.isVisible()
    # the ranked list is drawn with the answer, the heat map and the distributions a turn
    # of the event loop or two later
    qtbot.waitUntil(lambda: not panel.drawing(), timeout=10_000)
    result = panel.state.result
    assert panel.heatmap.image_item.image.shape[1] == len(result.windows) == 120
    # a cell is open from the start: the most severe row's largest effect
    feature, _window = panel.state.cell
    assert feature == panel.heatmap.rows[0]
    assert feature in panel.distribution.title.text()
    # a real click on another cell shows that feature's distributions in that window
    hm = panel.heatmap
    qtbot.wait(50)  # painted, as a person sees it before clicking
    scene = hm.plot.getViewBox().mapViewToScene(hm.cell_center("amount", 110))
    pos = hm.plot_widget.mapFromScene(scene)
    qtbot.mouseClick(hm.plot_widget.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    assert panel.state.cell == ("amount", 110)
    assert "<b>amount</b>" in panel.distribution.title.text()
    assert "2026-04-21" in panel.distribution.title.text()
    f = result.feature("amount")
    np.testing.assert_allclose(
        panel.distribution.current_bars.opts["height"], f.counts[110] / f.counts[110].sum()
    )
    # sorting and filtering go through the state to the heat map
    panel.sort_combo.setCurrentIndex(panel.sort_combo.findData("name"))
    assert panel.heatmap.rows[0] == "account_age_days"
    panel.kind_buttons["categorical"].setChecked(False)
    assert "device_type" not in panel.heatmap.rows and "amount" in panel.heatmap.rows


def test_cancel_stops_the_drift_analysis_and_says_so(qtbot, fraud: ModelEntry) -> None:
    runner = TaskRunner()
    panel = DriftPanel(runner)
    qtbot.addWidget(panel)
    panel.show()
    panel.set_selection(fraud, "1")
    with qtbot.waitSignal(runner.task_finished, timeout=5000) as finished:
        runner.cancel("drift")
    assert finished.args == ["drift", "cancelled"]
    assert panel.state.status == "cancelled" and panel.state.result is None
    assert panel.banner.isVisible() and "cancelled" in panel.banner.text()
    qtbot.wait(300)  # the worker notices at its next check; its result is dropped
    assert panel.state.result is None


def test_an_error_becomes_a_banner(qtbot, fraud: ModelEntry, tmp_path: Path) -> None:
    runner = TaskRunner()
    panel = DriftPanel(runner)
    qtbot.addWidget(panel)
    panel.show()
    text = (fraud.spec_path.read_text()).replace("../telemetry.duckdb", "../missing.duckdb")
    spec = parse_spec(text, base_dir=fraud.spec_path.parent, origin="broken.toml")
    broken = dataclasses.replace(fraud, spec=spec)
    with qtbot.waitSignal(runner.task_finished, timeout=10_000) as finished:
        panel.set_selection(broken, "1")
    assert finished.args == ["drift", "failed"]
    assert panel.state.status == "failed"
    assert panel.banner.isVisible() and panel.banner.level == "error"
    assert "missing.duckdb" in panel.banner.text()
    no_spec = dataclasses.replace(fraud, spec=None, spec_error="specs/x.toml: [drift] typo")
    with qtbot.waitSignal(runner.task_finished, timeout=10_000):
        panel.set_selection(no_spec, "1")
    assert "[drift] typo" in panel.banner.text()


def test_performance_panel_draws_the_timeline(qtbot, fraud: ModelEntry) -> None:
    runner = TaskRunner()
    panel = PerformancePanel(runner)
    qtbot.addWidget(panel)
    with qtbot.waitSignal(
        runner.task_finished, timeout=30_000, check_params_cb=done("performance")
    ):
        panel.set_selection(fraud, "1")
    assert panel.state.status == "ready", panel.state.error
    view = panel.state.result
    x, _y = panel.timeline.realized_curve.getData()
    assert len(x) == len(view.realized.windows) == 120
    assert np.isfinite(panel.timeline.estimated_curve.getData()[1]).any()
    assert "Reference roc_auc" in panel.summary.text()


def test_portfolio_lists_badges_filters_and_selects(qtbot, demo_workspace: Path) -> None:
    runner = TaskRunner()
    panel = PortfolioPanel(runner)
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.selection_changed, timeout=10_000) as first:
        panel.load(demo_workspace, health=False)
    assert first.args[0] in {"churn-model", "fraud-detector"}
    item = panel.model_item("fraud-detector")
    versions = {item.child(k).text(0): item.child(k).text(1) for k in range(item.childCount())}
    assert versions == {"version 1": "champion", "version 2": "challenger"}
    panel.filter_edit.setText("fraud")
    assert panel.model_item("churn-model").isHidden()
    assert not panel.model_item("fraud-detector").isHidden()
    panel.filter_edit.setText("challenger")  # aliases match too
    assert not panel.model_item("fraud-detector").isHidden()
    with qtbot.waitSignal(panel.selection_changed, timeout=2000) as picked:
        panel.tree.setCurrentItem(item.child(1))
    assert picked.args == ["fraud-detector", "2"]


def test_portfolio_reads_the_manifest_roles_without_a_registry(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    (ws / "specs").mkdir(parents=True)
    portfolio = load_portfolio(ws)
    assert portfolio.models == () and portfolio.aliases_from == "none"
