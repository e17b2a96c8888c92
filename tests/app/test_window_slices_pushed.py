"""The Slices view drawing a view counted in the database (no events held): the table, the
chart and the worst-slice list from aggregates, and the builder's slice counted again."""

from __future__ import annotations

from pathlib import Path

import pytest
from workbench_results import fraud_entry

from watchkeeper.app.panels.slices import make_slices_panel
from watchkeeper.app.workers import TaskRunner
from watchkeeper.core.workbench import analyses, slices_pushed

SHOTS = Path(__file__).resolve().parents[2] / "resources" / "screenshots"


def done(key: str):
    return lambda k, outcome: k == key and outcome != "cancelled"


def test_the_panel_draws_a_view_counted_in_the_database(
    qtbot, demo_workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the settings patched here are this process's: the analysis stays on its threads
    monkeypatch.setenv("WATCHKEEPER_CHILD", "0")
    monkeypatch.setattr(analyses, "IN_MEMORY_ROWS", 0)
    monkeypatch.setattr(slices_pushed, "PUSHED_DIALECTS", ("duckdb",))
    runner = TaskRunner()
    panel = make_slices_panel(runner, {})
    qtbot.addWidget(panel)
    panel.resize(1400, 900)
    panel.show()
    with qtbot.waitSignal(runner.task_finished, timeout=60_000, check_params_cb=done("slices")):
        panel.set_selection(fraud_entry(demo_workspace), "1")
    assert panel.state.status == "ready", panel.state.error
    view = panel.state.result
    assert view.table is None and slices_pushed.PUSHED_NOTE in view.notes
    frame = panel.slice_model.frame
    assert list(frame["slice"]) == ["overall", "web", "app", "pos", "high-amount", "night"]
    assert frame["roc_auc"].notna().all() and len(panel.worst_model.frame) > 0
    rows = panel.slice_model.rowCount()
    panel.column_combo.setCurrentText("channel")
    panel.value_combo.setEditText("web")
    web = frame.loc[frame["slice"] == "web"].iloc[0]
    overall = frame.loc[frame["slice"] == "overall"].iloc[0]
    # the builder's live count, counted in the database (the view holds no events)
    with qtbot.waitSignal(
        runner.task_finished, timeout=30_000, check_params_cb=done("slices-preview")
    ):
        panel.preview_condition()
    share = web["events"] / overall["events"]
    assert panel.preview_label.text() == f"{int(web['events']):,} events ({share:.1%})"
    assert panel.add_condition()
    with qtbot.waitSignal(runner.task_finished, timeout=30_000, check_params_cb=done("slices")):
        assert panel.add_slice()
    assert panel.slice_model.rowCount() == rows + 1
    added = panel.slice_model.frame.iloc[-1]
    assert added["events"] == web["events"]  # the same condition, counted again there
    SHOTS.mkdir(parents=True, exist_ok=True)
    panel.grab().save(str(SHOTS / "slices-counted-in-database.png"))
