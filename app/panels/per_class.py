"""The Performance view's per-class part for a multiclass model: each class's precision and
recall with their intervals, and the confusion matrix heat map, for the newest window that
has enough labels (:func:`newest_measured`). Hidden for binary and regression models."""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QWidget

from watchkeeper.widgets.confusion_matrix import ConfusionMatrixWidget

__all__ = ["MULTICLASS_METRIC_CHOICES", "PerClassBox", "newest_measured", "per_class_html"]

#: Metrics the Performance view offers for a multiclass model.
MULTICLASS_METRIC_CHOICES = (
    "macro_f1",
    "accuracy",
    "balanced_accuracy",
    "weighted_f1",
    "roc_auc",
    "log_loss",
    "brier",
)


def newest_measured(view: Any) -> Any:
    """The newest window of ``view.realized`` with a confusion matrix (None: none)."""
    for window in reversed(view.realized.windows):
        if window.confusion is not None:
            return window
    return None


def _interval(est: Any) -> str:
    if est.value is None:
        return "–"
    if est.lower is None or est.upper is None:
        return f"{est.value:.3f}"
    return f"{est.value:.3f} <small>({est.lower:.3f}–{est.upper:.3f})</small>"


def per_class_html(window: Any) -> str:
    """A small table: class, precision, recall (95 % intervals), labeled events."""
    rows = ["<tr><th align='left'>class</th><th>precision</th><th>recall</th><th>labeled</th></tr>"]
    for name, metrics in window.per_class.items():
        rows.append(
            f"<tr><td><b>{html.escape(name)}</b></td>"
            f"<td>{_interval(metrics['precision'])}</td>"
            f"<td>{_interval(metrics['recall'])}</td>"
            f"<td align='right'>{metrics['support'].n:,}</td></tr>"
        )
    return "<table cellspacing='6'>" + "".join(rows) + "</table>"


class PerClassBox(QWidget):
    """Per-class metrics beside the confusion matrix of the newest measured window."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = QLabel()
        self.table.setTextFormat(Qt.TextFormat.RichText)
        self.table.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.matrix = ConfusionMatrixWidget()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        layout.addWidget(self.matrix, 1)
        # the timeline stays the view's main plot; the matrix takes what is left, to a cap
        self.setMaximumHeight(380)
        self.setVisible(False)

    def show_view(self, view: Any) -> None:
        """Show ``view``'s newest measured window, or hide (no multiclass window)."""
        window = None if view is None else newest_measured(view)
        if window is None:
            self.matrix.set_matrix(None)
            self.setVisible(False)
            return
        when = f"{window.start:%Y-%m-%d}" if window.start is not None else "all events"
        self.table.setText(
            f"<b>Per class, window of {when}</b> ({window.coverage.labeled:,} labeled)"
            + per_class_html(window)
        )
        self.matrix.set_matrix(window.confusion, f"Confusion matrix, window of {when}")
        self.setVisible(True)
