"""Every plot widget follows the plot theme, offers the export menu, and survives deletion."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtWidgets import QToolTip

from watchkeeper.widgets import plot_export
from watchkeeper.widgets.distribution_view import DistributionView
from watchkeeper.widgets.drift_heatmap import DriftHeatmapWidget
from watchkeeper.widgets.metric_timeline import MetricTimelineWidget
from watchkeeper.widgets.plot_theme import (
    DARK,
    LIGHT,
    THEMES,
    current_theme,
    set_plot_theme,
)
from watchkeeper.widgets.roc_overlay import RocOverlayWidget
from watchkeeper.widgets.score_scatter import ScoreScatterWidget, density_lookup_table
from watchkeeper.widgets.slice_chart import SliceChartWidget

WIDGETS = (
    DistributionView,
    DriftHeatmapWidget,
    MetricTimelineWidget,
    RocOverlayWidget,
    ScoreScatterWidget,
    SliceChartWidget,
)


def view_of(widget):  # the pyqtgraph view of each widget
    return getattr(widget, "plot_widget", None) or widget.graphics


def rgb(colour) -> tuple[int, int, int]:
    return (colour.red(), colour.green(), colour.blue())


def test_palettes_are_distinct_and_readable() -> None:
    assert set(THEMES) == {"light", "dark"}
    for theme in (LIGHT, DARK):
        assert len(set(theme.series)) == len(theme.series) >= 6
        # text stands out from the background in both themes
        lum = [sum(c) / 3 for c in (theme.background, theme.foreground)]
        assert abs(lum[0] - lum[1]) > 150
    assert LIGHT.colour(len(LIGHT.series)) == LIGHT.colour(0)
    with pytest.raises(ValueError, match="plot theme"):
        set_plot_theme("sepia")


@pytest.mark.parametrize("cls", WIDGETS, ids=lambda c: c.__name__)
def test_every_plot_switches_to_dark_and_back(qtbot, cls) -> None:
    widget = cls()
    qtbot.addWidget(widget)
    view = view_of(widget)
    assert rgb(view.backgroundBrush().color()) == LIGHT.background
    set_plot_theme("dark")
    assert current_theme() is DARK
    assert rgb(view.backgroundBrush().color()) == DARK.background
    plot = getattr(widget, "plot", None) or widget.metric_plot
    assert rgb(plot.getAxis("left").textPen().color()) == DARK.foreground
    set_plot_theme(LIGHT)
    assert rgb(view.backgroundBrush().color()) == LIGHT.background
    assert rgb(plot.getAxis("left").textPen().color()) == LIGHT.foreground


def test_series_colours_follow_the_theme(qtbot) -> None:
    timeline = MetricTimelineWidget()
    roc = RocOverlayWidget()
    scatter = ScoreScatterWidget()
    for w in (timeline, roc, scatter):
        qtbot.addWidget(w)
    assert rgb(timeline.realized_curve.opts["pen"].color()) == LIGHT.colour(0)
    assert rgb(roc.challenger_curve.opts["pen"].color()) == LIGHT.colour(1)
    set_plot_theme("dark")
    assert rgb(timeline.realized_curve.opts["pen"].color()) == DARK.colour(0)
    assert rgb(timeline.estimated_curve.opts["pen"].color()) == DARK.colour(1)
    assert rgb(timeline.alert_line.pen.color()) == DARK.alert
    assert rgb(roc.champion_curve.opts["pen"].color()) == DARK.colour(0)
    assert (scatter.image_item.lut == density_lookup_table(DARK)).all()
    # dense cells are the light end on a dark background, the dark end on a light one
    assert density_lookup_table(DARK)[255, :3].sum() > density_lookup_table(DARK)[1, :3].sum()
    set_plot_theme("light")
    assert (scatter.image_item.lut == density_lookup_table(LIGHT)).all()
    assert rgb(timeline.realized_curve.opts["pen"].color()) == LIGHT.colour(0)


def test_a_deleted_widget_no_longer_follows(qtbot) -> None:
    widget = RocOverlayWidget()
    widget.deleteLater()
    qtbot.wait(10)
    set_plot_theme("dark")  # no call into the deleted widget
    set_plot_theme("light")


def test_export_menu_replaces_the_viewbox_menu(qtbot, tmp_path: Path, monkeypatch) -> None:
    widget = RocOverlayWidget()
    qtbot.addWidget(widget)
    widget.resize(600, 400)
    widget.show()
    qtbot.waitExposed(widget)
    assert not widget.plot.getViewBox().menuEnabled()
    (action,) = widget.export_menu.actions()
    assert action.text() == plot_export.EXPORT_ACTION_TEXT
    target = tmp_path / "roc.svg"
    monkeypatch.setattr(plot_export, "ask_export_path", lambda parent, name: target)
    action.trigger()
    assert target.exists() and target.read_text(encoding="utf-8").startswith("<?xml")
    # a real right click on the plot opens our menu where the mouse is
    opened = []
    monkeypatch.setattr(widget.export_menu, "popup", lambda pos: opened.append(pos))
    centre = QPoint(widget.plot_widget.width() // 2, widget.plot_widget.height() // 2)
    qtbot.mouseClick(widget.plot_widget.viewport(), Qt.MouseButton.RightButton, pos=centre)
    assert opened == [widget.plot_widget.viewport().mapToGlobal(centre)]
    # a left click does not
    qtbot.mouseClick(widget.plot_widget.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    assert len(opened) == 1


def test_export_refuses_other_formats_and_missing_folders(qtbot, tmp_path: Path) -> None:
    widget = SliceChartWidget()
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitExposed(widget)
    with pytest.raises(ValueError, match=r"\.png or \.svg"):
        widget.export(tmp_path / "plot.jpg")
    with pytest.raises(OSError, match="does not exist"):
        widget.export(tmp_path / "missing" / "plot.png")


@pytest.mark.qt_log_ignore("This plugin does not support")
def test_moving_the_mouse_shows_the_exact_values(qtbot) -> None:
    widget = RocOverlayWidget()
    qtbot.addWidget(widget)
    widget.resize(600, 400)
    widget.show()
    qtbot.waitExposed(widget)
    widget.set_curves(([0.0, 0.25, 1.0], [0.0, 0.75, 1.0]), None, champion_label="v1")
    qtbot.wait(20)
    scene_pos = widget.plot.getViewBox().mapViewToScene(QPointF(0.25, 0.75))
    point = widget.plot_widget.mapFromScene(scene_pos)
    qtbot.mouseMove(widget.plot_widget.viewport(), point)
    qtbot.waitUntil(lambda: "true-positive rate 0.7500" in QToolTip.text(), timeout=2000)
    assert QToolTip.text().startswith("v1\nfalse-positive rate 0.2500")
    QToolTip.hideText()
