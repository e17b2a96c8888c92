"""One table model over a pandas DataFrame, for every table in the workbench.

Sorting permutes row indices with a numpy argsort instead of asking
``QSortFilterProxyModel.lessThan`` for every comparison (orange-widget-base's
``AbstractSortTableModel``), so sorting a million rows is one vectorised call. ``data()``
is the hottest path in Qt's model/view: it returns early for roles it does not serve and
formats cells only when asked.
"""

from __future__ import annotations

import math
import time
import weakref
from typing import Any

import numpy as np
import pandas as pd
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, QTimer
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QStyle, QTableView

_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_LEFT = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
Index = QModelIndex | QPersistentModelIndex


def format_cell(value: Any, decimals: int = 4) -> str:
    """Text for a cell: numbers with thousands separators or ``decimals`` significant
    places, missing values as an empty string (not "nan")."""
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if math.isnan(v):
            return ""
        if math.isinf(v):
            return "∞" if v > 0 else "−∞"
        if v != 0 and (abs(v) >= 1e6 or abs(v) < 10**-(decimals)):
            return f"{v:.{decimals - 1}e}"
        return f"{v:,.{decimals}g}" if abs(v) >= 1 else f"{v:.{decimals}g}"
    if isinstance(value, pd.Timestamp):
        return value.isoformat().replace("+00:00", "Z")
    return str(value)


def _cells(column: pd.Series) -> Any:
    """The values of ``column`` one by one, each as ``frame.iat`` gives it."""
    dtype = column.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "biufcO":
        return column.to_numpy()
    return iter(column.array)


class DataFrameTableModel(QAbstractTableModel):
    """A read-only view of a DataFrame with fast permutation sorting."""

    def __init__(self, frame: pd.DataFrame | None = None, parent: Any = None) -> None:
        super().__init__(parent)
        self._frame = pd.DataFrame()
        self._order = np.arange(0)
        self._numeric: list[bool] = []
        self._sort: tuple[int, Qt.SortOrder] | None = None
        self._texts: list[list[str] | None] = []  # per column, the cells' text (on demand)
        if frame is not None:
            self.set_frame(frame)

    # -- content ---------------------------------------------------------------------
    @property
    def frame(self) -> pd.DataFrame:
        return self._frame

    def set_frame(self, frame: pd.DataFrame) -> None:
        """Show a new frame, keeping the current sort column if it still exists."""
        self.beginResetModel()
        self._frame = frame.reset_index(drop=True)
        self._numeric = [
            pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
            for dtype in frame.dtypes
        ]
        self._texts = [None] * frame.shape[1]
        self._order = np.arange(len(frame))
        if self._sort is not None and self._sort[0] < frame.shape[1]:
            self._order = self._sorted_order(*self._sort)
        else:
            self._sort = None
        self.endResetModel()

    def column_texts(self, column: int) -> list[str]:
        """The text of every cell of ``column`` in the frame's own row order, formatted once
        (what ``data()`` shows, and what :func:`fit_columns_to_text` measures)."""
        texts = self._texts[column]
        if texts is None:
            # one pass over the column's values (a cell at a time through ``iat`` costs
            # microseconds each on Arrow-backed columns)
            texts = [format_cell(v) for v in _cells(self._frame.iloc[:, column])]
            self._texts[column] = texts
        return texts

    def source_row(self, view_row: int) -> int:
        """Row of the frame shown at ``view_row`` (after sorting)."""
        return int(self._order[view_row])

    def row_values(self, view_row: int) -> dict[str, Any]:
        return self._frame.iloc[self.source_row(view_row)].to_dict()

    # -- Qt model interface -----------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._frame)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self._frame.shape[1]

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            column = index.column()
            texts = self._texts[column]
            if texts is None:
                texts = self.column_texts(column)
            return texts[self._order[index.row()]]
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _RIGHT if self._numeric[index.column()] else _LEFT
        if role == Qt.ItemDataRole.ToolTipRole:
            value = self._frame.iat[int(self._order[index.row()]), index.column()]
            return None if format_cell(value) == "" else repr(value)
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return str(self._frame.columns[section])
        return str(section + 1)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Sort by ``column``; a column the frame does not have (-1, Qt's "unsorted", or any
        column of a frame without columns, which a view with sorting enabled asks for)
        restores the frame's own order instead of failing."""
        if not 0 <= column < self._frame.shape[1]:
            if self._sort is None:
                return  # already in the frame's order: nothing moves
            self._apply_order(None, np.arange(len(self._frame)))
            return
        self._apply_order((column, order), self._sorted_order(column, order))

    def _apply_order(self, sort: tuple[int, Qt.SortOrder] | None, order: np.ndarray) -> None:
        self.layoutAboutToBeChanged.emit()
        old_order = self._order
        persistent = self.persistentIndexList()
        sources = [int(old_order[i.row()]) for i in persistent]
        self._sort = sort
        self._order = order
        # Keep the selection on the same frame rows across the sort.
        position = np.empty_like(self._order)
        position[self._order] = np.arange(len(self._order))
        self.changePersistentIndexList(
            persistent,
            [
                self.index(int(position[s]), i.column())
                for s, i in zip(sources, persistent, strict=True)
            ],
        )
        self.layoutChanged.emit()

    def _sorted_order(self, column: int, order: Qt.SortOrder) -> np.ndarray:
        values = self._frame.iloc[:, column]
        if self._numeric[column]:
            keys = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        else:
            keys = values.astype("string").fillna("").str.casefold().to_numpy(dtype=object)
        # Missing values last in both directions, as a spreadsheet does.
        missing = pd.isna(values).to_numpy()
        present = np.flatnonzero(~missing)
        ranked = present[np.argsort(keys[present], kind="stable")]
        if order == Qt.SortOrder.DescendingOrder:
            ranked = ranked[::-1]
        return np.concatenate([ranked, np.flatnonzero(missing)]).astype(np.int64)


