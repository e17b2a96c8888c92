"""A plot with nothing to draw hides its axes; bin edges read as numbers people write."""

from __future__ import annotations

from itertools import pairwise

from PySide6.QtGui import QImage, QPainter

from watchkeeper.widgets.distribution_view import DistributionView, human_number
from watchkeeper.widgets.metric_timeline import MetricTimelineWidget
from watchkeeper.widgets.slice_chart import SliceChartWidget


def _axes_shown(plot) -> list[bool]:
    return [plot.getAxis(name).isVisible() for name in ("left", "bottom")]


def test_empty_and_failed_plots_hide_their_axes(qtbot, drift_result, performance_view) -> None:
    """Empty plots drew axes over a default range ("-0.4 … 0.4", "59.600 … 00.400")."""
    from watchkeeper.app.panels.performance import timeline_data

    chart = SliceChartWidget()
    qtbot.addWidget(chart)
    chart.show()
    assert _axes_shown(chart.plot) == [False, False]  # no slices
    timeline = MetricTimelineWidget()
    qtbot.addWidget(timeline)
    timeline.show()
    assert _axes_shown(timeline.metric_plot) == _axes_shown(timeline.coverage_plot) == [False] * 2
    timeline.set_data(timeline_data(performance_view))
    assert _axes_shown(timeline.metric_plot) == [True, True]
    timeline.set_data(None)  # a failed analysis clears the plot
    assert _axes_shown(timeline.metric_plot) == [False, False]
    view = DistributionView()
    qtbot.addWidget(view)
    view.show()
    assert _axes_shown(view.plot) == [False, False]  # no cell picked yet
    view.show_cell(drift_result, "amount", 3)
    assert _axes_shown(view.plot) == [True, True]


def test_bin_edges_are_written_for_people(qtbot, drift_result) -> None:
    assert [human_number(x) for x in (1174.4, 4349.2, 123456.7, 12.345, 0.01234, 3.0)] == [
        "1,174",
        "4,349",
        "123,457",
        "12.3",
        "0.0123",
        "3",
    ]
    view = DistributionView()
    qtbot.addWidget(view)
    view.show_cell(drift_result, "amount", 3)
    levels = view.plot.getAxis("bottom")._tickLevels
    texts = [t for level in levels for _, t in level]
    assert not any("e+" in t for t in texts) and "missing" in texts
    assert len(levels) == 3 and len(levels[0]) <= len(texts) // 4 + 2  # fewer major ticks
    # as narrow as beside the statistics table in the Drift view: what is written never
    # overlaps (pyqtgraph drops the crowded levels' text)
    view.resize(540, 300)
    view.show()
    qtbot.waitExposed(view)
    qtbot.wait(50)  # laid out at that size
    axis = view.plot.getAxis("bottom")
    image = QImage(10, 10, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    try:
        _axis, _ticks, text_specs = axis.generateDrawSpecs(painter)
    finally:
        painter.end()
    rects = sorted((r for r, _flags, _text in text_specs), key=lambda r: r.left())
    assert len(rects) >= 2
    assert all(a.right() <= b.left() for a, b in pairwise(rects))


def test_the_importance_quadrant_shows_its_plot_only_with_points(qtbot) -> None:
    """Empty under the drift view, its axes were squeezed until their label was clipped
    ("largest PS"); it now says why it is empty, and shows the plot with the points."""
    from types import SimpleNamespace

    from watchkeeper.widgets.importance_quadrant import ImportanceQuadrant

    quadrant = ImportanceQuadrant()
    qtbot.addWidget(quadrant)
    quadrant.show()
    assert not quadrant.plot_widget.isVisible()
    assert quadrant.source_label.text() == "Importance: not computed yet"
    impacts = [
        SimpleNamespace(name="amount", importance=0.6, psi=0.4, decision="drift"),
        SimpleNamespace(name="country", importance=0.4, psi=0.01, decision="ok"),
    ]
    quadrant.set_data(impacts, "from the model", 0.2)
    assert quadrant.plot_widget.isVisible() and quadrant.names == ["amount", "country"]
    quadrant.clear("Importance: computing on the reference…")
    assert not quadrant.plot_widget.isVisible()
    assert quadrant.source_label.text() == "Importance: computing on the reference…"
