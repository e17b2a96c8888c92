"""What needs attention first: the drift result as a ranked, searchable list of features.

At hundreds of features a heat map cannot be read row by row, so the Drift view opens on
this list: one row per feature with its kind, its worst decision, since when it drifts (the
change-point onset, core/drift/onset.py), its magnitude (the largest PSI), its importance
where an importance is known ("—" otherwise) and a sparkline of its PSI over the windows.
Features that need attention rank first. The rows are a Qt model (``DriftSummaryModel``)
behind a filter proxy (search by name, filter by kind and decision), so sorting, filtering
and scrolling cost only the visible rows; the sparkline is a delegate painting one polyline.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QPointF,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QPen, QPolygonF
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from watchkeeper.core.drift.result import DriftResult, FeatureDrift
from watchkeeper.widgets.drift_heatmap import window_label

__all__ = [
    "COLUMNS",
    "DriftSummaryModel",
    "DriftSummaryWidget",
    "SummaryRow",
    "ranked_rows",
    "summary_rows",
]

Index = QModelIndex | QPersistentModelIndex
COLUMNS = ("Feature", "Kind", "Decision", "Since", "PSI max", "Importance", "PSI over time")
FEATURE, KIND, DECISION, SINCE, MAGNITUDE, IMPORTANCE, TREND = range(len(COLUMNS))
#: How much a decision asks for attention; the list ranks by it first.
SEVERITY = {"drift": 3, "watch": 2, "ok": 1, "insufficient": 0}
SORT_ROLE = int(Qt.ItemDataRole.UserRole) + 1


@dataclass(frozen=True)
class SummaryRow:
    """One feature as the list shows it."""

    name: str
    kind: str
    decision: str  # the worst decision over the windows
    onset: int | None  # the window the latest sustained change began in
    since: str  # that window as a person names it, "" without a change
    ongoing: bool
    magnitude: float | None  # the largest PSI over the windows
    importance: float | None
    series: np.ndarray  # PSI per window, NaN where not judged


def _worst(f: FeatureDrift) -> str:
    return max(set(f.decisions()), key=lambda d: SEVERITY.get(d, 0), default="ok")


def summary_rows(
    result: DriftResult, importance: Mapping[str, float] | None = None
) -> list[SummaryRow]:
    """The features ranked by what needs attention: an ongoing change first, then the worst
    decision, then the magnitude. With ``importance`` (each feature's share): the worst
    decision, then importance × magnitude (the PSI capped as ``check`` caps it,
    :data:`PSI_CAP`), as ``check --why`` ranks."""
    from watchkeeper.core.drift.importance import PSI_CAP

    rows = []
    for f in result.features:
        series = f.judged_psi()
        magnitude = float(np.nanmax(series)) if np.isfinite(series).any() else None
        onset = f.onset
        rows.append(
            SummaryRow(
                name=f.name,
                kind=f.kind,
                decision=_worst(f),
                onset=onset.start if onset else None,
                since=window_label(result, onset.start) if onset else "",
                ongoing=bool(onset and onset.ongoing),
                magnitude=magnitude,
                importance=(importance or {}).get(f.name),
                series=series,
            )
        )
    if importance:
        # known importance: the order ``check --why`` lists (decision, then importance ×
        # capped PSI); an ongoing change still reads in the "since" column
        rows.sort(
            key=lambda r: (
                -SEVERITY.get(r.decision, 0),
                -(
                    r.importance * min(r.magnitude or 0.0, PSI_CAP)
                    if r.importance is not None
                    else -1.0
                ),
                -(r.magnitude if r.magnitude is not None else -1.0),
                r.name,
            )
        )
        return rows
    rows.sort(
        key=lambda r: (
            -int(r.ongoing),
            -SEVERITY.get(r.decision, 0),
            -(r.magnitude if r.magnitude is not None else -1.0),
            r.name,
        )
    )
    return rows


#: The last results' ranked rows (by weak identity: never keeping a result alive), so a
#: worker can rank them before the GUI thread draws: 500 features ranked on the GUI thread
#: while the exact statistics ran stalled it (each small step a chance for a worker to take
#: the GIL).
_RANKED: list[tuple[weakref.ref[DriftResult], list[SummaryRow]]] = []


def ranked_rows(
    result: DriftResult, importance: Mapping[str, float] | None = None
) -> list[SummaryRow]:
    """:func:`summary_rows`, remembered for the last two results (without importance)."""
    if importance:
        return summary_rows(result, importance)
    for cached, rows in _RANKED:
        if cached() is result:
            return rows
    rows = summary_rows(result)
    _RANKED.insert(0, (weakref.ref(result), rows))
    del _RANKED[2:]
    return rows


class DriftSummaryModel(QAbstractTableModel):
    """The ranked rows; ``SORT_ROLE`` gives sortable values (the rank for the name column)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: list[SummaryRow] = []

    def set_rows(self, rows: Sequence[SummaryRow]) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid():
            return None
        r, col = self.rows[index.row()], index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == FEATURE:
                return r.name
            if col == KIND:
                return r.kind
            if col == DECISION:
                return r.decision
            if col == SINCE:
                return (r.since + ("" if r.ongoing else " (ended)")) if r.since else "—"
            if col == MAGNITUDE:
                return "—" if r.magnitude is None else f"{r.magnitude:.3g}"
            if col == IMPORTANCE:
                return "—" if r.importance is None else f"{r.importance:.3g}"
            return None
        if role == SORT_ROLE:
            if col == FEATURE:
                return index.row()  # the rank: sorting by this column restores it
            if col == DECISION:
                return SEVERITY.get(r.decision, 0)
            if col == SINCE:
                return -1 if r.onset is None else r.onset
            if col == MAGNITUDE:
                return -1.0 if r.magnitude is None else r.magnitude
            if col == IMPORTANCE:
                return -1.0 if r.importance is None else r.importance
            return self.data(index)
        if role == Qt.ItemDataRole.ToolTipRole and col == TREND:
            return f"PSI of {r.name} per window; the dotted line is the drift threshold"
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (MAGNITUDE, IMPORTANCE):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class SummaryFilter(QSortFilterProxyModel):
    """Search by name (a substring, case-insensitive) and filter by kind and decision."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.text = ""
        self.kind = ""
        self.decision = ""
        self.setSortRole(SORT_ROLE)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """The rank (the name column, ascending) is the model's own order: no sort at all.

        Sorting calls back into Python for every comparison (``data(SORT_ROLE)``): thousands
        of calls for 500 features on every new result, a stall of the GUI thread.
        """
        if column == FEATURE and order == Qt.SortOrder.AscendingOrder:
            column = -1
        super().sort(column, order)

    def set_filter(self, text: str, kind: str, decision: str) -> None:
        self.beginFilterChange()
        self.text, self.kind, self.decision = text.strip().lower(), kind, decision
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        model = self.sourceModel()
        assert isinstance(model, DriftSummaryModel)
        r = model.rows[source_row]
        return (
            (not self.text or self.text in r.name.lower())
            and (not self.kind or r.kind == self.kind)
            and (not self.decision or r.decision == self.decision)
        )


class SparklineDelegate(QStyledItemDelegate):
    """The PSI series as one polyline, scaled to the cell; the drift level as a dotted line."""

    def __init__(self, model: DriftSummaryModel, proxy: SummaryFilter, drift_level: float) -> None:
        super().__init__(proxy)
        self.model, self.proxy, self.drift_level = model, proxy, drift_level

    def paint(self, painter, option: QStyleOptionViewItem, index: Index) -> None:  # type: ignore[no-untyped-def]
        super().paint(painter, option, index)
        source = self.proxy.mapToSource(self.proxy.index(index.row(), index.column()))
        series = self.model.rows[source.row()].series
        finite = np.isfinite(series)
        if series.size < 2 or not finite.any():
            return
        rect = option.rect.adjusted(3, 3, -3, -3)
        top = max(float(np.nanmax(series)), self.drift_level * 1.5)
        xs = rect.left() + np.arange(series.size) * (rect.width() / (series.size - 1))
        ys = rect.bottom() - np.where(finite, series, 0.0) / top * rect.height()
        painter.save()
        muted = option.palette.placeholderText().color()
        painter.setPen(QPen(muted, 1, Qt.PenStyle.DotLine))
        level = rect.bottom() - self.drift_level / top * rect.height()
        painter.drawLine(QPointF(rect.left(), level), QPointF(rect.right(), level))
        painter.setPen(QPen(option.palette.text().color(), 1))
        painter.drawPolyline(QPolygonF([QPointF(x, y) for x, y in zip(xs, ys, strict=True)]))
        painter.restore()


class DriftSummaryWidget(QWidget):
    """The ranked list with its search box and filters; reports the feature picked."""

    #: (feature, the window to open: its onset, else its largest PSI)
    feature_selected = Signal(str, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = DriftSummaryModel(self)
        self.proxy = SummaryFilter(self)
        self.proxy.setSourceModel(self.model)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search features…")
        self.search.setClearButtonEnabled(True)
        self.kind_combo = QComboBox()
        for label, value in (
            ("all kinds", ""),
            ("numerical", "numerical"),
            ("categorical", "categorical"),
        ):
            self.kind_combo.addItem(label, value)
        self.decision_combo = QComboBox()
        for label, value in (
            ("all decisions", ""),
            ("drift", "drift"),
            ("watch", "watch"),
            ("ok", "ok"),
            ("too few rows", "insufficient"),
        ):
            self.decision_combo.addItem(label, value)
        self.count = QLabel()
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(FEATURE, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setWordWrap(False)
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        for col in range(len(COLUMNS) - 1):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        # measure the first rows only: every row's every column is a Python data() call
        # (500 features: thousands per layout, a stall on each new result)
        header.setResizeContentsPrecision(40)
        header.setStretchLastSection(True)
        self.sparkline = SparklineDelegate(self.model, self.proxy, 0.2)
        self.table.setItemDelegateForColumn(TREND, self.sparkline)

        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(self.search, 1)
        bar.addWidget(self.kind_combo)
        bar.addWidget(self.decision_combo)
        bar.addWidget(self.count)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.table, 1)

        self.search.textChanged.connect(self._refilter)
        self.kind_combo.currentIndexChanged.connect(self._refilter)
        self.decision_combo.currentIndexChanged.connect(self._refilter)
        self.table.selectionModel().currentRowChanged.connect(self._on_current)
        # Enter in the search box opens the first match: search, then Enter, is two steps
        self.search.returnPressed.connect(self.select_first)

    def set_result(
        self, result: DriftResult | None, importance: Mapping[str, float] | None = None
    ) -> None:
        if result is None:
            self.model.set_rows([])
        else:
            drift = [f.psi_drift for f in result.features]
            self.sparkline.drift_level = float(np.median(drift)) if drift else 0.2
            self.model.set_rows(ranked_rows(result, importance))
        self._refilter()

    def select_first(self) -> None:
        """Select the first visible row (and so open it)."""
        if self.proxy.rowCount() > 0:
            self.table.setCurrentIndex(self.proxy.index(0, FEATURE))
            self.table.setFocus()

    def visible_rows(self) -> list[SummaryRow]:
        return [
            self.model.rows[self.proxy.mapToSource(self.proxy.index(i, 0)).row()]
            for i in range(self.proxy.rowCount())
        ]

    def _refilter(self, *_args: object) -> None:
        self.proxy.set_filter(
            self.search.text(), self.kind_combo.currentData(), self.decision_combo.currentData()
        )
        changing = sum(r.ongoing for r in self.model.rows)
        shown = self.proxy.rowCount()
        self.count.setText(
            f"{shown:,} of {len(self.model.rows):,} features · {changing:,} drifting now"
        )

    def _on_current(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not current.isValid():
            return
        r = self.model.rows[self.proxy.mapToSource(current).row()]
        if r.onset is not None:
            window = r.onset
        elif np.isfinite(r.series).any():
            window = int(np.nanargmax(r.series))
        else:
            window = max(0, r.series.size - 1)
        self.feature_selected.emit(r.name, window)
