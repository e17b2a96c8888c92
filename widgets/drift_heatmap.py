"""The drift heat map: features × windows, colour = effect size (PSI), a mark where `drift`.

One :class:`pyqtgraph.ImageItem` draws every cell (pyqtgraph's image performance guide:
float32, row-major, explicit ``levels``, a 256-entry uint8 lookup table), so a year of daily
windows over a hundred features is one texture, not thousands of rectangles. The drift marks
are one :class:`~pyqtgraph.ScatterPlotItem`; the selected cell is one outline. All three are
created once and updated with ``setImage``/``setData``.

Colour encodes the size of the move (PSI), the same scale for every feature, with the
default thresholds at fixed colours (pale below *watch*, amber to *drift*, red beyond,
saturating at :data:`PSI_SATURATION`); LUT entry 0 is reserved for windows that could not be
judged (too few rows), drawn grey. The marks show the *decision*, which also weighs the test
and the feature's own thresholds. The prediction (score) and the multivariate check have
their own rows; the multivariate row's colour is its reconstruction error placed between
the reference's own error (pale) and the window's threshold (the drift colour).

The widget draws a :class:`~watchkeeper.core.drift.result.DriftResult` and says which cell
the user picked (:attr:`DriftHeatmapWidget.cell_selected`); it never runs an analysis. The
cell colours are data and stay the same in both themes; axes, background and the selection
outline follow the theme. Right-click exports the plot (without the key line beneath).
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFontMetrics, QPen
from PySide6.QtWidgets import QGraphicsRectItem, QLabel, QVBoxLayout, QWidget

from watchkeeper.core.drift.result import DriftResult, FeatureDrift
from watchkeeper.widgets.plot_export import export_plot, install_plot_menu
from watchkeeper.widgets.plot_theme import LIGHT, PlotTheme, follow_theme, style_plot

__all__ = [
    "INSUFFICIENT",
    "MIN_ROW_PX",
    "PSI_SATURATION",
    "QUIET",
    "SORT_KEYS",
    "DriftHeatmapWidget",
    "HeatmapRow",
    "heatmap_rows",
    "psi_lookup_table",
]

#: PSI at which the colour saturates (2.5 × the default drift threshold).
PSI_SATURATION = 0.5
#: The cell value of a window that could not be judged (LUT entry 0, grey).
INSUFFICIENT = -1.0
#: Row orders the heat map offers.
SORT_KEYS = ("severity", "name", "spec")
_DECISION_RANK = {"insufficient": 0, "ok": 1, "watch": 2, "drift": 3}
#: The LUT's anchors per plot theme: no move, *watch*, *drift*, saturation, and the grey of
#: windows too small to judge. On a dark background the ramp runs dark → bright, so a quiet
#: feature recedes instead of glaring.
_PSI_COLOURS = {
    "light": ((241, 245, 249), (253, 230, 138), (249, 115, 22), (127, 29, 29), (176, 180, 186)),
    "dark": ((46, 50, 58), (150, 112, 34), (236, 122, 36), (255, 96, 84), (96, 100, 108)),
}
MULTIVARIATE = "(multivariate)"


def psi_lookup_table(
    watch: float = 0.1, drift: float = 0.2, theme: PlotTheme = LIGHT
) -> np.ndarray:
    """The 256 × 3 uint8 LUT: grey at 0, then pale → amber (watch) → red (drift) → dark red
    (on a dark theme: dark → amber → orange → bright red)."""
    none, at_watch, at_drift, saturated, grey = _PSI_COLOURS.get(theme.name, _PSI_COLOURS["light"])
    anchors = [
        (0.0, none),
        (watch, at_watch),
        (drift, at_drift),
        (PSI_SATURATION, saturated),
    ]
    xs = np.array([a for a, _ in anchors])
    cols = np.array([c for _, c in anchors], dtype=float)
    # entry k (1..255) shows PSI values in [ (k-1), k ) * PSI_SATURATION / 255
    psi = (np.arange(1, 256) - 0.5) * PSI_SATURATION / 255
    lut = np.empty((256, 3), dtype=np.uint8)
    lut[0] = grey
    for channel in range(3):
        lut[1:, channel] = np.round(np.interp(psi, xs, cols[:, channel]))
    return lut


def heatmap_levels() -> tuple[float, float]:
    """Levels putting PSI 0 on LUT entry 1 and :data:`INSUFFICIENT` on entry 0 (grey).

    pyqtgraph maps ``v`` to ``floor((v - lo) * 256 / (hi - lo))`` clipped to 0..255.
    """
    return (-PSI_SATURATION / 255, PSI_SATURATION)


@dataclass(frozen=True, eq=False)
class HeatmapRow:
    """One row of the heat map: what it is called, what kind, its cells and decisions.

    Compared by identity: comparing the arrays of 500 rows stalled the GUI.
    """

    name: str
    kind: str  # numerical | categorical | prediction | multivariate
    values: np.ndarray  # effect per window; INSUFFICIENT where none
    decisions: tuple[str, ...]
    position: int  # order in the result (the spec's order)
    largest: float | None = None  # the largest effect, when the caller has it

    @property
    def severity(self) -> tuple[int, int, float]:
        """Most drift windows first, then most watch windows, then the largest effect."""
        # tuple.count and one reduction: C loops, no per-window Python (500 × 365 cells)
        drift = self.decisions.count("drift")
        watch = self.decisions.count("watch")
        if self.largest is not None:
            return (drift, watch, self.largest)
        top = float(self.values.max()) if self.values.size else -1.0
        return (drift, watch, top if top >= 0 else -1.0)

    @property
    def quiet(self) -> bool:
        """No window at *watch* or *drift*."""
        return "drift" not in self.decisions and "watch" not in self.decisions


def _feature_rows(features: Sequence[FeatureDrift], kind: str | None = None) -> list[HeatmapRow]:
    """The rows of ``features`` from one stacked array: a handful of numpy calls for all of
    them, not several per feature (each one a chance for a busy worker to take the GIL)."""
    if not features:
        return []
    psi = np.vstack([f.judged_psi() for f in features])
    values = np.where(np.isnan(psi), INSUFFICIENT, psi).astype(np.float32)
    largest = values.max(axis=1) if values.shape[1] else np.full(len(features), -1.0)
    largest = np.where(largest >= 0, largest, -1.0).tolist()
    return [
        HeatmapRow(f.name, kind or f.kind, values[i], f.decisions(), i, largest[i])
        for i, f in enumerate(features)
    ]


#: The last results' rows in spec order (by weak identity: never keeping a result alive): the
#: same result's rows several times per drawing (sort, default cell, fold).
_ROWS_CACHE: list[tuple[weakref.ref[DriftResult], list[HeatmapRow]]] = []


def _spec_rows(result: DriftResult) -> list[HeatmapRow]:
    for cached, rows in _ROWS_CACHE:
        if cached() is result:
            return rows
    rows = _feature_rows(result.features)
    _ROWS_CACHE.insert(0, (weakref.ref(result), rows))
    del _ROWS_CACHE[2:]  # a partial and a full result; older ones may go
    return rows


def heatmap_rows(
    result: DriftResult, sort: str = "severity", kinds: Iterable[str] | None = None
) -> list[HeatmapRow]:
    """The rows to draw, in order: features, then prediction and multivariate, filtered."""
    if sort not in SORT_KEYS:
        raise ValueError(f"sort must be one of {SORT_KEYS}, not {sort!r}")
    shown = set(kinds) if kinds is not None else None
    return [r for r in _ordered_rows(result, sort) if shown is None or r.kind in shown]


#: The last results' rows in each order asked for (by weak identity, as :data:`_ROWS_CACHE`):
#: ordered once on the worker, the GUI thread's asks (the default cell, the drawing) hit.
_ORDERED_CACHE: list[tuple[weakref.ref[DriftResult], str, list[HeatmapRow]]] = []
_ORDERED_LOCK = threading.Lock()


def _ordered_rows(result: DriftResult, sort: str) -> list[HeatmapRow]:
    with _ORDERED_LOCK:
        for cached, order, found in _ORDERED_CACHE:
            if order == sort and cached() is result:
                return found
    rows = list(_spec_rows(result))
    if sort == "severity":
        rows.sort(key=lambda r: (tuple(-x for x in r.severity), r.position))
    elif sort == "name":
        rows.sort(key=lambda r: r.name.lower())
    extra = []
    if result.prediction is not None:
        (pred,) = _feature_rows([result.prediction], "prediction")
        extra.append(
            HeatmapRow(pred.name, pred.kind, pred.values, pred.decisions, len(rows), pred.largest)
        )
    mv = result.multivariate
    if mv is not None:
        drift = result.settings.psi_drift
        mu = mv.reference_error
        values = np.array(
            [
                INSUFFICIENT
                if (w.error is None or not w.threshold or w.decision == "insufficient")
                # the reference's own error → 0 (pale), the threshold → the drift colour
                else drift * max(w.error - mu, 0.0) / max(w.threshold - mu, 1e-12)
                for w in mv.windows
            ],
            dtype=np.float32,
        )
        extra.append(
            HeatmapRow(
                MULTIVARIATE,
                "multivariate",
                values,
                tuple(w.decision for w in mv.windows),
                len(rows) + 1,
            )
        )
    out = rows + extra
    with _ORDERED_LOCK:
        _ORDERED_CACHE.insert(0, (weakref.ref(result), sort, out))
        del _ORDERED_CACHE[4:]  # a partial and a full result, in two orders
    return out


def fold_quiet(rows: list[HeatmapRow]) -> list[HeatmapRow]:
    """Fold feature rows without a watch or drift window into one row after the others.

    Its cells show the largest effect among them per window (still pale: none reached the
    watch level, or they would not be quiet); it cannot be picked, its label says how many.
    """
    quiet = [r for r in rows if r.kind in ("numerical", "categorical") and r.quiet]
    if len(quiet) < 2:
        return rows
    # by identity: comparing rows by their arrays (500 × 500 of them) stalled the GUI
    quiet_ids = {id(r) for r in quiet}
    loud = [r for r in rows if id(r) not in quiet_ids]
    values = np.max(np.vstack([r.values for r in quiet]), axis=0)
    folded = HeatmapRow(QUIET, "quiet", values, ("ok",) * values.size, len(rows))
    features = [r for r in loud if r.kind in ("numerical", "categorical")]
    extra = [r for r in loud if r.kind not in ("numerical", "categorical")]
    return [*features, folded, *extra]


_DAY_US = 86_400_000_000
#: The row standing for the folded quiet features (no watch or drift in any window).
QUIET = "(stable features)"
#: Rows are never drawn thinner than this: a label must be readable and a click must hit.
MIN_ROW_PX = 14
#: Fold quiet features into one row when there are more features than this.
FOLD_ABOVE = 30
#: Spacings between labelled windows on the time axis (µs): a multiple of the window's step,
#: the smallest that leaves at most :data:`_MAX_LABELS` labels.
_TICK_SPACINGS_US = tuple(
    m * 60_000_000
    for m in (1, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080, 20160, 40320)
) + tuple(d * _DAY_US for d in (91, 182, 364, 728))
_MAX_LABELS = 10
#: Pixels a time-axis label may reach past the plot's ends (half of "Jan 01 00:00" and more).
_LABEL_OVERHANG = 48


def window_label(result: DriftResult, index: int) -> str:
    """A window as a person names it, from the spec it was cut with: its start (date, plus the
    time for windows shorter than a day, plus the last day for windows of several days), its
    number and rows for row windows, or 'whole period'."""
    spec = result.window_spec
    w = result.windows[index]
    if spec.kind == "rows":
        first = sum(x.rows for x in result.windows[:index]) + 1
        if w.rows == 0:
            return f"window {index + 1}"
        return f"window {index + 1} (rows {first:,}–{first + w.rows - 1:,})"
    if w.start is None:
        return "whole period" if spec.kind == "all" else f"window {index + 1}"
    if spec.kind == "all":
        end = "" if w.end is None else f" – {w.end:%Y-%m-%d}"
        return f"whole period ({w.start:%Y-%m-%d}{end})"
    if spec.step_us < _DAY_US:
        return w.start.strftime("%Y-%m-%d %H:%M")
    if spec.step_us > _DAY_US and w.end is not None:
        last = w.end - dt.timedelta(microseconds=1)  # windows end before their end bound
        return f"{w.start:%Y-%m-%d} – {last:%Y-%m-%d}"
    return w.start.strftime("%Y-%m-%d")


class _CellImage(pg.ImageItem):
    """The heat map's image: reports clicks and shows a tooltip with the cell's values."""

    def __init__(self, owner: DriftHeatmapWidget) -> None:
        super().__init__(axisOrder="row-major")
        self._owner = owner
        self.setAcceptHoverEvents(True)

    def mouseClickEvent(self, ev) -> None:
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self._owner._on_image_clicked(ev.pos())
        else:
            super().mouseClickEvent(ev)

    def hoverEvent(self, ev) -> None:
        if ev.isExit():
            self.setToolTip("")
            return
        ev.acceptClicks(Qt.MouseButton.LeftButton)
        self.setToolTip(self._owner.describe_cell_at(ev.pos()))


class _Marks(pg.ScatterPlotItem):
    """The drift marks: drawn over the cells but never taking a click from them."""

    def mouseClickEvent(self, ev) -> None:
        ev.ignore()  # the cell under the mark is what the user picks


class DriftHeatmapWidget(QWidget):
    """Features × windows heat map of a drift result; click a cell to pick it."""

    cell_selected = Signal(str, int)  # feature (row name), window index

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._result: DriftResult | None = None
        self._rows: list[HeatmapRow] = []
        self._sort = "severity"
        self._kinds: frozenset[str] | None = None
        self._selected: tuple[str, int] | None = None
        self._thresholds = (0.1, 0.2)  # the result's watch and drift PSI
        self.folded = 0  # how many quiet features the QUIET row stands for
        self.fold = True  # fold quiet features when there are more than FOLD_ABOVE
        self.theme = LIGHT

        self.plot_widget = pg.PlotWidget()
        self.plot = self.plot_widget.getPlotItem()
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        vb = self.plot.getViewBox()
        vb.invertY(True)
        # y too: with more rows than fit at MIN_ROW_PX, dragging scrolls them
        vb.setMouseEnabled(x=True, y=True)
        vb.setDefaultPadding(0.0)
        vb.sigXRangeChanged.connect(self._label_windows)
        bottom = self.plot.getAxis("bottom")
        bottom.setHeight(28)
        # A label centred on the first or last window overhangs the axis by half its width;
        # pyqtgraph hides such labels by default, and the first one carries the date. Let
        # them overhang (into the row labels' column on the left, a margin on the right).
        bottom.setStyle(hideOverlappingLabels=_LABEL_OVERHANG)
        self.plot.layout.setContentsMargins(0, 0, _LABEL_OVERHANG, 0)

        self.image_item = _CellImage(self)
        self.image_item.setLookupTable(psi_lookup_table())
        self.plot.addItem(self.image_item)
        self.marker_item = _Marks(
            size=6, symbol="o", pen=pg.mkPen(40, 20, 20, width=1), brush=pg.mkBrush("w")
        )
        self.marker_item.setZValue(5)
        self.plot.addItem(self.marker_item)
        self.selection_item = QGraphicsRectItem()
        self.selection_item.setZValue(10)
        self.selection_item.setVisible(False)
        self.plot.addItem(self.selection_item)

        self.legend = QLabel(_legend_html())
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.plot_widget, 1)
        layout.addWidget(self.legend)
        self.export_menu = install_plot_menu(self, self.plot_widget, self.export, "drift")
        follow_theme(self.apply_theme)

    def apply_theme(self, theme: PlotTheme) -> None:
        """Axes, background and the selection outline in ``theme``'s colours."""
        self.theme = theme
        self.plot_widget.setBackground(pg.mkColor(*theme.background))
        style_plot(self.plot, theme, grid=(False, False))
        self._colour_cells()
        pen = QPen(QColor(*theme.colour(0)))
        pen.setWidthF(2.5)
        pen.setCosmetic(True)
        self.selection_item.setPen(pen)

    def _colour_cells(self) -> None:
        watch, drift = self._thresholds
        self.image_item.setLookupTable(psi_lookup_table(watch, drift, self.theme))
        self.legend.setText(_legend_html(watch, drift, self.theme))

    def export(self, path: Path | str) -> Path:
        """Write the heat map to ``path``: PNG or SVG by extension."""
        return export_plot(self.plot, path)

    # -- what is drawn -----------------------------------------------------------------

    @property
    def rows(self) -> list[str]:
        """Row names top to bottom, as drawn."""
        return [r.name for r in self._rows]

    def row(self, name: str) -> HeatmapRow | None:
        return next((r for r in self._rows if r.name == name), None)

    def set_result(self, result: DriftResult | None) -> None:
        """Draw ``result`` (None clears); the view resets to show every window."""
        self._result = result
        if result is not None:
            s = result.settings
            self._thresholds = (s.psi_watch, s.psi_drift)
            self._colour_cells()
        self._redraw(reset_range=True)

    def set_sort(self, sort: str) -> None:
        """Order rows by ``severity`` (most drift first), ``name`` or ``spec`` order."""
        if sort not in SORT_KEYS:
            raise ValueError(f"sort must be one of {SORT_KEYS}")
        if sort != self._sort:
            self._sort = sort
            self._redraw()

    def set_kinds(self, kinds: Iterable[str] | None) -> None:
        """Show only rows of these kinds (numerical, categorical, prediction, multivariate)."""
        new = frozenset(kinds) if kinds is not None else None
        if new != self._kinds:
            self._kinds = new
            self._redraw()

    def select_cell(self, feature: str | None, window: int | None = None) -> None:
        """Outline a cell (no signal: the caller already knows); None clears."""
        self._selected = None if feature is None or window is None else (feature, int(window))
        self._place_selection()

    @property
    def selected(self) -> tuple[str, int] | None:
        return self._selected

    def cell_center(self, feature: str, window: int) -> QPointF:
        """Where a cell's centre is, in the plot's data coordinates (for tests and tools)."""
        return QPointF(window + 0.5, self.rows.index(feature) + 0.5)

    # -- drawing -----------------------------------------------------------------------

    def _redraw(self, reset_range: bool = False) -> None:
        result = self._result
        self._rows = heatmap_rows(result, self._sort, self._kinds) if result else []
        self.folded = 0
        if (
            self.fold
            and sum(r.kind in ("numerical", "categorical") for r in self._rows) > FOLD_ABOVE
        ):
            before = len(self._rows)
            self._rows = fold_quiet(self._rows)
            self.folded = before - len(self._rows) + 1 if len(self._rows) < before else 0
        n_windows = len(result.windows) if result else 0
        if not self._rows or n_windows == 0:
            self.image_item.clear()
            self.marker_item.setData([], [])
            self.plot.getAxis("left").setTicks([[]])
            self.plot.getAxis("bottom").setTicks([[]])
            self._place_selection()
            return
        image = np.vstack([r.values for r in self._rows]).astype(np.float32, copy=False)
        self.image_item.setImage(image, levels=heatmap_levels(), autoLevels=False)
        self.image_item.setRect(QRectF(0, 0, n_windows, len(self._rows)))
        drift = np.array([[d == "drift" for d in r.decisions] for r in self._rows], dtype=bool)
        ys, xs = np.nonzero(drift)
        self.marker_item.setData(xs + 0.5, ys + 0.5)
        labels = [
            (j + 0.5, f"{self.folded} stable features" if r.name == QUIET else _row_label(r))
            for j, r in enumerate(self._rows)
        ]
        left = self.plot.getAxis("left")
        left.setTicks([labels])
        # size the axis to its labels now: pyqtgraph widens it only after a first paint,
        # and drops a label wider than the axis (an export right after drawing lost them)
        font = left.style.get("tickFont") or left.font()
        widest = max(QFontMetrics(font).horizontalAdvance(text) for _, text in labels)
        left.setWidth(min(widest + 16, 360))
        vb = self.plot.getViewBox()
        fit = self._rows_that_fit()
        vb.setLimits(
            xMin=0, xMax=n_windows, yMin=0, yMax=len(self._rows), maxYRange=fit, minYRange=1
        )
        if reset_range:
            vb.setRange(xRange=(0, n_windows), padding=0)
        vb.setYRange(0, min(len(self._rows), fit), padding=0)
        self._label_windows()
        self._place_selection()

    def _rows_that_fit(self) -> float:
        """How many rows the plot shows at MIN_ROW_PX (at least a few before it is laid out)."""
        height = self.plot.getViewBox().height()
        return max(float(height) / MIN_ROW_PX, 8.0) if height > 0 else 30.0

    def resizeEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        super().resizeEvent(event)
        if self._rows:
            vb = self.plot.getViewBox()
            fit = self._rows_that_fit()
            vb.setLimits(maxYRange=fit)
            lo = vb.viewRange()[1][0]
            vb.setYRange(lo, min(lo + fit, len(self._rows)), padding=0)

    def _label_windows(self, *_: object) -> None:
        """Label the windows in view (again after a zoom or pan: closer labels when fewer)."""
        result = self._result
        if result is None or not self._rows or not result.windows:
            return
        lo, hi = self.plot.getViewBox().viewRange()[0]
        self.plot.getAxis("bottom").setTicks(_window_ticks(result, (lo, hi)))

    def _place_selection(self) -> None:
        sel = self._selected
        if sel is None or sel[0] not in self.rows or self._result is None:
            self.selection_item.setVisible(False)
            return
        j = self.rows.index(sel[0])
        self.selection_item.setRect(QRectF(sel[1], j, 1, 1))
        self.selection_item.setVisible(True)

    # -- interaction -------------------------------------------------------------------

    def cell_at(self, pos: QPointF) -> tuple[str, int] | None:
        """The (row, window) under an image-coordinate point, or None outside."""
        if self._result is None:
            return None
        i, j = math.floor(pos.x()), math.floor(pos.y())
        if 0 <= j < len(self._rows) and 0 <= i < len(self._result.windows):
            if self._rows[j].name == QUIET:
                return None  # many features: pick one in the list above
            return self._rows[j].name, i
        return None

    def describe_at(self, x: float, y: float, reach: tuple[float, float] | None = None) -> str:
        """Tooltip text at data point ``(x, y)`` (the same text hovering the cell shows)."""
        return self.describe_cell_at(QPointF(x, y))

    def describe_cell_at(self, pos: QPointF) -> str:
        """Tooltip text: the exact values of the cell under ``pos``."""
        cell = self.cell_at(pos)
        if cell is None or self._result is None:
            return ""
        return describe_cell(self._result, *cell)

    def _on_image_clicked(self, pos: QPointF) -> None:
        cell = self.cell_at(pos)
        if cell is None:
            return
        self.select_cell(*cell)
        self.cell_selected.emit(*cell)


