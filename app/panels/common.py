"""What every analysed panel shares: a message banner and the run/progress/error wiring.

A panel's long work goes through the window's one :class:`~watchkeeper.app.workers.TaskRunner`
under the panel's key, so a new request replaces the previous one and the status bar's
Cancel stops it. The panel mirrors the task in its state (``status``, ``error``) and shows
it in place: a busy line with progress while it runs, a banner with the message when it
failed or was cancelled — never a dialog, never a traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QWidget

from watchkeeper.app.analysis_process import ChildWork
from watchkeeper.app.panels.state import Observable
from watchkeeper.app.theme import tint
from watchkeeper.app.workers import TaskRunner, Work

__all__ = [
    "DEBOUNCE_MS",
    "BusyLine",
    "Debouncer",
    "DeferredPanel",
    "MessageBanner",
    "PanelTask",
    "StagedDraws",
    "missing_part",
]

#: How long an input must rest before the analysis it drives starts.
DEBOUNCE_MS = 300


class DeferredPanel(QWidget):
    """A panel whose work runs only while it is on screen.

    A selection made while the tab is hidden is remembered and its work runs when the tab
    is first shown, so a hidden view does not compete with the visible ones for the worker
    pool on every selection change.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._pending: Callable[[], None] | None = None

    def run_when_shown(self, work: Callable[[], None]) -> None:
        if self.isVisible():
            self._pending = None
            work()
        else:
            self._pending = work

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        work, self._pending = self._pending, None
        if work is not None:
            work()


