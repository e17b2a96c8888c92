"""A metric per slice as horizontal bars with interval whiskers, the overall value as a grey
bar on top and a dashed reference line through it, critical slices outlined in red.

Horizontal bars, because slice names are long ("hour_of_day in {0,1,2,3,4,5}") and read
well on the left axis. Every item is created once; :meth:`SliceChartWidget.set_data` only
calls ``setOpts``/``setData``/``setValue``. Clicking a bar reports the slice
(:attr:`SliceChartWidget.slice_clicked`); the widget never computes anything. Hovering a
bar (or the overall row) shows its exact value and interval; right-click exports the plot.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QVBoxLayout, QWidget

from watchkeeper.widgets.empty_plot import show_axes
from watchkeeper.widgets.plot_export import export_plot, install_plot_menu
from watchkeeper.widgets.plot_hover import install_hover
from watchkeeper.widgets.plot_theme import LIGHT, PlotTheme, follow_theme, style_plot

__all__ = ["SliceBars", "SliceChartWidget", "bars_from_rows"]

# The light theme's colours; the current theme's are used when drawing.
BAR = LIGHT.colour(0)
WORSE = LIGHT.colour(1)
OVERALL = LIGHT.neutral
CRITICAL = LIGHT.alert


@dataclass(frozen=True)
class SliceBars:
    """What the chart draws: per slice a name, value and interval (NaN where none)."""

    metric: str
    names: tuple[str, ...]
    values: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    critical: tuple[bool, ...]
    overall: float | None = None
    overall_lower: float | None = None
    overall_upper: float | None = None
    higher_is_better: bool = True
    details: tuple[str, ...] = ()  # tooltip text per slice


class _Bars(pg.BarGraphItem):
    """The slice bars: a click says which slice (the tooltip comes from the plot's hover)."""

    def __init__(self, owner: SliceChartWidget, **opts) -> None:
        super().__init__(**opts)
        self._owner = owner

    def mouseClickEvent(self, ev) -> None:
        if ev.button() == Qt.MouseButton.LeftButton:
            row = self._owner.row_at(ev.pos().y())
            if row is not None:
                ev.accept()
                self._owner.slice_clicked.emit(self._owner.data.names[row])
                return
        ev.ignore()  # a right click opens the plot's menu


class SliceChartWidget(QWidget):
    """Bars of one metric per slice; row 0 (top) is the overall value."""

    slice_clicked = Signal(str)  # the slice's name

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot_widget = pg.PlotWidget()
        self.plot = self.plot_widget.getPlotItem()
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        vb = self.plot.getViewBox()
        vb.invertY(True)
        vb.setMouseEnabled(x=False, y=False)
        self.plot.getAxis("bottom").enableAutoSIPrefix(False)
        self.theme = LIGHT

        # Created once; set_data only refills them (colours come from the theme).
        self.overall_bar = pg.BarGraphItem(x0=[], y=[], width=[], height=0.6, pen=None)
        # (an empty ``pens`` list trips pyqtgraph 0.14: empty bars take one pen and brush)
        self.bars = _Bars(self, x0=[], y=[], width=[], height=0.6, pen=None, brush=BAR)
        self.error_bars = pg.ErrorBarItem(
            x=np.zeros(0), y=np.zeros(0), left=np.zeros(0), right=np.zeros(0), beam=0.25
        )
        self.overall_line = pg.InfiniteLine(angle=90, movable=False)
        for item in (self.overall_bar, self.bars, self.error_bars, self.overall_line):
            self.plot.addItem(item)
        self.error_bars.setZValue(5)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot_widget)
        self.data: SliceBars | None = None
        self.export_menu = install_plot_menu(self, self.plot_widget, self.export, self._name)
        install_hover(self.plot_widget, self.plot, self.describe_at)
        self.set_data(None)
        follow_theme(self.apply_theme)

    def apply_theme(self, theme: PlotTheme) -> None:
        """Redraw in ``theme``'s colours."""
        self.theme = theme
        self.plot_widget.setBackground(pg.mkColor(*theme.background))
        style_plot(self.plot, theme, grid=(True, False))
        self.overall_bar.setOpts(brush=pg.mkBrush(*theme.neutral, 200))
        self.error_bars.setData(pen=pg.mkPen(*theme.foreground, width=1.5))
        self.overall_line.setPen(pg.mkPen(*theme.muted, width=1, style=Qt.PenStyle.DashLine))
        self.set_data(self.data)

    # -- drawing ---------------------------------------------------------------------------

    def set_data(self, data: SliceBars | None) -> None:
        """Draw ``data`` (None empties every item)."""
        self.data = data
        empty = np.zeros(0)
        theme = self.theme
        # no slice yet (a spec without [[slices]]): the overall bar alone, not an empty plot
        if data is None or (not data.names and data.overall is None):
            self.bars.setOpts(
                x0=empty,
                y=empty,
                width=empty,
                pens=None,
                pen=None,
                brushes=None,
                brush=theme.colour(0),
            )
            self.overall_bar.setOpts(x0=empty, y=empty, width=empty)
            self.error_bars.setData(x=empty, y=empty, left=empty, right=empty)
            self.overall_line.setVisible(False)
            self.plot.getAxis("left").setTicks([[]])
            self.plot.setLabel("bottom", "")
            show_axes(self.plot, False)
            return
        show_axes(self.plot, True)
        n = len(data.names)
        values = np.asarray(data.values, dtype=float)
        y = np.arange(1, n + 1, dtype=float)
        shown = np.nan_to_num(values, nan=0.0)
        brushes, pens = [], []
        for v, crit in zip(values, data.critical, strict=True):
            worse = (
                data.overall is not None
                and math.isfinite(v)
                and (v < data.overall if data.higher_is_better else v > data.overall)
            )
            brushes.append(pg.mkBrush(*theme.colour(1 if worse else 0), 190))
            pens.append(pg.mkPen(*theme.alert, width=2.5) if crit else pg.mkPen(None))
        if n:
            self.bars.setOpts(x0=np.zeros(n), y=y, width=shown, brushes=brushes, pens=pens)
        else:  # pyqtgraph's BarGraphItem fails on an empty list of pens
            self.bars.setOpts(
                x0=y, y=y, width=shown, pens=None, pen=None, brushes=None, brush=theme.colour(0)
            )
        # Whiskers: the interval around each value (none where there is no interval).
        lo = np.asarray(data.lower, dtype=float)
        hi = np.asarray(data.upper, dtype=float)
        has = np.isfinite(values) & np.isfinite(lo) & np.isfinite(hi)
        ex, ey = values[has], y[has]
        self.error_bars.setData(x=ex, y=ey, left=ex - lo[has], right=hi[has] - ex)
        if data.overall is not None:
            self.overall_bar.setOpts(x0=[0.0], y=[0.0], width=[data.overall])
            self.overall_line.setValue(data.overall)
            self.overall_line.setVisible(True)
        else:
            self.overall_bar.setOpts(x0=empty, y=empty, width=empty)
            self.overall_line.setVisible(False)
        overall = "overall" if data.overall is None else f"overall {data.overall:.3f}"
        labels = [(0.0, overall)]
        for i, (name, crit) in enumerate(zip(data.names, data.critical, strict=True)):
            labels.append((float(i + 1), f"{_short(name)}  ⚑" if crit else _short(name)))
        left = self.plot.getAxis("left")
        left.setTicks([labels])
        # a tick label wider than the axis is dropped by pyqtgraph: size the axis to the text
        metrics = QFontMetrics(
            left.font() if left.style.get("tickFont") is None else left.style["tickFont"]
        )
        widest = max(metrics.horizontalAdvance(text) for _, text in labels)
        left.setWidth(min(max(80, widest + 24), 320))
        self.plot.setLabel("bottom", data.metric)
        self._fit(data, values, hi)

    def _fit(self, data: SliceBars, values: np.ndarray, upper: np.ndarray) -> None:
        candidates = [values, upper, [data.overall or 0.0, data.overall_upper or 0.0]]
        xs = np.concatenate([np.asarray(c, dtype=float) for c in candidates])
        xs = xs[np.isfinite(xs)]
        top = float(xs.max()) if xs.size else 1.0
        low = float(min(0.0, xs.min())) if xs.size else 0.0
        self.plot.setXRange(low, top * 1.06 if top > 0 else 1.0, padding=0)
        self.plot.setYRange(-0.6, len(data.names) + 0.6, padding=0)

    # -- reading back ----------------------------------------------------------------------

    def row_at(self, y: float) -> int | None:
        """The slice index under a plot y coordinate (None for the overall row or outside)."""
        if self.data is None:
            return None
        i = round(y) - 1
        return i if 0 <= i < len(self.data.names) and abs(y - (i + 1)) <= 0.3 else None

    def describe_at(self, x: float, y: float, reach: tuple[float, float] | None = None) -> str:
        """Tooltip text at data point ``(x, y)``: the slice (or the overall value) there."""
        d = self.data
        if d is None:
            return ""
        if abs(y) <= 0.3 and d.overall is not None:
            lo, hi = d.overall_lower, d.overall_upper
            interval = f" [{lo:.4f}, {hi:.4f}]" if lo is not None and hi is not None else ""
            return f"overall\n{d.metric} {d.overall:.4f}{interval}"
        return self.describe_row(self.row_at(y))

    def export(self, path: Path | str) -> Path:
        """Write the chart to ``path``: PNG or SVG by extension."""
        return export_plot(self.plot, path)

    def _name(self) -> str:
        return f"slices-{self.data.metric}" if self.data is not None else "slices"

    def describe_row(self, row: int | None) -> str:
        d = self.data
        if d is None or row is None:
            return ""
        if row < len(d.details) and d.details[row]:
            return d.details[row]
        v, lo, hi = d.values[row], d.lower[row], d.upper[row]
        return f"{d.names[row]}\n{d.metric} {v:.4f} [{lo:.4f}, {hi:.4f}]"


def _short(name: str, limit: int = 34) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def bars_from_rows(
    metric: str,
    names: Sequence[str],
    estimates: Sequence[object],
    critical: Sequence[bool],
    overall: object | None,
    higher_is_better: bool = True,
    details: Sequence[str] = (),
) -> SliceBars:
    """:class:`SliceBars` from core ``Estimate`` objects (value, lower, upper; None = NaN)."""

    def arr(attr: str) -> np.ndarray:
        return np.array(
            [np.nan if getattr(e, attr) is None else getattr(e, attr) for e in estimates],
            dtype=float,
        )

    return SliceBars(
        metric=metric,
        names=tuple(names),
        values=arr("value"),
        lower=arr("lower"),
        upper=arr("upper"),
        critical=tuple(bool(c) for c in critical),
        overall=None if overall is None else getattr(overall, "value", None),
        overall_lower=None if overall is None else getattr(overall, "lower", None),
        overall_upper=None if overall is None else getattr(overall, "upper", None),
        higher_is_better=higher_is_better,
        details=tuple(details),
    )
