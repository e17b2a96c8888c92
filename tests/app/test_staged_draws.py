"""Staged drawing: a result's plots are drawn one step per turn of the event loop, so what
each step posts (a pyqtgraph scene's update and its paint) runs before the next step."""

from __future__ import annotations

from PySide6.QtCore import QMetaObject, QObject, Qt, Slot

from watchkeeper.app.panels.common import StagedDraws


class _Posted(QObject):
    """Records when a posted (queued) call ran, as a scene's update would."""

    def __init__(self, log: list[str]) -> None:
        super().__init__()
        self.log = log

    @Slot()
    def ran(self) -> None:
        self.log.append("posted")


def test_steps_run_in_order_one_per_turn_with_posted_events_between(qtbot) -> None:
    log: list[str] = []
    posted = _Posted(log)
    draws = StagedDraws()

    def step(name: str) -> None:
        log.append(name)
        QMetaObject.invokeMethod(posted, "ran", Qt.ConnectionType.QueuedConnection)

    draws.schedule("heatmap", lambda: step("heatmap"))
    draws.schedule("cell", lambda: step("cell"))
    assert log == [] and draws.pending()  # nothing runs inside the handler that schedules
    qtbot.waitUntil(lambda: not draws.pending(), timeout=2000)
    qtbot.waitUntil(lambda: len(log) == 4, timeout=2000)
    assert log == ["heatmap", "posted", "cell", "posted"]


def test_a_step_scheduled_again_keeps_its_place_and_runs_once_and_cancel_drops_all(
    qtbot,
) -> None:
    log: list[str] = []
    draws = StagedDraws()
    draws.schedule("heatmap", lambda: log.append("old heatmap"))
    draws.schedule("cell", lambda: log.append("cell"))
    draws.schedule("heatmap", lambda: log.append("new heatmap"))  # a newer answer
    qtbot.waitUntil(lambda: not draws.pending(), timeout=2000)
    assert log == ["new heatmap", "cell"]
    draws.schedule("heatmap", lambda: log.append("late"))
    draws.cancel()
    qtbot.wait(50)
    assert log == ["new heatmap", "cell"] and not draws.pending()


def test_a_progress_report_paints_nothing_at_once(qtbot) -> None:
    """A busy line's progress is painted with the window's next update, never inside the
    report: QProgressBar.setValue repaints at once, and that immediate paint flushed every
    dirty region of the window (a panel just shown painted its plots inside a progress
    report). The bar still shows the new value when the window paints."""
    from PySide6.QtCore import QEvent
    from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

    from watchkeeper.app.panels.common import BusyLine

    class Paints(QObject):
        def __init__(self) -> None:
            super().__init__()
            self.seen: list[str] = []

        def eventFilter(self, obj: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.Paint:
                self.seen.append(type(obj).__name__)
            return False

    panel = QWidget()
    layout = QVBoxLayout(panel)
    busy = BusyLine()
    other = QLabel("a widget that needs painting")
    layout.addWidget(busy)
    layout.addWidget(other)
    qtbot.addWidget(panel)
    panel.resize(400, 120)
    panel.show()
    qtbot.waitExposed(panel)
    busy.start("working")
    qtbot.wait(50)
    paints = Paints()
    for widget in (busy.bar, other):
        widget.installEventFilter(paints)
    other.update()  # dirty, as a freshly shown panel's widgets are
    for value in (0.25, 0.5, 0.75):
        busy.progress(value, f"at {value:.0%}")
        assert paints.seen == []  # nothing painted inside the report
    qtbot.waitUntil(lambda: "QProgressBar" in paints.seen and "QLabel" in paints.seen)
    assert busy.bar.value() == 750 and busy.label.text() == "at 75%"
