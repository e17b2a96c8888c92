"""Reference vs current distribution of one feature in one window, with its statistics.

What a person checks after clicking a red cell: *how* the distribution moved. Numerical
features show the reference's quantile bins as vertical bars (share of rows per bin; the
reference's shares are near-equal by construction, so a shift shows as a slope), the axis
ticks at the bin edges, and *missing* as its own bar. Categorical features show horizontal
bars (category names stay readable), the categories ordered by the larger of the two shares,
the tail lumped into one bar. Both sides are drawn as shares of their own rows, so windows of
different sizes compare.

The two bar items and the table are created once and refilled. The widget takes a
:class:`~watchkeeper.core.drift.result.DriftResult` and a cell; it computes nothing but
shares. Hovering a bin or category shows both exact shares
(:meth:`DistributionView.describe_at`); right-click exports the plot.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHeaderView, QLabel, QSplitter, QTableView, QVBoxLayout, QWidget

from watchkeeper.core.drift.result import DriftResult, FeatureDrift
from watchkeeper.widgets.dataframe_model import DataFrameTableModel
from watchkeeper.widgets.drift_heatmap import MULTIVARIATE, window_label
from watchkeeper.widgets.empty_plot import show_axes
from watchkeeper.widgets.plot_export import export_plot, install_plot_menu
from watchkeeper.widgets.plot_hover import install_hover
from watchkeeper.widgets.plot_theme import LIGHT, PlotTheme, follow_theme, style_plot

__all__ = [
    "CURRENT_COLOUR",
    "MAX_CATEGORIES",
    "REFERENCE_COLOUR",
    "DistributionView",
    "reference_colour",
]

#: Categories drawn one by one; the rest share one bar.
MAX_CATEGORIES = 15


def reference_colour(theme: PlotTheme) -> tuple[int, int, int]:
    """The reference's bars: the theme's neutral grey (the current window is series 1)."""
    return theme.neutral


#: The two sides' colours in the light theme.
REFERENCE_COLOUR = reference_colour(LIGHT)
CURRENT_COLOUR = LIGHT.colour(1)


def _key(theme: PlotTheme) -> str:
    """The key lives in the title, not over the bars (a legend inside the plot hides bars)."""
    return (
        f"<span style='color:{theme.hex(reference_colour(theme))}'>■</span> reference &nbsp; "
        f"<span style='color:{theme.hex(theme.colour(1))}'>■</span> current window"
    )


_GEOMETRY = ("x", "y", "x0", "y0", "x1", "y1", "width", "height")
_STAT_COLUMNS = ["statistic", "value", "threshold / note"]


def _bars(item: pg.BarGraphItem, **geometry: object) -> None:
    """Set a bar item's geometry, clearing keys of the other orientation."""
    item.setOpts(**{k: geometry.get(k) for k in _GEOMETRY})


def _fmt(x: float | None, digits: int = 4) -> str:
    return "–" if x is None else f"{x:.{digits}g}"


def _rate(x: float | None) -> str:
    return "–" if x is None else f"{x:.1%}"


