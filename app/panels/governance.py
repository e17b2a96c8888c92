"""The Governance view: decisions, rollbacks, the model card, incident notes and the audit log.

For the portfolio's selected model version it shows who you are signed in as (a verified
PostgreSQL role or a local, unverified OS login), the model's decisions, its incident
notes, the version's model card with its history, and the audit log. Approve / Reject,
Roll back and Add note open dialogs (``app/dialogs/``) that write through the TaskRunner;
the card is edited in place and saved with optimistic concurrency — on a conflict both
versions stay on screen and the editor keeps yours. Verify re-checks the whole audit chain
in the background and names the first broken record.

On an offline bundle (a :class:`~.governance_work.BundleTarget`) the records are the ones
frozen in the bundle, every write becomes a signed entry in the bundle's outbox, the
Outbox box lists those entries (pending or synced) in place of the audit log, and
“Sync outbox…” asks the window to push them to a shared database.

All reading and writing runs in :mod:`.governance_work` on the TaskRunner; this module only
draws the :class:`~.governance_work.GovernanceState` and turns clicks into requests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from watchkeeper.app.panels.common import BusyLine, DeferredPanel, MessageBanner, PanelTask
from watchkeeper.app.panels.governance_work import (
    JSON_CARD_FIELDS,
    REASON_LABELS,
    CardSave,
    GovernanceState,
    GovernanceTarget,
    GovernanceView,
    audit_frame,
    card_to_texts,
    decisions_frame,
    load_governance,
    save_card,
    texts_to_card,
    verify,
)
from watchkeeper.app.theme import tone
from watchkeeper.app.workers import TaskRunner
from watchkeeper.widgets.dataframe_model import DataFrameTableModel
from watchkeeper.widgets.text_box import TextBox

__all__ = ["GovernancePanel", "make_governance_panel"]

LOAD_KEY = "governance"
CARD_KEY = "governance.card"
VERIFY_KEY = "governance.verify"
#: Card sections edited on one line; the others get a text box.
_ONE_LINE = ("owner", "training_data_version", "training_data_digest")
_APPROVE_TIP = "Run the promotion gate and sign an approval of the challenger as champion"
_REJECT_TIP = "Run the promotion gate and sign a rejection of the challenger"
#: Characters of a note shown in a table cell (the full text is in the detail box).
_CELL_CHARS = 160


def make_governance_panel(
    runner: TaskRunner,
    workspace: Path | None = None,
    *,
    target: GovernanceTarget | None = None,
    parent: QWidget | None = None,
) -> GovernancePanel:
    """The Governance view over ``target``, else the workspace's own governance database."""
    if target is None and workspace is not None:
        target = GovernanceTarget.from_workspace(workspace)
    return GovernancePanel(runner, target, parent=parent)


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def one_line(text: str, limit: int = _CELL_CHARS) -> str:
    """A table cell's version of free text: one line, control characters made visible."""
    head = text[: limit + 1]
    out = "".join(
        "⏎" if ch in "\r\n" else ("·" if (ord(ch) < 32 and ch != "\t") or ch == "\x7f" else ch)
        for ch in head
    ).replace("\t", " ")
    return out[:limit] + "…" if len(text) > limit else out


def _time(value: Any) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC" if value is not None else ""


def _mono() -> QFont:
    return QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)


