"""Debounced inputs: a burst of edits starts one analysis with the last value; Enter (a
commit) starts it at once; an invalid typed value starts nothing and says why."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from PySide6.QtCore import Qt
from workbench_results import fraud_entry

from watchkeeper.app.panels import drift as drift_module
from watchkeeper.app.panels.common import DEBOUNCE_MS, Debouncer
from watchkeeper.app.panels.drift import DriftPanel
from watchkeeper.app.panels.slices import make_slices_panel
from watchkeeper.app.workers import TaskRunner
from watchkeeper.core.progress import Cancelled


def test_the_last_value_of_a_burst_wins_once(qtbot) -> None:
    fired: list[object] = []
    debouncer = Debouncer(fired.append)
    for value in range(5):
        debouncer.push(value)
        qtbot.wait(20)
    assert fired == [] and debouncer.pending
    qtbot.waitUntil(lambda: fired == [4], timeout=2 * DEBOUNCE_MS + 500)
    qtbot.wait(DEBOUNCE_MS + 50)
    assert fired == [4]  # once


def test_flush_runs_now_and_cancel_forgets(qtbot) -> None:
    fired: list[object] = []
    debouncer = Debouncer(fired.append)
    debouncer.push("a")
    assert debouncer.flush() and fired == ["a"]
    assert not debouncer.flush()  # nothing pending
    debouncer.push("b")
    debouncer.cancel()
    qtbot.wait(DEBOUNCE_MS + 100)
    assert fired == ["a"] and not debouncer.pending


@pytest.fixture
def drift_panel(qtbot, monkeypatch):
    """A Drift panel whose analysis only records that it started (no data needed)."""
    started: list[str | None] = []

    def fake_run_drift(entry, version, window, progress, cancelled):
        raise Cancelled  # ends quietly; only the start matters here

    monkeypatch.setattr(drift_module, "run_drift", fake_run_drift)
    runner = TaskRunner()
    panel = DriftPanel(runner)
    qtbot.addWidget(panel)
    panel.show()
    entry = SimpleNamespace(name="fraud-detector", spec=None)
    with qtbot.waitSignal(runner.task_finished, timeout=5000):
        panel.set_selection(entry, "1")
    runner.task_started.connect(lambda key, _label: started.append(panel.state.window))
    return panel, runner, started


def test_five_quick_window_steps_start_one_analysis(qtbot, drift_panel) -> None:
    panel, _runner, started = drift_panel
    for index in (1, 2, 3, 4, 2):  # five wheel steps / arrow keys over the field
        panel.window_combo.setCurrentIndex(index)
        qtbot.wait(30)
    assert started == []
    qtbot.waitUntil(lambda: len(started) == 1, timeout=2 * DEBOUNCE_MS + 1000)
    qtbot.wait(DEBOUNCE_MS + 100)
    assert started == ["1d"]  # the last choice (index 2), once
    assert panel.state.window == "1d"


def test_typing_a_window_starts_one_analysis_and_enter_starts_it_at_once(
    qtbot, drift_panel
) -> None:
    panel, _runner, started = drift_panel
    edit = panel.window_combo.lineEdit()
    edit.selectAll()
    qtbot.keyClicks(edit, "12h")  # keystrokes 1..3, then two more edits
    qtbot.keyClick(edit, Qt.Key.Key_Backspace)
    qtbot.keyClicks(edit, "h")
    assert started == []
    qtbot.waitUntil(lambda: len(started) == 1, timeout=2 * DEBOUNCE_MS + 1000)
    qtbot.wait(DEBOUNCE_MS + 100)
    assert started == ["12h"]
    # Enter is a commit: the analysis starts without waiting for the field to rest
    edit.selectAll()
    qtbot.keyClicks(edit, "2d")
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert started == ["12h", "2d"]
    qtbot.wait(DEBOUNCE_MS + 100)
    assert started == ["12h", "2d"]


def test_a_typed_window_that_is_not_one_starts_nothing_and_says_why(qtbot, drift_panel) -> None:
    panel, _runner, started = drift_panel
    edit = panel.window_combo.lineEdit()
    edit.selectAll()
    qtbot.keyClicks(edit, "soon")
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    qtbot.wait(DEBOUNCE_MS + 100)
    assert started == []
    assert panel.banner.isVisible() and "not a window spec" in panel.banner.text()
    edit.selectAll()
    qtbot.keyClicks(edit, "7 days")  # a listed choice, by its label
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert started == ["7d"]


@pytest.fixture
def slices_panel(qtbot, demo_workspace):
    """A Slices panel showing fraud-detector v1 of the shared (read-only) demo workspace."""
    runner = TaskRunner()
    panel = make_slices_panel(runner, {})
    qtbot.addWidget(panel)
    panel.resize(1400, 900)
    panel.show()
    entry = fraud_entry(demo_workspace)
    with qtbot.waitSignal(
        runner.task_finished, timeout=60_000, check_params_cb=lambda key, _o: key == "slices"
    ):
        panel.set_selection(entry, "1")
    assert panel.state.status == "ready", panel.state.error
    return panel, runner


def test_five_quick_builder_edits_start_one_count_and_enter_adds_at_once(
    qtbot, slices_panel
) -> None:
    panel, runner = slices_panel
    started: list[str] = []
    runner.task_started.connect(lambda key, _label: started.append(key))
    panel.column_combo.setCurrentText("amount")  # a numerical column: a range
    assert panel.low_edit.isVisible()
    qtbot.keyClicks(panel.low_edit, "200")  # five edits: 2, 20, 200, 20, 200
    qtbot.keyClick(panel.low_edit, Qt.Key.Key_Backspace)
    qtbot.keyClicks(panel.low_edit, "0")
    assert started == []
    qtbot.waitUntil(lambda: "events" in panel.preview_label.text(), timeout=10_000)
    qtbot.wait(DEBOUNCE_MS + 100)
    assert started == ["slices-preview"]  # one count for the burst
    amount = panel.state.result.table.column("amount").to_numpy(zero_copy_only=False)
    assert panel.preview_label.text().startswith(f"{int((amount >= 200).sum()):,} events")
    # Enter commits: the condition is in the draft at once, no count waits for the field
    qtbot.keyClick(panel.low_edit, Qt.Key.Key_Return)
    assert [c.label for c in panel.state.draft] == ["amount>=200"]
    assert panel.preview_label.text() == ""
    qtbot.wait(DEBOUNCE_MS + 100)
    assert started == ["slices-preview"]


def test_an_unfinished_builder_value_says_why_without_a_banner(qtbot, slices_panel) -> None:
    panel, runner = slices_panel
    started: list[str] = []
    runner.task_started.connect(lambda key, _label: started.append(key))
    panel.column_combo.setCurrentText("amount")
    qtbot.keyClicks(panel.low_edit, "2x")
    qtbot.waitUntil(lambda: "numbers" in panel.preview_label.text(), timeout=5000)
    assert started == [] and not panel.banner.isVisible()
