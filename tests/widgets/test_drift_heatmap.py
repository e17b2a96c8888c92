"""The drift heat map, drawn from a real drift result: asserted through its items."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from PySide6.QtCore import QPointF, Qt

from watchkeeper.core.drift.engine import analyze_drift
from watchkeeper.core.drift.result import DriftResult
from watchkeeper.core.telemetry.windows import parse_window
from watchkeeper.widgets.drift_heatmap import (
    INSUFFICIENT,
    MULTIVARIATE,
    DriftHeatmapWidget,
    heatmap_levels,
    heatmap_rows,
    window_label,
)


def shown(qtbot, widget):
    qtbot.addWidget(widget)
    widget.resize(1100, 520)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def click_cell(qtbot, widget: DriftHeatmapWidget, feature: str, window: int) -> None:
    """A real mouse click on the cell's centre, through the graphics view."""
    vb = widget.plot.getViewBox()
    scene = vb.mapViewToScene(widget.cell_center(feature, window))
    pos = widget.plot_widget.mapFromScene(scene)
    qtbot.mouseClick(widget.plot_widget.viewport(), Qt.MouseButton.LeftButton, pos=pos)


def test_one_image_rows_by_windows_with_fixed_levels(qtbot, drift_result) -> None:
    w = shown(qtbot, DriftHeatmapWidget())
    w.set_result(drift_result)
    n_rows = len(drift_result.features) + 2  # the prediction and the multivariate rows
    image = w.image_item.image
    assert image.shape == (n_rows, len(drift_result.windows))
    assert image.dtype == np.float32
    assert tuple(w.image_item.levels) == heatmap_levels()
    assert w.image_item.lut.shape == (256, 3) and w.image_item.lut.dtype == np.uint8
    # each cell is the window's PSI (grey sentinel where too few rows)
    row = w.rows.index("amount")
    psi = [
        INSUFFICIENT if x.decision == "insufficient" else x.psi
        for x in drift_result.feature("amount").windows
    ]
    np.testing.assert_allclose(image[row], np.array(psi, dtype=np.float32))
    assert w.rows[-2:] == ["score", MULTIVARIATE]
    ticks = [label for _, label in w.plot.getAxis("left")._tickLevels[0]]
    assert "score (prediction)" in ticks and "device_type" in ticks


def test_drift_markers_sit_on_drift_decisions(qtbot, drift_result) -> None:
    w = shown(qtbot, DriftHeatmapWidget())
    w.set_result(drift_result)
    xs, ys = w.marker_item.getData()
    expected = {
        (i, j)
        for j, r in enumerate(heatmap_rows(drift_result))
        for i, d in enumerate(r.decisions)
        if d == "drift"
    }
    assert expected, "the demo plants drift: some cells must be marked"
    assert {(int(x), int(y)) for x, y in zip(xs, ys, strict=True)} == expected
    # the planted pipeline incident (day 95 on) is marked on device_type
    j = w.rows.index("device_type")
    assert (119, j) in expected and (10, j) not in expected


def test_severity_sort_and_kind_filter(qtbot, drift_result) -> None:
    w = shown(qtbot, DriftHeatmapWidget())
    w.set_result(drift_result)
    severities = [w.row(name).severity for name in w.rows[:-2]]
    assert severities == sorted(severities, reverse=True)
    assert w.rows[0] in {"device_type", "distance_from_home_km", "amount"}
    w.set_sort("name")
    assert w.rows[:-2] == sorted(w.rows[:-2], key=str.lower)
    w.set_kinds({"categorical"})
    kinds = {f.name: f.kind for f in drift_result.features}
    assert w.rows and all(kinds[r] == "categorical" for r in w.rows)
    assert w.image_item.image.shape == (len(w.rows), len(drift_result.windows))
    w.set_kinds(None)
    assert len(w.rows) == len(drift_result.features) + 2


def test_clicking_a_cell_emits_it_and_outlines_it(qtbot, drift_result) -> None:
    w = shown(qtbot, DriftHeatmapWidget())
    w.set_result(drift_result)
    with qtbot.waitSignal(w.cell_selected, timeout=2000) as picked:
        click_cell(qtbot, w, "amount", 100)
    assert picked.args == ["amount", 100]
    # a cell with a drift mark on it is picked too (the mark does not eat the click)
    assert drift_result.feature("device_type").windows[119].decision == "drift"
    with qtbot.waitSignal(w.cell_selected, timeout=2000) as picked:
        click_cell(qtbot, w, "device_type", 119)
    assert picked.args == ["device_type", 119]
    click_cell(qtbot, w, "amount", 100)
    assert w.selected == ("amount", 100)
    assert w.selection_item.isVisible()
    assert w.selection_item.rect().topLeft() == QPointF(100, w.rows.index("amount"))
    tip = w.describe_cell_at(w.cell_center("amount", 100))
    assert "amount" in tip and "PSI" in tip and "decision" in tip


def test_empty_and_cleared(qtbot, drift_result) -> None:
    w = shown(qtbot, DriftHeatmapWidget())
    w.set_result(drift_result)
    w.set_result(None)
    assert w.rows == []
    assert w.image_item.image is None
    assert len(w.marker_item.getData()[0]) == 0