class DistributionView(QWidget):
    """Overlaid reference and current bars for one feature and window, plus statistics."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel()
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.title.setWordWrap(True)
        self.plot_widget = pg.PlotWidget()
        self.plot = self.plot_widget.getPlotItem()
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.setMouseEnabled(x=False, y=False)
        for name in ("left", "bottom"):
            self.plot.getAxis(name).enableAutoSIPrefix(False)  # 0.05, not "50 (x0.001)"
        self.reference_bars = pg.BarGraphItem(
            x=[], height=[], width=0.4, pen=None, name="reference"
        )
        self.current_bars = pg.BarGraphItem(
            x=[], height=[], width=0.4, pen=None, name="current window"
        )
        self.plot.addItem(self.reference_bars)
        self.plot.addItem(self.current_bars)

        self.stats_model = DataFrameTableModel(pd.DataFrame(columns=_STAT_COLUMNS))
        self.stats_table = QTableView()
        self.stats_table.setModel(self.stats_model)
        self.stats_table.verticalHeader().setVisible(False)
        self.stats_table.setAlternatingRowColors(True)
        self.stats_table.setWordWrap(False)
        self.stats_table.verticalHeader().setDefaultSectionSize(22)
        self.stats_table.setMinimumWidth(380)
        header = self.stats_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.plot_widget)
        split.addWidget(self.stats_table)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setSizes([600, 420])
        self.splitter = split
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(split, 1)
        self.labels: list[str] = []
        self.theme = LIGHT
        self._shown: tuple[DriftResult, str, int] | None = None
        self._caption = ""
        self._message = ""
        self._shares: tuple[np.ndarray, np.ndarray] = (np.zeros(0), np.zeros(0))
        self._positions = np.zeros(0)  # bin or category positions along the category axis
        self.orientation = "vertical"  # vertical bars (bins) | horizontal (categories)
        self.export_menu = install_plot_menu(self, self.plot_widget, self.export, self._name)
        install_hover(self.plot_widget, self.plot, self.describe_at)
        self.clear("Click a cell of the heat map to see how that feature moved in that window.")
        follow_theme(self.apply_theme)

    # -- public ------------------------------------------------------------------------

    def clear(self, message: str) -> None:
        """No cell: empty bars, no statistics, and a line that says what to do."""
        self._shown = None
        self._message = message
        self._shares = (np.zeros(0), np.zeros(0))
        self._positions = np.zeros(0)
        self.title.setText(
            f"<span style='color:{self.theme.hex(self.theme.muted)}'>{message}</span>"
        )
        _bars(self.reference_bars, x=[], height=[], width=0.4)
        _bars(self.current_bars, x=[], height=[], width=0.4)
        self.labels = []
        self.stats_model.set_frame(pd.DataFrame(columns=_STAT_COLUMNS))
        show_axes(self.plot, False)

    def show_cell(
        self, result: DriftResult, row: str, window: int, caption: str | None = None
    ) -> None:
        """Draw ``row`` (a feature, the prediction, or the multivariate row) in ``window``;
        ``caption`` ("selected", "now", "at onset") heads the title (None: the last one)."""
        if caption is not None:
            self._caption = caption
        when = window_label(result, window)
        if self._caption:
            when = f"{when} ({self._caption})"
        if row == MULTIVARIATE:
            self._show_multivariate(result, window, when)
            return
        self._shown = (result, row, window)
        show_axes(self.plot, True)
        f = result.feature(row)
        w = f.windows[window]
        kind = "prediction" if result.prediction is not None and f is result.prediction else f.kind
        self.title.setText(
            f"<b>{row}</b> ({kind}) · window {when} · {w.rows:,} rows vs "
            f"{int(f.reference_counts.sum()):,} reference rows · decision <b>{w.decision}</b>"
            f" &nbsp; {_key(self.theme)}"
        )
        ref = _shares(f.reference_counts)
        cur = _shares(f.counts[window])
        if f.kind == "categorical":
            self._draw_categories(f, ref, cur)
        else:
            self._draw_bins(f, ref, cur)
        self.stats_model.set_frame(_stats_frame(result, f, window))

    # -- drawing -----------------------------------------------------------------------

    def _draw_bins(self, f: FeatureDrift, ref: np.ndarray, cur: np.ndarray) -> None:
        n = len(ref)
        x = np.arange(n, dtype=float)
        x[-1] += 0.5  # missing stands apart from the value bins
        _bars(self.reference_bars, x=x - 0.2, height=ref, width=0.4)
        _bars(self.current_bars, x=x + 0.2, height=cur, width=0.4)
        self.labels = list(f.labels)
        self.orientation = "vertical"
        self._shares = (np.asarray(ref, dtype=float), np.asarray(cur, dtype=float))
        self._positions = x
        edges = _edges_of(f.labels)
        # every fourth edge on the first tick level, the others on two more, whose text
        # pyqtgraph leaves out when the plot is too narrow for them (they overlapped:
        # "1,174 4,349 …", and half the edges still did beside the statistics table)
        levels: list[list[tuple[float, str]]] = [[], [], []]
        for i, e in enumerate(edges):
            levels[0 if i % 4 == 0 else 1 if i % 2 == 0 else 2].append((i + 0.5, e))
        levels[0].append((float(x[-1]), "missing"))
        bottom = self.plot.getAxis("bottom")
        bottom.setTicks(levels)
        bottom.setLabel("value (reference bins)")
        left = self.plot.getAxis("left")
        left.setTicks(None)
        left.setLabel("share of rows")
        self.plot.getViewBox().invertY(False)
        top = float(max(ref.max(initial=0), cur.max(initial=0)))
        self.plot.setXRange(-0.7, float(x[-1]) + 0.7, padding=0)
        self.plot.setYRange(0, top * 1.12 if top > 0 else 1, padding=0)

    def _draw_categories(self, f: FeatureDrift, ref: np.ndarray, cur: np.ndarray) -> None:
        labels = list(f.labels)
        keep = [i for i in range(len(labels)) if ref[i] > 0 or cur[i] > 0]
        keep.sort(key=lambda i: -max(ref[i], cur[i]))
        shown, rest = keep[:MAX_CATEGORIES], keep[MAX_CATEGORIES:]
        names = [labels[i] for i in shown]
        r = [float(ref[i]) for i in shown]
        c = [float(cur[i]) for i in shown]
        if rest:
            names.append(f"({len(rest)} more)")
            r.append(float(ref[rest].sum()))
            c.append(float(cur[rest].sum()))
        y = np.arange(len(names), dtype=float)
        _bars(self.reference_bars, y=y - 0.2, height=0.4, x0=0, width=np.array(r))
        _bars(self.current_bars, y=y + 0.2, height=0.4, x0=0, width=np.array(c))
        self.labels = names
        self.orientation = "horizontal"
        self._shares = (np.array(r, dtype=float), np.array(c, dtype=float))
        self._positions = y
        self.plot.getViewBox().invertY(True)
        left = self.plot.getAxis("left")
        left.setTicks([[(float(i), n) for i, n in enumerate(names)]])
        left.setLabel("")
        bottom = self.plot.getAxis("bottom")
        bottom.setTicks(None)
        bottom.setLabel("share of rows")
        top = max([*r, *c, 0.0])
        self.plot.setYRange(-0.7, len(names) - 0.3, padding=0)
        self.plot.setXRange(0, top * 1.12 if top > 0 else 1, padding=0)

    def _show_multivariate(self, result: DriftResult, window: int, when: str) -> None:
        mv = result.multivariate
        _bars(self.reference_bars, x=[], height=[], width=0.4)
        _bars(self.current_bars, x=[], height=[], width=0.4)
        self.labels = []
        self._shares = (np.zeros(0), np.zeros(0))
        self._positions = np.zeros(0)
        self._shown = (result, MULTIVARIATE, window)
        show_axes(self.plot, False)  # a table of numbers, no bars
        if mv is None:
            self.clear("No multivariate check in this result.")
            return
        w = mv.windows[window]
        self.title.setText(
            f"<b>multivariate</b> (PCA reconstruction error over {len(mv.features)} numerical "
            f"features) · window {when} · decision <b>{w.decision}</b>"
        )
        rows = [
            ("reconstruction error", _fmt(w.error), f"threshold {_fmt(w.threshold)}"),
            ("reference error", _fmt(mv.reference_error), "mean over reference windows"),
            ("components", str(mv.components), f"explain {mv.explained_variance:.0%}"),
            ("rows scored", f"{w.rows:,}", "a seeded sample" if w.sampled else "every row"),
            ("features", ", ".join(mv.features), ""),
            ("decision", w.decision, ""),
        ]
        self.stats_model.set_frame(pd.DataFrame(rows, columns=_STAT_COLUMNS))

    # -- theme, hover, export -------------------------------------------------------------

    def apply_theme(self, theme: PlotTheme) -> None:
        """Redraw in ``theme``'s colours (the title's key too)."""
        self.theme = theme
        self.plot_widget.setBackground(pg.mkColor(*theme.background))
        style_plot(self.plot, theme, grid=(False, True))
        self.reference_bars.setOpts(brush=pg.mkBrush(*reference_colour(theme), 200))
        self.current_bars.setOpts(brush=pg.mkBrush(*theme.colour(1), 220))
        if self._shown is not None:
            self.show_cell(*self._shown)
        elif self._message:
            self.clear(self._message)

    def describe_at(self, x: float, y: float, reach: tuple[float, float] | None = None) -> str:
        """Tooltip text at ``(x, y)``: the bin or category there and both exact shares."""
        if not self.labels or self._positions.size == 0:
            return ""
        along = x if self.orientation == "vertical" else y
        distance = np.abs(self._positions - along)
        i = int(np.argmin(distance))
        if distance[i] > 0.5:
            return ""
        ref, cur = self._shares
        name = self.labels[i]
        return f"{name}\nreference {ref[i]:.2%} of rows\ncurrent window {cur[i]:.2%} of rows"

    def export(self, path: Path | str) -> Path:
        """Write the plot (not the statistics table) to ``path``: PNG or SVG by extension."""
        return export_plot(self.plot, path)

    def _name(self) -> str:
        if self._shown is None:
            return "distribution"
        _result, row, window = self._shown
        return f"distribution-{row}-window{window + 1}".replace(" ", "_").replace("/", "_")


def _shares(counts: np.ndarray) -> np.ndarray:
    counts = np.asarray(counts, dtype=float)
    total = counts.sum()
    return counts / total if total > 0 else np.zeros_like(counts)


def _edges_of(labels: tuple[str, ...]) -> list[str]:
    """Short edge labels between numerical bins, from the profile's bin labels."""
    out = []
    for label in labels[:-2]:  # the edge after each value bin but the last
        text = label.strip("[]()")
        hi = text.split(",")[-1].strip() if "," in text else text.lstrip("= ")
        try:
            out.append(human_number(float(hi)))
        except ValueError:
            out.append(hi)
    return out


