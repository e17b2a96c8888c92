"""A metric over time: realized with its interval, estimated where labels are missing,
label coverage beneath on a linked time axis, the lines a move is judged against, and the
governance events a move is read against.

Labels arrive late, so the newest windows have few: there the realized line stops (or
rests on few labels, with a wide band) and the estimate (dashed, its own band) takes over.
Coverage beneath says how much of each window is labeled, so a reader knows which line to
trust. Approvals and rollbacks are labelled vertical lines, incidents shaded periods
(:mod:`watchkeeper.core.governance.timeline`); events outside the plotted period are not
drawn, a period reaching past either end is clipped to it, and an incident still open runs
to the right end.

Every item is created once; :meth:`MetricTimelineWidget.set_data` only calls
``setData``/``setOpts``/``setValue`` (pyqtgraph's "plot less, update in place"); event marks
come from a pool that grows to the most events shown and hides what it does not use. NaN
marks a window without a value; curves use ``connect="finite"`` so gaps stay gaps. Hovering
shows the exact values of the window under the cursor and the events there
(:meth:`MetricTimelineWidget.describe_at`); right-click exports the plot.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QVBoxLayout, QWidget

from watchkeeper.core.governance.timeline import TimelineEvent
from watchkeeper.widgets.date_axis import DateAxis
from watchkeeper.widgets.empty_plot import show_axes
from watchkeeper.widgets.plot_export import export_plot, install_plot_menu
from watchkeeper.widgets.plot_hover import install_hover
from watchkeeper.widgets.plot_theme import PlotTheme, current_theme, follow_theme, style_plot

__all__ = ["MetricTimelineWidget", "TimelineData", "event_colour"]

#: Heights (fraction of the plot, from the bottom) where event labels sit, top first; a label
#: that would overlap another takes the next height down.
_LABEL_LEVELS = (0.97, 0.90, 0.83, 0.76, 0.69)
#: A label's width (share of the period) before the plot has a width to measure it against.
_LABEL_GAP = 0.09
#: An event in the period's last part is labelled on the left of its line: on its right the
#: label ran past the plot's edge ("v2 approved as champ…" beside the explain-a-drop pane).
_LABEL_LEFT_FROM = 0.7


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

    def extent(self) -> tuple[float, float] | None:
        """First window's start and last window's end (epoch seconds), None when empty."""
        x = np.asarray(self.x, dtype=float)
        x = x[np.isfinite(x)]
        if x.size == 0:
            return None
        half = self.width / 2
        return float(x.min() - half), float(x.max() + half)


def _band(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper with NaN wherever either is missing (paired gaps for the fill)."""
    lo, hi = values[:, 1].copy(), values[:, 2].copy()
    gap = ~(np.isfinite(lo) & np.isfinite(hi))
    lo[gap] = np.nan
    hi[gap] = np.nan
    return lo, hi


def event_colour(theme: PlotTheme, kind: str) -> tuple[int, int, int]:
    """The colour of an event kind: approvals green, rejections grey, rollbacks vermilion,
    incidents reddish purple (Okabe–Ito members apart from the two metric lines')."""
    return {
        "approval": theme.colour(2),
        "rejection": theme.muted,
        "rollback": theme.colour(5),
        "incident": theme.colour(3),
    }.get(kind, theme.muted)


def _num(value: float) -> str:
    return "–" if not math.isfinite(value) else f"{value:.4f}"


def _label_text(event: TimelineEvent) -> str:
    return event.label + (" (open)" if event.is_period and event.is_open else "")