def test_describe_at_and_export(qtbot, drift_result, check_export) -> None:
    w = DriftHeatmapWidget()
    w.set_result(drift_result)
    tip = w.describe_at(100.5, w.rows.index("amount") + 0.5)
    assert tip.startswith("amount · ") and "PSI" in tip
    assert w.describe_at(-1.0, 0.5) == ""
    check_export(w, texts=("amount", "device_type"), paths=1, image=True)


# -- the time axis, labelled from the window the result was cut with ------------------------


def _drift(window: str, hours: float, rows: int) -> DriftResult:
    """A small analysis of ``rows`` events spread evenly over ``hours`` from 2026-01-01."""
    rng = np.random.default_rng(5)
    ref = pa.table({"x": rng.normal(size=2000)})
    start_us = 1_767_225_600_000_000  # 2026-01-01T00:00Z
    ts = start_us + np.linspace(0, hours * 3_600_000_000 - 1, rows).astype(np.int64)
    cur = pa.table(
        {
            "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "request_id": pa.array(np.arange(rows)),
            "x": rng.normal(size=rows),
        }
    )
    return analyze_drift(
        ref, cur, window=parse_window(window), prediction=None, exact=False, multivariate=False
    )


def bottom_labels(widget: DriftHeatmapWidget) -> list[tuple[float, str]]:
    return [(x, text) for x, text in widget.plot.getAxis("bottom")._tickLevels[0]]


def test_half_hour_windows_show_times_of_day_and_the_date_where_a_day_begins(qtbot) -> None:
    result = _drift("30m", hours=48, rows=4800)
    w = shown(qtbot, DriftHeatmapWidget())
    w.set_result(result)
    assert len(result.windows) == 96
    labels = bottom_labels(w)
    # every 6 hours (12 windows): the date where the day begins, times in between
    assert [x for x, _ in labels] == [i * 12 + 0.5 for i in range(8)]
    assert [t for _, t in labels] == [
        "Jan 01 00:00",
        "06:00",
        "12:00",
        "18:00",
        "Jan 02 00:00",
        "06:00",
        "12:00",
        "18:00",
    ]
    assert window_label(result, 1) == "2026-01-01 00:30"
    # zoomed in to three hours, every half hour is labelled
    w.plot.getViewBox().setXRange(0, 6, padding=0)
    shown_labels = [(x, t) for x, t in bottom_labels(w) if x < 6]
    assert [t for _, t in shown_labels] == [
        "Jan 01 00:00",
        "00:30",
        "01:00",
        "01:30",
        "02:00",
        "02:30",
    ]


def test_six_hour_windows_show_date_and_hour(qtbot) -> None:
    result = _drift("6h", hours=24 * 10, rows=4000)
    w = shown(qtbot, DriftHeatmapWidget())
    w.set_result(result)
    labels = bottom_labels(w)
    # 40 windows: one label a day, at midnight, each saying which day
    assert [x for x, _ in labels] == [i * 4 + 0.5 for i in range(10)]
    assert [t for _, t in labels] == [f"Jan {d:02d} 00:00" for d in range(1, 11)]
    assert window_label(result, 5) == "2026-01-02 06:00"


def test_week_windows_show_dates_and_the_year_where_it_changes(qtbot) -> None:
    result = _drift("7d", hours=24 * 120, rows=6000)
    w = shown(qtbot, DriftHeatmapWidget())
    w.set_result(result)
    # weeks start on Monday: the first holds 2026-01-01 (a Thursday) and starts in 2025
    assert result.windows[0].start.isoformat().startswith("2025-12-29")
    labels = bottom_labels(w)
    assert [x for x, _ in labels] == [i * 2 + 0.5 for i in range(len(labels))]
    texts = [t for _, t in labels]
    assert texts[:3] == ["Dec 29 2025", "Jan 12 2026", "Jan 26"]
    assert all(":" not in t for t in texts)
    assert window_label(result, 0) == "2025-12-29 – 2026-01-04"


def test_row_windows_are_numbered_not_dated(qtbot) -> None:
    result = _drift("5000rows", hours=24 * 30, rows=60_000)
    w = shown(qtbot, DriftHeatmapWidget())
    w.set_result(result)
    assert len(result.windows) == 12
    labels = bottom_labels(w)
    assert [t for _, t in labels] == ["#1", "#3", "#5", "#7", "#9", "#11"]
    assert [x for x, _ in labels] == [0.5, 2.5, 4.5, 6.5, 8.5, 10.5]
    assert window_label(result, 1) == "window 2 (rows 5,001–10,000)"
    tip = w.describe_at(1.5, 0.5)
    assert tip.startswith("x · window 2 (rows 5,001–10,000)")


def test_one_window_is_named_by_its_period(qtbot) -> None:
    result = _drift("", hours=48, rows=1000)
    w = shown(qtbot, DriftHeatmapWidget())
    w.set_result(result)
    assert [t for _, t in bottom_labels(w)] == ["2026-01-01 – 2026-01-02"]
    assert window_label(result, 0).startswith("whole period (2026-01-01")
