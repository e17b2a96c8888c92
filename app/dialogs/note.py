"""Add an incident note: a titled, signed note on a model over a time range (UTC)."""

from __future__ import annotations

import datetime as dt
from html import escape

from PySide6.QtCore import QDateTime, QTimeZone
from PySide6.QtWidgets import (
    QCheckBox,
    QDateTimeEdit,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QWidget,
)

from watchkeeper.app.dialogs.write import RecordingDialog, form, free_text
from watchkeeper.app.panels.governance_work import GovernanceTarget, add_incident_note
from watchkeeper.app.workers import TaskRunner

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


class IncidentNoteDialog(RecordingDialog):
    """Title, start, optional end and text of an incident note on ``model``."""

    # recorded: the IncidentNote (or, on a bundle, its OutboxEntry), once stored

    def __init__(
        self,
        runner: TaskRunner,
        target: GovernanceTarget,
        model: str,
        *,
        now: dt.datetime | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(runner, target, "Sign and add note", parent)
        self.model = model
        self.setWindowTitle(f"Incident note on {model}")
        self.setMinimumWidth(520)
        now = (now or dt.datetime.now(dt.UTC)).replace(second=0, microsecond=0)
        self.heading = QLabel(f"A signed note on an incident of <b>{escape(model)}</b>.")
        if getattr(target, "offline", False):
            self.heading.setText(
                f"A signed note on an incident of <b>{escape(model)}</b>, added to the "
                "bundle's outbox (offline); it reaches the shared database when you sync."
            )
            self.heading.setWordWrap(True)
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
        self.body_edit = free_text("What happened, what was done, what is left", 120)
        fields = form(
            ("Title", self.title_edit),
            ("Started", self.starts_edit),
            ("Ended", ends_row),
            ("Note", self.body_edit),
        )
        self.add_button = self.ok_button
        self.lay_out(self.heading, self.banner, (fields, 1), self.busy)

    def accept(self) -> None:
        if self.writing:
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
        target, model = self.target, self.model

        def work(progress, cancelled):
            return add_incident_note(target, model, **values)

        self.start_write(
            work, label=f"Incident note on {model}", busy_text="Signing and recording the note…"
        )
