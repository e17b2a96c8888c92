"""ROC curves of the champion and the challenger on the same labeled requests, overlaid,
with the chance diagonal.

Both curves and the diagonal are created once; :meth:`RocOverlayWidget.set_curves` only
calls ``setData``. The legend names each curve with its AUC, so a reader compares the two
numbers and the two shapes in one place.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QVBoxLayout, QWidget

__all__ = ["CHALLENGER", "CHAMPION", "RocOverlayWidget"]

CHAMPION = (37, 99, 235)
CHALLENGER = (217, 119, 6)


class RocOverlayWidget(QWidget):
    """Two ROC curves (false-positive rate → true-positive rate) over the diagonal."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot_widget = pg.PlotWidget()
        self.plot_widget.setBackground("w")
        self.plot = self.plot_widget.getPlotItem()
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        self.plot.setMouseEnabled(x=False, y=False)
        for name in ("left", "bottom"):
            axis = self.plot.getAxis(name)
            axis.setPen(pg.mkPen(90, 90, 90))
            axis.setTextPen(pg.mkPen(40, 40, 40))
        self.plot.setLabel("bottom", "false-positive rate")
        self.plot.setLabel("left", "true-positive rate")
        self.plot.setXRange(0, 1, padding=0.02)
        self.plot.setYRange(0, 1, padding=0.02)
        self.legend = self.plot.addLegend(offset=(-10, -10), labelTextColor=(40, 40, 40))
        self.legend.setBrush(pg.mkBrush(255, 255, 255, 220))
        self.diagonal = pg.PlotCurveItem(
            [0.0, 1.0], [0.0, 1.0], pen=pg.mkPen(150, 150, 150, style=Qt.PenStyle.DashLine)
        )
        self.champion_curve = pg.PlotDataItem(pen=pg.mkPen(*CHAMPION, width=2), name="champion")
        self.challenger_curve = pg.PlotDataItem(
            pen=pg.mkPen(*CHALLENGER, width=2), name="challenger"
        )
        self.plot.addItem(self.diagonal)
        self.plot.addItem(self.champion_curve)
        self.plot.addItem(self.challenger_curve)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot_widget)

    def set_curves(
        self,
        champion: tuple[np.ndarray, np.ndarray] | None,
        challenger: tuple[np.ndarray, np.ndarray] | None,
        *,
        champion_label: str = "champion",
        challenger_label: str = "challenger",
    ) -> None:
        """Draw the two curves, each ``(fpr, tpr)`` (None empties it)."""
        empty = np.zeros(0)
        for curve, data, label in (
            (self.champion_curve, champion, champion_label),
            (self.challenger_curve, challenger, challenger_label),
        ):
            if data is None:
                curve.setData(empty, empty)
            else:
                curve.setData(np.asarray(data[0], float), np.asarray(data[1], float))
            self.legend.getLabel(curve).setText(label)
