"""File > New monitor…: ``watchkeeper init``'s guesses as a wizard in the window.

Four pages over one :class:`NewMonitorWizard` holding what is known so far (the sample,
the person's overrides, the guesses, the plan):

1. **Source** — a file, a Parquet folder, or a database URL and table; Next reads the
   bounded sample and guesses in the background and shows a reader's error in the page;
2. **Columns** — every column's role and kind (editable), its reason and a few values, the
   task; an edit becomes an :class:`~watchkeeper.core.onboarding.Overrides` entry and the
   source is guessed and planned again in the background;
3. **Reference** — rows over time with the proposed reference period as a draggable region;
4. **Preview & save** — the first drift answer on that reference (the workbench's
   ``run_drift`` on the unsaved spec), the model's name and the workspace; Save writes
   them with :func:`~watchkeeper.core.onboarding.write_monitor` and the window opens it.

Every guess, plan and write is :mod:`watchkeeper.core.onboarding`'s; every long step runs
on the window's :class:`~watchkeeper.app.workers.TaskRunner` (keys ``new-monitor.*``), so
the GUI thread never reads data.
"""

from __future__ import annotations

import datetime as dt
import re
from html import escape
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemDelegate,
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from watchkeeper.app.panels.common import BusyLine, MessageBanner
from watchkeeper.app.theme import mute, tint
from watchkeeper.app.workers import TaskRunner
from watchkeeper.core.onboarding import (
    ROLE_CHOICES,
    ColumnGuess,
    Guesses,
    Overrides,
    Plan,
    Sample,
    edit_kind,
    edit_role,
    guesses_of,
    plan_monitor,
    preview_drift,
    read_sample,
    renamed,
    row_histogram,
    with_reference,
    write_monitor,
)
from watchkeeper.widgets.drift_heatmap import DriftHeatmapWidget
from watchkeeper.widgets.reference_picker import ReferencePickerWidget, epoch_seconds

__all__ = ["ColumnsTableModel", "NewMonitorWizard", "source_location"]

SAMPLE_KEY = "new-monitor.sample"
PLAN_KEY = "new-monitor.plan"
PREVIEW_KEY = "new-monitor.preview"
SAVE_KEY = "new-monitor.save"
#: What the file picker offers.
SOURCE_FILTER = "Prediction logs (*.parquet *.pq *.csv *.tsv *.csv.gz);;All files (*)"
_ORIGIN = "in the wizard"
_KINDS = ("numerical", "categorical")


def source_location(text: str, table: str = "") -> str:
    """CONTRACT.md's ``SRC`` from what the Source page holds: a path, or a URL with its
    table (``URL#table``; a URL already naming one keeps it)."""
    text, table = text.strip(), table.strip()
    is_url = bool(re.match(r"^[A-Za-z][A-Za-z0-9+.\-]*://", text)) and not text.startswith(
        "file://"
    )
    if is_url and table and "#" not in text:
        return f"{text}#{table}"
    return text


# -- the columns table -----------------------------------------------------------------