class Debouncer(QObject):
    """Starts work from an input once the user pauses: the last value of a burst wins.

    Every edit calls :meth:`push` with the new value, which (re)starts a single-shot timer;
    when the input has rested ``delay_ms``, ``callback(value)`` runs once with the last value
    pushed. A commit — Enter, a button — calls :meth:`flush` to run a pending value at once.
    Five quick keystrokes or wheel steps thus start one analysis, not five that cancel each
    other (superqt's ``qdebounced``, with a value and a flush).
    """

    def __init__(
        self,
        callback: Callable[[Any], None],
        delay_ms: int = DEBOUNCE_MS,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._callback = callback
        self._value: Any = None
        self._pending = False
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(delay_ms)
        self.timer.timeout.connect(self.flush)

    @property
    def pending(self) -> bool:
        return self._pending

    def push(self, value: Any = None) -> None:
        """Remember ``value`` and wait for the input to rest (restarts the wait)."""
        self._value = value
        self._pending = True
        self.timer.start()

    def flush(self) -> bool:
        """Run the pending value now (Enter, a commit); False if nothing was pending."""
        self.timer.stop()
        if not self._pending:
            return False
        value, self._value, self._pending = self._value, None, False
        self._callback(value)
        return True

    def cancel(self) -> None:
        """Forget the pending value (the input was reset)."""
        self.timer.stop()
        self._value, self._pending = None, False


class StagedDraws(QObject):
    """Drawing steps run one per turn of the event loop, in the order first scheduled.

    Why: each pyqtgraph scene, once its items change, paints the window's dirty region
    synchronously (``QGraphicsView`` dispatches the window's pending update request itself),
    and posted events all run before any timer. So a result that changes the ranked list, the
    heat map and the distributions in one handler held the GUI thread for their sum: 150-200
    ms at 500 features (``benchmarks/ui.py``; a ``QApplication.notify`` probe showed a
    partial answer's handler of ~30 ms followed by ten scene updates of 3-44 ms each, no
    timer between them). One step per turn lets input and timers through between steps.
    The main window also puts those scene paints off to a turn of their own
    (:mod:`~watchkeeper.app.scene_paints`), so a step's plots paint the window once.

    A step draws the panel's *current* state when it runs, so scheduling a name already
    pending keeps its place and takes the newer step (two answers in a row draw once).
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._steps: dict[str, Callable[[], None]] = {}
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._run_next)

    def schedule(self, name: str, step: Callable[[], None]) -> None:
        self._steps[name] = step
        if not self._timer.isActive():
            self._timer.start()

    def pending(self) -> bool:
        """Whether steps are still to run (tests and benchmarks wait on it)."""
        return bool(self._steps)

    def cancel(self) -> None:
        self._timer.stop()
        self._steps.clear()

    def _run_next(self) -> None:
        if not self._steps:
            return
        name = next(iter(self._steps))
        step = self._steps.pop(name)
        if self._steps:  # before the step: a step that fails must not strand the others
            self._timer.start()
        step()


class MessageBanner(QLabel):
    """A one-paragraph message above a view: what failed and what to do next."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.level = ""
        self.setVisible(False)

    def show_message(self, text: str, level: str = "error") -> None:
        self.level = level
        t = tint(level)
        self.setStyleSheet(
            f"QLabel {{ background:{t.background}; color:{t.text}; border:1px solid {t.border}; "
            "padding: 6px 8px; border-radius: 3px; }"
        )
        self.setText(text)
        self.setVisible(True)

    def clear_message(self) -> None:
        self.level = ""
        self.setText("")
        self.setVisible(False)


class BusyLine(QWidget):
    """A compact 'working on it' line with progress, shown in the panel while a task runs."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel()
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(False)
        self.bar.setMaximumWidth(160)
        self.bar.setMaximumHeight(10)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        layout.addStretch(1)
        # Its line stays reserved while hidden: appearing and going, it laid the panel out
        # again, and every plot of the Drift view resized and repainted with it (~100 ms at
        # 500 features, at the click and again at the result; a ``notify`` probe).
        policy = self.sizePolicy()
        policy.setRetainSizeWhenHidden(True)
        self.setSizePolicy(policy)
        self.setVisible(False)

    def start(self, text: str) -> None:
        self.label.setText(text)
        self.bar.setRange(0, 0)
        self.setVisible(True)

    def progress(self, fraction: float, message: str) -> None:
        # QProgressBar.setValue repaints at once (QWidget::repaint), and an immediate paint
        # flushes every dirty region of the window with it: a panel just shown painted its
        # plots inside a progress report (91 ms, benchmarks/ui.py). With updates off the
        # value is set unpainted, and turning them on schedules an ordinary update.
        self.bar.setUpdatesEnabled(False)
        try:
            self.bar.setRange(0, 1000)
            self.bar.setValue(round(max(0.0, min(1.0, fraction)) * 1000))
        finally:
            self.bar.setUpdatesEnabled(True)
        if message:
            self.label.setText(message)

    def stop(self) -> None:
        self.setVisible(False)


class PanelTask:
    """Runs a panel's work under its key and mirrors it into the panel's state.

    ``state`` needs ``status`` and ``error`` fields (and the panel decides what ``result``
    means); ``on_result`` is called on the GUI thread with the value the work returned.
    """

    def __init__(
        self, runner: TaskRunner, key: str, state: Observable, busy: BusyLine | None = None
    ) -> None:
        self.runner = runner
        self.key = key
        self.state = state
        self.busy = busy
        runner.task_progressed.connect(self._on_runner_progressed)
        runner.task_finished.connect(self._on_runner_finished)

    def start(
        self,
        work: Work | ChildWork,
        label: str,
        on_result: Callable[[Any], None],
        on_partial: Callable[[Any], None] | None = None,
    ) -> None:
        # run() first: it cancels the previous task, whose "cancelled" must not stick.
        self.runner.run(
            self.key,
            work,
            label=label,
            on_result=on_result,
            on_error=self._on_error,
            on_partial=on_partial,
        )
        self.state.set(status="running", error=None)
        if self.busy is not None:
            self.busy.start(label)

    def cancel(self) -> None:
        self.runner.cancel(self.key)

    def _on_error(self, message: str) -> None:
        self.state.set(status="failed", error=message)

    def _on_runner_progressed(self, key: str, fraction: float, message: str) -> None:
        if key == self.key and self.busy is not None:
            self.busy.progress(fraction, message)

    def _on_runner_finished(self, key: str, outcome: str) -> None:
        if key != self.key:
            return
        if self.busy is not None and key not in self.runner.active():
            self.busy.stop()
        if outcome == "cancelled" and key not in self.runner.active():
            self.state.set(status="cancelled")


def missing_part(error: object) -> bool:
    """Whether a task's error says the model lacks a part (a column, a binary task) rather
    than that something broke: the view then shows it as information, not as a failure."""
    text = str(error or "")
    return "[telemetry.columns]" in text or "does not support regression" in text