def human_number(x: float) -> str:
    """A bin edge as a person reads it: three significant digits below 100, whole numbers
    with thousands separators above ("4,349", "12.3", "0.0123"); scientific notation only
    below 0.001 or from a trillion on."""
    if not math.isfinite(x):
        return str(x)
    if x == 0:
        return "0"
    magnitude = abs(x)
    if magnitude >= 1e12 or magnitude < 1e-3:
        return f"{x:.2e}"
    digits = max(0, 2 - math.floor(math.log10(magnitude)))
    rounded = round(x, digits)
    text = f"{rounded:,.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _stats_frame(result: DriftResult, f: FeatureDrift, window: int) -> pd.DataFrame:
    w = f.windows[window]
    s = result.settings
    ref_missing = (
        float(f.reference_counts[-1] / f.reference_counts.sum())
        if f.reference_counts.sum()
        else None
    )
    rows = [
        ("PSI", _fmt(w.psi), f"watch ≥ {f.psi_watch:g}, drift ≥ {f.psi_drift:g}"),
        ("Jensen–Shannon", _fmt(w.js), ""),
        ("p-value", _fmt(w.p_value), f"{s.test} test" + (f", {w.dof} dof" if w.dof else "")),
        ("adjusted p", _fmt(w.p_adjusted), f"< {s.p_value:g} ({s.correction} correction)"),
        ("decision", w.decision, f"min rows {s.min_rows:,}, persistence {s.persistence}"),
        ("rows", f"{w.rows:,}", f"reference {int(f.reference_counts.sum()):,}"),
        ("missing rate", _rate(w.missing_rate), f"reference {_rate(ref_missing)}"),
    ]
    if f.kind == "categorical":
        rows.append(("unseen categories", _rate(w.unseen_rate), "share of rows"))
    else:
        if w.ks is not None:
            how = f"exact ({w.exact})" if w.exact else ""
            rows.append(("KS statistic", _fmt(w.ks), how))
        elif w.ks_binned is not None:
            rows.append(("KS (binned)", _fmt(w.ks_binned), "on the reference bins"))
        if w.wasserstein_normalized is not None:
            rows.append(
                ("Wasserstein / sd", _fmt(w.wasserstein_normalized), "in reference std. devs")
            )
    return pd.DataFrame(rows, columns=_STAT_COLUMNS)
