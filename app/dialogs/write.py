"""The base of the dialogs that sign and record one thing through the TaskRunner.

The approve/reject, rollback and incident-note dialogs each record one thing. While it is in
flight their OK button waits and the busy line runs; when it ends the button follows what
the dialog allows again. A write whose task is cancelled (Cancel in the status bar, the
window closing) may still have committed — its transaction is short and not interruptible —
so the dialog says so instead of inviting a second, duplicate record.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLayout,
    QVBoxLayout,
    QWidget,
)

from watchkeeper.app.panels.common import BusyLine, MessageBanner
from watchkeeper.app.workers import TaskRunner, Work
from watchkeeper.widgets.text_box import TextBox

__all__ = ["INTERRUPTED_WRITE", "WRITE_KEY", "RecordingDialog", "form", "free_text"]

WRITE_KEY = "governance.write"
#: Shown when a write's task was cancelled (the window closing, Cancel in the status bar):
#: the transaction may have committed, so the user checks before writing again.
INTERRUPTED_WRITE = (
    "<b>The write was interrupted before its answer came back.</b> It may have been "
    "recorded: close this dialog and press Refresh to check before trying again."
)


class RecordingDialog(QDialog):
    """A dialog with one write at a time: banner, busy line, Cancel and an OK button.

    Subclasses build their fields, then :meth:`lay_out` them, and call :meth:`start_write`
    from ``accept``. :meth:`ready` says whether the dialog would allow a write now (evidence
    in, identity accepted…); OK is enabled when it does and nothing is in flight.
    """

    recorded = Signal(object)  # what was recorded, once stored

    def __init__(
        self, runner: TaskRunner, target: Any, ok_text: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.runner = runner
        self.target = target
        self.banner = MessageBanner()
        self.busy = BusyLine()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = self.buttons.addButton(ok_text, QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self._writing = False
        runner.task_finished.connect(self._on_write_task_finished)

    @property
    def writing(self) -> bool:
        """A write is in flight."""
        return self._writing

    def ready(self) -> bool:
        return True

    def update_button(self) -> None:
        self.ok_button.setEnabled(self.ready() and not self._writing)

    def lay_out(self, *rows: QWidget | QLayout | tuple[QWidget | QLayout, int]) -> None:
        """Rows top to bottom, the buttons last; a ``(row, stretch)`` takes spare height."""
        layout = QVBoxLayout(self)
        for row in (*rows, self.buttons):
            item, stretch = row if isinstance(row, tuple) else (row, 0)
            if isinstance(item, QLayout):
                layout.addLayout(item, stretch)
            else:
                layout.addWidget(item, stretch)
        self.update_button()

    def start_write(
        self,
        work: Work,
        *,
        label: str,
        busy_text: str,
        on_result: Callable[[Any], None] | None = None,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        """Run ``work`` under :data:`WRITE_KEY`.

        By default a result is emitted as :attr:`recorded` and closes the dialog, and an
        error is "Not recorded." with its reason in the banner.
        """
        self._writing = True
        self.update_button()
        self.busy.start(busy_text)
        self.runner.run(
            WRITE_KEY,
            work,
            label=label,
            on_result=lambda value: self._finish(on_result or self._on_recorded, value),
            on_error=lambda message: self._finish(on_error or self._not_recorded, message),
        )

    def _on_recorded(self, value: Any) -> None:
        self.recorded.emit(value)
        QDialog.accept(self)  # not the subclass's accept, which would write again

    def _not_recorded(self, message: str) -> None:
        self.banner.show_message(f"<b>Not recorded.</b> {escape(message)}")

    def _finish(self, then: Callable[[Any], None], value: Any) -> None:
        self._writing = False
        self.busy.stop()
        self.update_button()
        then(value)

    def _on_write_task_finished(self, key: str, outcome: str) -> None:
        if key == WRITE_KEY and outcome == "cancelled" and self._writing:
            self._writing = False
            self.busy.stop()
            self.banner.show_message(INTERRUPTED_WRITE)
            self.update_button()


def form(*rows: tuple[str, QWidget | QLayout]) -> QFormLayout:
    """A dialog's fields, each under its label."""
    layout = QFormLayout()
    for label, field in rows:
        layout.addRow(label, field)
    return layout


def free_text(placeholder: str, min_height: int) -> TextBox:
    """A box for the text a record keeps verbatim (a comment, a reason, a note)."""
    box = TextBox()
    box.setPlaceholderText(placeholder)
    box.setMinimumHeight(min_height)
    return box
