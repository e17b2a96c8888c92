"""The confusion matrix of a multiclass window as a heat map: true class down, predicted across.

One :class:`pyqtgraph.ImageItem` draws every cell (float32, explicit levels, a 256-entry
lookup table from the theme's density ramp); each cell's number is a text item on top, in a
colour that reads on the cell (dark on pale, light on dark). A toggle switches between counts
and row-normalised shares (each true class's row sums to 100 %, so a class's recall is its
diagonal cell whatever its size). The widget draws a
:class:`~watchkeeper.core.evaluation.multiclass.ConfusionMatrix`; it never runs an analysis.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from watchkeeper.core.evaluation.multiclass import ConfusionMatrix
from watchkeeper.widgets.plot_export import export_plot, install_plot_menu
from watchkeeper.widgets.plot_theme import LIGHT, PlotTheme, follow_theme, style_plot

__all__ = ["ConfusionMatrixWidget", "cell_values", "density_lookup_table"]


def density_lookup_table(theme: PlotTheme = LIGHT) -> np.ndarray:
    """256 × 3 uint8: the theme's density ramp, sparse → dense."""
    lo, hi = (np.array(c, dtype=np.float64) for c in theme.density)
    t = np.linspace(0.0, 1.0, 256)[:, None]
    return np.round(lo + (hi - lo) * t).astype(np.uint8)


def cell_values(confusion: ConfusionMatrix, shares: bool) -> np.ndarray:
    """(k, k) float: counts, or each row divided by its total (NaN for an empty row)."""
    counts = np.asarray(confusion.counts, dtype=np.float64)
    if not shares:
        return counts
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.full_like(counts, np.nan), where=totals > 0)


class ConfusionMatrixWidget(QWidget):
    """A confusion matrix heat map with a counts / row-shares toggle."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._confusion: ConfusionMatrix | None = None
        self._theme = LIGHT
        self.title = QLabel()
        self.title.setWordWrap(True)
        self.shares_box = QCheckBox("Row shares (each true class sums to 100 %)")
        self.shares_box.setChecked(True)
        self.view = pg.GraphicsLayoutWidget()
        self.plot = self.view.addPlot()
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.invertY(True)  # the first class on top, as a table reads
        self.plot.setLabel("left", "true class")
        self.plot.setLabel("bottom", "predicted class")
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self._texts: list[pg.TextItem] = []
        bar = QHBoxLayout()
        bar.addWidget(self.title, 1)
        bar.addWidget(self.shares_box)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.view, 1)
        self.shares_box.toggled.connect(lambda _on: self._draw())
        install_plot_menu(self, self.view, self.export, "confusion-matrix")
        follow_theme(self.apply_theme)

    @property
    def shares(self) -> bool:
        return self.shares_box.isChecked()

    def set_matrix(self, confusion: ConfusionMatrix | None, title: str = "") -> None:
        """Draw ``confusion`` (None: empty) under ``title``."""
        self._confusion = confusion
        self.title.setText(title)
        self._draw()

    def apply_theme(self, theme: PlotTheme) -> None:
        self._theme = theme
        self.view.setBackground(pg.mkColor(*theme.background))
        style_plot(self.plot, theme, grid=(False, False))
        self._draw()

    def export(self, path: Path) -> Path:
        return export_plot(self.plot, path)

    def _draw(self) -> None:
        for item in self._texts:
            self.plot.removeItem(item)
        self._texts = []
        c = self._confusion
        if c is None or not c.classes:
            self.image.clear()
            return
        k = len(c.classes)
        values = cell_values(c, self.shares)
        top = 1.0 if self.shares else max(float(np.nanmax(values)), 1.0)
        self.image.setImage(
            np.nan_to_num(values, nan=0.0).astype(np.float32),
            levels=(0.0, top),
            lut=density_lookup_table(self._theme),
        )
        self.image.setRect(QRectF(0, 0, k, k))
        ticks = [(i + 0.5, name) for i, name in enumerate(c.classes)]
        self.plot.getAxis("bottom").setTicks([ticks])
        self.plot.getAxis("left").setTicks([ticks])
        dense = np.array(self._theme.density[1], dtype=np.float64)
        sparse = np.array(self._theme.density[0], dtype=np.float64)
        for i in range(k):
            for j in range(k):
                v = values[i, j]
                text = "–" if np.isnan(v) else (f"{v:.0%}" if self.shares else f"{int(v):,}")
                level = 0.0 if np.isnan(v) else min(v / top, 1.0)
                cell = sparse + (dense - sparse) * level
                light = 0.2126 * cell[0] + 0.7152 * cell[1] + 0.0722 * cell[2] < 128
                colour = (255, 255, 255) if light else (20, 20, 20)
                item = pg.TextItem(text, color=colour, anchor=(0.5, 0.5))
                item.setPos(j + 0.5, i + 0.5)
                self.plot.addItem(item)
                self._texts.append(item)
        self.plot.setRange(xRange=(0, k), yRange=(0, k), padding=0.02)