class ColumnsTableModel(QAbstractTableModel):
    """The guesses, one row per column: name, type, role, kind, sample values, why.

    Role and kind are editable; an edit is reported with :attr:`edited` (column, field,
    value) and the model changes only when new guesses arrive (:meth:`set_guesses`).
    Columns named in a guess's warning are tinted and carry the warning as their tooltip.
    """

    HEADERS = ("Column", "Type", "Role", "Kind", "Sample values", "Why")
    ROLE, KIND = 2, 3
    edited = Signal(str, str, str)  # column, "role" | "kind", value

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.guesses: Guesses | None = None
        self.rows: tuple[ColumnGuess, ...] = ()
        self.doubts: dict[str, str] = {}

    def set_guesses(self, guesses: Guesses | None) -> None:
        self.beginResetModel()
        self.guesses = guesses
        self.rows = guesses.columns if guesses is not None else ()
        self.doubts = {}
        if guesses is not None:
            for c in self.rows:
                said = [w for w in guesses.warnings if repr(c.name) in w]
                if said:
                    self.doubts[c.name] = "\n".join(said)
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.HEADERS[section]
        return None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        base = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        if index.column() == self.ROLE:
            return base | Qt.ItemFlag.ItemIsEditable
        if index.column() == self.KIND and self.rows[index.row()].role == "feature":
            return base | Qt.ItemFlag.ItemIsEditable
        return base

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if not index.isValid():
            return None
        if role not in (
            Qt.ItemDataRole.DisplayRole,
            Qt.ItemDataRole.EditRole,
            Qt.ItemDataRole.ToolTipRole,
            Qt.ItemDataRole.BackgroundRole,
            Qt.ItemDataRole.ForegroundRole,
        ):
            return None  # the hot path: most roles are not served
        c = self.rows[index.row()]
        doubt = self.doubts.get(c.name)
        if role == Qt.ItemDataRole.BackgroundRole:
            return QBrush(QColor(tint("warning").background)) if doubt else None
        if role == Qt.ItemDataRole.ForegroundRole:
            return QBrush(QColor(tint("warning").text)) if doubt else None
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{c.reason}\n\nUnsure: {doubt}" if doubt else c.reason
        col = index.column()
        if col == 0:
            return c.name
        if col == 1:
            return c.source_type
        if col == self.ROLE:
            return c.role
        if col == self.KIND:
            return str(c.kind) if c.kind is not None else ""
        if col == 4:
            return sample_text(c.examples)
        return f"⚠ {c.reason}" if doubt else c.reason

    def setData(
        self,
        index: QModelIndex | QPersistentModelIndex,
        value: Any,
        role: int = Qt.ItemDataRole.EditRole,
    ) -> bool:
        if role != Qt.ItemDataRole.EditRole or not index.isValid():
            return False
        c = self.rows[index.row()]
        field = {self.ROLE: "role", self.KIND: "kind"}.get(index.column())
        if field is None or value == (c.role if field == "role" else str(c.kind)):
            return False
        self.edited.emit(c.name, field, str(value))
        return True


