"""The model-card editor: one field per card section, the revision history, and after a
refused save both versions side by side.

The draft's truth is a :class:`~.card_draft.CardDraft`; the fields write each keystroke to it
and are refilled only when it loads other texts. Saving is the panel's business (it runs in
the TaskRunner): this widget emits :attr:`CardEditorWidget.save_requested` and draws the
outcome it is handed.
"""

from __future__ import annotations

from html import escape
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from watchkeeper.app.panels.card_draft import CardDraft
from watchkeeper.app.panels.common import MessageBanner
from watchkeeper.app.panels.governance_records import revision_label, sections, utc_time
from watchkeeper.app.panels.governance_work import (
    JSON_CARD_FIELDS,
    CardSave,
    GovernanceView,
    card_to_texts,
)
from watchkeeper.app.panels.records_box import detail_box
from watchkeeper.widgets.text_box import TextBox

__all__ = ["CardEditorWidget"]

#: Card sections edited on one line; the others get a text box.
_ONE_LINE = ("owner", "training_data_version", "training_data_digest")


class CardEditorWidget(QGroupBox):
    """The card of one model version: editor, history, and the comparison after a conflict."""

    save_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Model card", parent)
        self.draft = CardDraft()
        self._filling = False
        self.banner = MessageBanner()
        self.conflict_box = self._build_conflict()
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self._build_editor(), "Editor")
        self.tabs.addTab(self._build_history(), "History")
        layout = QVBoxLayout(self)
        layout.addWidget(self.banner)
        layout.addWidget(self.conflict_box)
        layout.addWidget(self.tabs, 1)
        self.draft.subscribe(self._on_draft_changed)
        self._on_draft_changed(frozenset({"filled", "conflict"}))

    # -- building --------------------------------------------------------------------------

    def _build_conflict(self) -> QWidget:
        box = QWidget()
        self.conflict_label = QLabel()
        self.conflict_label.setWordWrap(True)
        self.conflict_mine = detail_box("")
        self.conflict_theirs = detail_box("")
        self.take_theirs_button = QPushButton("Put theirs in the editor")
        self.take_theirs_button.setToolTip(
            "Replace the editor's text with the newer revision (yours stays on the left)"
        )
        self.dismiss_conflict_button = QPushButton("Hide the comparison")
        self.take_theirs_button.clicked.connect(self.draft.take_theirs)
        self.dismiss_conflict_button.clicked.connect(self.draft.dismiss_conflict)
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.conflict_label)
        sides = QHBoxLayout()
        titles = []
        for title, text in (("Yours (not saved)", self.conflict_mine), ("Theirs", None)):
            col = QVBoxLayout()
            label = QLabel(f"<b>{title}</b>")
            label.setWordWrap(True)
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            titles.append(label)
            col.addWidget(label)
            col.addWidget(text if text is not None else self.conflict_theirs)
            sides.addLayout(col, 1)
        self.conflict_theirs_title = titles[1]
        layout.addLayout(sides)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.take_theirs_button)
        buttons.addWidget(self.dismiss_conflict_button)
        layout.addLayout(buttons)
        return box

    def _build_editor(self) -> QWidget:
        from watchkeeper.core.governance.store import CARD_FIELDS

        self.edits: dict[str, QLineEdit | QPlainTextEdit] = {}
        fields = QWidget()
        form = QFormLayout(fields)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapAllRows)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        for name in CARD_FIELDS:
            edit = _section_edit(name)
            edit.textChanged.connect(lambda *_args, name=name: self._on_section_edited(name))
            self.edits[name] = edit
            form.addRow(name.replace("_", " ").capitalize(), edit)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(fields)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.save_button = QPushButton("Save card")
        self.save_button.setToolTip("Save a new revision (Ctrl+S)")
        self.save_button.setShortcut("Ctrl+S")
        self.revert_button = QPushButton("Discard my edits")
        self.save_button.clicked.connect(self.save_requested)
        self.revert_button.clicked.connect(self.draft.revert)
        buttons = QHBoxLayout()
        buttons.addWidget(self.status, 1)
        buttons.addWidget(self.revert_button)
        buttons.addWidget(self.save_button)
        editor = QWidget()
        layout = QVBoxLayout(editor)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addWidget(scroll, 1)
        layout.addLayout(buttons)
        return editor

    def _build_history(self) -> QWidget:
        self.history_list = QListWidget()
        self.history_view = detail_box("Select a revision to read it.")
        self.history_list.currentRowChanged.connect(self._on_history_row_changed)
        history = QSplitter(Qt.Orientation.Horizontal)
        history.addWidget(self.history_list)
        history.addWidget(self.history_view)
        history.setStretchFactor(1, 2)
        return history

    # -- drawing ---------------------------------------------------------------------------

    def set_offline(self, offline: bool) -> None:
        """On a bundle a save is a signed draft in its outbox."""
        self.save_button.setText("Save draft to outbox" if offline else "Save card")

    def show_view(self, view: GovernanceView) -> None:
        """The stored card and its history; unsaved edits of the same card are kept."""
        self.history_list.clear()
        for card in reversed(view.card_history):
            item = QListWidgetItem(revision_label(card))
            item.setData(Qt.ItemDataRole.UserRole, card)
            self.history_list.addItem(item)
        self.tabs.setTabText(1, f"History ({len(view.card_history)})")
        self.setTitle(f"Model card — {view.model} version {view.version}")
        self.draft.load(view.model, view.version, view.card)

    def show_save(self, outcome: CardSave) -> None:
        """A save's outcome: written to the outbox, saved, or refused with both versions."""
        self.save_button.setEnabled(True)
        if outcome.pending is not None:
            entry = outcome.pending
            self.draft.drafted()
            self.banner.show_message(
                f"Card draft signed and added to the bundle's outbox (entry {entry.id[:8]}, "
                f"from revision {entry.payload.get('base_revision')}). It becomes a new "
                "revision when you sync; if someone saved a newer one meanwhile, the sync "
                "reports a conflict and keeps your draft.",
                "info",
            )
        elif outcome.saved is not None:
            self.draft.saved(outcome.saved.revision)
            self.banner.show_message(
                f"Saved revision {outcome.saved.revision} of the model card.", "info"
            )
        else:
            self.banner.clear_message()
            self.draft.conflicted(outcome.conflict)

    def show_error(self, message: str) -> None:
        self.save_button.setEnabled(True)
        self.banner.show_message(f"<b>The card was not saved.</b> {escape(message)}")

    def _show_conflict(self, conflict: Any) -> None:
        self.conflict_box.setVisible(conflict is not None)
        if conflict is None:
            return
        mine, theirs_text, differing = self.draft.comparison()
        self.conflict_mine.setPlainText(mine)
        self.conflict_theirs.setPlainText(theirs_text)
        theirs = conflict.current
        who = f"{theirs.actor}, {utc_time(theirs.created_at)}" if theirs is not None else ""
        revision = theirs.revision if theirs is not None else "?"
        self.conflict_theirs_title.setText(f"<b>Theirs</b> — revision {revision} ({escape(who)})")
        self.conflict_label.setText(
            f"<b>Not saved: someone saved revision {revision} while you were editing "
            f"revision {conflict.base_revision}.</b> Both versions of the "
            f"{differing} differing section(s) are below; your text is still in the "
            f"editor. Merge, then Save again to write over revision {revision}."
        )

    # -- handlers --------------------------------------------------------------------------

    def _on_draft_changed(self, changed: frozenset[str]) -> None:
        if "filled" in changed:
            self._fill(self.draft.texts)
        if "conflict" in changed:
            self._show_conflict(self.draft.conflict)
        self.status.setText(self.draft.status())

    def _on_section_edited(self, name: str) -> None:
        if not self._filling:
            self.draft.edit(name, _text_of(self.edits[name]))

    def _on_history_row_changed(self, row: int) -> None:
        item = self.history_list.item(row)
        if item is None:
            return
        texts = card_to_texts(item.data(Qt.ItemDataRole.UserRole).content)
        self.history_view.setPlainText(sections(texts, list(texts)))

    def _fill(self, texts: dict[str, str]) -> None:
        # Filling is not editing: the draft already holds these texts.
        self._filling = True
        try:
            for name, edit in self.edits.items():
                value = texts.get(name, "")
                if isinstance(edit, QLineEdit):
                    edit.setText(value)
                else:
                    edit.setPlainText(value)
        finally:
            self._filling = False


def _section_edit(name: str) -> QLineEdit | QPlainTextEdit:
    if name in _ONE_LINE:
        return QLineEdit()
    edit = TextBox()
    edit.setTabChangesFocus(True)
    edit.setFixedHeight(110 if name in JSON_CARD_FIELDS else 64)
    if name in JSON_CARD_FIELDS:
        edit.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        edit.setToolTip("JSON")
    return edit


def _text_of(edit: QLineEdit | QPlainTextEdit) -> str:
    return edit.text() if isinstance(edit, QLineEdit) else edit.toPlainText()