class GovernancePanel(DeferredPanel):
    """Decisions, rollbacks, card, notes and audit log of the selected model version."""

    view_loaded = Signal(object)  # GovernanceView, after it is drawn
    sync_requested = Signal()  # the user asked to sync the bundle's outbox
    verified = Signal(object)  # AuditReport, after it is shown
    card_saved = Signal(object)  # CardSave (saved or conflict), after it is shown

    def __init__(
        self,
        runner: TaskRunner,
        target: GovernanceTarget | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.runner = runner
        self.target = target
        self.state = GovernanceState()
        self._entry: Any = None
        self.dialog: QDialog | None = None  # the decision/rollback/note dialog that is open
        self._card_key: tuple[str, str] | None = None  # whose card the editor holds
        self._card_base: int | None = None
        self._card_dirty = False
        self._filling = False
        self._conflict: Any = None

        # -- header: what, who, actions
        self.heading = QLabel("<b>Governance</b>")
        self.heading.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.identity_label = QLabel()
        self.identity_label.setWordWrap(True)
        self.identity_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.approve_button = QPushButton("&Approve challenger…")
        self.reject_button = QPushButton("Re&ject challenger…")
        self.rollback_button = QPushButton("Roll &back…")
        self.note_button = QPushButton("Add incident &note…")
        self.refresh_button = QPushButton("Refresh")
        self.rollback_button.setToolTip(
            "Sign a rollback decision and move the champion alias (guarded move)"
        )
        self.refresh_button.setToolTip("Read the governance database and the registry again")
        bar = QHBoxLayout()
        for b in (self.approve_button, self.reject_button, self.rollback_button, self.note_button):
            bar.addWidget(b)
        bar.addStretch(1)
        bar.addWidget(self.refresh_button)
        self.busy = BusyLine()
        self.banner = MessageBanner()

        # -- decisions
        self.decisions_model = DataFrameTableModel(decisions_frame_empty())
        self.decisions_table = _table(self.decisions_model)
        self.decisions_table.setMinimumHeight(110)  # a few rows even under a long banner
        self.decision_detail = _detail("Select a decision to read it in full.")
        decisions_box = QGroupBox("Decisions")
        dl = QVBoxLayout(decisions_box)
        dl.addWidget(self.decisions_table, 3)
        dl.addWidget(self.decision_detail, 2)

        # -- incident notes
        self.notes_list = QListWidget()
        self.notes_list.setWordWrap(True)
        self.note_detail = _detail("Select a note to read it.")
        notes_box = QGroupBox("Incident notes")
        nl = QVBoxLayout(notes_box)
        nl.addWidget(self.notes_list, 1)
        nl.addWidget(self.note_detail, 1)

        # -- model card
        self.card_box = QGroupBox("Model card")
        self.card_status = QLabel()
        self.card_status.setWordWrap(True)
        self.card_banner = MessageBanner()
        self.conflict_box = QWidget()
        self.conflict_label = QLabel()
        self.conflict_label.setWordWrap(True)
        self.conflict_mine = _detail("")
        self.conflict_theirs = _detail("")
        self.take_theirs_button = QPushButton("Put theirs in the editor")
        self.take_theirs_button.setToolTip(
            "Replace the editor's text with the newer revision (yours stays on the left)"
        )
        self.dismiss_conflict_button = QPushButton("Hide the comparison")
        cl = QVBoxLayout(self.conflict_box)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.addWidget(self.conflict_label)
        sides = QHBoxLayout()
        for title, box in (("Yours (not saved)", self.conflict_mine), ("Theirs", None)):
            col = QVBoxLayout()
            label = QLabel(f"<b>{title}</b>")
            if box is None:
                self.conflict_theirs_title = label
                box = self.conflict_theirs
            label.setWordWrap(True)
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            col.addWidget(label)
            col.addWidget(box)
            sides.addLayout(col, 1)
        cl.addLayout(sides)
        cb = QHBoxLayout()
        cb.addStretch(1)
        cb.addWidget(self.take_theirs_button)
        cb.addWidget(self.dismiss_conflict_button)
        cl.addLayout(cb)
        self.conflict_box.setVisible(False)

        from watchkeeper.core.governance.store import CARD_FIELDS

        self.card_edits: dict[str, QLineEdit | QPlainTextEdit] = {}
        form_widget = QWidget()
        form = QFormLayout(form_widget)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapAllRows)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        for name in CARD_FIELDS:
            if name in _ONE_LINE:
                edit: QLineEdit | QPlainTextEdit = QLineEdit()
                edit.textChanged.connect(self._on_card_edited)
            else:
                edit = TextBox()
                edit.setTabChangesFocus(True)
                edit.setFixedHeight(110 if name in JSON_CARD_FIELDS else 64)
                if name in JSON_CARD_FIELDS:
                    edit.setFont(_mono())
                    edit.setToolTip("JSON")
                edit.textChanged.connect(self._on_card_edited)
            self.card_edits[name] = edit
            form.addRow(name.replace("_", " ").capitalize(), edit)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(form_widget)
        self.save_card_button = QPushButton("Save card")
        self.save_card_button.setToolTip("Save a new revision (Ctrl+S)")
        self.save_card_button.setShortcut("Ctrl+S")
        self.revert_card_button = QPushButton("Discard my edits")
        card_buttons = QHBoxLayout()
        card_buttons.addWidget(self.card_status, 1)
        card_buttons.addWidget(self.revert_card_button)
        card_buttons.addWidget(self.save_card_button)
        editor = QWidget()
        el = QVBoxLayout(editor)
        el.setContentsMargins(0, 4, 0, 0)
        el.addWidget(scroll, 1)
        el.addLayout(card_buttons)

        self.history_list = QListWidget()
        self.history_view = _detail("Select a revision to read it.")
        history = QSplitter(Qt.Orientation.Horizontal)
        history.addWidget(self.history_list)
        history.addWidget(self.history_view)
        history.setStretchFactor(1, 2)
        self.card_tabs = QTabWidget()
        self.card_tabs.setDocumentMode(True)
        self.card_tabs.addTab(editor, "Editor")
        self.card_tabs.addTab(history, "History")
        kl = QVBoxLayout(self.card_box)
        kl.addWidget(self.card_banner)
        kl.addWidget(self.conflict_box)
        kl.addWidget(self.card_tabs, 1)

        # -- audit log
        self.verify_button = QPushButton("Ve&rify")
        self.verify_button.setToolTip(
            "Recompute the hash chain and check every signature (runs in the background)"
        )
        self.verify_label = QLabel("Not verified in this session.")
        self.verify_label.setWordWrap(True)
        self.verify_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.verify_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.audit_model = DataFrameTableModel(audit_frame(()))
        self.audit_table = _table(self.audit_model)
        self.audit_box = audit_box = QGroupBox("Audit log")
        al = QVBoxLayout(audit_box)
        top = QHBoxLayout()
        top.addWidget(self.verify_button)
        top.addWidget(self.verify_label, 1)
        al.addLayout(top)
        al.addWidget(self.audit_table, 1)

        # -- the bundle's outbox (offline only)
        self.outbox_box = QGroupBox("Outbox of the bundle")
        self.outbox_label = QLabel()
        self.outbox_label.setWordWrap(True)
        self.outbox_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.sync_button = QPushButton("&Sync outbox…")
        self.sync_button.setToolTip(
            "Push the outbox to a shared governance database (choose and sign in to it)"
        )
        self.outbox_model = DataFrameTableModel(outbox_frame(()))
        self.outbox_table = _table(self.outbox_model)
        self.outbox_table.setMinimumHeight(80)
        ol = QVBoxLayout(self.outbox_box)
        otop = QHBoxLayout()
        otop.addWidget(self.outbox_label, 1)
        otop.addWidget(self.sync_button)
        ol.addLayout(otop)
        ol.addWidget(self.outbox_table, 1)
        self.outbox_box.setVisible(False)
        lower = QWidget()
        lower_layout = QVBoxLayout(lower)
        lower_layout.setContentsMargins(0, 0, 0, 0)
        lower_layout.addWidget(audit_box)
        lower_layout.addWidget(self.outbox_box)

        # -- arrangement
        left = QSplitter(Qt.Orientation.Vertical)
        left.setObjectName("governance_left_splitter")
        self.left_splitter = left
        left.addWidget(decisions_box)
        left.addWidget(notes_box)
        left.setStretchFactor(0, 3)
        left.setStretchFactor(1, 1)
        left.setSizes([330, 170])
        self.upper = QSplitter(Qt.Orientation.Horizontal)
        self.upper.setObjectName("governance_upper_splitter")
        self.upper.addWidget(left)
        self.upper.addWidget(self.card_box)
        self.upper.setStretchFactor(0, 3)
        self.upper.setStretchFactor(1, 2)
        self.upper.setSizes([640, 440])
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setObjectName("governance_splitter")
        self.splitter.addWidget(self.upper)
        self.splitter.addWidget(lower)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([520, 260])

        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.identity_label)
        layout.addLayout(bar)
        layout.addWidget(self.busy)
        layout.addWidget(self.banner)
        layout.addWidget(self.splitter, 1)

        self.task = PanelTask(runner, LOAD_KEY, self.state, self.busy)
        self.state.subscribe(self._on_state_changed)
        runner.task_finished.connect(self._on_runner_task_finished)
        self.approve_button.clicked.connect(lambda: self.open_decision("approve"))
        self.reject_button.clicked.connect(lambda: self.open_decision("reject"))
        self.rollback_button.clicked.connect(self.open_rollback)
        self.note_button.clicked.connect(self.open_note)
        self.refresh_button.clicked.connect(self.refresh)
        self.save_card_button.clicked.connect(self.save_card)
        self.revert_card_button.clicked.connect(self._on_revert_clicked)
        self.take_theirs_button.clicked.connect(self._on_take_theirs_clicked)
        self.dismiss_conflict_button.clicked.connect(lambda: self.conflict_box.setVisible(False))
        self.verify_button.clicked.connect(self.verify)
        self.sync_button.clicked.connect(self.sync_requested)
        self.decisions_table.selectionModel().currentRowChanged.connect(
            self._on_decision_row_changed
        )
        self.notes_list.currentRowChanged.connect(self._on_note_row_changed)
        self.history_list.currentRowChanged.connect(self._on_history_row_changed)
        self._show_identity()
        self._update_actions()

    # -- intent ------------------------------------------------------------------------

    def set_target(self, target: GovernanceTarget | None) -> None:
        """Write to another database/registry (after File → Connect…) and read it."""
        self.target = target
        self.state.set(view=None, report=None, verify_status="idle")
        self.refresh()

    def set_selection(self, entry: Any, version: str | None) -> None:
        """Follow the portfolio's selection."""
        self._entry = entry
        if entry is None or version is None:
            self.task.cancel()
            self.state.set(model=None, version=None, view=None, status="idle")
            return
        if (entry.name, str(version)) != (self.state.model, self.state.version):
            self.state.set(model=entry.name, version=str(version), view=None, notice=None)
        self.run_when_shown(self.refresh)

    def refresh(self) -> None:
        """Read the records and aliases again (in the TaskRunner)."""
        entry, version, target = self._entry, self.state.version, self.target
        if entry is None or version is None:
            return
        if target is None:
            self.state.set(
                status="failed",
                error="no governance database: connect to one (File → Connect…)",
            )
            return

        def work(progress, cancelled):
            return load_governance(target, entry, version, progress, cancelled)

        self.task.start(work, f"Governance of {entry.name} v{version}", self._on_view)

    def verify(self) -> None:
        """Check the audit chain and every signature (in the TaskRunner)."""
        target = self.target
        if target is None or getattr(target, "offline", False):
            return  # a bundle's signature and digests were checked when it was opened
        self.state.set(verify_status="running", report=None)

        def work(progress, cancelled):
            return verify(target, progress, cancelled)

        self.runner.run(
            VERIFY_KEY,
            work,
            label="Verify the audit log",
            on_result=lambda report: self.state.set(
                report=report, verify_status="ok" if report.ok else "broken"
            ),
            on_error=self._on_verify_error,
        )

    def save_card(self) -> None:
        """Save the editor's card as a new revision over the one it was edited from."""
        from watchkeeper.core.errors import WatchkeeperError

        if self._card_key is None or self.target is None:
            return
        try:
            content = texts_to_card(self.card_texts())
        except WatchkeeperError as exc:
            self.card_banner.show_message(str(exc))
            return
        self.card_banner.clear_message()
        model, version = self._card_key
        target, base = self.target, self._card_base
        self.save_card_button.setEnabled(False)

        def work(progress, cancelled):
            return save_card(target, model, version, content, base)

        self.runner.run(
            CARD_KEY,
            work,
            label=f"Save the model card of {model} v{version}",
            on_result=self._on_card_saved,
            on_error=self._on_card_error,
        )

    def card_texts(self) -> dict[str, str]:
        return {name: _text_of(edit) for name, edit in self.card_edits.items()}

    def set_card_texts(self, texts: dict[str, str]) -> None:
        self._filling = True
        try:
            for name, edit in self.card_edits.items():
                value = texts.get(name, "")
                if isinstance(edit, QLineEdit):
                    edit.setText(value)
                else:
                    edit.setPlainText(value)
        finally:
            self._filling = False

    # -- dialogs -----------------------------------------------------------------------

    def open_decision(self, decision: str) -> QDialog | None:
        from watchkeeper.app.dialogs.decision import DecisionDialog

        view = self.state.view
        if view is None or self.target is None or not view.challenger or not view.champion:
            return None
        dialog = DecisionDialog(
            self.runner,
            self.target,
            self._entry,
            champion=view.champion,
            challenger=view.challenger,
            identity=view.identity,
            require_verified=view.require_verified and not view.offline,
            decision=decision,
            parent=self,
        )
        dialog.recorded.connect(self._on_approval_recorded)
        return self._show_dialog(dialog)

    def open_rollback(self) -> QDialog | None:
        from watchkeeper.app.dialogs.rollback import RollbackDialog

        view = self.state.view
        if view is None or self.target is None:
            return None
        dialog = RollbackDialog(
            self.runner,
            self.target,
            self._entry,
            champion=view.champion,
            identity=view.identity,
            require_verified=view.require_verified and not view.offline,
            parent=self,
        )
        dialog.recorded.connect(self._on_rollback_recorded)
        return self._show_dialog(dialog)

    def open_note(self) -> QDialog | None:
        from watchkeeper.app.dialogs.note import IncidentNoteDialog

        view = self.state.view
        if view is None or self.target is None:
            return None
        dialog = IncidentNoteDialog(self.runner, self.target, view.model, parent=self)
        dialog.recorded.connect(self._on_note_recorded)
        return self._show_dialog(dialog)

    def _show_dialog(self, dialog: QDialog) -> QDialog:
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(lambda _r: setattr(self, "dialog", None))
        self.dialog = dialog
        dialog.open()  # window-modal, not a nested event loop
        return dialog

    def _on_note_recorded(self, note: Any) -> None:
        if _is_outbox_entry(note):
            title = note.payload.get("title", "")
            self._after_write(
                "info",
                f"Incident note “{_esc(title)}” signed and added to the bundle's outbox "
                f"(entry {note.id[:8]}); it reaches the shared database when you sync.",
            )
            return
        self._after_write("info", f"Incident note “{_esc(note.title)}” added.")

    def _on_approval_recorded(self, approval: Any) -> None:
        if _is_outbox_entry(approval):
            p = approval.payload
            verb = "Approval" if p.get("decision") == "approve" else "Rejection"
            self._after_write(
                "info",
                f"{verb} of version {p.get('model_version')} as {p.get('role')} signed as "
                f"{_esc(approval.author)} and added to the bundle's outbox (entry "
                f"{approval.id[:8]}); it is recorded when you sync the outbox.",
            )
            return
        verb = "Approved" if approval.decision == "approve" else "Rejected"
        self._after_write(
            "info",
            f"{verb} version {approval.model_version} as {approval.role}; signed as "
            f"{_esc(approval.actor)} (evidence {approval.evidence_digest[:19]}…).",
        )

    def _on_rollback_recorded(self, outcome: Any) -> None:
        r = outcome.rollback
        if outcome.pending:
            p = r.payload
            self._after_write(
                "warning",
                f"<b>Rollback decision from version {p.get('from_version')} to "
                f"{p.get('to_version')} added to the bundle's outbox</b> (entry {r.id[:8]}). "
                "The champion alias has not moved: a bundle is offline. Syncing the outbox "
                "records the decision in the shared database, not yet applied; the alias "
                "moves when the rollback is applied against the live registry.",
            )
            return
        if outcome.succeeded:
            self._after_write(
                "info",
                f"Rolled back: champion moved from version {r.from_version} to "
                f"{r.to_version}; decision and application recorded.",
            )
        else:
            self._after_write(
                "error",
                f"<b>Rollback decision recorded, but the alias was not moved.</b> "
                f"{_esc(outcome.error or '')} The failed application is recorded too.",
            )

    def _after_write(self, level: str, text: str) -> None:
        self.state.set(notice=(level, text))
        self.refresh()

    # -- results -----------------------------------------------------------------------

    def _on_view(self, view: GovernanceView) -> None:
        self.state.set(view=view, status="ready", error=None)
        self.view_loaded.emit(view)

    def _on_verify_error(self, message: str) -> None:
        self.state.set(verify_status="failed", report=None)
        self.verify_label.setText(
            f"<span style='color:{tone('error')}'>Verify failed: {_esc(message)}</span>"
        )

    def _on_card_saved(self, outcome: CardSave) -> None:
        self.save_card_button.setEnabled(True)
        if outcome.pending is not None:
            entry = outcome.pending
            self._card_dirty = False
            self.card_banner.show_message(
                f"Card draft signed and added to the bundle's outbox (entry {entry.id[:8]}, "
                f"from revision {entry.payload.get('base_revision')}). It becomes a new "
                "revision when you sync; if someone saved a newer one meanwhile, the sync "
                "reports a conflict and keeps your draft.",
                "info",
            )
            self.card_saved.emit(outcome)
            self.refresh()
            return
        if outcome.saved is not None:
            card = outcome.saved
            self._card_base = card.revision
            self._card_dirty = False
            self.conflict_box.setVisible(False)
            self._conflict = None
            self.card_banner.show_message(
                f"Saved revision {card.revision} of the model card.", "info"
            )
            self.card_saved.emit(outcome)
            self.refresh()
            return
        conflict = outcome.conflict
        self._conflict = conflict
        theirs = conflict.current
        mine_texts = card_to_texts(conflict.draft)
        theirs_texts = card_to_texts(theirs.content if theirs is not None else {})
        differing = [k for k in mine_texts if mine_texts[k] != theirs_texts[k]] or list(mine_texts)
        self.conflict_mine.setPlainText(_sections(mine_texts, differing))
        self.conflict_theirs.setPlainText(_sections(theirs_texts, differing))
        who = f"{theirs.actor}, {_time(theirs.created_at)}" if theirs is not None else ""
        self.conflict_theirs_title.setText(
            f"<b>Theirs</b> — revision {theirs.revision} ({_esc(who)})"
        )
        self.conflict_label.setText(
            f"<b>Not saved: someone saved revision {theirs.revision} while you were editing "
            f"revision {conflict.base_revision}.</b> Both versions of the "
            f"{len(differing)} differing section(s) are below; your text is still in the "
            f"editor. Merge, then Save again to write over revision {theirs.revision}."
        )
        self.conflict_box.setVisible(True)
        self.card_banner.clear_message()
        self._card_base = theirs.revision  # the next save goes over theirs, knowingly
        self.card_saved.emit(outcome)

    def _on_card_error(self, message: str) -> None:
        self.save_card_button.setEnabled(True)
        self.card_banner.show_message(f"<b>The card was not saved.</b> {_esc(message)}")

    def _on_state_changed(self, changed: frozenset[str]) -> None:
        s = self.state
        if changed & {"view", "model", "version", "status"}:
            self._show_heading()
            self._show_identity()
            self._update_actions()
        if "view" in changed:
            self._show_view(s.view)
        if changed & {"status", "error", "notice"}:
            if s.status == "failed":
                self.banner.show_message(
                    f"<b>The governance records could not be read.</b> {_esc(s.error or '')}"
                    "<br>Check the connection (File → Connect…), then press Refresh."
                )
            elif s.notice is not None:
                self.banner.show_message(s.notice[1], s.notice[0])
            else:
                self.banner.clear_message()
        if changed & {"report", "verify_status"}:
            self._show_report()

    def _show_heading(self) -> None:
        s, v = self.state, self.state.view
        if s.model is None:
            self.heading.setText("<b>Governance</b> — select a model in the portfolio.")
            return
        text = f"<b>{_esc(s.model)}</b> version {s.version}"
        if v is not None:
            text += (
                f" · champion {_v(v.champion)} · challenger {_v(v.challenger)}"
                f" <span style='color:{tone('muted')}'>(aliases from the {v.aliases_from})</span>"
            )
        self.heading.setText(text)

    def _show_identity(self) -> None:
        v = self.state.view
        if self.target is None:
            self.identity_label.setText("Not connected to a governance database.")
            return
        if v is None:
            self.identity_label.setText(
                f"Governance database: {_esc(self.target.label)} — reading…"
                if self.state.status == "running"
                else f"Governance database: {_esc(self.target.label)}"
            )
            return
        ident = v.identity
        if v.offline:
            key = (
                f"<br><span style='color:{tone('warning')}'>"
                f"Signing key: {_esc(v.key_warning)}</span>"
                if v.key_warning
                else ""
            )
            self.identity_label.setText(
                "<span style='background:#eef4fb;color:#1e3a5f'>&nbsp;offline&nbsp;</span> "
                f"Working on {_esc(v.database)}. Notes, card drafts and decisions are signed "
                f"as <b>{_esc(ident.name)}</b> with your key and wait in the outbox until "
                f"you sync them (“Sync outbox…”).{key}"
            )
            return
        if ident.verified:
            badge = "<span style='background:#e3f4e6;color:#1b6e2a'>&nbsp;verified&nbsp;</span>"
            how = "PostgreSQL role, verified by the server"
        else:
            badge = "<span style='background:#fff7e0;color:#6b4b00'>&nbsp;local&nbsp;</span>"
            how = "OS login, unverified — a SQLite database cannot prove who you are"
        need = (
            " · <b>this model's spec requires a verified identity</b>" if v.require_verified else ""
        )
        key = (
            f"<br><span style='color:{tone('warning')}'>Signing key: {_esc(v.key_warning)}</span>"
            if v.key_warning
            else ""
        )
        self.identity_label.setText(
            f"{badge} Signed in as <b>{_esc(ident.name)}</b> ({how}) · "
            f"<span style='color:{tone('muted')}'>{_esc(v.database)}</span>{need}{key}"
        )

    def _update_actions(self) -> None:
        v = self.state.view
        ready = v is not None and self.target is not None
        has_spec = self._entry is not None and getattr(self._entry, "spec", None) is not None
        can_decide = ready and has_spec and bool(v.challenger) and bool(v.champion)
        for b, tip in (
            (self.approve_button, _APPROVE_TIP),
            (self.reject_button, _REJECT_TIP),
        ):
            b.setEnabled(can_decide)
            b.setToolTip(
                tip
                if can_decide
                else "Needs a champion and a challenger alias and a loaded monitor spec"
            )
        self.rollback_button.setEnabled(ready and len(getattr(self._entry, "versions", ())) > 1)
        self.note_button.setEnabled(ready)
        self.save_card_button.setEnabled(ready)
        offline = bool(getattr(self.target, "offline", False))
        self.verify_button.setEnabled(self.target is not None and not offline)
        self.audit_box.setVisible(not offline)
        self.outbox_box.setVisible(offline)
        self.rollback_button.setToolTip(
            "Sign a rollback decision into the bundle's outbox (no alias moves offline)"
            if offline
            else "Sign a rollback decision and move the champion alias (guarded move)"
        )
        self.save_card_button.setText("Save draft to outbox" if offline else "Save card")

    def _show_view(self, view: GovernanceView | None) -> None:
        if view is None:
            self.decisions_model.set_frame(decisions_frame_empty())
            self.notes_list.clear()
            self.audit_model.set_frame(audit_frame(()))
            self.decision_detail.setPlainText("")
            return
        frame = decisions_frame(view)
        self._decision_records = _decision_records(view, frame)
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
        _cap_columns(self.decisions_table, 260)
        self.notes_list.clear()
        for note in sorted(view.notes, key=lambda n: n.starts_at, reverse=True):
            item = QListWidgetItem(f"{_time(note.starts_at)} — {one_line(note.title, 120)}")
            item.setData(Qt.ItemDataRole.UserRole, note)
            self.notes_list.addItem(item)
        self.note_detail.clear()
        self.note_detail.setPlaceholderText(
            "Select a note to read it."
            if view.notes
            else "No incident notes for this model. Add one with “Add incident note…”."
        )

        self.audit_model.set_frame(audit_frame(view.audit))
        self.audit_table.resizeColumnsToContents()
        _cap_columns(self.audit_table, 320)
        self._show_outbox(view)
        self._show_card(view)

    def _show_outbox(self, view: GovernanceView) -> None:
        self.outbox_model.set_frame(outbox_frame(view.outbox, view.synced))
        self.outbox_table.resizeColumnsToContents()
        _cap_columns(self.outbox_table, 360)
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

    def _show_card(self, view: GovernanceView) -> None:
        key = (view.model, view.version)
        card = view.card
        self.history_list.clear()
        for c in reversed(view.card_history):
            who = f"{c.actor}{'' if c.actor_verified else ' (unverified)'}"
            item = QListWidgetItem(f"revision {c.revision} · {who} · {_time(c.created_at)}")
            item.setData(Qt.ItemDataRole.UserRole, c)
            self.history_list.addItem(item)
        self.card_tabs.setTabText(1, f"History ({len(view.card_history)})")
        self.card_box.setTitle(f"Model card — {view.model} version {view.version}")
        fresh = key != self._card_key
        if fresh or not self._card_dirty:
            # Another card, or nothing of the user's to keep: show the stored revision.
            self._card_key = key
            self._card_base = card.revision if card is not None else None
            self._card_dirty = False
            self.set_card_texts(card_to_texts(card.content if card is not None else None))
            if fresh:
                self.conflict_box.setVisible(False)
                self._conflict = None
        self._show_card_status()

    def _show_card_status(self) -> None:
        if self._card_base is None:
            text = "No card yet for this version: fill in the sections and Save."
        else:
            text = f"Editing from revision {self._card_base}"
        if self._card_dirty:
            text += " · <b>unsaved edits</b>"
        self.card_status.setText(text)

    def _show_report(self) -> None:
        s = self.state
        if s.verify_status == "running":
            self.verify_label.setText("Verifying every entry and signature…")
            self.verify_button.setEnabled(False)
            return
        self.verify_button.setEnabled(self.target is not None)
        r = s.report
        if r is None:
            if s.verify_status == "idle":
                self.verify_label.setText("Not verified in this session.")
            return
        if r.ok:
            self.verify_label.setText(
                f"<b style='color:{tone('ok')}'>OK</b> — {r.entries} entries and {r.records} "
                f"signed records hold; head <tt>{r.head_hash}</tt>"
            )
        else:
            p = r.first_broken
            more = len(r.problems) - 1
            self.verify_label.setText(
                f"<b style='color:{tone('error')}'>BROKEN</b> — first broken: "
                f"<b>{_esc(p.where())}</b>: "
                f"{_esc(p.message)}" + (f" (and {more} more)" if more > 0 else "")
            )
            if p.seq is not None:
                self._select_audit_seq(p.seq)
        self.verified.emit(r)

    def _select_audit_seq(self, seq: int) -> None:
        frame = self.audit_model.frame
        for view_row in range(self.audit_model.rowCount()):
            if int(frame.iloc[self.audit_model.source_row(view_row)]["#"]) == seq:
                self.audit_table.selectRow(view_row)
                self.audit_table.scrollTo(self.audit_model.index(view_row, 0))
                return

    # -- handlers ----------------------------------------------------------------------

    def _on_runner_task_finished(self, key: str, outcome: str) -> None:
        if key == VERIFY_KEY and outcome == "cancelled" and self.state.verify_status == "running":
            self.state.set(verify_status="idle")
        if key == CARD_KEY and outcome != "done":
            self.save_card_button.setEnabled(self.state.view is not None)

    def _on_card_edited(self, *_args: Any) -> None:
        if self._filling:
            return
        if not self._card_dirty:
            self._card_dirty = True
            self._show_card_status()

    def _on_revert_clicked(self) -> None:
        view = self.state.view
        self._card_dirty = False
        if view is not None:
            self._card_key = None  # reload from the stored revision
            self._show_card(view)

    def _on_take_theirs_clicked(self) -> None:
        if self._conflict is None or self._conflict.current is None:
            return
        self.set_card_texts(card_to_texts(self._conflict.current.content))
        self._card_dirty = True
        self._show_card_status()

    def _on_decision_row_changed(self, current: Any, _previous: Any) -> None:
        records = getattr(self, "_decision_records", [])
        if not current.isValid() or not records:
            return
        record = records[self.decisions_model.source_row(current.row())]
        self.decision_detail.setPlainText(describe_record(record))

    def _on_note_row_changed(self, row: int) -> None:
        item = self.notes_list.item(row)
        if item is None:
            return
        n = item.data(Qt.ItemDataRole.UserRole)
        ends = _time(n.ends_at) if n.ends_at else "ongoing"
        self.note_detail.setPlainText(
            f"{n.title}\n{_time(n.starts_at)} – {ends} · by {n.actor}"
            f"{'' if n.actor_verified else ' (unverified)'}\n\n{n.body}"
        )

    def _on_history_row_changed(self, row: int) -> None:
        item = self.history_list.item(row)
        if item is None:
            return
        card = item.data(Qt.ItemDataRole.UserRole)
        texts = card_to_texts(card.content)
        self.history_view.setPlainText(_sections(texts, list(texts)))


