"""ROC curves of the champion and the challenger on the same labeled requests, overlaid,
with the chance diagonal.

Both curves and the diagonal are created once; :meth:`RocOverlayWidget.set_curves` only
calls ``setData``. The legend names each curve with its AUC, so a reader compares the two
numbers and the two shapes in one place; the challenger is dashed as well as coloured.
Hovering shows the exact rates of the nearest point (:meth:`RocOverlayWidget.describe_at`);
right-click exports the plot.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QVBoxLayout, QWidget

from watchkeeper.widgets.plot_export import export_plot, install_plot_menu
from watchkeeper.widgets.plot_hover import install_hover, nearest_index
from watchkeeper.widgets.plot_theme import LIGHT, PlotTheme, follow_theme, style_plot

__all__ = ["CHALLENGER", "CHAMPION", "RocOverlayWidget"]

#: The two curves' colours in the light theme (the current theme's are ``series[0]``/``[1]``).
CHAMPION = LIGHT.colour(0)
CHALLENGER = LIGHT.colour(1)


class RocOverlayWidget(QWidget):
    """Two ROC curves (false-positive rate → true-positive rate) over the diagonal."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot_widget = pg.PlotWidget()
        self.plot = self.plot_widget.getPlotItem()
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.setLabel("bottom", "false-positive rate")
        self.plot.setLabel("left", "true-positive rate")
        self.plot.setXRange(0, 1, padding=0.02)
        self.plot.setYRange(0, 1, padding=0.02)
        self.legend = self.plot.addLegend(offset=(-10, -10))
        self.diagonal = pg.PlotCurveItem([0.0, 1.0], [0.0, 1.0])
        self.champion_curve = pg.PlotDataItem(name="champion")
        self.challenger_curve = pg.PlotDataItem(name="challenger")
        self.plot.addItem(self.diagonal)
        self.plot.addItem(self.champion_curve)
        self.plot.addItem(self.challenger_curve)
        self.labels = {"champion": "champion", "challenger": "challenger"}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot_widget)
        self.export_menu = install_plot_menu(self, self.plot_widget, self.export, "roc-curves")
        install_hover(self.plot_widget, self.plot, self.describe_at)
        follow_theme(self.apply_theme)

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
        self.labels = {"champion": champion_label, "challenger": challenger_label}

    def apply_theme(self, theme: PlotTheme) -> None:
        """Redraw in ``theme``'s colours."""
        self.plot_widget.setBackground(pg.mkColor(*theme.background))
        style_plot(self.plot, theme)
        self.diagonal.setPen(pg.mkPen(*theme.muted, style=Qt.PenStyle.DashLine))
        self.champion_curve.setPen(pg.mkPen(*theme.colour(0), width=2))
        self.challenger_curve.setPen(
            pg.mkPen(*theme.colour(1), width=2, style=Qt.PenStyle.DashDotLine)
        )

    def describe_at(self, x: float, y: float, reach: tuple[float, float] | None = None) -> str:
        """Tooltip text: the exact rates of the curve points nearest to ``(x, y)`` (FPR,
        TPR), nearest curve first; "" when no curve point is within ``reach``."""
        found = []
        for role, curve in (
            ("champion", self.champion_curve),
            ("challenger", self.challenger_curve),
        ):
            xs, ys = curve.getData()
            if xs is None or len(xs) == 0:
                continue
            i = nearest_index(xs, ys, x, y, reach)
            if i is None:
                continue
            sx, sy = reach if reach is not None else (1.0, 1.0)
            distance = ((xs[i] - x) / sx) ** 2 + ((ys[i] - y) / sy) ** 2
            found.append(
                (
                    distance,
                    f"{self.labels[role]}\nfalse-positive rate {xs[i]:.4f}\n"
                    f"true-positive rate {ys[i]:.4f}",
                )
            )
        return "\n\n".join(text for _, text in sorted(found))

    def export(self, path: Path | str) -> Path:
        """Write the plot to ``path``: PNG or SVG by extension."""
        return export_plot(self.plot, path)
