"""The portfolio (left dock): models and versions, alias badges, one health light per model.

The selection here drives every view: the panel writes ``(model, version)`` into its
:class:`~watchkeeper.app.panels.state.PortfolioState` and emits :attr:`selection_changed`.
Loading the evidence (``"portfolio"``: a workspace folder or an opened bundle, see
:mod:`watchkeeper.core.workbench.evidence`) and the health sweep over every model
(``"health"``) both run on the TaskRunner; lights stay grey until their model is judged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (
    QHeaderView,
    QLineEdit,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from watchkeeper.app.analysis_process import ChildWork, suits_child
from watchkeeper.app.panels.common import BusyLine, MessageBanner, PanelTask
from watchkeeper.app.panels.state import PortfolioState, TaskStatus
from watchkeeper.app.theme import tint, tone
from watchkeeper.app.workers import PartialResults, TaskRunner
from watchkeeper.core.workbench.health import run_health
from watchkeeper.core.workbench.portfolio import Portfolio

__all__ = ["HEALTH_COLOURS", "PortfolioPanel", "health_icon"]

HEALTH_COLOURS = {
    "ok": "#16a34a",
    "watch": "#f59e0b",
    "alert": "#dc2626",
    "insufficient": "#9ca3af",
    "unknown": "#e5e7eb",
    "error": "#dc2626",  # drawn as a ring: the model could not be judged at all
}
#: The alias badges take the theme's tints (light tints on the light window, dark on dark).
_BADGES = {"champion": "ok", "challenger": "info"}
_MODEL, _VERSION = Qt.ItemDataRole.UserRole, Qt.ItemDataRole.UserRole + 1


def health_icon(state: str) -> QIcon:
    """A filled circle in the health state's colour (grey outline while unknown)."""
    pix = QPixmap(14, 14)
    pix.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pix)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    if state == "error":
        from PySide6.QtGui import QPen

        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(QColor(HEALTH_COLOURS["error"]), 2.0))
    else:
        painter.setBrush(QBrush(QColor(HEALTH_COLOURS.get(state, HEALTH_COLOURS["unknown"]))))
        painter.setPen(QColor("#6b7280") if state == "unknown" else Qt.PenStyle.NoPen)
    painter.drawEllipse(2, 2, 10, 10)
    painter.end()
    return QIcon(pix)


