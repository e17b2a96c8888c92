"""The slice bar chart drawn from core's slice metrics on the demo workspace."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from watchkeeper.widgets.slice_chart import SliceChartWidget, bars_from_rows


@pytest.fixture(scope="module")
def slice_result(demo_workspace: Path) -> Any:
    """fraud-detector v1's spec slices over April (core's slice_metrics)."""
    import datetime as dt

    from watchkeeper.core.evaluation.data import open_spec_source, read_events
    from watchkeeper.core.evaluation.predicates import predicates_from_spec
    from watchkeeper.core.evaluation.slices import slice_metrics
    from watchkeeper.core.spec import load_spec

    spec = load_spec(demo_workspace / "specs" / "fraud-detector.toml")
    predicates = predicates_from_spec(spec)
    cols = ["score", "label", *{c for p in predicates for c in p.columns}]
    with open_spec_source(spec) as src:
        table = read_events(
            src,
            model="fraud-detector",
            versions=["1"],
            start=dt.datetime(2026, 4, 1, tzinfo=dt.UTC),
            end=dt.datetime(2026, 5, 1, tzinfo=dt.UTC),
            columns=cols,
        )
    return slice_metrics(table, predicates, metrics=("roc_auc", "precision"), threshold=0.2)


def _bars(result: Any, metric: str = "roc_auc") -> Any:
    rows = result.rows
    return bars_from_rows(
        metric,
        [r.predicate.name for r in rows],
        [r.metrics[metric] for r in rows],
        [r.predicate.critical for r in rows],
        result.overall[metric],
    )


def test_bars_are_the_values_and_whiskers_the_intervals(qtbot, slice_result) -> None:
    chart = SliceChartWidget()
    qtbot.addWidget(chart)
    bars_item, errors = chart.bars, chart.error_bars
    chart.set_data(_bars(slice_result))
    assert chart.bars is bars_item and chart.error_bars is errors  # updated in place
    rows = slice_result.rows
    values = np.array([r.metrics["roc_auc"].value for r in rows])
    lower = np.array([r.metrics["roc_auc"].lower for r in rows])
    upper = np.array([r.metrics["roc_auc"].upper for r in rows])
    # horizontal bars: a bar's length (its "height" along the metric axis) is the value
    np.testing.assert_allclose(chart.bars.opts["width"], values)
    np.testing.assert_allclose(chart.bars.opts["x0"], 0.0)
    np.testing.assert_allclose(chart.bars.opts["y"], np.arange(1, len(rows) + 1))
    np.testing.assert_allclose(errors.opts["x"], values)
    np.testing.assert_allclose(errors.opts["left"], values - lower)
    np.testing.assert_allclose(errors.opts["right"], upper - values)
    # the overall value: a grey bar on row 0 and the dashed reference line
    overall = slice_result.overall["roc_auc"].value
    np.testing.assert_allclose(chart.overall_bar.opts["width"], [overall])
    assert chart.overall_line.isVisible() and chart.overall_line.value() == pytest.approx(overall)
    # the critical slice (pos) has a red outline, the others none
    names = [r.predicate.name for r in rows]
    pens = chart.bars.opts["pens"]
    assert pens[names.index("pos")].color().red() == 200
    assert all(p.style() == Qt.PenStyle.NoPen for i, p in enumerate(pens) if names[i] != "pos")
    ticks = dict(chart.plot.getAxis("left")._tickLevels[0])
    assert ticks[names.index("pos") + 1.0].endswith("⚑")


def test_another_metric_redraws_the_same_items_and_none_empties(qtbot, slice_result) -> None:
    chart = SliceChartWidget()
    qtbot.addWidget(chart)
    chart.set_data(_bars(slice_result))
    chart.set_data(_bars(slice_result, "precision"))
    values = [r.metrics["precision"].value for r in slice_result.rows]
    np.testing.assert_allclose(chart.bars.opts["width"], values)
    assert chart.plot.getAxis("bottom").labelText == "precision"
    chart.set_data(None)
    assert len(chart.bars.opts["width"]) == 0 and not chart.overall_line.isVisible()


def test_clicking_a_bar_names_the_slice(qtbot, slice_result) -> None:
    chart = SliceChartWidget()
    qtbot.addWidget(chart)
    chart.resize(700, 500)
    chart.show()
    qtbot.waitExposed(chart)
    chart.set_data(_bars(slice_result))
    assert chart.row_at(3.1) == 2 and chart.row_at(0.0) is None
    assert chart.describe_row(2).startswith("pos\nroc_auc")
    qtbot.wait(50)
    pos_row = [r.predicate.name for r in slice_result.rows].index("pos") + 1
    value = slice_result.rows[pos_row - 1].metrics["roc_auc"].value
    scene = chart.plot.getViewBox().mapViewToScene(QPointF(value / 2, pos_row))
    point = chart.plot_widget.mapFromScene(scene)
    with qtbot.waitSignal(chart.slice_clicked, timeout=2000) as clicked:
        qtbot.mouseClick(chart.plot_widget.viewport(), Qt.MouseButton.LeftButton, pos=point)
    assert clicked.args == ["pos"]


def test_hover_values_overall_row_and_export(qtbot, slice_result, check_export) -> None:
    chart = SliceChartWidget()
    chart.set_data(_bars(slice_result))
    overall = slice_result.overall["roc_auc"]
    assert chart.describe_at(0.3, 0.1) == (
        f"overall\nroc_auc {overall.value:.4f} [{overall.lower:.4f}, {overall.upper:.4f}]"
    )
    first = slice_result.rows[0]
    assert chart.describe_at(0.3, 1.0).startswith(f"{first.predicate.name}\nroc_auc")
    assert chart.describe_at(0.3, 1.5) == ""  # between two bars
    names = tuple(r.predicate.name for r in slice_result.rows)
    check_export(chart, texts=("roc_auc", names[0]), paths=3)


def test_without_slices_the_overall_bar_is_drawn_alone(qtbot, slice_result) -> None:
    """A spec without [[slices]]: the chart shows the overall value, not an empty plot."""
    overall = slice_result.overall["roc_auc"]
    chart = SliceChartWidget()
    qtbot.addWidget(chart)
    chart.resize(500, 300)
    chart.show()
    chart.set_data(bars_from_rows("roc_auc", [], [], [], overall))
    assert list(chart.overall_bar.opts["width"]) == [overall.value]
    assert chart.overall_line.isVisible() and chart.overall_line.value() == overall.value
    assert len(chart.bars.opts["width"]) == 0
    ticks = chart.plot.getAxis("left")._tickLevels[0]
    assert [text for _, text in ticks] == [f"overall {overall.value:.3f}"]
    x_lo, x_hi = chart.plot.getViewBox().viewRange()[0]
    assert x_lo <= 0.0 and overall.value < x_hi  # the bar is in view