class ChoiceDelegate(QStyledItemDelegate):
    """A combo box editor offering ``choices`` (roles, or kinds)."""

    def __init__(self, choices: tuple[str, ...], parent: Any = None) -> None:
        super().__init__(parent)
        self.choices = choices

    def createEditor(
        self,
        parent: QWidget,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> QWidget:
        combo = QComboBox(parent)
        combo.addItems(list(self.choices))
        # a choice is an edit: commit it and close the editor at once. Left open, the
        # editor would commit again when the new guesses reset the model and it loses
        # focus — to a view that no longer knows it (a Qt warning, a stray second edit)
        combo.activated.connect(lambda _i: self._on_combo_activated(combo))
        return combo

    def _on_combo_activated(self, combo: QComboBox) -> None:
        self.commitData.emit(combo)
        self.closeEditor.emit(combo, QAbstractItemDelegate.EndEditHint.NoHint)

    def setEditorData(self, editor: QWidget, index: QModelIndex | QPersistentModelIndex) -> None:
        assert isinstance(editor, QComboBox)
        editor.setCurrentText(str(index.data(Qt.ItemDataRole.EditRole)))

    def setModelData(
        self,
        editor: QWidget,
        model: Any,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        assert isinstance(editor, QComboBox)
        model.setData(index, editor.currentText(), Qt.ItemDataRole.EditRole)


# -- pages -----------------------------------------------------------------------------


class _Page(QWizardPage):
    """A page with a busy line and an in-page banner for what failed."""

    def __init__(self, title: str, subtitle: str) -> None:
        super().__init__()
        self.setTitle(title)
        self.setSubTitle(subtitle)
        self.busy = BusyLine()
        self.banner = MessageBanner()
        self.running = False

    def nm(self) -> NewMonitorWizard:
        wizard = self.wizard()
        assert isinstance(wizard, NewMonitorWizard)
        return wizard

    def set_running(self, running: bool, text: str = "") -> None:
        self.running = running
        if running:
            self.banner.clear_message()
            self.busy.start(text)
        else:
            self.busy.stop()
        self.completeChanged.emit()

    def fail(self, message: str) -> None:
        self.set_running(False)
        self.banner.show_message(escape(message))


class SourcePage(_Page):
    def __init__(self) -> None:
        super().__init__(
            "Where are the predictions?",
            "A Parquet or CSV file, a folder of Parquet files, or a database URL and table. "
            "Next reads its first 50,000 rows and guesses what each column is.",
        )
        self.location = QLineEdit()
        self.location.setPlaceholderText(
            "/data/predictions.parquet  or  duckdb:///scores.duckdb  or  postgresql+psycopg://…"
        )
        self.table = QLineEdit()
        self.table.setPlaceholderText("the table or view (database URLs only)")
        self.file_button = QPushButton("Browse file…")
        self.folder_button = QPushButton("Browse folder…")
        self.file_button.clicked.connect(self._on_file_button_clicked)
        self.folder_button.clicked.connect(self._on_folder_button_clicked)
        self.spark_button = QPushButton("Spark / Hive…")
        self.spark_button.setToolTip("Connect to a Spark Thrift server or HiveServer2")
        self.spark_button.clicked.connect(self._on_spark_button_clicked)
        self.location.textChanged.connect(self._on_location_text_changed)
        row = QHBoxLayout()
        row.addWidget(self.location, 1)
        row.addWidget(self.file_button)
        row.addWidget(self.folder_button)
        row.addWidget(self.spark_button)
        form = QFormLayout()
        form.addRow("Source", row)
        form.addRow("Table", self.table)
        hint = QLabel(
            "Nothing is written until the last page. A table without a version column is "
            'watched as one version ("1"); one without a request id is read all the same.'
        )
        hint.setWordWrap(True)
        mute(hint)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(hint)
        layout.addWidget(self.busy)
        layout.addWidget(self.banner)
        layout.addStretch(1)
        self._on_location_text_changed("")

    def source(self) -> str:
        return source_location(self.location.text(), self.table.text())

    def isComplete(self) -> bool:
        return bool(self.location.text().strip()) and not self.running

    def validatePage(self) -> bool:
        nm = self.nm()
        location = self.source()
        if nm.guesses is not None and nm.location == location:
            return True  # read already (Back, then Next)
        self.set_running(True, "Reading the first 50,000 rows…")
        nm.read_source(location)
        return False

    def _on_location_text_changed(self, text: str) -> None:
        self.table.setEnabled("://" in text and not text.strip().startswith("file://"))
        self.banner.clear_message()
        self.completeChanged.emit()

    def _on_file_button_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Prediction log", "", SOURCE_FILTER)
        if path:
            self.location.setText(path)

    def _on_folder_button_clicked(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder of Parquet files")
        if path:
            self.location.setText(path)

    def _on_spark_button_clicked(self) -> None:
        from watchkeeper.app.dialogs.warehouse import WarehouseDialog

        dialog = WarehouseDialog(self.nm().runner, parent=self)
        if dialog.exec() == QDialog.DialogCode.Accepted and dialog.source:
            url, _, table = dialog.source.rpartition("#")
            self.location.setText(url)
            self.table.setText(table)


class ColumnsPage(_Page):
    def __init__(self) -> None:
        super().__init__(
            "What is each column?",
            "Each column's guessed role and kind, with the reason. Change a role or a kind "
            "by double-clicking it; tinted rows are guesses to check.",
        )
        self.model = ColumnsTableModel(self)
        self.view = QTableView()
        self.view.setModel(self.model)
        self.view.setItemDelegateForColumn(ColumnsTableModel.ROLE, ChoiceDelegate(ROLE_CHOICES))
        self.view.setItemDelegateForColumn(ColumnsTableModel.KIND, ChoiceDelegate(_KINDS))
        self.view.setEditTriggers(
            QAbstractItemView.EditTrigger.DoubleClicked
            | QAbstractItemView.EditTrigger.SelectedClicked
            | QAbstractItemView.EditTrigger.EditKeyPressed
        )
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.verticalHeader().setVisible(False)
        self.view.setWordWrap(False)
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        self.task_label = QLabel()
        self.task_label.setWordWrap(True)
        self.task_combo = QComboBox()
        self.task_combo.addItem("as guessed", None)
        for task in ("binary", "regression", "multiclass"):
            self.task_combo.addItem(task, task)
        self.task_combo.activated.connect(self._on_task_combo_activated)
        self.warnings = QLabel()
        self.warnings.setWordWrap(True)
        self.warnings.setTextFormat(Qt.TextFormat.RichText)
        self.model.edited.connect(self._on_model_edited)
        task_row = QHBoxLayout()
        task_row.addWidget(self.task_label, 1)
        task_row.addWidget(QLabel("Task"))
        task_row.addWidget(self.task_combo)
        layout = QVBoxLayout(self)
        layout.addWidget(self.view, 1)
        layout.addLayout(task_row)
        layout.addWidget(self.warnings)
        layout.addWidget(self.busy)
        layout.addWidget(self.banner)

    def initializePage(self) -> None:
        nm = self.nm()
        self.show_guesses(nm.guesses)
        if nm.plan is None:
            nm.replan()

    def isComplete(self) -> bool:
        return self.nm().plan is not None and not self.running

    def show_guesses(self, guesses: Guesses | None) -> None:
        self.model.set_guesses(guesses)
        if guesses is None:
            return
        self.view.resizeColumnsToContents()
        for col, most in ((0, 220), (4, 240)):
            self.view.setColumnWidth(col, min(self.view.columnWidth(col), most))
        note = ""
        if guesses.task == "multiclass":
            note = (
                " <b>Multiclass</b> analyses are not supported yet: the monitor watches the "
                "features' drift, and keeps label, class probabilities and predicted class "
                "as extras."
            )
        self.task_label.setText(
            f"<b>Task: {escape(guesses.task)}</b> — {escape(guesses.task_reason)}.{note}"
        )
        if guesses.warnings:
            t = tint("warning")
            items = "".join(f"<li>{escape(w)}</li>" for w in guesses.warnings)
            self.warnings.setText(
                f"<div style='color:{t.text}'><b>Unsure:</b><ul style='margin:0'>{items}</ul></div>"
            )
        else:
            self.warnings.setText("")

    def set_role(self, column: str, role: str) -> None:
        """What choosing ``role`` in the column's Role cell does (tests call it too)."""
        self._on_model_edited(column, "role", role)

    def set_kind(self, column: str, kind: str) -> None:
        self._on_model_edited(column, "kind", kind)

    def _on_model_edited(self, column: str, field: str, value: str) -> None:
        nm = self.nm()
        if nm.guesses is None:
            return
        if field == "role":
            nm.overrides = edit_role(nm.overrides, nm.guesses, column, value)
        else:
            nm.overrides = edit_kind(nm.overrides, column, value)
        nm.replan()

    def _on_task_combo_activated(self, _index: int) -> None:
        from dataclasses import replace

        nm = self.nm()
        nm.overrides = replace(nm.overrides, task=self.task_combo.currentData())
        nm.replan()


class ReferencePage(_Page):
    def __init__(self) -> None:
        super().__init__(
            "Which period is normal?",
            "Drift is measured against this reference period: drag the shaded region (or its "
            "edges) over a stretch of data you trust. It is rounded to whole days.",
        )
        self.picker = ReferencePickerWidget()
        self.picker.setMinimumHeight(260)
        self.picker.region_changed.connect(self._on_picker_region_changed)
        self.reference_label = QLabel()
        self.reference_label.setWordWrap(True)
        self.window_label = QLabel()
        self.window_label.setWordWrap(True)
        mute(self.window_label)
        layout = QVBoxLayout(self)
        layout.addWidget(self.picker, 1)
        layout.addWidget(self.reference_label)
        layout.addWidget(self.window_label)
        layout.addWidget(self.banner)

    def initializePage(self) -> None:
        plan = self.nm().plan
        assert plan is not None
        h = row_histogram(plan.proposal.extent)
        self.picker.set_histogram(h.edges, h.counts, h.unit)
        self.show_plan(plan)

    def show_plan(self, plan: Plan) -> None:
        p = plan.proposal
        start, end = epoch_seconds(p.reference_start), epoch_seconds(p.reference_end)
        self.picker.set_region(start, end)
        rows = self.picker.rows_in(start, end)
        self.reference_label.setText(
            f"<b>Reference:</b> version {escape(p.reference_version)}, {p.reference_start} to "
            f"{p.reference_end} (exclusive), {rows:,} events — {escape(p.reference_reason)}"
        )
        notes = "".join(f"<br>⚠ {escape(n)}" for n in p.notes)
        self.window_label.setText(
            f"<b>Drift window:</b> {escape(p.window or 'one window over everything')} — "
            f"{escape(p.window_reason)}{notes}"
        )

    def set_reference(self, start: dt.datetime, end: dt.datetime) -> None:
        """Take [start, end) as the reference, as a drag of the region does."""
        nm = self.nm()
        assert nm.plan is not None
        try:
            nm.plan = with_reference(nm.plan, start, end)
        except Exception as exc:  # a WatchkeeperError says what; anything else too, in-page
            self.banner.show_message(escape(str(exc)))
        else:
            self.banner.clear_message()
        self.show_plan(nm.plan)

    def _on_picker_region_changed(self, start: float, end: float) -> None:
        self.set_reference(
            dt.datetime.fromtimestamp(start, dt.UTC), dt.datetime.fromtimestamp(end, dt.UTC)
        )


class PreviewPage(_Page):
    def __init__(self) -> None:
        super().__init__(
            "First answer, and where to save",
            "Drift of each feature per window against the reference, as the Drift view will "
            "show it. Save writes the spec and the workspace and opens it.",
        )
        self.heatmap = DriftHeatmapWidget()
        self.heatmap.setMinimumHeight(200)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.name = QLineEdit()
        self.folder = QLineEdit()
        self.folder_button = QPushButton("Browse…")
        self.folder_button.clicked.connect(self._on_folder_button_clicked)
        self.folder.textEdited.connect(self._on_folder_text_edited)
        self.name.textEdited.connect(self._on_name_text_edited)
        self.folder_given = False
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(self.folder_button)
        form = QFormLayout()
        form.addRow("Model name", self.name)
        form.addRow("Workspace folder", row)
        layout = QVBoxLayout(self)
        layout.addWidget(self.heatmap, 1)
        layout.addWidget(self.summary)
        layout.addWidget(self.busy)
        layout.addLayout(form)
        layout.addWidget(self.banner)
        self.result: Any = None

    def initializePage(self) -> None:
        nm = self.nm()
        assert nm.plan is not None
        self.name.setText(nm.plan.proposal.model)
        if not self.folder_given:
            self.folder.setText(str(nm.default_workspace(nm.plan.proposal.model)))
        self.result = None
        self.heatmap.set_result(None)
        self.summary.setText("")
        self.set_running(True, "Measuring drift on the chosen reference…")
        nm.start_preview()

    def cleanupPage(self) -> None:
        self.nm().runner.cancel(PREVIEW_KEY)
        self.set_running(False)

    def isComplete(self) -> bool:
        return (
            not self.running and bool(self.name.text().strip()) and bool(self.folder.text().strip())
        )

    def show_result(self, result: Any) -> None:
        self.result = result
        self.set_running(False)
        self.heatmap.set_result(result)
        self.summary.setText(drift_summary(result))

    def validatePage(self) -> bool:
        nm = self.nm()
        if nm.written is not None:
            return True
        assert nm.plan is not None
        try:
            nm.plan = renamed(nm.plan, self.name.text())
        except Exception as exc:
            self.banner.show_message(escape(str(exc)))
            return False
        self.set_running(True, "Writing the spec and the governance database…")
        nm.save(Path(self.folder.text().strip()).expanduser())
        return False

    def _on_name_text_edited(self, text: str) -> None:
        if not self.folder_given and text.strip():
            self.folder.setText(str(self.nm().default_workspace(text.strip())))
        self.completeChanged.emit()

    def _on_folder_text_edited(self, _text: str) -> None:
        self.folder_given = True
        self.completeChanged.emit()

    def _on_folder_button_clicked(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Workspace folder", self.folder.text())
        if path:
            self.folder.setText(path)
            self.folder_given = True
            self.completeChanged.emit()


def drift_summary(result: Any) -> str:
    """Which features (and the score) drift in the latest windows, in a sentence (rich
    text)."""
    last = max(0, len(result.windows) - 3)
    span = "the latest window" if len(result.windows) - last == 1 else "the latest windows"

    def said(f: Any, decision: str) -> bool:
        return decision in f.decisions()[last:]

    rows = [*result.features, *([result.prediction] if result.prediction is not None else [])]
    names = {f.name: escape(f.name) for f in result.features}
    if result.prediction is not None:
        names[result.prediction.name] = "the score"
    drifting = [names[f.name] for f in rows if said(f, "drift")]
    watch = [names[f.name] for f in rows if said(f, "watch") and not said(f, "drift")]
    checked = f"{len(result.features)} features" + (
        " and the score" if result.prediction is not None else ""
    )
    text = result.window_spec.text
    cut = f"{len(result.windows)} windows of {escape(text)}" if text else "One window"
    parts = [f"{cut}: {checked} checked against {result.reference_rows:,} reference events."]
    if drifting:
        parts.append(f"<b>Drift in {span}:</b> " + ", ".join(drifting) + ".")
    if watch:
        parts.append("Worth watching: " + ", ".join(watch) + ".")
    if not drifting and not watch:
        parts.append(f"No drift in {span}.")
    return " ".join(parts)


def sample_text(examples: tuple[str, ...]) -> str:
    """A few sample values as a person reads them: numbers to four significant digits."""
    out = []
    for text in examples:
        try:
            x = float(text)
        except ValueError:
            out.append(text)
            continue
        if not text.lstrip("-").isdigit() and abs(x) < 1e15:
            text = f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.4g}"
        out.append(text)
    return ", ".join(out)


# -- the wizard --------------------------------------------------------------------------


class NewMonitorWizard(QWizard):
    """From a table or file to a saved monitor spec, on the window's TaskRunner."""

    saved = Signal(object)  # the Written, after Save

    def __init__(
        self,
        runner: TaskRunner,
        workspace: Path | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("New monitor")
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnStartPage, True)
        self.setButtonText(QWizard.WizardButton.FinishButton, "Save")
        self.runner = runner
        self.workspace = workspace
        self.location: str | None = None
        self.sample: Sample | None = None
        self.overrides = Overrides(origin=_ORIGIN)
        self.guesses: Guesses | None = None
        self.plan: Plan | None = None
        self.written: Any = None
        self.source_page = SourcePage()
        self.columns_page = ColumnsPage()
        self.reference_page = ReferencePage()
        self.preview_page = PreviewPage()
        for page in (self.source_page, self.columns_page, self.reference_page):
            self.addPage(page)
        self.addPage(self.preview_page)
        self.resize(980, 680)
        self.finished.connect(self._on_finished)

    def default_workspace(self, model: str) -> Path:
        """The open workspace (the model joins its portfolio), else a new folder in the data
        folder's ``workspaces``."""
        if self.workspace is not None:
            return self.workspace
        from watchkeeper.core.paths import data_dir

        return data_dir() / "workspaces" / model

    # -- background steps ----------------------------------------------------------------

    def read_source(self, location: str) -> None:
        """Read the sample of ``location`` and guess; on success move to the Columns page."""
        overrides = Overrides(origin=_ORIGIN)

        def work(progress: Any, cancelled: Any) -> tuple[Sample, Guesses]:
            progress(0.1, "Reading the first 50,000 rows…")
            sample = read_sample(location)
            progress(0.7, "Guessing each column's role…")
            return sample, guesses_of(sample, overrides)

        def done(found: tuple[Sample, Guesses]) -> None:
            self._set_plan(None)
            self.location, self.overrides = location, overrides
            self.sample, self.guesses = found
            self.source_page.set_running(False)
            self.next()

        self.runner.run(
            SAMPLE_KEY,
            work,
            label="New monitor: reading the source",
            on_result=done,
            on_error=self.source_page.fail,
        )

    def replan(self) -> None:
        """Guess again under the overrides and plan the monitor (the whole source's extent)."""
        sample, location, overrides = self.sample, self.location, self.overrides
        assert sample is not None and location is not None
        page = self.columns_page
        self._set_plan(None)
        page.set_running(True, "Reading the whole source's time range…")

        def work(progress: Any, cancelled: Any) -> tuple[Guesses, Plan | None, str | None]:
            guesses = guesses_of(sample, overrides)
            try:
                plan = plan_monitor(location, guesses)
            except Exception as exc:  # shown in-page beside the guesses that caused it
                from watchkeeper.app.workers import describe_error

                return guesses, None, describe_error(exc)
            return guesses, plan, None

        def done(found: tuple[Guesses, Plan | None, str | None]) -> None:
            guesses, plan, error = found
            self.guesses = guesses
            self._set_plan(plan)
            page.show_guesses(guesses)
            page.set_running(False)
            if error is not None:
                page.banner.show_message(escape(error))

        self.runner.run(
            PLAN_KEY,
            work,
            label="New monitor: planning",
            on_result=done,
            on_error=page.fail,
        )

    def start_preview(self) -> None:
        plan = self.plan
        assert plan is not None
        page = self.preview_page
        self.runner.run(
            PREVIEW_KEY,
            lambda progress, cancelled: preview_drift(plan, progress, cancelled),
            label="New monitor: drift preview",
            on_result=page.show_result,
            on_error=page.fail,
        )

    def save(self, workspace: Path) -> None:
        plan = self.plan
        assert plan is not None
        page = self.preview_page

        def done(written: Any) -> None:
            self.plan = None
            self.written = written
            page.set_running(False)
            self.saved.emit(written)
            self.accept()

        self.runner.run(
            SAVE_KEY,
            lambda progress, cancelled: write_monitor(plan, workspace),
            label="New monitor: saving",
            on_result=done,
            on_error=page.fail,
        )

    def _set_plan(self, plan: Plan | None) -> None:
        self.plan = plan

    def _on_finished(self, _result: int) -> None:
        for key in (SAMPLE_KEY, PLAN_KEY, PREVIEW_KEY, SAVE_KEY):
            self.runner.cancel(key)
        if self.written is None:
            self._set_plan(None)
