"""A metric over time: realized with its interval, estimated where labels are missing,
label coverage beneath on a linked time axis, and the lines a move is judged against.

Labels arrive late, so the newest windows have few: there the realized line stops (or
rests on few labels, with a wide band) and the estimate (dashed, its own band) takes over.
Coverage beneath says how much of each window is labeled, so a reader knows which line to
trust. Every item is created once; :meth:`MetricTimelineWidget.set_data` only calls
``setData``/``setOpts``/``setValue`` (pyqtgraph's "plot less, update in place"). NaN
marks a window without a value; curves use ``connect="finite"`` so gaps stay gaps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QVBoxLayout, QWidget

__all__ = ["MetricTimelineWidget", "TimelineData"]

REALIZED = (37, 99, 235)
ESTIMATED = (217, 119, 6)
COVERAGE = (100, 116, 139)


@dataclass(frozen=True)
class TimelineData:
    """What the timeline draws; arrays are per window, NaN where there is no value.

    ``x`` are window midpoints in epoch seconds and ``width`` a window's length in seconds;
    ``realized``/``estimated`` are ``(W, 3)``: value, lower, upper.
    """

    metric: str
    x: np.ndarray
    width: float
    realized: np.ndarray
    estimated: np.ndarray
    coverage: np.ndarray
    baseline: float | None = None
    alert: float | None = None


def _band(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper with NaN wherever either is missing (paired gaps for the fill)."""
    lo, hi = values[:, 1].copy(), values[:, 2].copy()
    gap = ~(np.isfinite(lo) & np.isfinite(hi))
    lo[gap] = np.nan
    hi[gap] = np.nan
    return lo, hi


