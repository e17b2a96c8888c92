"""The Slices view: the spec's slices (and the user's) with a metric and its interval, as a
sortable table and a bar chart; a slice builder; the worst slices found by core's search,
with their q-values; and the slice workbook export.

The panel owns a :class:`~watchkeeper.app.panels.slices_state.SlicesState`. Selecting a
version or pressing Refresh runs
:func:`~watchkeeper.core.workbench.slices.run_slices` on the TaskRunner (key
``"slices"``); adding a slice in the builder runs
:func:`~watchkeeper.core.workbench.slices.recompute_slices` over the events the
result already holds; "Export to Excel…" runs core's ``slice_report(...).write`` under the
key ``"slices-export"``. The chart and the tables only draw the state.

While a condition is being typed in the builder, the events it would select (with the draft's
other conditions) are counted over the result's events in the background (key
``"slices-preview"``); the builder's edits are debounced, so a burst of keystrokes starts one
count, and Enter adds the condition at once.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pandas as pd
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from watchkeeper.app.analysis_process import ChildWork, suits_child
from watchkeeper.app.panels.common import (
    BusyLine,
    Debouncer,
    DeferredPanel,
    MessageBanner,
    PanelTask,
    missing_part,
)
from watchkeeper.app.panels.slices_state import BUILDER_OPS, SliceDraft, SlicesState
from watchkeeper.app.theme import mute, tone
from watchkeeper.app.workers import TaskRunner
from watchkeeper.core.workbench.portfolio import ModelEntry
from watchkeeper.core.workbench.slices import (
    MULTICLASS_SLICE_METRICS,
    SLICE_METRICS,
    SlicesView,
    export_slice_report,
    recompute_slices,
    run_slices,
)
from watchkeeper.widgets.dataframe_model import DataFrameTableModel, fit_columns_to_text
from watchkeeper.widgets.slice_chart import SliceChartWidget, bars_from_rows

__all__ = ["FrameTableModel", "SlicesPanel", "make_slices_panel"]


#: The shared model handles a column-less frame itself; this name stays for the views that
#: still import it from here (compare.py).
FrameTableModel = DataFrameTableModel


def make_slices_panel(
    runner: TaskRunner, cache: dict[tuple[str, ...], Any] | None = None
) -> SlicesPanel:
    """The Slices tab for the main window (shares its runner and result cache)."""
    return SlicesPanel(runner, cache)


#: A column sized to its contents is kept at most this wide (the tool tip shows the whole
#: text); wider tables scroll horizontally instead of squashing their columns.
MAX_COLUMN_PX = 360
#: Rows measured when sizing columns to their contents (Qt's default measures 1,000).
_MEASURED_ROWS = 200


def _table_view(model: DataFrameTableModel) -> QTableView:
    view = QTableView()
    view.setModel(model)
    view.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
    view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
    view.setWordWrap(False)
    view.horizontalHeader().setResizeContentsPrecision(_MEASURED_ROWS)
    # no initial sort (Qt would sort by column 0): rows keep the result's order until clicked
    view.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
    view.setSortingEnabled(True)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setAlternatingRowColors(True)
    view.verticalHeader().setVisible(False)
    view.verticalHeader().setDefaultSectionSize(22)
    view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    view.horizontalHeader().setStretchLastSection(True)
    return view


def fit_columns(view: QTableView) -> None:
    """Size every column to its contents (header included), at most :data:`MAX_COLUMN_PX`;
    the table scrolls horizontally when they do not all fit."""
    fit_columns_to_text(view, _MEASURED_ROWS, MAX_COLUMN_PX)


def _titled(title: str, widget: QWidget) -> tuple[QWidget, QLabel]:
    box = QWidget()
    label = QLabel(title)
    label.setTextFormat(Qt.TextFormat.RichText)
    label.setWordWrap(True)
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 4, 0, 0)
    layout.setSpacing(2)
    layout.addWidget(label)
    layout.addWidget(widget, 1)
    return box, label


class SlicesPanel(DeferredPanel):
    """Metrics per slice of the selected version, the builder, worst slices, export."""

    result_ready = Signal(object)  # SlicesView, after it is drawn
    export_finished = Signal(bool, str)  # success, message

    def __init__(
        self,
        runner: TaskRunner,
        cache: dict[tuple[str, ...], Any] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.runner = runner
        self.state = SlicesState()
        self.cache = cache if cache is not None else {}
        self._entry: ModelEntry | None = None

        self.heading = QLabel("<b>Slices</b>")
        self.heading.setTextFormat(Qt.TextFormat.RichText)
        self.heading.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.metric_combo = QComboBox()
        self._metrics_offered: tuple[str, ...] = ()
        self._offer_metrics(SLICE_METRICS)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Compute the slices and the worst-slice search again")
        self.export_button = QPushButton("Export to Excel…")
        self.export_button.setToolTip(
            "Write the slice workbook (slices, worst slices, drift, champion vs challenger)"
        )
        bar = QHBoxLayout()
        bar.addStretch(1)
        bar.addWidget(QLabel("Chart metric"))
        bar.addWidget(self.metric_combo)
        bar.addSpacing(8)
        bar.addWidget(self.refresh_button)
        bar.addWidget(self.export_button)

        # The builder: column, operator, value(s) → a condition; conditions AND → a slice.
        self.column_combo = QComboBox()
        self.column_combo.setMinimumContentsLength(14)
        self.op_combo = QComboBox()
        for label, op in BUILDER_OPS:
            self.op_combo.addItem(label, op)
        self.value_combo = QComboBox()
        self.value_combo.setEditable(True)
        self.value_combo.setMinimumContentsLength(16)
        self.value_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.low_edit = QLineEdit()
        self.low_edit.setPlaceholderText("min (incl.)")
        self.high_edit = QLineEdit()
        self.high_edit.setPlaceholderText("max (excl.)")
        for edit in (self.low_edit, self.high_edit):
            edit.setMaximumWidth(100)
        self.add_condition_button = QPushButton("Add condition")
        self.add_condition_button.setToolTip("Add this condition to the draft slice (Enter)")
        self.preview_label = QLabel()
        mute(self.preview_label)
        self.preview_label.setToolTip("Events the draft slice and this condition select")
        self.draft_label = QLabel()
        self.draft_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.add_slice_button = QPushButton("Add slice")
        self.add_slice_button.setToolTip("Add the conditions (joined with AND) as a slice")
        self.clear_button = QPushButton("Clear")
        self.remove_button = QPushButton("Remove my slices")
        builder = QHBoxLayout()
        builder.addWidget(QLabel("<b>Slice builder</b>"))
        builder.addWidget(self.column_combo)
        builder.addWidget(self.op_combo)
        builder.addWidget(self.value_combo)
        builder.addWidget(self.low_edit)
        builder.addWidget(self.high_edit)
        builder.addWidget(self.add_condition_button)
        builder.addWidget(self.preview_label)
        builder.addWidget(self.draft_label, 1)
        builder.addWidget(self.add_slice_button)
        builder.addWidget(self.clear_button)
        builder.addWidget(self.remove_button)

        self.busy = BusyLine()
        self.banner = MessageBanner()
        self.export_banner = MessageBanner()
        self.slice_model = DataFrameTableModel()
        self.slice_table = _table_view(self.slice_model)
        self.chart = SliceChartWidget()
        self.worst_model = DataFrameTableModel()
        self.worst_table = _table_view(self.worst_model)
        slices_box, self.slices_title = _titled("<b>Slices</b>", self.slice_table)
        chart_box, self.chart_title = _titled("<b>Metric per slice</b>", self.chart)
        worst_box, self.worst_title = _titled("<b>Worst slices</b>", self.worst_table)
        self.top_splitter = QSplitter(Qt.Orientation.Horizontal)
        self.top_splitter.setObjectName("slices_top_splitter")
        self.top_splitter.addWidget(slices_box)
        self.top_splitter.addWidget(chart_box)
        self.top_splitter.setStretchFactor(0, 1)
        self.top_splitter.setStretchFactor(1, 1)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setObjectName("slices_splitter")
        self.splitter.addWidget(self.top_splitter)
        self.splitter.addWidget(worst_box)
        self.top_splitter.setSizes([620, 560])
        self.splitter.setSizes([520, 300])
        self.notes = QLabel()
        self.notes.setWordWrap(True)
        mute(self.notes)

        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addLayout(bar)
        layout.addLayout(builder)
        layout.addWidget(self.busy)
        layout.addWidget(self.banner)
        layout.addWidget(self.export_banner)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.notes)

        self.task = PanelTask(runner, "slices", self.state, self.busy)
        self.state.subscribe(self._on_state_changed)
        self.metric_combo.currentIndexChanged.connect(self._on_metric_changed)
        self.refresh_button.clicked.connect(lambda: self.analyse(force=True))
        self.export_button.clicked.connect(self._on_export_clicked)
        self.column_combo.currentIndexChanged.connect(self._on_builder_column_changed)
        self.op_combo.currentIndexChanged.connect(self._on_builder_op_changed)
        self.add_condition_button.clicked.connect(self._on_add_condition_clicked)
        self.add_slice_button.clicked.connect(self._on_add_slice_clicked)
        self.clear_button.clicked.connect(lambda: self.state.set(draft=()))
        self.remove_button.clicked.connect(lambda: self.set_custom(()))
        self.chart.slice_clicked.connect(self._on_chart_slice_clicked)
        runner.task_finished.connect(self._on_runner_finished)
        # The builder's inputs: a preview count once they rest, Enter adds the condition.
        self.builder_input = Debouncer(lambda _value: self.preview_condition(), parent=self)
        self.value_combo.editTextChanged.connect(self._on_builder_edited)
        self.low_edit.textEdited.connect(self._on_builder_edited)
        self.high_edit.textEdited.connect(self._on_builder_edited)
        self.op_combo.currentIndexChanged.connect(self._on_builder_edited)
        for edit in (self.value_combo.lineEdit(), self.low_edit, self.high_edit):
            edit.returnPressed.connect(self._on_builder_committed)
        self._on_builder_op_changed(0)
        self._on_state_changed(frozenset({"result", "draft", "status", "export_status"}))

    # -- intent ----------------------------------------------------------------------------

    def set_selection(self, entry: ModelEntry | None, version: str | None) -> None:
        """Follow the portfolio's selection: slice ``version`` of ``entry``."""
        self._entry = entry
        if entry is None or version is None:
            self.task.cancel()
            self.state.set(model=None, version=None, result=None, status="idle")
            return
        choices = MULTICLASS_SLICE_METRICS if entry.task == "multiclass" else SLICE_METRICS
        if choices != self._metrics_offered:
            self._offer_metrics(choices)
            self.state.set(metric=None)
        if (entry.name, version) != (self.state.model, self.state.version):
            self.state.set(model=entry.name, version=version, result=None, custom=(), draft=())
        self.run_when_shown(self.analyse)

    def _offer_metrics(self, choices: tuple[str, ...]) -> None:
        """The chart metric combo's entries for the selected model's task."""
        self._metrics_offered = choices
        self.metric_combo.blockSignals(True)
        self.metric_combo.clear()
        self.metric_combo.addItem("spec's primary metric", None)
        for metric in choices:
            self.metric_combo.addItem(metric, metric)
        self.metric_combo.blockSignals(False)

    def analyse(self, force: bool = False) -> None:
        """Show the cached result for the current choice, or start the analysis."""
        entry, version = self._entry, self.state.version
        if entry is None or version is None:
            return
        custom = self.state.custom
        key = ("slices", entry.name, version)
        cached = self.cache.get(key)
        if not force and cached is not None and not custom:
            self._on_result(key, cached)
            return

        def work(progress, cancelled):
            return run_slices(entry, version, custom, progress, cancelled)

        if suits_child(entry):
            # analysed in a child process: at 500 features the analysis took the window
            # from 0.41 to 1.58 GiB (0.64 GiB now); the events it read come back with the
            # result (out of band), for the builder and recomputing
            work = ChildWork(run_slices, (entry, version, custom))
        label = f"Slices of {entry.name} v{version}"
        self.task.start(work, label, lambda result: self._on_result(key, result))

    def set_custom(self, custom: tuple[Any, ...]) -> None:
        """Show these user-built slices after the spec's (recomputed off the GUI thread)."""
        self.state.set(custom=tuple(custom))
        view = self.state.result
        if view is None:
            self.analyse()
            return

        def work(progress, cancelled):
            return recompute_slices(view, custom, progress, cancelled)

        self.task.start(work, "Slice metrics", lambda result: self._on_result(None, result))

    def export(self, path: Path) -> None:
        """Write the slice workbook of what the view shows to ``path`` (in the background)."""
        entry, view = self._entry, self.state.result
        if entry is None or view is None:
            self.state.set(
                export_status="failed", export_message="Nothing to export yet: select a model."
            )
            return

        # the Champion vs challenger view's gate of this pair, when it has run: core takes
        # its comparison if the workbook's pairs and settings are the ones it rests on
        compared = self.cache.get(("challenger", entry.name, view.version, view.challenger))
        known = getattr(compared, "known_gate", None)

        def work(progress, cancelled):
            return export_slice_report(entry, view, path, progress, cancelled, known_gate=known)

        if suits_child(entry) and view.data is None:
            # openpyxl writes in Python: on a thread of the window it stalled the GUI thread
            # ~110 ms at a time. The workbook takes the view's results, not its rows (kept
            # for recomputing in the window), so those stay here
            sent = dataclasses.replace(view, table=None)
            work = ChildWork(export_slice_report, (entry, sent, path), {"known_gate": known})
        self.state.set(export_status="running", export_message=f"Writing {path.name}…")
        self.runner.run(
            "slices-export",
            work,
            label=f"Slice workbook of {view.model} v{view.version}",
            on_result=self._on_export_done,
            on_error=self._on_export_failed,
        )

    # -- results ---------------------------------------------------------------------------

    def _on_result(self, key: tuple[str, ...] | None, view: SlicesView) -> None:
        if key is not None and not view.custom:
            self.cache[key] = view
        self.state.set(result=view, status="ready", error=None)
        self.result_ready.emit(view)

    def _on_export_done(self, path: Path) -> None:
        message = f"Workbook written: {path}"
        self.state.set(export_status="done", export_message=message)
        self.export_finished.emit(True, message)

    def _on_export_failed(self, message: str) -> None:
        self.state.set(export_status="failed", export_message=message)
        self.export_finished.emit(False, message)

    def _on_runner_finished(self, key: str, outcome: str) -> None:
        if key == "slices-export" and outcome == "cancelled":
            self.state.set(export_status="idle", export_message="")

    def _on_state_changed(self, changed: frozenset[str]) -> None:
        s = self.state
        if "result" in changed:
            self._fill_builder_columns()
            self._show_worst()
            self._show_notes()
        if changed & {"result", "metric"}:
            self._show_slices()
        if changed & {"draft", "result"}:
            self.builder_input.cancel()
            self.runner.cancel("slices-preview")
            self.preview_label.setText("")
        if "draft" in changed:
            text = " AND ".join(c.label for c in s.draft)
            self.draft_label.setText(
                f"<tt>{text}</tt>"
                if text
                else f"<span style='color:{tone('muted')}'>no conditions</span>"
            )
            self.add_slice_button.setEnabled(bool(s.draft))
        if changed & {"status", "error", "model", "version", "result"}:
            self._show_heading()
            busy = s.status == "running"
            self.export_button.setEnabled(s.result is not None and not busy)
            if s.status == "failed" and missing_part(s.error):
                self.banner.show_message(f"<b>No slices to show.</b> {s.error}", "info")
            elif s.status == "failed":
                self.banner.show_message(
                    f"<b>The slice analysis failed.</b> {s.error}<br>"
                    "Check the spec's [[slices]] and telemetry columns, then press Refresh."
                )
            elif s.status == "cancelled" and s.result is None:
                self.banner.show_message(
                    "The slice analysis was cancelled. Press Refresh to run it again.", "info"
                )
            elif s.model is None:
                self.banner.show_message(
                    "Select a model in the portfolio to see its metrics per slice.", "info"
                )
            elif s.result is not None and not s.result.predicates:
                self.banner.show_message(
                    "No [[slices]] in the spec: the table holds all events only. Add "
                    "[[slices]] to the spec (a name and a where table), or build one above, "
                    "to see each segment's metric with its interval; the worst slices below "
                    "are searched without them.",
                    "info",
                )
            else:
                self.banner.clear_message()
        if changed & {"export_status", "export_message"}:
            if s.export_status == "done":
                self.export_banner.show_message(s.export_message, "info")
            elif s.export_status == "failed":
                self.export_banner.show_message(
                    f"<b>The export failed.</b> {s.export_message}<br>"
                    "Choose a folder you can write to and try again."
                )
            elif s.export_status == "running":
                self.export_banner.show_message(s.export_message, "info")
            else:
                self.export_banner.clear_message()

    def _show_heading(self) -> None:
        s, v = self.state, self.state.result
        if s.model is None:
            self.heading.setText("<b>Slices</b>")
            return
        text = f"<b>{s.model}</b> version {s.version}"
        if v is not None:
            text += (
                f" · {v.start:%Y-%m-%d} to {v.end:%Y-%m-%d} · {v.slices.events:,} events, "
                f"{v.slices.labeled:,} labeled · "
            )
            if v.multiclass:
                text += f"{len(v.outcomes.classes)} classes ({', '.join(v.outcomes.classes)})"
            else:
                text += f"threshold {v.threshold:g}"
        self.heading.setText(text)

    def _show_slices(self) -> None:
        v, metric = self.state.result, self.state.shown_metric
        if v is None or metric is None:
            self.slice_model.set_frame(pd.DataFrame())
            self.chart.set_data(None)
            self.slices_title.setText("<b>Slices</b>")
            return
        frame = v.metrics_frame()
        if metric not in frame.columns:
            metric = v.metric
        if metric not in v.slices.overall:  # a metric the view's path could not give
            metric = next(iter(v.slices.overall))
        keep = ["slice", "condition", "critical", "events", "labeled"]
        keep += [metric, f"{metric} low", f"{metric} high", f"{metric} Δ"]
        shown = frame[keep].rename(
            columns={f"{metric} low": "low", f"{metric} high": "high", f"{metric} Δ": "Δ overall"}
        )
        self.slice_model.set_frame(shown)
        fit_columns(self.slice_table)
        from watchkeeper.core.evaluation.metrics import HIGHER_IS_BETTER

        rows = v.slices.rows
        details = [
            f"{r.predicate.name}: {r.predicate.label}\n{metric} "
            + _est(r.metrics[metric])
            + f"\n{r.labeled:,} labeled of {r.support:,} events"
            + ("" if r.positives is None else f", {r.positives:,} positive")
            for r in rows
        ]
        self.chart.set_data(
            bars_from_rows(
                metric,
                [r.predicate.name for r in rows],
                [r.metrics[metric] for r in rows],
                [r.predicate.critical for r in rows],
                v.slices.overall[metric],
                HIGHER_IS_BETTER.get(metric, True),
                details,
            )
        )
        conf = v.slices.overall[metric].confidence
        self.chart_title.setText(
            f"<b>{metric} per slice</b> · {conf:.0%} intervals · grey: overall · "
            f"orange: below overall · "
            f"<span style='color:{tone('error')}'>red outline ⚑: critical</span>"
        )
        self.slices_title.setText(
            f"<b>Slices</b> ({len(rows)}: {len(rows) - len(v.custom)} from the spec, "
            f"{len(v.custom)} built here) · click a header to sort"
        )

    def _show_worst(self) -> None:
        v = self.state.result
        if v is None or v.worst is None:
            self.worst_model.set_frame(pd.DataFrame())
            self.worst_title.setText("<b>Worst slices</b>")
            return
        w = v.worst
        self.worst_model.set_frame(v.worst_frame())
        fit_columns(self.worst_table)
        against = (
            "the same slice in the reference window"
            if w.compared_with == "baseline"
            else "the overall value"
        )
        self.worst_title.setText(
            f"<b>Worst slices</b> by {w.metric} · {len(w.significant)} significant of "
            f"{w.tested:,} tested (Benjamini–Hochberg, FDR {w.fdr:g}) · each compared with "
            f"{against}; q is the adjusted p-value"
        )

    def _show_notes(self) -> None:
        v = self.state.result
        self.notes.setText("; ".join(v.notes) if v is not None and v.notes else "")
        self.notes.setVisible(bool(self.notes.text()))

    def _fill_builder_columns(self) -> None:
        v = self.state.result
        current = self.column_combo.currentText()
        self.column_combo.blockSignals(True)
        self.column_combo.clear()
        if v is not None:
            for c in v.columns:
                self.column_combo.addItem(c.name, c.name)
            index = self.column_combo.findText(current)
            self.column_combo.setCurrentIndex(max(index, 0))
        self.column_combo.blockSignals(False)
        self._on_builder_column_changed(self.column_combo.currentIndex())

    # -- handlers --------------------------------------------------------------------------

    def _column(self) -> Any:
        v = self.state.result
        return None if v is None else v.column(self.column_combo.currentText())

    def _on_builder_column_changed(self, _index: int) -> None:
        column = self._column()
        self.value_combo.clear()
        if column is None:
            return
        if column.kind == "categorical":
            self.value_combo.addItems([str(x) for x in column.levels])
            self.value_combo.setToolTip(f"{len(column.levels)} most frequent values")
        else:
            self.value_combo.setEditText("")
            self.value_combo.setToolTip(f"observed from {column.low:g} to {column.high:g}")
            self.low_edit.setToolTip(f"observed minimum {column.low:g}")
            self.high_edit.setToolTip(f"observed maximum {column.high:g}")
        # A numerical column defaults to a range, a categorical one to equality.
        self.op_combo.setCurrentIndex(
            self.op_combo.findData("range" if column.kind == "numerical" else "eq")
        )

    def _on_builder_op_changed(self, _index: int) -> None:
        op = self.op_combo.currentData()
        self.value_combo.setVisible(op != "range")
        self.low_edit.setVisible(op == "range")
        self.high_edit.setVisible(op == "range")
        if op == "in":
            self.value_combo.lineEdit().setPlaceholderText("values, comma-separated")
        else:
            self.value_combo.lineEdit().setPlaceholderText("value")

    def add_condition(self) -> bool:
        """Add the builder's condition to the draft; False (and a banner) if it is invalid."""
        try:
            condition = self._builder_condition()
        except ValueError as exc:
            self.banner.show_message(f"<b>Not a condition:</b> {exc}", "warning")
            return False
        self.banner.clear_message()
        kept = tuple(c for c in self.state.draft if c.column != condition.column)
        self.state.set(draft=(*kept, condition))
        return True

    def add_slice(self) -> bool:
        """Add the draft as a slice (conditions joined with AND); False if it is invalid."""
        v = self.state.result
        existing = tuple(p.name for p in v.predicates) if v is not None else ()
        try:
            predicate = SliceDraft.predicate(self.state.draft, existing)
        except ValueError as exc:
            self.banner.show_message(f"<b>Not a slice:</b> {exc}", "warning")
            return False
        self.state.set(draft=())
        self.set_custom((*self.state.custom, predicate))
        return True

    def _builder_condition(self) -> Any:
        """The condition the builder's fields describe (ValueError if they describe none)."""
        return SliceDraft.condition(
            self._column(),
            self.op_combo.currentData(),
            self.value_combo.currentText(),
            self.low_edit.text(),
            self.high_edit.text(),
        )

    def preview_condition(self) -> None:
        """Count, in the background, the events the draft plus the builder's condition select."""
        view = self.state.result
        if view is None or (view.table is None and view.pushed is None):
            return
        try:
            condition = self._builder_condition()
        except ValueError as exc:
            self.runner.cancel("slices-preview")
            self.preview_label.setText(f"<i>{exc}</i>" if self._builder_typed() else "")
            return
        from watchkeeper.core.evaluation.predicates import SlicePredicate

        kept = tuple(c for c in self.state.draft if c.column != condition.column)
        predicate = SlicePredicate("preview", (*kept, condition))

        def work(progress, cancelled):
            from watchkeeper.core.workbench.slices import count_slice

            return count_slice(view, predicate, cancelled)

        self.preview_label.setText("counting…")
        self.runner.run(
            "slices-preview",
            work,
            label="Counting the slice's events",
            on_result=self._on_preview_counted,
            on_error=lambda message: self.preview_label.setText(f"<i>{message}</i>"),
        )

    def _on_preview_counted(self, counts: tuple[int, int]) -> None:
        selected, total = counts
        share = f" ({selected / total:.1%})" if total else ""
        self.preview_label.setText(f"{selected:,} events{share}")

    def _builder_typed(self) -> bool:
        return any(
            t.strip()
            for t in (self.value_combo.currentText(), self.low_edit.text(), self.high_edit.text())
        )

    def _on_builder_edited(self, _value: object) -> None:
        self.builder_input.push()

    def _on_builder_committed(self) -> None:
        self.builder_input.cancel()
        self.add_condition()

    def _on_add_condition_clicked(self) -> None:
        self.add_condition()

    def _on_add_slice_clicked(self) -> None:
        self.add_slice()

    def _on_metric_changed(self, _index: int) -> None:
        self.state.set(metric=self.metric_combo.currentData())

    def _on_chart_slice_clicked(self, name: str) -> None:
        frame = self.slice_model.frame
        if "slice" not in frame.columns:
            return
        for view_row in range(self.slice_model.rowCount()):
            if self.slice_model.row_values(view_row)["slice"] == name:
                self.slice_table.selectRow(view_row)
                self.slice_table.scrollTo(self.slice_model.index(view_row, 0))
                return

    def _on_export_clicked(self) -> None:
        v = self.state.result
        if v is None:
            return
        default = f"{v.model}-v{v.version}-slices.xlsx"
        path, _ = QFileDialog.getSaveFileName(
            self, "Export the slice workbook", default, "Excel workbook (*.xlsx)"
        )
        if path:
            if not path.lower().endswith(".xlsx"):
                path += ".xlsx"
            self.export(Path(path))


def _est(e: Any) -> str:
    if e.value is None:
        return "– (too few events)"
    if e.lower is None or e.upper is None:
        return f"{e.value:.4f}"
    return f"{e.value:.4f} [{e.lower:.4f}, {e.upper:.4f}]"
