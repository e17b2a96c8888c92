"""Drift against importance: which drifting features the model actually uses.

One point per feature: x its share of the model's importance on the reference, y its largest
PSI (log scale: a renamed category reaches PSI 10, a real shift 0.2). A dashed line at the
drift threshold and one at an equal share of importance cut the plane into four quadrants;
the top right (drifting and used) is what to look at first. The importance's source is
always written above the plot. Clicking a point emits :attr:`feature_clicked`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from watchkeeper.widgets.plot_theme import LIGHT, PlotTheme, follow_theme, style_plot

__all__ = ["PSI_FLOOR", "ImportanceQuadrant", "place_labels"]

#: PSIs below this are drawn at it (log axis).
PSI_FLOOR = 1e-3

#: Where a name may sit around its point, tried in this order (TextItem anchors):
#: above right, below right, above left, below left.
_ANCHORS = ((0.0, 1.0), (0.0, 0.0), (1.0, 1.0), (1.0, 0.0))


def place_labels(
    points: Sequence[tuple[float, float]], sizes: Sequence[tuple[float, float]]
) -> list[tuple[float, float]]:
    """An anchor per label so that no two labels overlap where that can be had.

    ``points`` and label ``sizes`` (width, height) are in pixels, y downwards. Greedy: each
    label, in the order given, takes the first anchor of :data:`_ANCHORS` whose box meets no
    label placed before, else the one overlapping them least.
    """
    placed: list[tuple[float, float, float, float]] = []
    out = []
    for (px, py), (w, h) in zip(points, sizes, strict=True):
        best, best_overlap = _ANCHORS[0], float("inf")
        for ax, ay in _ANCHORS:
            x0, y0 = px - ax * w, py - ay * h
            overlap = sum(
                max(0.0, min(x0 + w, bx1) - max(x0, bx0))
                * max(0.0, min(y0 + h, by1) - max(y0, by0))
                for bx0, by0, bx1, by1 in placed
            )
            if overlap < best_overlap:
                best, best_overlap = (ax, ay), overlap
            if overlap == 0:
                break
        x0, y0 = px - best[0] * w, py - best[1] * h
        placed.append((x0, y0, x0 + w, y0 + h))
        out.append(best)
    return out


class ImportanceQuadrant(QWidget):
    """Features as points: importance share (x) against largest PSI (y, log)."""

    feature_clicked = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.source_label = QLabel("Importance: not computed yet")
        self.source_label.setWordWrap(True)
        self.source_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.plot_widget = pg.PlotWidget()
        self.plot = self.plot_widget.getPlotItem()
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.setLabel("bottom", "share of the model's importance (%)")
        self.plot.setLabel("left", "largest PSI")
        self.points = pg.ScatterPlotItem(size=11, pen=pg.mkPen(40, 40, 40), hoverable=True)
        self.points.sigClicked.connect(self._on_clicked)
        self.psi_line = pg.InfiniteLine(angle=0, movable=False)
        self.share_line = pg.InfiniteLine(angle=90, movable=False)
        for item in (self.psi_line, self.share_line, self.points):
            self.plot.addItem(item)
        self.labels: list[pg.TextItem] = []
        self._positions: list[tuple[float, float]] = []
        self.names: list[str] = []
        # the view's pixel scale is known only once laid out: place the names again then
        self.plot.getViewBox().sigResized.connect(self._place_labels)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.source_label)
        layout.addWidget(self.plot_widget, 1)
        self._theme = LIGHT
        follow_theme(self.apply_theme)
        # its axes as they will be (PSI on a log scale, shares in %), not pyqtgraph's default
        # range ("x0.001" and ±400), once shown; empty, the plot is hidden and the message
        # says why: squeezed under the drift view, empty axes clipped their own label
        self.clear("Importance: not computed yet")

    def apply_theme(self, theme: PlotTheme) -> None:
        self._theme = theme
        self.plot_widget.setBackground(theme.background)
        style_plot(self.plot, theme)
        dashed = pg.mkPen(*theme.muted, style=Qt.PenStyle.DashLine)
        self.psi_line.setPen(pg.mkPen(*theme.alert, style=Qt.PenStyle.DashLine))
        self.share_line.setPen(dashed)
        for label in self.labels:
            label.setColor(pg.mkColor(*theme.foreground))

    def set_data(self, impacts: Sequence[Any], source: str, psi_drift: float) -> None:
        """``impacts``: objects with ``name``, ``importance`` (share), ``psi``, ``decision``."""
        for label in self.labels:
            self.plot.removeItem(label)
        self.labels = []
        self.names = [d.name for d in impacts]
        x = np.array([100.0 * d.importance for d in impacts])
        y = np.log10(np.maximum([d.psi for d in impacts], PSI_FLOOR))
        t = self._theme
        colour = {"drift": t.alert, "watch": t.colour(1)}
        brushes = [pg.mkBrush(*colour.get(d.decision, t.neutral)) for d in impacts]
        self.points.setData(x=x, y=y, brush=brushes, data=self.names)
        self.psi_line.setPos(float(np.log10(psi_drift)))
        self.share_line.setPos(100.0 / max(1, len(impacts)))
        ticks = [(float(k), f"{10.0**k:g}") for k in range(-3, 2)]
        self.plot.getAxis("left").setTicks([ticks])
        top = float(max(np.log10(psi_drift), *(y if len(y) else [0.0]))) + 0.4
        self.plot.setYRange(np.log10(PSI_FLOOR) - 0.2, top, padding=0)
        right = float(max(x, default=10.0)) * 1.35 + 2.0  # room for the rightmost name
        self.plot.setXRange(0.0, right, padding=0)
        self.labels = [
            pg.TextItem(name, color=pg.mkColor(*t.foreground), anchor=(0, 1)) for name in self.names
        ]
        self._positions = [(float(xi), float(yi)) for xi, yi in zip(x, y, strict=True)]
        for label, pos in zip(self.labels, self._positions, strict=True):
            label.setPos(*pos)
            self.plot.addItem(label)
        self._place_labels()
        self.plot_widget.setVisible(bool(self.names))
        self.source_label.setText(
            f"Importance {source} · dashed: PSI drift threshold {psi_drift:g}, "
            "equal share · top right: drifting and used by the model · click a point"
        )

    def _place_labels(self) -> None:
        """Anchor the names so that close points' names do not print over each other (the
        demo's merchant_id and country sit a few pixels apart); again on every resize."""
        vb = self.plot.getViewBox()
        if not self.labels or vb.width() <= 0:
            return
        from PySide6.QtCore import QPointF

        pixels = [vb.mapViewToScene(QPointF(px, py)) for px, py in self._positions]
        sizes = [(lb.boundingRect().width(), lb.boundingRect().height()) for lb in self.labels]
        # most important first: they keep the default place, the others move around them
        order = sorted(range(len(self.labels)), key=lambda i: -self._positions[i][0])
        anchors = place_labels(
            [(pixels[i].x(), pixels[i].y()) for i in order], [sizes[i] for i in order]
        )
        for i, anchor in zip(order, anchors, strict=True):
            self.labels[i].setAnchor(anchor)

    def clear(self, message: str) -> None:
        self.set_data([], "", 0.2)
        self.source_label.setText(message)
        self.plot_widget.setVisible(False)

    def _on_clicked(self, _item: Any, points: Any, *_: Any) -> None:
        if len(points):
            self.feature_clicked.emit(str(points[0].data()))