class MetricTimelineWidget(QWidget):
    """Realized and estimated metric over time above the label coverage, x axes linked."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("w")
        self.metric_plot = self.graphics.addPlot(
            row=0, col=0, axisItems={"bottom": pg.DateAxisItem(orientation="bottom")}
        )
        self.coverage_plot = self.graphics.addPlot(
            row=1, col=0, axisItems={"bottom": pg.DateAxisItem(orientation="bottom")}
        )
        self.graphics.ci.layout.setRowStretchFactor(0, 3)
        self.graphics.ci.layout.setRowStretchFactor(1, 1)
        self.coverage_plot.setXLink(self.metric_plot)
        for plot in (self.metric_plot, self.coverage_plot):
            plot.setMenuEnabled(False)
            plot.hideButtons()
            plot.showGrid(x=True, y=True, alpha=0.15)
            plot.setMouseEnabled(x=True, y=False)
            for name in ("left", "bottom"):
                plot.getAxis(name).setTextPen(pg.mkPen(40, 40, 40))
            plot.getAxis("left").setWidth(56)
            plot.getAxis("left").enableAutoSIPrefix(False)  # 0.85, not "850 (x0.001)"
        self.metric_plot.getAxis("bottom").setStyle(showValues=False)
        self.coverage_plot.setLabel("left", "labeled")
        self.coverage_plot.setYRange(0, 1.05, padding=0)
        self.coverage_plot.getAxis("left").setTicks([[(0, "0%"), (0.5, "50%"), (1, "100%")]])
        self.legend = self.metric_plot.addLegend(offset=(10, 10), labelTextColor=(40, 40, 40))
        self.legend.setBrush(pg.mkBrush(255, 255, 255, 200))

        # Created once; set_data only refills them.
        self.realized_curve = pg.PlotDataItem(
            pen=pg.mkPen(*REALIZED, width=2),
            symbol="o",
            symbolSize=4,
            symbolBrush=pg.mkBrush(*REALIZED),
            symbolPen=None,
            connect="finite",
            name="realized",
        )
        self.realized_lower = pg.PlotCurveItem(pen=None, connect="finite")
        self.realized_upper = pg.PlotCurveItem(pen=None, connect="finite")
        self.realized_band = pg.FillBetweenItem(
            self.realized_lower, self.realized_upper, brush=pg.mkBrush(*REALIZED, 45)
        )
        self.estimated_curve = pg.PlotDataItem(
            pen=pg.mkPen(*ESTIMATED, width=2, style=Qt.PenStyle.DashLine),
            connect="finite",
            name="estimated (no labels yet)",
        )
        self.estimated_lower = pg.PlotCurveItem(pen=None, connect="finite")
        self.estimated_upper = pg.PlotCurveItem(pen=None, connect="finite")
        self.estimated_band = pg.FillBetweenItem(
            self.estimated_lower, self.estimated_upper, brush=pg.mkBrush(*ESTIMATED, 40)
        )
        self.baseline_line = pg.InfiniteLine(
            angle=0,
            movable=False,
            pen=pg.mkPen(90, 90, 90, width=1, style=Qt.PenStyle.DashLine),
            label="",
            labelOpts={"position": 0.02, "color": (70, 70, 70), "anchors": [(0, 1), (0, 1)]},
        )
        self.alert_line = pg.InfiniteLine(
            angle=0,
            movable=False,
            pen=pg.mkPen(200, 30, 30, width=1, style=Qt.PenStyle.DotLine),
            label="",
            labelOpts={"position": 0.02, "color": (170, 20, 20), "anchors": [(0, 0), (0, 0)]},
        )
        for item in (
            self.realized_band,
            self.estimated_band,
            self.realized_lower,
            self.realized_upper,
            self.estimated_lower,
            self.estimated_upper,
            self.baseline_line,
            self.alert_line,
        ):
            self.metric_plot.addItem(item)
        self.metric_plot.addItem(self.realized_curve)
        self.metric_plot.addItem(self.estimated_curve)
        self.coverage_bars = pg.BarGraphItem(
            x=[], height=[], width=1.0, brush=pg.mkBrush(*COVERAGE, 170), pen=None
        )
        self.coverage_plot.addItem(self.coverage_bars)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics)
        self.data: TimelineData | None = None
        self.set_data(None)

    def set_data(self, data: TimelineData | None) -> None:
        """Draw ``data`` (None empties every item)."""
        self.data = data
        if data is None or len(data.x) == 0:
            empty = np.array([], dtype=float)
            for curve in (
                self.realized_curve,
                self.realized_lower,
                self.realized_upper,
                self.estimated_curve,
                self.estimated_lower,
                self.estimated_upper,
            ):
                curve.setData(empty, empty)
            self.coverage_bars.setOpts(x=empty, height=empty, width=1.0)
            self.baseline_line.setVisible(False)
            self.alert_line.setVisible(False)
            return
        x = np.asarray(data.x, dtype=float)
        self.metric_plot.setLabel("left", data.metric)
        self.realized_curve.setData(x, data.realized[:, 0])
        lo, hi = _band(data.realized)
        self.realized_lower.setData(x, lo)
        self.realized_upper.setData(x, hi)
        self.estimated_curve.setData(x, data.estimated[:, 0])
        elo, ehi = _band(data.estimated)
        self.estimated_lower.setData(x, elo)
        self.estimated_upper.setData(x, ehi)
        cov = np.nan_to_num(np.asarray(data.coverage, dtype=float), nan=0.0)
        self.coverage_bars.setOpts(x=x, height=cov, width=data.width * 0.85)
        for line, value, text in (
            (self.baseline_line, data.baseline, "reference {:.3f}"),
            (self.alert_line, data.alert, "alert beyond {:.3f}"),
        ):
            line.setVisible(value is not None)
            if value is not None:
                line.setValue(value)
                line.label.setFormat(text.format(value))
        self._fit_ranges(x, data)

    def _fit_ranges(self, x: np.ndarray, data: TimelineData) -> None:
        finite_x = x[np.isfinite(x)]
        if finite_x.size:
            half = data.width / 2
            self.metric_plot.setXRange(finite_x.min() - half, finite_x.max() + half, padding=0.01)
        ys = np.concatenate(
            [
                data.realized[:, :3].ravel(),
                data.estimated[:, :3].ravel(),
                [v for v in (data.baseline, data.alert) if v is not None],
            ]
        )
        ys = ys[np.isfinite(ys)]
        if ys.size:
            lo, hi = float(ys.min()), float(ys.max())
            pad = max((hi - lo) * 0.08, 1e-3)
            self.metric_plot.setYRange(lo - pad, hi + pad, padding=0)
