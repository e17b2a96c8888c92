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
    # no two feature names print over each other (merchant_id and country sit close)
    qtbot.wait(50)
    boxes = [lb.mapRectToScene(lb.boundingRect()) for lb in pane.quadrant.labels]
    clashes = [
        (pane.quadrant.names[i], pane.quadrant.names[j])
        for i in range(len(boxes))
        for j in range(i + 1, len(boxes))
        if boxes[i].intersected(boxes[j]).width() * boxes[i].intersected(boxes[j]).height() > 4
    ]
    assert clashes == []
    # a unit change: the median ratio says ×0.01 where the Wasserstein ratio reads 0.73
    row = next(
        r
        for r in range(pane.skew_table.rowCount())
        if pane.skew_table.item(r, 0).text() == "amount"
    )
    # (×0.014: v2 is served from day 90, when the planted gradual drift has raised amount)
    assert 0.005 < float(pane.skew_table.item(row, 5).text().lstrip("×")) < 0.02
    shots = Path(__file__).resolve().parents[2] / "resources" / "screenshots"
    pane.grab().save(str(tmp_path / "what-matters.png"))
    pane.grab().save(str(shots / "drift_importance_quadrant.png"))
    pane.setCurrentIndex(1)
    pane.grab().save(str(tmp_path / "skew.png"))
    pane.grab().save(str(shots / "training-serving-skew.png"))
