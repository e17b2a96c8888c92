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


def _typed_frame() -> pd.DataFrame:
    """Every kind of column a view shows: numpy, nullable, Arrow-backed, times, categories."""
    import datetime as dt

    import pyarrow as pa

    utc = dt.UTC
    table = pa.table(
        {
            "count": [1, None, 3_000],
            "share": [1.5, None, float("nan")],
            "name": ["a", None, "c"],
            "flag": [True, None, False],
            "ts": pa.array(
                [dt.datetime(2026, 1, 1, tzinfo=utc), None, dt.datetime(2026, 1, 2, tzinfo=utc)],
                pa.timestamp("us", tz="UTC"),
            ),
            "code": pa.array(["x", "y", None]).dictionary_encode(),
        }
    )
    arrow = table.to_pandas(types_mapper=pd.ArrowDtype).add_suffix(" (arrow)")
    plain = table.to_pandas()
    other = pd.DataFrame(
        {
            "mixed": [1, "x", None],
            "Int64": pd.array([1, None, 3], dtype="Int64"),
            "category": pd.Categorical(["a", "b", "a"]),
            "delay": pd.to_timedelta([1, 2, None], unit="s"),
            "tiny": [1e-7, -2.5e9, 0.0],
        }
    )
    return pd.concat([plain, arrow, other], axis=1)


def test_cells_are_formatted_once_as_each_value_reads() -> None:
    """The text a column shows, formatted once per column, is the text of each value as
    ``iat`` gives it, for every kind of column, also after a sort."""
    frame = _typed_frame()
    model = DataFrameTableModel(frame)
    model.sort(0, Qt.SortOrder.DescendingOrder)
    for c in range(frame.shape[1]):
        for r in range(len(frame)):
            source = model.source_row(r)
            want = format_cell(frame.iat[source, c])
            assert model.data(model.index(r, c)) == want, (frame.columns[c], r)
            assert model.column_texts(c)[source] == want


@pytest.mark.parametrize("width", [320, 2400])
def test_columns_fit_their_text_as_qt_sizes_them(qtbot, width) -> None:
    """:func:`fit_columns_to_text` sizes every column as Qt's own
    ``resizeColumnsToContents`` does (cells and bold header alike): the same table on
    screen, pixel for pixel, whether the columns overflow the view or leave room for the
    stretched last one; and it caps them."""
    from PySide6.QtWidgets import QApplication

    from watchkeeper.app.panels.slices import _table_view
    from watchkeeper.widgets.dataframe_model import fit_columns_to_text

    rng = np.random.default_rng(3)
    frame = pd.concat(
        [
            _typed_frame().sample(200, replace=True, random_state=1).reset_index(drop=True),
            pd.DataFrame(
                {
                    "a long column title": rng.random(200),
                    "w": [f"{'m' * int(k)}" for k in rng.integers(1, 40, 200)],
                }
            ),
        ],
        axis=1,
    )
    views = []
    for _ in range(2):
        view = _table_view(DataFrameTableModel(frame))
        qtbot.addWidget(view)
        view.resize(width, 300)
        view.show()
        views.append(view)
    QApplication.processEvents()
    views[0].resizeColumnsToContents()
    fit_columns_to_text(views[1])
    qtbot.wait(50)  # the columns past the view's width: on the next turns
    # Qt stretches its last section again at the next layout (as a panel's does at once)
    for view in views:
        view.resize(width + 1, 300)
    QApplication.processEvents()
    qt_sizes = [views[0].horizontalHeader().sectionSize(c) for c in range(frame.shape[1])]
    ours = [views[1].horizontalHeader().sectionSize(c) for c in range(frame.shape[1])]
    assert ours == qt_sizes
    assert views[0].grab().toImage() == views[1].grab().toImage()
    fit_columns_to_text(views[1], max_px=60)
    header = views[1].horizontalHeader()
    capped = [min(w, 60) for w in qt_sizes[:-1]]
    # the columns in view at once, any others on the next turns
    qtbot.waitUntil(lambda: [header.sectionSize(c) for c in range(len(capped))] == capped)
    assert max(qt_sizes) > 60


def test_a_wide_tables_columns_fit_in_turns_and_a_newer_fit_wins(qtbot) -> None:
    """A table wider than its view (a wide model's disagreements: 500 features) gets the
    columns in view at once and the others on later turns of the event loop, each as Qt's
    ``resizeColumnsToContents`` sizes it; a fit of a newer frame replaces a fit still under
    way, whose late turns then size nothing."""
    from PySide6.QtWidgets import QApplication

    from watchkeeper.app.panels.slices import _table_view
    from watchkeeper.widgets.dataframe_model import FIT_COLUMNS_PER_TURN, fit_columns_to_text

    rng = np.random.default_rng(5)
    n = 2 * FIT_COLUMNS_PER_TURN + 7
    frame = pd.DataFrame({f"feature_{i:03d}": rng.normal(0, 10.0 ** (i % 6), 60) for i in range(n)})
    views = []
    for _ in range(2):
        view = _table_view(DataFrameTableModel(frame))
        view.horizontalHeader().setStretchLastSection(False)
        qtbot.addWidget(view)
        view.resize(900, 300)
        view.show()
        views.append(view)
    QApplication.processEvents()
    views[0].resizeColumnsToContents()
    qt_sizes = [views[0].horizontalHeader().sectionSize(c) for c in range(n)]
    header = views[1].horizontalHeader()
    default = header.defaultSectionSize()
    fit_columns_to_text(views[1])
    first = [header.sectionSize(c) for c in range(n)]
    # at once: the columns up to the first past the view's right edge, no more
    edge = max(views[1].viewport().width(), views[1].width())
    in_view = int(np.searchsorted(np.cumsum(qt_sizes), edge, "right"))
    at_once = in_view + 1
    assert 3 < at_once < FIT_COLUMNS_PER_TURN
    assert first[:at_once] == qt_sizes[:at_once]
    assert first[at_once:] == [default] * (n - at_once)
    assert qt_sizes[at_once:] != [default] * (n - at_once)
    qtbot.waitUntil(lambda: [header.sectionSize(c) for c in range(n)] == qt_sizes)

    # a newer frame while the old one's fit is under way: only the newer's widths remain
    wide_text = frame.map(lambda v: f"{v:.1f}" * 3)
    fit_columns_to_text(views[1])  # the old frame's fit, its first turn done
    model = views[1].model()
    model.set_frame(wide_text)
    fit_columns_to_text(views[1])
    views[0].setModel(DataFrameTableModel(wide_text))
    views[0].resizeColumnsToContents()
    expected = [views[0].horizontalHeader().sectionSize(c) for c in range(n)]
    assert expected != qt_sizes
    qtbot.waitUntil(lambda: [header.sectionSize(c) for c in range(n)] == expected)
    qtbot.wait(50)  # the old fit's turns, had they run on, would have resized by now
    assert [header.sectionSize(c) for c in range(n)] == expected