class MetricTimelineWidget(QWidget):
    """Realized and estimated metric over time above the label coverage, x axes linked."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.graphics = pg.GraphicsLayoutWidget()
        self.metric_plot = self.graphics.addPlot(
            row=0, col=0, axisItems={"bottom": DateAxis(orientation="bottom")}
        )
        self.coverage_plot = self.graphics.addPlot(
            row=1, col=0, axisItems={"bottom": DateAxis(orientation="bottom")}
        )
        self.graphics.ci.layout.setRowStretchFactor(0, 3)
        self.graphics.ci.layout.setRowStretchFactor(1, 1)
        self.coverage_plot.setXLink(self.metric_plot)
        for plot in (self.metric_plot, self.coverage_plot):
            plot.setMenuEnabled(False)
            plot.hideButtons()
            plot.setMouseEnabled(x=True, y=False)
            plot.getAxis("left").setWidth(56)
            plot.getAxis("left").enableAutoSIPrefix(False)  # 0.85, not "850 (x0.001)"
        self.metric_plot.getAxis("bottom").setStyle(showValues=False)
        self.coverage_plot.setLabel("left", "labeled")
        self.coverage_plot.setYRange(-0.06, 1.12, padding=0)  # room for the 0% and 100% labels
        self.coverage_plot.getAxis("left").setTicks([[(0, "0%"), (0.5, "50%"), (1, "100%")]])
        # bottom left: governance events are labelled along the top edge (the legend at top
        # right covered "v2 approved as champion" and INC-1042), the reference and alert
        # lines at the left edge, by the lines, and a drop's low values sit at the right
        self.legend = self.metric_plot.addLegend(offset=(10, -10))

        # Created once; set_data only refills them (pens and brushes come from the theme).
        self.realized_curve = pg.PlotDataItem(
            symbol="o", symbolSize=4, symbolPen=None, connect="finite", name="realized"
        )
        self.realized_lower = pg.PlotCurveItem(pen=None, connect="finite")
        self.realized_upper = pg.PlotCurveItem(pen=None, connect="finite")
        self.realized_band = pg.FillBetweenItem(self.realized_lower, self.realized_upper)
        self.estimated_curve = pg.PlotDataItem(connect="finite", name="estimated (no labels yet)")
        self.estimated_lower = pg.PlotCurveItem(pen=None, connect="finite")
        self.estimated_upper = pg.PlotCurveItem(pen=None, connect="finite")
        self.estimated_band = pg.FillBetweenItem(self.estimated_lower, self.estimated_upper)
        self.baseline_line = pg.InfiniteLine(
            angle=0,
            movable=False,
            label="",
            labelOpts={"position": 0.02, "anchors": [(0, 1), (0, 1)]},
        )
        self.alert_line = pg.InfiniteLine(
            angle=0,
            movable=False,
            label="",
            labelOpts={"position": 0.02, "anchors": [(0, 0), (0, 0)]},
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
        # the window "Explain this drop" explained, outlined so the table beside the plot
        # points at a place on it
        self.marked_region = pg.LinearRegionItem(movable=False)
        self.marked_region.setZValue(-10)
        self.marked_label = pg.InfLineLabel(
            self.marked_region.lines[1], text="explained", position=0.05, anchors=[(0, 1), (0, 1)]
        )
        self.marked_region.setVisible(False)
        self.metric_plot.addItem(self.marked_region)
        self.marked: int | None = None
        self.coverage_bars = pg.BarGraphItem(x=[], height=[], width=1.0, pen=None)
        self.coverage_plot.addItem(self.coverage_bars)

        # Governance events: pools of lines (moments) and regions (incidents).
        self.events: tuple[TimelineEvent, ...] = ()
        self.shown_events: tuple[TimelineEvent, ...] = ()  # those inside the plotted period
        self.event_lines: list[pg.InfiniteLine] = []
        self.event_regions: list[pg.LinearRegionItem] = []
        self.event_region_labels: list[pg.InfLineLabel] = []  # one per region, on its start

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics)
        self.data: TimelineData | None = None
        self.theme = current_theme()
        self.export_menu = install_plot_menu(self, self.graphics, self.export, self._export_name)
        install_hover(self.graphics, self.metric_plot, self.describe_at)
        install_hover(self.graphics, self.coverage_plot, self.describe_at)
        self.set_data(None)
        follow_theme(self.apply_theme)
        self._y_span: tuple[float, float] | None = None  # the values' range, padded
        vb = self.metric_plot.getViewBox()
        vb.sigResized.connect(self._place_event_labels)
        vb.sigResized.connect(self._apply_y_range)
        vb.sigXRangeChanged.connect(self._place_event_labels)

    # -- drawing -----------------------------------------------------------------------

    def set_data(self, data: TimelineData | None) -> None:
        """Draw ``data`` (None empties every item)."""
        self.data = data
        self.mark_window(None)
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
            self._draw_events()
            for plot in (self.metric_plot, self.coverage_plot):
                show_axes(plot, False)
            return
        for plot in (self.metric_plot, self.coverage_plot):
            show_axes(plot, True)
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
        self._draw_events()

    def mark_window(self, index: int | None) -> None:
        """Outline window ``index`` of the data drawn (None, or one not drawn: no outline)."""
        data = self.data
        inside = data is not None and index is not None and 0 <= index < len(data.x)
        if not inside or not np.isfinite(data.x[index]):
            self.marked = None
            self.marked_region.setVisible(False)
            return
        self.marked = index
        mid, half = float(data.x[index]), data.width / 2
        self.marked_region.setRegion((mid - half, mid + half))
        self.marked_region.setVisible(True)

    def set_events(self, events: Sequence[TimelineEvent]) -> None:
        """Mark governance ``events``; those outside the plotted period are not drawn."""
        self.events = tuple(events)
        self._draw_events()

    def _draw_events(self) -> None:
        extent = self.data.extent() if self.data is not None else None
        if extent is None:
            shown: list[TimelineEvent] = []
        else:
            lo, hi = extent
            shown = [e for e in self.events if e.overlaps(lo, hi, open_until=hi)]
        self.shown_events = tuple(shown)
        moments = [e for e in shown if not e.is_period]
        periods = [e for e in shown if e.is_period]
        while len(self.event_lines) < len(moments):
            line = pg.InfiniteLine(angle=90, movable=False, label="")
            line.setZValue(-5)
            self.metric_plot.addItem(line)
            self.event_lines.append(line)
        while len(self.event_regions) < len(periods):
            region = pg.LinearRegionItem(movable=False)
            region.setZValue(-20)
            self.metric_plot.addItem(region)
            self.event_regions.append(region)
            self.event_region_labels.append(pg.InfLineLabel(region.lines[0], text=""))
        theme = self.theme
        for line, event in zip(self.event_lines, moments, strict=False):
            colour = event_colour(theme, event.kind)
            line.setPen(pg.mkPen(*colour, width=1.5, style=Qt.PenStyle.DashLine))
            line.setValue(event.start.timestamp())
            self._label(line.label, colour, event.label)
            line.setVisible(True)
        for line in self.event_lines[len(moments) :]:
            line.setVisible(False)
        for region, text, event in zip(
            self.event_regions, self.event_region_labels, periods, strict=False
        ):
            assert extent is not None
            start, end = event.span(open_until=extent[1])
            colour = event_colour(theme, event.kind)
            region.setRegion((max(start, extent[0]), min(end, extent[1])))
            region.setBrush(pg.mkBrush(*colour, 45))
            region.setHoverBrush(pg.mkBrush(*colour, 45))
            for edge in region.lines:
                edge.setPen(pg.mkPen(*colour, 160, width=1))
                edge.setHoverPen(pg.mkPen(*colour, 160, width=1))
            self._label(text, colour, _label_text(event))
            region.setVisible(True)
        for region in self.event_regions[len(periods) :]:
            region.setVisible(False)
        self._place_event_labels()

    def _place_event_labels(self, *_: Any) -> None:
        """Each shown event's label at a height and on a side of its line where it overlaps
        no other, as wide as its text is at the plot's present scale (again on a resize or
        zoom: a label's width in time depends on both)."""
        extent = self.data.extent() if self.data is not None else None
        moments = [e for e in self.shown_events if not e.is_period]
        periods = [e for e in self.shown_events if e.is_period]
        labels = [line.label for line in self.event_lines[: len(moments)]]
        labels += self.event_region_labels[: len(periods)]
        by_id = {e.record_id: lb for lb, e in zip(labels, [*moments, *periods], strict=True)}
        levels = self._label_levels(self.shown_events, extent, self._label_span(by_id))
        for label, event in zip(labels, [*moments, *periods], strict=True):
            level, left = levels[event.record_id]
            label.anchors = [(1, 0), (1, 0)] if left else [(0, 0), (0, 0)]
            label.setPosition(level)

    def _label_span(self, labels: dict[str, pg.InfLineLabel]) -> Any:
        """``event -> its label's width in the x axis's units`` at the present scale (the
        text item's own width: it is drawn in pixels whatever the zoom), or None before the
        plot has a width (then :data:`_LABEL_GAP` of the period)."""
        vb = self.metric_plot.getViewBox()
        (x0, x1), pixels = vb.viewRange()[0], vb.width()
        if pixels < 20 or x1 <= x0:
            return None
        per_pixel = (x1 - x0) / pixels
        return lambda e: (labels[e.record_id].boundingRect().width() + 8) * per_pixel

    def _label(self, label: pg.InfLineLabel, colour: tuple[int, int, int], text: str) -> None:
        label.setFormat(text)
        label.setColor(pg.mkColor(*colour))
        label.fill = pg.mkBrush(*self.theme.legend_background)

    @staticmethod
    def _label_levels(
        events: Sequence[TimelineEvent],
        extent: tuple[float, float] | None,
        width_of: Any = None,
    ) -> dict[str, tuple[float, bool]]:
        """A label height per event, and whether it goes on the left of its line (in the
        period's last part): the top height unless a label there would overlap it.
        ``width_of(event)``: its label's width in time (None: :data:`_LABEL_GAP` of the
        period for every label)."""
        if extent is None:
            return {}
        span = extent[1] - extent[0]
        taken: list[list[tuple[float, float]]] = [[] for _ in _LABEL_LEVELS]
        out = {}
        for e in sorted(events, key=lambda e: e.start):
            x = max(e.start.timestamp(), extent[0])
            gap = span * _LABEL_GAP if width_of is None else width_of(e)
            preferred = x > extent[0] + span * _LABEL_LEFT_FROM
            # its preferred side at the highest free height, else the other side where the
            # label stays inside the period, else the least crowded height
            sides = [preferred]
            if (x + gap <= extent[1]) if preferred else (x - gap >= extent[0]):
                sides.append(not preferred)
            placed = None
            for left in sides:
                lo, hi = (x - gap, x) if left else (x, x + gap)
                free = [
                    k for k, spans in enumerate(taken) if all(hi <= a or lo >= b for a, b in spans)
                ]
                if free:
                    placed = (free[0], left, lo, hi)
                    break
            if placed is None:
                lo, hi = (x - gap, x) if preferred else (x, x + gap)
                k = min(range(len(taken)), key=lambda k: len(taken[k]))
                placed = (k, preferred, lo, hi)
            k, left, lo, hi = placed
            taken[k].append((lo, hi))
            out[e.record_id] = (_LABEL_LEVELS[k], left)
        return out

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
        self._y_span = None
        if ys.size:
            lo, hi = float(ys.min()), float(ys.max())
            pad = max((hi - lo) * 0.08, 1e-3)
            # headroom above the curves for the event labels
            self._y_span = (lo - pad, hi + 1.6 * pad)
        self._apply_y_range()

    def _apply_y_range(self) -> None:
        """The values' range over the plot's height but a band at the bottom for the legend
        and the label of the lowest line: the legend sits at the bottom left, where it
        covered the alert line's label (the lowest line of a healthy model) and the first
        windows' lowest values. A plot too short for both hides the legend (the note under
        the plot says what the curves are) and keeps the label's room."""
        if self._y_span is None:
            return
        low, high = self._y_span
        height = self.metric_plot.getViewBox().size().height()
        if height <= 0:
            self.metric_plot.setYRange(low, high, padding=0)
            return
        label = self.alert_line.label.boundingRect().height() + 4
        legend = self.legend.boundingRect().height() + 16  # its offset and a margin
        fits = label + legend <= 0.45 * height
        self.legend.setVisible(fits)
        share = min((label + legend if fits else label) / height, 0.45)
        below = (high - low) * share / (1 - share)
        self.metric_plot.setYRange(low - below, high, padding=0)

    # -- theme ---------------------------------------------------------------------------

    def apply_theme(self, theme: PlotTheme) -> None:
        """Redraw every item in ``theme``'s colours."""
        self.theme = theme
        self.graphics.setBackground(pg.mkColor(*theme.background))
        style_plot(self.metric_plot, theme)
        style_plot(self.coverage_plot, theme)
        realized, estimated = theme.colour(0), theme.colour(1)
        self.realized_curve.setPen(pg.mkPen(*realized, width=2))
        self.realized_curve.setSymbolBrush(pg.mkBrush(*realized))
        self.realized_band.setBrush(pg.mkBrush(*realized, 50))
        self.estimated_curve.setPen(pg.mkPen(*estimated, width=2, style=Qt.PenStyle.DashLine))
        self.estimated_band.setBrush(pg.mkBrush(*estimated, 45))
        self.coverage_bars.setOpts(brush=pg.mkBrush(*theme.neutral, 190))
        self.baseline_line.setPen(pg.mkPen(*theme.muted, width=1, style=Qt.PenStyle.DashLine))
        self.baseline_line.label.setColor(pg.mkColor(*theme.muted))
        self.alert_line.setPen(pg.mkPen(*theme.alert, width=1, style=Qt.PenStyle.DotLine))
        self.alert_line.label.setColor(pg.mkColor(*theme.alert))
        for line in (self.baseline_line, self.alert_line):
            # the labels sit over the curve at the left edge: legible on a filled box above it
            line.label.fill = pg.mkBrush(*theme.legend_background)
            line.setZValue(10)
        marked = theme.colour(0)
        self.marked_region.setBrush(pg.mkBrush(*marked, 40))
        self.marked_region.setHoverBrush(pg.mkBrush(*marked, 40))
        for edge in self.marked_region.lines:
            edge.setPen(pg.mkPen(*marked, width=2))
            edge.setHoverPen(pg.mkPen(*marked, width=2))
        self.marked_label.setColor(pg.mkColor(*marked))
        self.marked_label.fill = pg.mkBrush(*theme.legend_background)
        self._draw_events()

    # -- reading back --------------------------------------------------------------------

    def window_at(self, x: float) -> int | None:
        """The window whose span holds epoch second ``x`` (None outside every window)."""
        d = self.data
        if d is None or len(d.x) == 0:
            return None
        xs = np.asarray(d.x, dtype=float)
        dist = np.where(np.isfinite(xs), np.abs(xs - x), np.inf)
        i = int(np.argmin(dist))
        return i if dist[i] <= d.width / 2 else None

    def events_at(self, x: float, reach: float = 0.0) -> tuple[TimelineEvent, ...]:
        """Drawn events at epoch second ``x``: lines within ``reach`` seconds, periods that
        hold ``x`` (widened by ``reach``)."""
        extent = self.data.extent() if self.data is not None else None
        end = extent[1] if extent is not None else None
        out = []
        for e in self.shown_events:
            lo, hi = e.span(open_until=end)
            if lo - reach <= x <= hi + reach:
                out.append(e)
        return tuple(out)

    def describe_at(
        self, x: float, y: float = 0.0, reach: tuple[float, float] | None = None
    ) -> str:
        """Tooltip text at data point ``(x, y)``: the window's exact values, then the events
        there (each with its exact time, who and what)."""
        parts = []
        i = self.window_at(x)
        d = self.data
        if d is not None and i is not None:
            start = dt.datetime.fromtimestamp(float(d.x[i]) - d.width / 2, tz=dt.UTC)
            fmt = "%Y-%m-%d" if d.width >= 86400 and start.hour == 0 else "%Y-%m-%d %H:%M"
            r, e = d.realized[i], d.estimated[i]
            lines = [f"window {start.strftime(fmt)} UTC"]
            if math.isfinite(r[0]):
                lines.append(f"{d.metric} realized {_num(r[0])} [{_num(r[1])}, {_num(r[2])}]")
            else:
                lines.append(f"{d.metric} realized – (too few labels)")
            if math.isfinite(e[0]):
                lines.append(f"{d.metric} estimated {_num(e[0])} [{_num(e[1])}, {_num(e[2])}]")
            cov = float(d.coverage[i])
            lines.append(f"labeled {cov:.1%}" if math.isfinite(cov) else "labeled –")
            parts.append("\n".join(lines))
        reach_x = reach[0] if reach is not None else 0.0
        parts.extend(e.tooltip() for e in self.events_at(x, reach_x))
        return "\n\n".join(parts)

    # -- export --------------------------------------------------------------------------

    def export(self, path: Path | str) -> Path:
        """Write both plots (metric and coverage) to ``path``: PNG or SVG by extension."""
        return export_plot(self.graphics.ci, path)

    def _export_name(self) -> str:
        return f"timeline-{self.data.metric}" if self.data is not None else "timeline"