# -- helpers ---------------------------------------------------------------------------


def _is_outbox_entry(value: Any) -> bool:
    from watchkeeper.core.bundle.open import OutboxEntry

    return isinstance(value, OutboxEntry)


_OUTBOX_KINDS = {
    "incident_note": "incident note",
    "model_card": "card draft",
    "approval": "decision",
    "rollback": "rollback decision",
}


def outbox_frame(entries: Any, synced: Any = frozenset()) -> pd.DataFrame:
    """The bundle's outbox entries, newest first: when, what, by whom, pending or synced."""
    rows = []
    for e in entries:
        rows.append(
            {
                "time (UTC)": str(e.created_at).replace("T", " ").replace("Z", "")[:19],
                "kind": _OUTBOX_KINDS.get(e.kind, e.kind),
                "what": one_line(e.describe().split(" ", 1)[1], 120),
                "status": "synced" if e.id in synced else "pending",
                "by": e.author,
                "entry": e.id,
            }
        )
    frame = pd.DataFrame(rows, columns=["time (UTC)", "kind", "what", "status", "by", "entry"])
    return frame.sort_values("time (UTC)", ascending=False, kind="stable").reset_index(drop=True)


def decisions_frame_empty() -> pd.DataFrame:
    return pd.DataFrame(columns=["time (UTC)", "decision", "version", "by", "note", "evidence"])


