"""Champion score against challenger score for the same requests.

Few pairs are drawn as points (coloured by label when known); many pairs as a 2-D density:
one :class:`~pyqtgraph.ImageItem` of the pair counts on a grid (pyqtgraph's image guide:
float32, explicit levels, a 256-entry lookup table; counts on a log scale, so the few
requests far from the diagonal stay visible next to the dense mass on it). The diagonal is
where both agree; dotted lines at the threshold cut the plane into the four decision
quadrants, the two off-diagonal ones being the requests they decide differently.

Hovering shows the exact scores of the nearest point, or the count of the density cell under
the cursor (:meth:`ScoreScatterWidget.describe_at`); right-click exports the plot.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtWidgets import QVBoxLayout, QWidget

from watchkeeper.widgets.plot_export import export_plot, install_plot_menu
from watchkeeper.widgets.plot_hover import install_hover, nearest_index
from watchkeeper.widgets.plot_theme import LIGHT, PlotTheme, follow_theme, style_plot

__all__ = ["ScoreScatterWidget", "density_lookup_table"]


def density_lookup_table(theme: PlotTheme = LIGHT) -> np.ndarray:
    """256 × 4 uint8: transparent for empty cells, then the theme's sparse → dense ramp
    (pale → dark blue on a light background, dark → pale blue on a dark one)."""
    t = np.linspace(0.0, 1.0, 255)[:, None]
    sparse, dense = np.array(theme.density[0]), np.array(theme.density[1])
    rgb = np.round(sparse + (dense - sparse) * t).astype(np.uint8)
    lut = np.zeros((256, 4), dtype=np.uint8)
    lut[1:, :3] = rgb
    lut[1:, 3] = 255
    return lut


class ScoreScatterWidget(QWidget):
    """Scores of the same requests: champion on x, challenger on y."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot_widget = pg.PlotWidget()
        self.plot = self.plot_widget.getPlotItem()
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.setLabel("bottom", "champion score")
        self.plot.setLabel("left", "challenger score")
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.points = pg.ScatterPlotItem(size=4, pen=None)
        self.diagonal = pg.PlotCurveItem([0.0, 1.0], [0.0, 1.0])
        self.threshold_x = pg.InfiniteLine(angle=90, movable=False)
        self.threshold_y = pg.InfiniteLine(angle=0, movable=False)
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
        self.theme = LIGHT
        self._labels: np.ndarray | None = None
        self._density: np.ndarray | None = None  # counts, (bins_champion, bins_challenger)
        self._extent = (0.0, 1.0, 0.0, 1.0)
        self.export_menu = install_plot_menu(self, self.plot_widget, self.export, "scores")
        install_hover(self.plot_widget, self.plot, self.describe_at)
        self.set_data(None, None)
        follow_theme(self.apply_theme)

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
        self._extent = extent
        self._labels = None
        self._density = None
        if density is not None:
            self.mode = "density"
            self._density = np.asarray(density)
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
            self._labels = None if labels is None else np.asarray(labels)
            self.points.setData(champion, challenger, brush=self._point_brushes())
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

    def _point_brushes(self) -> object:
        t = self.theme
        plain = pg.mkBrush(*t.colour(0), 110)
        if self._labels is None:
            return plain
        positive = pg.mkBrush(*t.alert, 200)
        return [positive if v == 1 else plain for v in self._labels]

    def apply_theme(self, theme: PlotTheme) -> None:
        """Redraw in ``theme``'s colours (the density ramp too)."""
        self.theme = theme
        self.plot_widget.setBackground(pg.mkColor(*theme.background))
        style_plot(self.plot, theme)
        self.image_item.setLookupTable(density_lookup_table(theme))
        self.diagonal.setPen(pg.mkPen(*theme.muted, style=Qt.PenStyle.DashLine))
        dotted = pg.mkPen(*theme.alert, width=1, style=Qt.PenStyle.DotLine)
        self.threshold_x.setPen(dotted)
        self.threshold_y.setPen(dotted)
        if self.mode == "points":
            self.points.setBrush(self._point_brushes())

    def describe_at(self, x: float, y: float, reach: tuple[float, float] | None = None) -> str:
        """Tooltip text at ``(x, y)``: the density cell's range and count, or the nearest
        point's two scores (and label); "" when nothing is there."""
        if self.mode == "density" and self._density is not None:
            x0, x1, y0, y1 = self._extent
            nx, ny = self._density.shape
            if not (x0 <= x < x1 and y0 <= y < y1):
                return ""
            i = min(int((x - x0) / (x1 - x0) * nx), nx - 1)
            j = min(int((y - y0) / (y1 - y0) * ny), ny - 1)
            wx, wy = (x1 - x0) / nx, (y1 - y0) / ny
            n = int(self._density[i, j])
            return (
                f"champion score {x0 + i * wx:.4f} – {x0 + (i + 1) * wx:.4f}\n"
                f"challenger score {y0 + j * wy:.4f} – {y0 + (j + 1) * wy:.4f}\n"
                f"{n:,} request{'s' if n != 1 else ''}"
            )
        if self.mode == "points":
            xs, ys = self.points.getData()
            k = nearest_index(xs, ys, x, y, reach)
            if k is None:
                return ""
            text = f"champion score {xs[k]:.4f}\nchallenger score {ys[k]:.4f}"
            if self._labels is not None:
                label = self._labels[k]
                known = label is not None and label == label  # NaN: not labeled yet
                text += f"\nlabel {int(label) if known else 'not known yet'}"
            return text
        return ""

    def export(self, path: Path | str) -> Path:
        """Write the plot to ``path``: PNG or SVG by extension."""
        return export_plot(self.plot, path)
