"""DataFrameTableModel: display, alignment, permutation sort, selection kept, missing last."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtWidgets import QTableView

from watchkeeper.widgets.dataframe_model import DataFrameTableModel, format_cell

DISPLAY = Qt.ItemDataRole.DisplayRole


def column_texts(model: DataFrameTableModel, column: int) -> list[str]:
    return [model.data(model.index(r, column), DISPLAY) for r in range(model.rowCount())]


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "slice": ["web", "pos", "App", None, "atm"],
            "auc": [0.81, np.nan, 0.9, 0.77, 0.85],
            "support": [1200, 50, 300, 7, 1_000_000],
        }
    )


def test_cells_headers_and_alignment(qtmodeltester, frame) -> None:
    model = DataFrameTableModel(frame)
    qtmodeltester.check(model)
    assert (model.rowCount(), model.columnCount()) == (5, 3)
    assert model.headerData(1, Qt.Orientation.Horizontal, DISPLAY) == "auc"
    assert column_texts(model, 2) == ["1,200", "50", "300", "7", "1,000,000"]
    assert column_texts(model, 1)[1] == ""  # NaN shows as empty, not "nan"
    right = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    assert model.data(model.index(0, 2), Qt.ItemDataRole.TextAlignmentRole) == right
    assert model.data(model.index(0, 0), Qt.ItemDataRole.TextAlignmentRole) != right
    assert model.data(model.index(0, 0), Qt.ItemDataRole.BackgroundRole) is None


def test_sort_numbers_and_text_with_missing_last(frame) -> None:
    model = DataFrameTableModel(frame)
    model.sort(1, Qt.SortOrder.AscendingOrder)
    assert column_texts(model, 1) == ["0.77", "0.81", "0.85", "0.9", ""]
    model.sort(1, Qt.SortOrder.DescendingOrder)
    assert column_texts(model, 1) == ["0.9", "0.85", "0.81", "0.77", ""]
    model.sort(0, Qt.SortOrder.AscendingOrder)  # case-insensitive
    assert column_texts(model, 0) == ["App", "atm", "pos", "web", ""]
    assert model.row_values(0)["support"] == 300


def test_selection_follows_its_row_across_a_sort(qtbot, frame) -> None:
    model = DataFrameTableModel(frame)
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.selectionModel().select(
        model.index(4, 0),
        QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows,
    )
    model.sort(2, Qt.SortOrder.DescendingOrder)
    (selected,) = {i.row() for i in view.selectionModel().selectedIndexes()}
    assert model.row_values(selected)["slice"] == "atm"


def test_new_frame_keeps_the_sort(frame) -> None:
    model = DataFrameTableModel(frame)
    model.sort(2, Qt.SortOrder.AscendingOrder)
    model.set_frame(frame.assign(support=[5, 4, 3, 2, 1]))
    assert column_texts(model, 2) == ["1", "2", "3", "4", "5"]


def test_sorting_a_million_rows_is_one_argsort() -> None:
    rng = np.random.default_rng(0)
    big = pd.DataFrame({"x": rng.normal(size=1_000_000)})
    model = DataFrameTableModel(big)
    model.sort(0, Qt.SortOrder.AscendingOrder)
    shown = [float(big["x"].iat[model.source_row(r)]) for r in (0, 1, 999_999)]
    assert shown[0] == big["x"].min() and shown[2] == big["x"].max() and shown[0] <= shown[1]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        (math.nan, ""),
        (math.inf, "∞"),
        (-math.inf, "−∞"),
        (True, "yes"),
        (12345, "12,345"),
        (0.123456, "0.1235"),
        (1234.5678, "1,235"),
        (2.5e-7, "2.500e-07"),
        ("x'; DROP TABLE t;--", "x'; DROP TABLE t;--"),
    ],
)
def test_format_cell(value, text) -> None:
    assert format_cell(value) == text


@pytest.mark.parametrize(
    "empty", [pd.DataFrame(), pd.DataFrame(index=range(3))], ids=["no rows", "three rows"]
)
def test_a_frame_without_columns_sorts_without_failing(qtbot, qtmodeltester, empty) -> None:
    """A view with sorting enabled asks a column-less model to sort by column 0 (or -1)."""
    model = DataFrameTableModel(empty)
    qtmodeltester.check(model)
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.setSortingEnabled(True)  # Qt calls sort(section) at once
    view.sortByColumn(0, Qt.SortOrder.DescendingOrder)
    model.sort(-1)
    assert (model.rowCount(), model.columnCount()) == (len(empty), 0)
    qtmodeltester.check(model)


def test_sorting_by_no_column_restores_the_frame_order(qtbot, frame) -> None:
    model = DataFrameTableModel(frame)
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.setSortingEnabled(True)
    view.sortByColumn(2, Qt.SortOrder.DescendingOrder)
    assert column_texts(model, 2)[0] == "1,000,000"
    view.selectRow(0)  # the "atm" row, wherever it goes
    model.sort(-1)
    assert column_texts(model, 0) == ["web", "pos", "App", "", "atm"]
    (selected,) = {i.row() for i in view.selectionModel().selectedIndexes()}
    assert model.row_values(selected)["slice"] == "atm"
    # a column-less frame, then columns again: no stale sort column, no failure
    model.set_frame(pd.DataFrame())
    model.sort(1)
    model.set_frame(frame)
    assert column_texts(model, 0) == ["web", "pos", "App", "", "atm"]
