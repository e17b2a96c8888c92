"""Rows over time as bars, with a draggable region: the reference period of a new monitor.

Draws a :class:`~watchkeeper.core.onboarding.RowHistogram` (one ``BarGraphItem``, a UTC date
axis) and a ``LinearRegionItem`` bounded by the data. Dragging the region emits
:attr:`ReferencePickerWidget.region_changed` with its edges in epoch seconds once the drag
ends; the owner decides what the period becomes (rounded to whole days) and sets it back.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from watchkeeper.widgets.date_axis import DateAxis
from watchkeeper.widgets.plot_theme import PlotTheme, follow_theme

__all__ = ["ReferencePickerWidget", "epoch_seconds"]


class ReferencePickerWidget(QWidget):
    """A row-count histogram over time with the reference period as a draggable region."""

    region_changed = Signal(float, float)  # start, end (epoch seconds), after a drag

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot_widget = pg.PlotWidget(
            axisItems={"bottom": DateAxis(orientation="bottom", utcOffset=0)}
        )
        self.plot = self.plot_widget.getPlotItem()
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.setLabel("left", "events")
        self.plot.getAxis("left").enableAutoSIPrefix(False)
        self.plot.getAxis("left").setWidth(60)
        self.bars = pg.BarGraphItem(x0=[], x1=[], height=[], pen=None)
        self.region = pg.LinearRegionItem(swapMode="block")
        self.region.setZValue(10)
        self.plot.addItem(self.bars)
        self.plot.addItem(self.region)
        self.region.sigRegionChangeFinished.connect(self._on_region_change_finished)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot_widget)
        self.edges = np.zeros(1)
        self.counts = np.zeros(0)
        self._quiet = False
        follow_theme(self.apply_theme)

    def set_histogram(self, edges: np.ndarray, counts: np.ndarray, unit: str = "day") -> None:
        """Draw ``counts`` per bin between ``edges`` (epoch seconds, one more than counts)."""
        self.edges, self.counts = np.asarray(edges, float), np.asarray(counts, float)
        self.bars.setOpts(x0=self.edges[:-1], x1=self.edges[1:], height=self.counts)
        self.plot.setLabel("left", f"events per {unit}")
        if len(self.counts):
            lo, hi = float(self.edges[0]), float(self.edges[-1])
            self.region.setBounds((lo, hi))
            self.plot.setXRange(lo, hi, padding=0.01)
            # headroom: the top tick's label must not be cut by the plot's edge
            self.plot.setYRange(0, float(self.counts.max()) * 1.15, padding=0)

    def set_region(self, start: float, end: float) -> None:
        """Show the period [start, end) (epoch seconds) without emitting a change."""
        self._quiet = True
        try:
            self.region.setRegion((start, end))
        finally:
            self._quiet = False

    def region_seconds(self) -> tuple[float, float]:
        lo, hi = self.region.getRegion()
        return float(lo), float(hi)

    def rows_in(self, start: float, end: float) -> int:
        """Events in the bins inside [start, end) (what the bars show there)."""
        inside = (self.edges[:-1] >= start) & (self.edges[:-1] < end)
        return int(self.counts[inside].sum()) if len(self.counts) else 0

    def apply_theme(self, theme: PlotTheme) -> None:
        self.plot_widget.setBackground(theme.background)
        for name in ("left", "bottom"):
            axis = self.plot.getAxis(name)
            axis.setPen(pg.mkPen(theme.axis))
            axis.setTextPen(pg.mkPen(theme.foreground))
        self.bars.setOpts(brush=pg.mkBrush(*theme.neutral, 200))
        r, g, b = theme.colour(0)
        self.region.setBrush(pg.mkBrush(r, g, b, 60))
        self.region.setHoverBrush(pg.mkBrush(r, g, b, 90))
        for line in self.region.lines:
            line.setPen(pg.mkPen((r, g, b), width=2))
            line.setHoverPen(pg.mkPen((r, g, b), width=3))

    def _on_region_change_finished(self) -> None:
        if not self._quiet:
            self.region_changed.emit(*self.region_seconds())


def epoch_seconds(t: dt.datetime | dt.date) -> float:
    """A spec time (a date is midnight UTC; a naive time is UTC) in epoch seconds."""
    if not isinstance(t, dt.datetime):
        t = dt.datetime(t.year, t.month, t.day)
    return (t if t.tzinfo else t.replace(tzinfo=dt.UTC)).timestamp()
