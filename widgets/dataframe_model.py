"""One table model over a pandas DataFrame, for every table in the workbench.

Sorting permutes row indices with a numpy argsort instead of asking
``QSortFilterProxyModel.lessThan`` for every comparison (orange-widget-base's
``AbstractSortTableModel``), so sorting a million rows is one vectorised call. ``data()``
is the hottest path in Qt's model/view: it returns early for roles it does not serve and
formats cells only when asked.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

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


class DataFrameTableModel(QAbstractTableModel):
    """A read-only view of a DataFrame with fast permutation sorting."""

    def __init__(self, frame: pd.DataFrame | None = None, parent: Any = None) -> None:
        super().__init__(parent)
        self._frame = pd.DataFrame()
        self._order = np.arange(0)
        self._numeric: list[bool] = []
        self._sort: tuple[int, Qt.SortOrder] | None = None
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
        self._order = np.arange(len(frame))
        if self._sort is not None and self._sort[0] < frame.shape[1]:
            self._order = self._sorted_order(*self._sort)
        else:
            self._sort = None
        self.endResetModel()

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
            value = self._frame.iat[int(self._order[index.row()]), index.column()]
            return format_cell(value)
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