def _decision_records(view: GovernanceView, frame: pd.DataFrame) -> list[Any]:
    """The records behind the (time-sorted) decisions frame, in its row order."""
    records = [*view.approvals, *view.rollbacks]
    return [records[i] for i in frame.index]


def describe_record(record: Any) -> str:
    """A decision in full, as plain text: every field a reviewer checks, text verbatim."""
    who = f"{record.actor} ({'verified' if record.actor_verified else 'unverified'})"
    head = [f"Recorded {_time(record.created_at)} by {who}", f"Record {record.id}"]
    if hasattr(record, "decision"):
        head.insert(0, f"{record.decision} of version {record.model_version} as {record.role}")
        head.append(f"Evidence digest {record.evidence_digest}")
        return "\n".join(head) + "\n\nComment:\n" + record.comment
    head.insert(
        0,
        f"rollback from version {record.from_version} to {record.to_version} "
        f"({REASON_LABELS.get(record.reason_class, record.reason_class)})",
    )
    if record.incident_ref:
        head.append(f"Incident {record.incident_ref}")
    return "\n".join(head) + "\n\nReason:\n" + record.reason


def _sections(texts: dict[str, str], names: list[str]) -> str:
    return "\n\n".join(f"[{n}]\n{texts[n]}" for n in names)


def _v(version: str | None) -> str:
    return f"v{version}" if version else "none"


def _text_of(edit: QLineEdit | QPlainTextEdit) -> str:
    return edit.text() if isinstance(edit, QLineEdit) else edit.toPlainText()


def _table(model: DataFrameTableModel) -> QTableView:
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


def _cap_columns(table: QTableView, width: int) -> None:
    for col in range(table.model().columnCount()):
        if table.columnWidth(col) > width:
            table.setColumnWidth(col, width)


def _detail(placeholder: str) -> QPlainTextEdit:
    box = TextBox(read_only=True)
    box.setPlaceholderText(placeholder)
    box.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
    return box
