"""Beside the performance plot: "Explain this drop".

The performance panel hands it each result (:meth:`ExplainDropBox.show_for`). It offers the
windows whose judged metric (realized, else the CBPE estimate) fell beyond the tolerance,
worst first, and the button is enabled only when there is one. Pressed, it runs drift,
importance and :func:`~watchkeeper.core.workbench.model_checks.explain_drop` on a worker
(key :data:`EXPLAIN_KEY`) and lists the features by drift × importance (the importance's
source said) and the slices by their contribution to the metric's change.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from watchkeeper.app.workers import TaskRunner
from watchkeeper.core.workbench.portfolio import ModelEntry

__all__ = ["EXPLAIN_KEY", "ExplainDropBox"]

#: The TaskRunner key of the explanation.
EXPLAIN_KEY = "performance.explain"
#: Rows shown per table: the head of the ranking is the explanation, the tail is noise.
SHOWN = 8


def _table(headers: tuple[str, ...]) -> QTableWidget:
    table = QTableWidget(0, len(headers))
    table.setHorizontalHeaderLabels(headers)
    table.verticalHeader().setVisible(False)
    table.horizontalHeader().setStretchLastSection(True)
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    return table


class ExplainDropBox(QWidget):
    """Why the metric dropped in one window: features and slices, computed on request."""

    #: the window index explained (None when the explanation is cleared)
    explained = Signal(object)

    def __init__(self, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("explain_drop")
        self.runner = runner
        self.button = QPushButton("Explain this drop")
        self.button.setEnabled(False)
        self.window_combo = QComboBox()
        self.window_combo.setToolTip("Windows below the baseline by more than the tolerance")
        self.heading = QLabel("Select a model to explain a drop of its metric.")
        self.heading.setWordWrap(True)
        self.heading.setTextFormat(Qt.TextFormat.RichText)
        # at the top: until a drop is explained (the tables hidden) it has the pane's height,
        # and centred it floated halfway down beside the plot
        self.heading.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.features = _table(("feature", "drift", "PSI", "imp.", "impact"))
        self.slices = _table(("slice", "part of Δ", "before", "after"))
        # wide enough for both tables' columns beside the plot, never wider than needed
        self.setMinimumWidth(470)
        self.notes = QLabel()
        self.notes.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.button)
        row.addWidget(self.window_combo, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.heading)
        layout.addWidget(self.features, 1)
        layout.addWidget(self.slices, 1)
        layout.addWidget(self.notes)
        self.features.setVisible(False)
        self.slices.setVisible(False)
        self.button.clicked.connect(self.explain)
        self._entry: ModelEntry | None = None
        self._view: Any = None
        self._window: Any = None
        self.result: Any = None  # the DropExplanation shown
        # importance loads the registered model and drift reads every window: kept per
        # (model, version[, window]) so explaining a second window costs the slices alone
        self._importance: dict[tuple[str, str], Any] = {}
        self._drift: dict[tuple[str, str, str], Any] = {}

    def show_for(self, entry: ModelEntry | None, view: Any, window: Any) -> None:
        """Offer the moved windows of ``view`` (a PerformanceView; None: nothing)."""
        from watchkeeper.core.workbench.model_checks import is_estimated, moved_windows

        self.runner.cancel(EXPLAIN_KEY)
        self._entry, self._view, self._window = entry, view, window
        self.result = None
        self.explained.emit(None)
        self.window_combo.clear()
        self.features.setVisible(False)
        self.slices.setVisible(False)
        self.notes.setText("")
        if entry is None or view is None:
            self.button.setEnabled(False)
            self.heading.setText("Select a model to explain a drop of its metric.")
            return
        moved = moved_windows(view)
        values = view.judged_values()
        for i in moved:
            w = view.realized.windows[i]
            kind = "(estimated)" if is_estimated(view, i) else ""
            text = f"{w.start:%Y-%m-%d}  {view.metric} {values[i]:.3f} {kind}".rstrip()
            self.window_combo.addItem(text, i)
        self.button.setEnabled(bool(moved))
        if moved:
            self.heading.setText(
                f"{view.metric} fell beyond the tolerance in {len(moved)} window"
                f"{'s' if len(moved) != 1 else ''} (worst first). Explain one: the features "
                "whose drift matters to the model, and the slices whose change adds up to it."
            )
        else:
            self.heading.setText(f"No window's {view.metric} fell beyond the tolerance.")

    def explain(self) -> None:
        """Explain the window chosen in the combo (the worst by default) on a worker."""
        entry, view, window = self._entry, self._view, self._window
        index = self.window_combo.currentData()
        if entry is None or view is None or index is None:
            return
        version = view.version
        ikey = (entry.name, version)
        dkey = (entry.name, version, str(window))
        importance, drift = self._importance.get(ikey), self._drift.get(dkey)
        self.button.setEnabled(False)
        self.heading.setText("Explaining: drift, importance and slices of that window…")

        def work(progress, cancelled):
            from watchkeeper.core.workbench.analyses import run_drift
            from watchkeeper.core.workbench.model_checks import explain_drop, run_importance

            d = drift
            if d is None:
                progress(0.1, "drift of every window")
                # the explanation ranks decisions × importance: no exact statistics needed
                d = run_drift(entry, version, window, None, cancelled, decisions_only=True)
            imp = importance
            if imp is None:
                progress(0.5, "importance on the reference")
                imp = run_importance(entry, version)
            progress(0.8, "slices of the change")
            return d, imp, explain_drop(entry, version, view, d, imp, index)

        # (a result arriving after this box was deleted is dropped by the runner: _owner_of)
        def done(result: Any) -> None:
            d, imp, explanation = result
            self._drift[dkey], self._importance[ikey] = d, imp
            if view is self._view:
                self._draw(explanation)
                self.explained.emit(index)

        def failed(message: str) -> None:
            self.button.setEnabled(True)
            self.heading.setText(f"The drop could not be explained: {message}")

        self.runner.run(
            EXPLAIN_KEY,
            work,
            label=f"Explaining the drop of {entry.name} v{version}",
            on_result=done,
            on_error=failed,
        )

    def _draw(self, e: Any) -> None:
        self.result = e
        self.button.setEnabled(True)
        what = "estimated " if e.estimated else ""
        self.heading.setText(
            f"<b>{e.after}</b>: {what}{e.metric} {e.change:+.3f} against the {e.before}."
        )
        self.features.setRowCount(0)
        rows = [f for f in e.features if f.impact > 0][:SHOWN]
        self.features.setRowCount(len(rows))
        for r, f in enumerate(rows):
            cells = (f.name, f.decision, f"{f.psi:.3f}", f"{f.importance:.1%}", f"{f.impact:.3f}")
            for c, text in enumerate(cells):
                self.features.setItem(r, c, QTableWidgetItem(text))
        self.features.setToolTip(f"Importance: {e.importance_source}")
        self.slices.setRowCount(0)
        parts = list(e.slices[:SHOWN])
        self.slices.setRowCount(len(parts))
        for r, p in enumerate(parts):
            cells = (
                p.name,
                f"{p.total:+.3f}",
                "—" if p.metric_before is None else f"{p.metric_before:.3f}",
                "—" if p.metric_after is None else f"{p.metric_after:.3f}",
            )
            for c, text in enumerate(cells):
                self.slices.setItem(r, c, QTableWidgetItem(text))
        for table in (self.features, self.slices):
            table.resizeColumnsToContents()
            table.setVisible(True)
        parts_text = [
            "Features by decision, then impact = importance × the largest PSI in the window "
            f"(PSI counted up to 1). Importance: {e.importance_source}.",
            "Slices by their part of the change (they sum to it per feature).",
            *e.notes,
        ]
        self.notes.setText(" ".join(parts_text))
        self._fit_notes()

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self._fit_notes()

    def _fit_notes(self) -> None:
        # a wrapped label under two stretching tables got the height of one line and its
        # last lines were cut off: ask for the height its text needs at this width
        width = max(self.width(), self.minimumWidth())
        self.notes.setMinimumHeight(self.notes.heightForWidth(width) if self.notes.text() else 0)