#: The most columns :func:`fit_columns_to_text` measures in one turn of the event loop; the
#: first turn stops sooner, past the view's width. A wider table's further columns are
#: measured in later turns (a wide model's 200 disagreements × 506 columns took ~400 ms
#: in one).
FIT_COLUMNS_PER_TURN = 48
#: A later turn's time for its columns (then it yields: paints, input, timers run).
FIT_SECONDS_PER_TURN = 0.015
# the fit in progress per view: a newer fit of the same view replaces it
_fitting: weakref.WeakKeyDictionary[QTableView, object] = weakref.WeakKeyDictionary()


def fit_columns_to_text(view: QTableView, rows: int = 200, max_px: int | None = None) -> None:
    """Size ``view``'s columns to their text, as ``resizeColumnsToContents`` does, without
    asking the model for every role of every cell: the text of the first ``rows`` rows
    (:meth:`DataFrameTableModel.column_texts`, formatted once) is measured with the view's
    font metrics, the header's with the header's. Columns wider than ``max_px`` are kept
    at ``max_px`` (the tool tip shows the whole text).

    The columns in view (at most :data:`FIT_COLUMNS_PER_TURN`) are sized at once; the
    others of a wider table on later turns of the event loop, as many as
    :data:`FIT_SECONDS_PER_TURN` allows each, so the window never waits for the hundreds it
    does not show yet."""
    model = view.model()
    header = view.horizontalHeader()
    if not isinstance(model, DataFrameTableModel):
        view.resizeColumnsToContents()
        return
    style = view.style()
    cells = view.fontMetrics()
    bold = header.font()
    bold.setBold(True)  # as QHeaderView measures a section (it may be drawn highlighted)
    heads = QFontMetrics(bold)
    # a cell's text margins (QItemDelegate / QStyledItemDelegate: the focus frame's margin
    # and a pixel each side), the grid line; a header's margins and sort arrow
    cell_pad = 2 * (style.pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, view) + 1)
    cell_pad += 1 if view.showGrid() else 0
    margin = style.pixelMetric(QStyle.PixelMetric.PM_HeaderMargin, None, header)
    head_pad = 2 * margin + 2  # and the section's frame, a pixel each side
    if view.isSortingEnabled():
        head_pad += style.pixelMetric(QStyle.PixelMetric.PM_HeaderMarkSize, None, header) + margin
    order = model._order[: min(model.rowCount(), rows)]
    columns = model.columnCount()
    # a stretched last section is left to fill what the others leave, as Qt's own
    # ResizeToContents leaves it
    stretched = header.stretchLastSection() and columns > 0
    widths: list[int] = []
    token = object()
    _fitting[view] = token
    frame = model._frame
    in_view = max(view.viewport().width(), view.width())

    def measure(first: int) -> None:
        if _fitting.get(view) is not token or view.model() is not model:
            return  # a newer fit, or another model
        if model._frame is not frame:
            del _fitting[view]
            return  # another frame: its own fit follows
        # the first turn sizes the columns in view; a later one what fits in its time
        last = min(columns, first + FIT_COLUMNS_PER_TURN)
        until = time.perf_counter() + FIT_SECONDS_PER_TURN if first else math.inf
        for column in range(first, last):
            if time.perf_counter() > until or (not first and sum(widths) > in_view):
                last = column
                break
            texts = model.column_texts(column)
            shown = {texts[r] for r in order}  # each distinct text measured once
            width = max((cells.size(0, t).width() for t in shown), default=0) + cell_pad
            title = str(model.headerData(column, Qt.Orientation.Horizontal))
            width = max(width, heads.size(0, title).width() + head_pad)
            if max_px is not None:
                width = min(width, max_px)
            widths.append(width)
            if not (stretched and column == columns - 1):
                header.resizeSection(column, width)
        if last < columns:
            QTimer.singleShot(0, view, lambda: measure(last))
            return
        del _fitting[view]
        if stretched and sum(widths[:-1]) >= view.viewport().width():
            # no room left to fill: the stretched last section takes its text's width (and
            # the table scrolls); with room, it fills what the others leave
            header.resizeSection(columns - 1, widths[-1])

    measure(0)
