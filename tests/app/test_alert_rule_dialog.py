"""The alert rule dialog: the drafted rule's backtest runs in the worker and is drawn beside
it; Save (and only Save) writes the changed thresholds into the spec file, comments kept."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyqtgraph as pg

from watchkeeper.app.dialogs.alert_rule import BACKTEST_KEY, AlertRuleDialog
from watchkeeper.app.workers import TaskRunner
from watchkeeper.core.spec import load_spec
from watchkeeper.core.workbench.portfolio import load_portfolio


def test_backtest_beside_the_rule_and_save_writes_the_spec(
    qtbot, demo_workspace: Path, tmp_path: Path
) -> None:
    root = tmp_path / "ws"
    shutil.copytree(demo_workspace, root, ignore=shutil.ignore_patterns("registry"))
    spec_path = root / "specs" / "fraud-detector.toml"
    before = spec_path.read_text(encoding="utf-8")
    entry = load_portfolio(root).model("fraud-detector")
    assert entry is not None and entry.spec is not None
    runner = TaskRunner()
    dialog = AlertRuleDialog(runner, entry)
    qtbot.addWidget(dialog)
    dialog.resize(1000, 640)
    dialog.show()
    dialog.margin.setValue(2.0)
    dialog.health_persistence.setValue(1)
    dialog.run_backtest()
    assert BACKTEST_KEY in runner.active()  # off the GUI thread
    qtbot.waitUntil(lambda: dialog.result_ is not None, timeout=120_000)
    health, drift, note = dialog.result_
    assert note is None and drift.rule == "drift" and health.rule == "health"
    # the draft was replayed, not the saved spec: a one-window health persistence
    assert spec_path.read_text(encoding="utf-8") == before
    assert any(h.incident.title.startswith("INC-1057") for h in drift.hits)
    bars = [i for i in dialog.plot.getPlotItem().items if isinstance(i, pg.BarGraphItem)]
    regions = [i for i in dialog.plot.getPlotItem().items if isinstance(i, pg.LinearRegionItem)]
    assert bars and len(regions) == len(health.incidents) >= 1
    assert "INC-1057" in dialog.summary.text() and "[drift]" in dialog.summary.text()
    dialog.grab().save(str(tmp_path / "alert-rule.png"))
    dialog.save()
    after = spec_path.read_text(encoding="utf-8")
    saved = load_spec(spec_path)
    assert saved.drift.calibration_margin == 2.0 and saved.health.persistence == 1
    assert after.startswith(before.splitlines()[0])  # the header comment stays
    assert "# The baseline: the champion's first month." in after
    assert sum(1 for x in after.splitlines() if x not in before.splitlines()) == 3
