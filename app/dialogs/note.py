"""Add an incident note: a titled, signed note on a model over a time range (UTC)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from PySide6.QtCore import QDateTime, QTimeZone, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDateTimeEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from watchkeeper.app.dialogs.decision import INTERRUPTED_WRITE, WRITE_KEY, _escape
from watchkeeper.app.panels.common import BusyLine, MessageBanner
from watchkeeper.app.panels.governance_work import GovernanceTarget, add_incident_note
from watchkeeper.app.workers import TaskRunner
from watchkeeper.widgets.text_box import TextBox

__all__ = ["IncidentNoteDialog"]

_FORMAT = "yyyy-MM-dd HH:mm 'UTC'"


def _utc_edit(when: dt.datetime) -> QDateTimeEdit:
    edit = QDateTimeEdit()
    edit.setTimeZone(QTimeZone.utc())
    edit.setDisplayFormat(_FORMAT)
    edit.setCalendarPopup(True)
    edit.setDateTime(QDateTime.fromSecsSinceEpoch(int(when.timestamp()), QTimeZone.utc()))
    return edit


def _to_datetime(edit: QDateTimeEdit) -> dt.datetime:
    return dt.datetime.fromtimestamp(edit.dateTime().toSecsSinceEpoch(), dt.UTC)


class IncidentNoteDialog(QDialog):
    """Title, start, optional end and text of an incident note on ``model``."""

    recorded = Signal(object)  # the IncidentNote, once stored

    def __init__(
        self,
        runner: TaskRunner,
        target: GovernanceTarget,
        model: str,
        *,
        now: dt.datetime | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.runner = runner
        self.target = target
        self.model = model
        self.note: Any = None
        self._writing = False
        self.setWindowTitle(f"Incident note on {model}")
        self.setMinimumWidth(520)
        now = (now or dt.datetime.now(dt.UTC)).replace(second=0, microsecond=0)
        self.heading = QLabel(f"A signed note on an incident of <b>{_escape(model)}</b>.")
        if getattr(target, "offline", False):
            self.heading.setText(
                f"A signed note on an incident of <b>{_escape(model)}</b>, added to the "
                "bundle's outbox (offline); it reaches the shared database when you sync."
            )
            self.heading.setWordWrap(True)
        self.banner = MessageBanner()
        self.busy = BusyLine()
        self.title_edit = QLineEdit()
        self.title_edit.setPlaceholderText("e.g. INC-1042: empty merchant_category upstream")
        self.starts_edit = _utc_edit(now)
        self.ends_check = QCheckBox("ended")
        self.ends_edit = _utc_edit(now)
        self.ends_edit.setEnabled(False)
        self.ends_check.toggled.connect(self.ends_edit.setEnabled)
        ends_row = QHBoxLayout()
        ends_row.addWidget(self.ends_check)
        ends_row.addWidget(self.ends_edit, 1)
        self.body_edit = TextBox()
        self.body_edit.setPlaceholderText("What happened, what was done, what is left")
        self.body_edit.setMinimumHeight(120)
        form = QFormLayout()
        form.addRow("Title", self.title_edit)
        form.addRow("Started", self.starts_edit)
        form.addRow("Ended", ends_row)
        form.addRow("Note", self.body_edit)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.add_button = self.buttons.addButton(
            "Sign and add note", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.banner)
        layout.addLayout(form, 1)
        layout.addWidget(self.busy)
        layout.addWidget(self.buttons)
        runner.task_finished.connect(self._on_runner_task_finished)

    def accept(self) -> None:
        if self._writing:
            return
        title = self.title_edit.text()
        if not title.strip():
            self.banner.show_message("Give the note a title.")
            return
        values = {
            "starts_at": _to_datetime(self.starts_edit),
            "ends_at": _to_datetime(self.ends_edit) if self.ends_check.isChecked() else None,
            "title": title,
            "body": self.body_edit.toPlainText(),
        }
        self._writing = True
        self.add_button.setEnabled(False)
        self.busy.start("Signing and recording the note…")
        target, model = self.target, self.model

        def work(progress, cancelled):
            return add_incident_note(target, model, **values)

        self.runner.run(
            WRITE_KEY,
            work,
            label=f"Incident note on {model}",
            on_result=self._on_recorded,
            on_error=self._on_error,
        )

    def _on_recorded(self, note: Any) -> None:
        self._writing = False
        self.busy.stop()
        self.note = note
        self.recorded.emit(note)
        super().accept()

    def _on_error(self, message: str) -> None:
        self._writing = False
        self.busy.stop()
        self.add_button.setEnabled(True)
        self.banner.show_message(f"<b>Not recorded.</b> {_escape(message)}")

    def _on_runner_task_finished(self, key: str, outcome: str) -> None:
        if key == WRITE_KEY and outcome == "cancelled" and self._writing:
            self._writing = False
            self.busy.stop()
            self.banner.show_message(INTERRUPTED_WRITE)
            self.add_button.setEnabled(True)