class PortfolioPanel(QWidget):
    """Models and versions of the workspace; select one to drive the views."""

    selection_changed = Signal(str, str)  # model, version
    health_ready = Signal(
        object
    )  # {model: (ModelHealth, DriftResult | None, PerformanceView | None)}

    def __init__(self, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = PortfolioState()
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter models or aliases…")
        self.filter_edit.setClearButtonEnabled(True)
        self.tree = QTreeWidget()
        self.tree.setColumnCount(3)
        self.tree.setHeaderLabels(["Model / version", "Alias", "Events"])
        self.tree.setRootIsDecorated(True)
        self.tree.setUniformRowHeights(True)
        self.setMinimumWidth(290)
        header = self.tree.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(False)
        self.busy = BusyLine()
        self.banner = MessageBanner()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.filter_edit)
        layout.addWidget(self.busy)
        layout.addWidget(self.banner)
        layout.addWidget(self.tree, 1)

        self.task = PanelTask(runner, "portfolio", self.state, self.busy)
        self._automatic_selection: tuple[str, str] | None = None
        self.health_task = PanelTask(runner, "health", TaskStatus())
        # each light as soon as its model is judged, not after the whole sweep
        self.health_partial = PartialResults(self._on_model_judged, self)
        self.state.subscribe(self._on_state_changed)
        self.filter_edit.textChanged.connect(lambda text: self.state.set(filter_text=text))
        self.tree.currentItemChanged.connect(self._on_tree_current_changed)

    # -- loading -----------------------------------------------------------------------

    def load(self, source: Path | Any | None, *, health: bool = True) -> None:
        """Read the models in the background, then (optionally) their health.

        ``source`` is a workspace folder or an evidence object (a workspace or a bundle).
        """
        from watchkeeper.core.workbench.evidence import WorkspaceEvidence

        if source is None:
            self.state.set(portfolio=None, selected=None, status="idle")
            return
        evidence = WorkspaceEvidence(source) if isinstance(source, Path) else source

        def work(progress, cancelled):
            return evidence.load_portfolio(progress, cancelled)

        def done(portfolio: Portfolio) -> None:
            self._on_portfolio_loaded(portfolio)
            if health:
                self.check_health()

        what = "the bundle" if getattr(evidence, "kind", "") == "bundle" else "the workspace"
        self.task.start(work, f"Reading {what}", done)

    def reset(self) -> None:
        """Forget the models, the selection and the lights (another source is opening)."""
        self.task.cancel()
        self.health_task.cancel()
        self.health_partial.drop()
        self.banner.clear_message()
        self.state.set(portfolio=None, selected=None, health={}, status="idle", error=None)

    def check_health(self, known: dict[tuple[str, ...], Any] | None = None) -> None:
        """Judge every model (drift and performance of its champion) for the lights.

        ``known``: results the views already have (see :func:`run_health`), reused.
        """
        portfolio = self.state.portfolio
        if portfolio is None:
            return
        known = dict(known or {})  # a snapshot: the worker must not see the dict change
        if portfolio.models and all(suits_child(m) for m in portfolio.models):
            # judged in a child process (analysis_process.py); each light through the runner,
            # which drops a replaced sweep's
            self.health_partial.drop()
            child = ChildWork(run_health, (portfolio, known), partial_keyword="on_model")
            self.health_task.start(
                child, "Checking model health", self._on_health, self._on_model_judged
            )
            return
        send = self.health_partial.new_request()

        def work(progress, cancelled):
            return run_health(
                portfolio, known, progress, cancelled, on_model=lambda *judged: send(judged)
            )

        self.health_task.start(work, "Checking model health", self._on_health)

    def _on_portfolio_loaded(self, portfolio: Portfolio) -> None:
        selected = self.state.selected
        if selected is None or portfolio.model(selected[0]) is None:
            first = next((m for m in portfolio.models if m.champion), None)
            selected = (first.name, first.champion or "") if first else None
        self._automatic_selection = selected
        with self.state.batch():
            self.state.set(portfolio=portfolio, status="ready", error=None)
            self.state.set(selected=selected)
        if portfolio.notes:
            self.banner.show_message(" ".join(portfolio.notes), "warning")

    def _on_model_judged(self, judged: tuple[str, Any]) -> None:
        name, result = judged
        self.state.set(health={**self.state.health, name: result[0]})
        self.health_ready.emit({name: result})

    def _on_health(self, results: dict[str, Any]) -> None:
        self.health_partial.drop()
        self.state.set(health={**self.state.health, **{k: v[0] for k, v in results.items()}})
        self.health_ready.emit(results)
        # The first pick was made before anything was judged; while the user has not chosen,
        # show the model that needs attention rather than the first healthy one.
        if self.state.selected is not None and self.state.selected == self._automatic_selection:
            worst = self.needs_attention()
            if worst is not None and worst != self.state.selected[0]:
                self.select(worst)
                self._automatic_selection = self.state.selected

    def needs_attention(self) -> str | None:
        """The judged model most in need of attention (alert, then watch), or None."""
        rank = {"alert": 0, "watch": 1}
        judged = [
            (rank[h.state], name)
            for name, h in self.state.health.items()
            if h.state in rank and h.error is None
        ]
        return min(judged)[1] if judged else None

    # -- selection ---------------------------------------------------------------------

    def select(self, model: str, version: str | None = None) -> None:
        """Select a model (its champion unless ``version`` is given)."""
        portfolio = self.state.portfolio
        entry = portfolio.model(model) if portfolio else None
        if entry is None:
            raise KeyError(model)
        self.state.set(selected=(model, version or entry.champion or ""))

    def _on_tree_current_changed(self, item: QTreeWidgetItem | None, _previous: Any) -> None:
        if item is None:
            return
        model = item.data(0, _MODEL)
        version = item.data(0, _VERSION)
        if version is None:
            entry = self.state.portfolio.model(model) if self.state.portfolio else None
            version = entry.champion if entry else None
        if model and version:
            self.state.set(selected=(model, version))

    # -- drawing -----------------------------------------------------------------------

    def _on_state_changed(self, changed: frozenset[str]) -> None:
        if "portfolio" in changed:
            self._fill_tree()
        if "health" in changed:
            self._paint_health()
        if "filter_text" in changed:
            self._apply_filter()
        if changed & {"selected", "portfolio"}:
            self._mark_selection()
        if "selected" in changed and self.state.selected is not None:
            self.selection_changed.emit(*self.state.selected)
        if changed & {"status", "error"} and self.state.status == "failed":
            self.banner.show_message(f"<b>The models could not be read.</b> {self.state.error}")

    def model_item(self, model: str) -> QTreeWidgetItem | None:
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item.data(0, _MODEL) == model:
                return item
        return None

    def _fill_tree(self) -> None:
        self.tree.blockSignals(True)
        self.tree.clear()
        portfolio = self.state.portfolio
        for entry in portfolio.models if portfolio else ():
            item = QTreeWidgetItem([entry.name, "", ""])
            item.setData(0, _MODEL, entry.name)
            item.setIcon(0, health_icon("unknown"))
            tip = entry.description or entry.name
            if entry.spec_error:
                tip += f"\nspec problem: {entry.spec_error}"
                item.setForeground(0, QBrush(QColor(tone("error"))))
            item.setToolTip(0, tip)
            total = sum(v.rows or 0 for v in entry.versions)
            item.setText(2, f"{total:,}" if total else "")
            item.setTextAlignment(2, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            for v in entry.versions:
                child = QTreeWidgetItem([f"version {v.version}", ", ".join(v.aliases), ""])
                child.setData(0, _MODEL, entry.name)
                child.setData(0, _VERSION, v.version)
                if v.rows is not None:
                    child.setText(2, f"{v.rows:,}")
                child.setTextAlignment(
                    2, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                )
                meaning = _BADGES.get(v.role)
                if meaning is not None:
                    colours = tint(meaning)
                    child.setBackground(1, QBrush(QColor(colours.background)))
                    child.setForeground(1, QBrush(QColor(colours.text)))
                if v.mode:
                    child.setToolTip(0, f"scored in {v.mode} mode")
                item.addChild(child)
            self.tree.addTopLevelItem(item)
            item.setExpanded(True)
        self.tree.blockSignals(False)
        self._paint_health()
        self._apply_filter()

    def _paint_health(self) -> None:
        for name, summary in self.state.health.items():
            item = self.model_item(name)
            if item is None:
                continue
            if summary.error is not None:
                item.setIcon(0, health_icon("error"))
                item.setToolTip(0, f"{name}: cannot be judged — {summary.error}")
                continue
            item.setIcon(0, health_icon(summary.state))
            why = "; ".join(summary.reasons) or "nothing to report"
            when = f" ({summary.window_start:%Y-%m-%d})" if summary.window_start else ""
            item.setToolTip(0, f"{name}: {summary.state}{when} — {why} (version {summary.version})")

    def _apply_filter(self) -> None:
        text = self.state.filter_text.strip().casefold()
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            haystack = [item.text(0)] + [item.child(k).text(1) for k in range(item.childCount())]
            item.setHidden(bool(text) and not any(text in h.casefold() for h in haystack))

    def _mark_selection(self) -> None:
        sel = self.state.selected
        if sel is None:
            return
        item = self.model_item(sel[0])
        if item is None:
            return
        target = item
        for k in range(item.childCount()):
            if item.child(k).data(0, _VERSION) == sel[1]:
                target = item.child(k)
        if self.tree.currentItem() is not target:
            self.tree.blockSignals(True)
            self.tree.setCurrentItem(target)
            self.tree.blockSignals(False)
