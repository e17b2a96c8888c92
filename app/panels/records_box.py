"""The Governance view's record boxes: decisions and incident notes, and the audit log or
the bundle's outbox, each table with the detail box that shows a selected record in full.

They draw a :class:`~.governance_work.GovernanceView` and emit intent (Verify, Sync); the
panel runs the work. The texts they show come from :mod:`.governance_records`.
"""

from __future__ import annotations

from html import escape
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from watchkeeper.app.panels.governance_records import (
    decision_records,
    decisions_frame_empty,
    describe_note,
    describe_record,
    note_label,
    one_line,
    outbox_frame,
)
from watchkeeper.app.panels.governance_work import GovernanceView, audit_frame, decisions_frame
from watchkeeper.app.theme import tone
from watchkeeper.widgets.dataframe_model import DataFrameTableModel
from watchkeeper.widgets.text_box import TextBox

__all__ = ["LedgerBox", "RecordsBox", "cap_columns", "detail_box", "record_table"]


class RecordsBox(QSplitter):
    """The model's decisions (table and detail) above its incident notes (list and detail)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Vertical, parent)
        self.setObjectName("governance_left_splitter")
        self._records: list[Any] = []
        self.decisions_model = DataFrameTableModel(decisions_frame_empty())
        self.decisions_table = record_table(self.decisions_model)
        self.decisions_table.setMinimumHeight(110)  # a few rows even under a long banner
        self.decision_detail = detail_box("Select a decision to read it in full.")
        decisions = QGroupBox("Decisions")
        dl = QVBoxLayout(decisions)
        dl.addWidget(self.decisions_table, 3)
        dl.addWidget(self.decision_detail, 2)

        self.notes_list = QListWidget()
        self.notes_list.setWordWrap(True)
        self.note_detail = detail_box("Select a note to read it.")
        notes = QGroupBox("Incident notes")
        nl = QVBoxLayout(notes)
        nl.addWidget(self.notes_list, 1)
        nl.addWidget(self.note_detail, 1)

        self.addWidget(decisions)
        self.addWidget(notes)
        self.setStretchFactor(0, 3)
        self.setStretchFactor(1, 1)
        self.setSizes([330, 170])
        self.decisions_table.selectionModel().currentRowChanged.connect(
            self._on_decision_row_changed
        )
        self.notes_list.currentRowChanged.connect(self._on_note_row_changed)

    def show_view(self, view: GovernanceView | None) -> None:
        if view is None:
            self._records = []
            self.decisions_model.set_frame(decisions_frame_empty())
            self.notes_list.clear()
            self.decision_detail.setPlainText("")
            return
        frame = decisions_frame(view)
        self._records = decision_records(view, frame)
        shown = frame.copy()
        shown["note"] = [one_line(t) for t in shown["note"]]
        shown["evidence"] = [d[:19] + "…" if len(d) > 19 else d for d in shown["evidence"]]
        self.decisions_model.set_frame(shown)
        self.decision_detail.clear()
        self.decision_detail.setPlaceholderText(
            "Select a decision to read it in full."
            if len(shown)
            else f"No decisions recorded for {view.model} yet. Approve or reject its "
            "challenger, or roll it back, and the signed record appears here."
        )
        self.decisions_table.resizeColumnsToContents()
        cap_columns(self.decisions_table, 260)
        self.notes_list.clear()
        for note in sorted(view.notes, key=lambda n: n.starts_at, reverse=True):
            item = QListWidgetItem(note_label(note))
            item.setData(Qt.ItemDataRole.UserRole, note)
            self.notes_list.addItem(item)
        self.note_detail.clear()
        self.note_detail.setPlaceholderText(
            "Select a note to read it."
            if view.notes
            else "No incident notes for this model. Add one with “Add incident note…”."
        )

    def _on_decision_row_changed(self, current: Any, _previous: Any) -> None:
        if not current.isValid() or not self._records:
            return
        record = self._records[self.decisions_model.source_row(current.row())]
        self.decision_detail.setPlainText(describe_record(record))

    def _on_note_row_changed(self, row: int) -> None:
        item = self.notes_list.item(row)
        if item is not None:
            self.note_detail.setPlainText(describe_note(item.data(Qt.ItemDataRole.UserRole)))


class LedgerBox(QWidget):
    """The audit log with Verify — or, on an offline bundle, the bundle's outbox with Sync."""

    verify_requested = Signal()
    sync_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.verify_button = QPushButton("Ve&rify")
        self.verify_button.setToolTip(
            "Recompute the hash chain and check every signature (runs in the background)"
        )
        self.verify_label = _wrapping_label("Not verified in this session.")
        self.verify_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.audit_model = DataFrameTableModel(audit_frame(()))
        self.audit_table = record_table(self.audit_model)
        self.audit_box = QGroupBox("Audit log")
        al = QVBoxLayout(self.audit_box)
        top = QHBoxLayout()
        top.addWidget(self.verify_button)
        top.addWidget(self.verify_label, 1)
        al.addLayout(top)
        al.addWidget(self.audit_table, 1)

        self.outbox_box = QGroupBox("Outbox of the bundle")
        self.outbox_label = _wrapping_label("")
        self.sync_button = QPushButton("&Sync outbox…")
        self.sync_button.setToolTip(
            "Push the outbox to a shared governance database (choose and sign in to it)"
        )
        self.outbox_model = DataFrameTableModel(outbox_frame(()))
        self.outbox_table = record_table(self.outbox_model)
        self.outbox_table.setMinimumHeight(80)
        ol = QVBoxLayout(self.outbox_box)
        otop = QHBoxLayout()
        otop.addWidget(self.outbox_label, 1)
        otop.addWidget(self.sync_button)
        ol.addLayout(otop)
        ol.addWidget(self.outbox_table, 1)
        self.outbox_box.setVisible(False)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.audit_box)
        layout.addWidget(self.outbox_box)
        self.verify_button.clicked.connect(self.verify_requested)
        self.sync_button.clicked.connect(self.sync_requested)

    def set_offline(self, offline: bool, *, can_verify: bool) -> None:
        """A bundle shows its outbox; a database its audit log (which Verify checks)."""
        self.verify_button.setEnabled(can_verify and not offline)
        self.audit_box.setVisible(not offline)
        self.outbox_box.setVisible(offline)

    def show_view(self, view: GovernanceView | None) -> None:
        if view is None:
            self.audit_model.set_frame(audit_frame(()))
            return
        self.audit_model.set_frame(audit_frame(view.audit))
        self.audit_table.resizeColumnsToContents()
        cap_columns(self.audit_table, 320)
        self.outbox_model.set_frame(outbox_frame(view.outbox, view.synced))
        self.outbox_table.resizeColumnsToContents()
        cap_columns(self.outbox_table, 360)
        pending = len(view.pending)
        if not view.outbox:
            text = (
                "Nothing in the outbox yet. What you record here is signed and kept in the "
                "bundle until you sync it to the shared database."
            )
        else:
            text = (
                f"<b>{pending} of {len(view.outbox)} entries waiting to be synced</b>"
                if pending
                else f"All {len(view.outbox)} entries synced."
            )
        self.outbox_label.setText(text)
        self.sync_button.setEnabled(bool(view.outbox))

    def show_report(self, status: str, report: Any, *, can_verify: bool) -> None:
        """The last Verify: running, OK, or the first broken record (selected in the log)."""
        if status == "running":
            self.verify_label.setText("Verifying every entry and signature…")
            self.verify_button.setEnabled(False)
            return
        self.verify_button.setEnabled(can_verify)
        if report is None:
            if status == "idle":
                self.verify_label.setText("Not verified in this session.")
            return
        if report.ok:
            self.verify_label.setText(
                f"<b style='color:{tone('ok')}'>OK</b> — {report.entries} entries and "
                f"{report.records} signed records hold; head <tt>{report.head_hash}</tt>"
            )
            return
        p = report.first_broken
        more = len(report.problems) - 1
        self.verify_label.setText(
            f"<b style='color:{tone('error')}'>BROKEN</b> — first broken: "
            f"<b>{escape(p.where())}</b>: "
            f"{escape(p.message)}" + (f" (and {more} more)" if more > 0 else "")
        )
        if p.seq is not None:
            self.select_audit_seq(p.seq)

    def show_verify_error(self, message: str) -> None:
        self.verify_label.setText(
            f"<span style='color:{tone('error')}'>Verify failed: {escape(message)}</span>"
        )

    def select_audit_seq(self, seq: int) -> None:
        frame = self.audit_model.frame
        for view_row in range(self.audit_model.rowCount()):
            if int(frame.iloc[self.audit_model.source_row(view_row)]["#"]) == seq:
                self.audit_table.selectRow(view_row)
                self.audit_table.scrollTo(self.audit_model.index(view_row, 0))
                return


def _wrapping_label(text: str) -> QLabel:
    # Ignored horizontally: a long line wraps instead of widening the whole view.
    label = QLabel(text)
    label.setWordWrap(True)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    return label


def record_table(model: DataFrameTableModel) -> QTableView:
    """A sortable, single-row-selection table of records, one line per row."""
    table = QTableView()
    table.setModel(model)
    table.setSortingEnabled(True)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.verticalHeader().setVisible(False)
    table.verticalHeader().setDefaultSectionSize(22)
    table.horizontalHeader().setStretchLastSection(True)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    table.setWordWrap(False)
    return table


def cap_columns(table: QTableView, width: int) -> None:
    for col in range(table.model().columnCount()):
        if table.columnWidth(col) > width:
            table.setColumnWidth(col, width)


def detail_box(placeholder: str) -> QPlainTextEdit:
    """A read-only box showing one record's text verbatim."""
    box = TextBox(read_only=True)
    box.setPlaceholderText(placeholder)
    box.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
    return box
