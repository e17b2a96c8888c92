"""Champion score against challenger score for the same requests.

Few pairs are drawn as points (coloured by label when known); many pairs as a 2-D density:
one :class:`~pyqtgraph.ImageItem` of the pair counts on a grid (pyqtgraph's image guide:
float32, explicit levels, a 256-entry lookup table; counts on a log scale, so the few
requests far from the diagonal stay visible next to the dense mass on it). The diagonal is
where both agree; dotted lines at the threshold cut the plane into the four decision
quadrants, the two off-diagonal ones being the requests they decide differently.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtWidgets import QVBoxLayout, QWidget

__all__ = ["ScoreScatterWidget", "density_lookup_table"]

_POINT = (37, 99, 235, 110)
_POSITIVE = (200, 30, 30, 200)


def density_lookup_table() -> np.ndarray:
    """256 × 4 uint8: transparent for empty cells, then pale blue → dark blue."""
    t = np.linspace(0.0, 1.0, 255)[:, None]
    pale, dark = np.array([219, 234, 254]), np.array([23, 37, 84])
    rgb = np.round(pale + (dark - pale) * t).astype(np.uint8)
    lut = np.zeros((256, 4), dtype=np.uint8)
    lut[1:, :3] = rgb
    lut[1:, 3] = 255
    return lut


class ScoreScatterWidget(QWidget):
    """Scores of the same requests: champion on x, challenger on y."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot_widget = pg.PlotWidget()
        self.plot_widget.setBackground("w")
        self.plot = self.plot_widget.getPlotItem()
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        for name in ("left", "bottom"):
            axis = self.plot.getAxis(name)
            axis.setPen(pg.mkPen(90, 90, 90))
            axis.setTextPen(pg.mkPen(40, 40, 40))
        self.plot.setLabel("bottom", "champion score")
        self.plot.setLabel("left", "challenger score")
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.image_item.setLookupTable(density_lookup_table())
        self.points = pg.ScatterPlotItem(size=4, pen=None)
        self.diagonal = pg.PlotCurveItem(
            [0.0, 1.0], [0.0, 1.0], pen=pg.mkPen(120, 120, 120, style=Qt.PenStyle.DashLine)
        )
        dotted = pg.mkPen(200, 30, 30, width=1, style=Qt.PenStyle.DotLine)
        self.threshold_x = pg.InfiniteLine(angle=90, movable=False, pen=dotted)
        self.threshold_y = pg.InfiniteLine(angle=0, movable=False, pen=dotted)
        for item in (
            self.image_item,
            self.points,
            self.diagonal,
            self.threshold_x,
            self.threshold_y,
        ):
            self.plot.addItem(item)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot_widget)
        self.mode = "empty"  # empty | points | density
        self.set_data(None, None)

    def set_data(
        self,
        champion: np.ndarray | None,
        challenger: np.ndarray | None,
        *,
        labels: np.ndarray | None = None,
        density: np.ndarray | None = None,
        extent: tuple[float, float, float, float] = (0.0, 1.0, 0.0, 1.0),
        threshold: float | None = None,
    ) -> None:
        """Points for ``champion``/``challenger`` scores, or the ``density`` image when given
        (``(bins_champion, bins_challenger)`` counts over ``extent`` = x-min, x-max, y-min,
        y-max)."""
        empty = np.zeros(0)
        x0, x1, y0, y1 = extent
        if density is not None:
            self.mode = "density"
            # rows = challenger bins (y), columns = champion bins (x), as the view shows them
            image = np.log1p(np.asarray(density, dtype=np.float32).T)
            top = float(image.max()) if image.size else 1.0
            self.image_item.setImage(image, levels=(0.0, max(top, 1e-6)), autoLevels=False)
            self.image_item.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))
            self.image_item.setVisible(True)
            self.points.setData(empty, empty)
        elif champion is not None and challenger is not None and len(champion):
            self.mode = "points"
            self.image_item.clear()
            self.image_item.setVisible(False)
            if labels is not None:
                brushes = [pg.mkBrush(*(_POSITIVE if v == 1 else _POINT)) for v in labels]
                self.points.setData(champion, challenger, brush=brushes)
            else:
                self.points.setData(champion, challenger, brush=pg.mkBrush(*_POINT))
        else:
            self.mode = "empty"
            self.image_item.clear()
            self.image_item.setVisible(False)
            self.points.setData(empty, empty)
        lo, hi = min(x0, y0), max(x1, y1)
        self.diagonal.setData([lo, hi], [lo, hi])
        for line in (self.threshold_x, self.threshold_y):
            line.setVisible(threshold is not None)
            if threshold is not None:
                line.setValue(threshold)
        self.plot.setXRange(x0, x1, padding=0.02)
        self.plot.setYRange(y0, y1, padding=0.02)
