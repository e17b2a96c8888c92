"""The drift × importance pane: nothing slow starts until asked; asked, it draws the
quadrant from the registered pyfunc model and the planted training–serving skew of v2."""

from __future__ import annotations

from pathlib import Path

from watchkeeper.app.panels.what_matters import WhatMattersPane
from watchkeeper.app.workers import TaskRunner
from watchkeeper.core.workbench.analyses import run_drift
from watchkeeper.core.workbench.portfolio import load_portfolio


def test_importance_and_skew_on_request(qtbot, demo_workspace: Path, tmp_path: Path) -> None:
    entry = load_portfolio(demo_workspace).model("fraud-detector")
    assert entry is not None
    drift = run_drift(entry, "2", "7d")
    runner = TaskRunner()
    pane = WhatMattersPane(runner)
    qtbot.addWidget(pane)
    pane.resize(900, 520)
    pane.show()
    pane.show_for(entry, "2", drift)
    assert runner.active() == [] and pane.compute_button.isEnabled()
    assert "on request" in pane.quadrant.source_label.text()
    pane.compute()
    qtbot.waitUntil(lambda: runner.active() == [], timeout=120_000)
    names = pane.quadrant.names
    assert set(names) >= {"amount", "device_type"}
    assert "model: permutation" in pane.quadrant.source_label.text()
    assert pane.skew_table.rowCount() > 0
    assert "amount" in pane.skew_heading.text()  # served in dollars, trained in cents
    assert not pane.compute_button.isEnabled()
    pane.grab().save(str(tmp_path / "what-matters.png"))
    pane.setCurrentIndex(1)
    pane.grab().save(str(tmp_path / "skew.png"))