def describe_cell(result: DriftResult, row: str, window: int) -> str:
    """Plain-text summary of one cell (tooltips, status lines)."""
    when = window_label(result, window)
    if row == MULTIVARIATE:
        mv = result.multivariate
        if mv is None:
            return ""
        w = mv.windows[window]
        err = "-" if w.error is None else f"{w.error:.4g}"
        th = "-" if w.threshold is None else f"{w.threshold:.4g}"
        return (
            f"multivariate (PCA on {len(mv.features)} features) · {when}\n"
            f"reconstruction error {err} (threshold {th})\n"
            f"decision: {w.decision} · rows {w.rows:,}"
        )
    f = result.feature(row)
    w = f.windows[window]
    return (
        f"{row} · {when}\n"
        f"PSI {_num(w.psi)} (watch {f.psi_watch:g} / drift {f.psi_drift:g})\n"
        f"JS {_num(w.js)} · p {_num(w.p_value)} · adjusted p {_num(w.p_adjusted)}\n"
        f"decision: {w.decision} · rows {w.rows:,}"
    )


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.4g}"


def _row_label(row: HeatmapRow) -> str:
    if row.kind == "prediction":
        return f"{row.name} (prediction)"
    return row.name


def _window_ticks(
    result: DriftResult, view: tuple[float, float] | None = None
) -> list[list[tuple[float, str]]]:
    """Labels on a readable subset of windows (major), every window a minor tick.

    ``view`` is the x range in view (zoomed in, the labels get closer; the first label in
    view says the date).

    Time windows are labelled on round times (every 6 h, every day, every week…) in the
    window's own terms: times of day for windows shorter than a day, with the date instead
    where a day begins; dates for longer ones, with the year where it changes. Row windows
    are numbered; the single window is named.
    """
    spec, n = result.window_spec, len(result.windows)
    lo, hi = view if view is not None else (0.0, float(n))
    visible = max(1.0, min(float(n), hi - lo))
    if n == 0:
        return [[], []]
    minor = [(i + 0.5, "") for i in range(n)] if n <= 200 else []
    if spec.kind == "all" or n == 1:
        return [[(0.5, _short_label(result))], minor]
    if spec.kind == "rows" or result.windows[0].start is None:
        step = _round_step(visible)
        return [[(i + 0.5, f"#{i + 1}") for i in range(0, n, step)], minor]
    starts = [_us(w.start) for w in result.windows]
    spacing = next(
        (
            s
            for s in _TICK_SPACINGS_US
            if s % spec.step_us == 0 and visible * spec.step_us / s <= _MAX_LABELS
        ),
        None,
    )
    if spacing is None:  # a step no spacing is a multiple of: every k-th window
        chosen = list(range(0, n, _round_step(visible)))
    else:
        align = spacing if spacing <= _DAY_US else _DAY_US
        chosen = [i for i, t in enumerate(starts) if t % align == 0]
        every = max(1, spacing // max(spec.step_us, align) if spacing > _DAY_US else 1)
        if spacing > _DAY_US:
            chosen = chosen[::every]
        if not chosen:
            chosen = [0]
    unit = max(spec.step_us, spacing or 0)
    major = []
    previous = None
    for i in chosen:
        if i + 0.5 < lo:  # left of the view: the first label in view is a first label
            continue
        start = result.windows[i].start
        major.append((i + 0.5, _tick_text(start, previous, unit)))
        previous = start
    return [major, minor]


def _tick_text(start: dt.datetime, previous: dt.datetime | None, unit_us: int) -> str:
    """A window's start on the axis, saying only what changed since the previous label;
    ``unit_us`` is the time between labels (times of day below two days, else dates)."""
    if unit_us < 2 * _DAY_US:
        if previous is not None and start.date() == previous.date():
            return start.strftime("%H:%M")
        return start.strftime("%b %d %H:%M")
    if previous is None or start.year != previous.year:
        return start.strftime("%b %d %Y")
    return start.strftime("%b %d")


def _short_label(result: DriftResult) -> str:
    w = result.windows[0]
    if w.start is None or w.end is None:
        return "whole period"
    if w.start.date() == w.end.date():
        return f"{w.start:%Y-%m-%d}"
    return f"{w.start:%Y-%m-%d} – {w.end:%Y-%m-%d}"


def _round_step(n: float) -> int:
    """Every how many windows to label: 1, 2, 5, 10, 20, 50… leaving at most _MAX_LABELS."""
    step, k = 1, 0
    while n / step > _MAX_LABELS:
        k += 1
        step = (1, 2, 5)[k % 3] * 10 ** (k // 3)
    return step


def _us(t: dt.datetime) -> int:
    delta = t - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _legend_html(watch: float = 0.1, drift: float = 0.2, theme: PlotTheme = LIGHT) -> str:
    lut = psi_lookup_table(watch, drift, theme)

    def swatch(psi: float | None) -> str:
        if psi is None:
            rgb = lut[0]
        else:
            k = 1 + min(254, int(psi / PSI_SATURATION * 255))
            rgb = lut[k]
        return f"<span style='color: rgb({rgb[0]},{rgb[1]},{rgb[2]});'>■</span>"

    parts: Sequence[str] = (
        f"PSI {swatch(0.02)} &lt; {watch:g}",
        f"{swatch(0.15)} {watch:g}–{drift:g}",
        f"{swatch(0.3)} ≥ {drift:g}",
        f"{swatch(PSI_SATURATION)} ≥ {PSI_SATURATION:g}",
        f"{swatch(None)} too few rows",
        "◉ decision: drift",
        "· click a cell for its distributions",
    )
    return "<span style='font-size: 11px;'>" + " &nbsp; ".join(parts) + "</span>"
