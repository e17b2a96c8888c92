""" "Explain this drop" beside the performance plot: on the demo it names the planted causes
of the worst window (the web concept change among slices, the logging incident among
features); an unlabeled window is explained on its CBPE estimate."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from PySide6.QtCore import Qt
from workbench_results import fraud_entry

from watchkeeper.app.panels.explain_drop import EXPLAIN_KEY
from watchkeeper.app.panels.performance import PerformancePanel
from watchkeeper.app.workers import TaskRunner
from watchkeeper.core.workbench.model_checks import explain_drop, is_estimated


def test_explain_this_drop_names_the_planted_causes(
    qtbot, demo_workspace: Path, tmp_path: Path
) -> None:
    manifest = json.loads((demo_workspace / "manifest.json").read_text())
    events = {e["kind"]: e for e in manifest["events"] if e["model"] == "fraud-detector"}
    incident, concept = events["pipeline_incident"], events["concept_change"]
    entry = fraud_entry(demo_workspace)
    runner = TaskRunner()
    panel = PerformancePanel(runner)
    qtbot.addWidget(panel)
    panel.resize(1400, 760)
    panel.show()
    panel.set_selection(entry, "1")
    qtbot.waitUntil(lambda: panel.state.status == "ready", timeout=60_000)
    box = panel.explain
    assert box.button.isEnabled() and box.window_combo.count() > 0
    assert not box.features.isVisible()  # nothing computed before the click
    qtbot.mouseClick(box.button, Qt.MouseButton.LeftButton)
    assert EXPLAIN_KEY in runner.active()  # off the GUI thread
    qtbot.waitUntil(lambda: EXPLAIN_KEY not in runner.active(), timeout=120_000)
    e = box.result
    assert e is not None, box.heading.text()
    view = panel.state.result
    worst = view.realized.windows[e.window]
    start = dt.datetime.fromisoformat(incident["start"].replace("Z", "+00:00"))
    assert worst.start >= start and not e.estimated and e.change < 0
    # the concept change: its slice carries the largest part of the drop
    ((channel, value),) = concept["slice"].items()
    assert e.slices[0].name == f"{channel} = {value}"
    assert box.slices.item(0, 0).text() == f"{channel} = {value}"
    # the logging incident: its features are called drift and rank among the first three
    # (distance_from_home_km first; device_type's renamed category, PSI ≈ 9 on a feature
    # with 3 % of the importance, after amount, which the model uses most)
    top = [f.name for f in e.features[:3]]
    assert top[0] in incident["features"] and set(incident["features"]) <= set(top), top
    assert all(f.decision == "drift" for f in e.features[:3])
    assert "model: permutation" in e.importance_source
    assert box.features.item(0, 0).text() == top[0]
    # the plot outlines the window explained, and the notes under the tables are whole
    timeline = panel.timeline
    assert timeline.marked == e.window and timeline.marked_region.isVisible()
    lo, hi = timeline.marked_region.getRegion()
    assert lo <= timeline.data.x[e.window] <= hi and hi - lo == timeline.data.width
    notes = box.notes
    assert notes.height() >= notes.heightForWidth(notes.width())
    panel.grab().save(str(tmp_path / "explain-drop.png"))
    shot = Path(__file__).resolve().parents[2] / "resources" / "screenshots" / "explain-drop.png"
    panel.grab().save(str(shot))
    # the last window has too few labels: its CBPE estimate is what is split
    last = len(view.realized.windows) - 1
    assert is_estimated(view, last)
    drift, importance = next(iter(box._drift.values())), next(iter(box._importance.values()))
    est = explain_drop(entry, "1", view, drift, importance, last)
    assert est.estimated and any("CBPE" in n for n in est.notes)
    by_channel = [c.total for c in est.slices if c.name.startswith(f"{channel} =")]
    assert abs(sum(by_channel) - est.change) < 1e-9
    assert est.features[0].name in incident["features"]
