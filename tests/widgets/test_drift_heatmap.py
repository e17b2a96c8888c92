"""The drift heat map, drawn from a real drift result: asserted through its items."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, Qt

from watchkeeper.widgets.drift_heatmap import (
    INSUFFICIENT,
    MULTIVARIATE,
    DriftHeatmapWidget,
    heatmap_levels,
    heatmap_rows,
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
