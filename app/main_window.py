"""The workbench's main window: the portfolio on the left, the views in tabs on the right.

The window wires panels together and owns what they share: the one
:class:`~watchkeeper.app.workers.TaskRunner` (its running task and Cancel sit in the status
bar), the result cache (the health sweep's analyses are the views' results too), and the
layout, remembered in ``QSettings`` (geometry, dock, tab, splitters — nothing else lives
there). The portfolio's selection drives every view.

Startup order keeps the first picture fast and avoids doing work twice: the workspace is
read in the background; the selected model's drift and performance run; only when both
have finished does the health sweep judge the other models, reusing what the views found.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings, Qt
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import QDockWidget, QMainWindow, QTabWidget

from watchkeeper.app.panels.compare import make_challenger_panel
from watchkeeper.app.panels.drift import DriftPanel
from watchkeeper.app.panels.governance import make_governance_panel
from watchkeeper.app.panels.overview import OverviewPanel
from watchkeeper.app.panels.performance import PerformancePanel
from watchkeeper.app.panels.portfolio import PortfolioPanel
from watchkeeper.app.panels.slices import make_slices_panel
from watchkeeper.app.task_status import TaskStatusWidget
from watchkeeper.app.workers import TaskRunner

__all__ = ["MainWindow"]

_LAYOUT_VERSION = 1
_TAB_NAMES = (
    "Overview",
    "Drift",
    "Performance",
    "Slices",
    "Champion vs challenger",
    "Governance",
)


class MainWindow(QMainWindow):
    """The workbench over one workspace folder (or none: it says how to start)."""

    def __init__(
        self,
        workspace: Path | None = None,
        *,
        settings: QSettings | None = None,
        check_health: bool = True,
    ) -> None:
        super().__init__()
        self.workspace = workspace
        self.settings = settings if settings is not None else QSettings()
        self.setWindowTitle(f"Watchkeeper — {workspace.name}" if workspace else "Watchkeeper")
        self.runner = TaskRunner(self)
        self.cache: dict[tuple[str, ...], Any] = {}
        self._check_health = check_health
        self._health_started = False

        self.portfolio = PortfolioPanel(self.runner)
        self.portfolio_dock = QDockWidget("Portfolio", self)
        self.portfolio_dock.setObjectName("portfolio_dock")
        self.portfolio_dock.setWidget(self.portfolio)
        self.portfolio_dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
        )
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.portfolio_dock)
        self.resizeDocks([self.portfolio_dock], [300], Qt.Orientation.Horizontal)

        self.overview = OverviewPanel(self.portfolio.state, workspace)
        self.drift = DriftPanel(self.runner, self.cache)
        self.performance = PerformancePanel(self.runner, self.cache)
        self.slices = make_slices_panel(self.runner, self.cache)
        self.challenger = make_challenger_panel(self.runner, self.cache)
        self.governance = make_governance_panel(self.runner, workspace)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        for panel, name in zip(self._panels(), _TAB_NAMES, strict=True):
            self.tabs.addTab(panel, name)
        self.setCentralWidget(self.tabs)
        # What the first window showed, kept where people and tests look for it.
        self.heading = self.overview.heading
        self.models_table = self.overview.models_table
        self.events_table = self.overview.events_table

        self.task_status = TaskStatusWidget(self.runner)
        self.statusBar().addPermanentWidget(self.task_status)
        self._build_actions()

        self.portfolio.selection_changed.connect(self._on_portfolio_selection_changed)
        self.portfolio.health_ready.connect(self._on_portfolio_health_ready)
        self.runner.task_finished.connect(self._on_runner_task_finished)
        self.resize(1400, 900)
        self._restore_layout()
        if workspace is None:
            self.statusBar().showMessage("No workspace")
        else:
            self.statusBar().showMessage(f"Workspace: {workspace}")
            self.portfolio.load(workspace, health=False)

    def _panels(self) -> tuple[Any, ...]:
        return (
            self.overview,
            self.drift,
            self.performance,
            self.slices,
            self.challenger,
            self.governance,
        )

    def _splitters(self) -> tuple[Any, ...]:
        return (
            self.drift.splitter,
            self.overview.splitter,
            self.slices.splitter,
            self.slices.top_splitter,
            self.challenger.splitter,
            self.challenger.left,
            self.challenger.right,
            self.governance.splitter,
            self.governance.upper,
            self.governance.left_splitter,
        )

    # -- actions -----------------------------------------------------------------------

    def _build_actions(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        connect_action = QAction("&Connect and sign in…", self)
        connect_action.triggered.connect(self._on_connect_triggered)
        file_menu.addAction(connect_action)
        file_menu.addSeparator()
        file_menu.addAction(quit_action)
        view_menu = self.menuBar().addMenu("&View")
        refresh = QAction("&Refresh the current view", self)
        refresh.setShortcut(QKeySequence(Qt.Key.Key_F5))
        refresh.triggered.connect(self._on_refresh_triggered)
        view_menu.addAction(refresh)
        cancel = QAction("&Cancel running work", self)
        cancel.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        cancel.triggered.connect(lambda: self.runner.cancel())
        view_menu.addAction(cancel)
        view_menu.addSeparator()
        for index, name in enumerate(_TAB_NAMES):
            action = QAction(name, self)
            action.setShortcut(QKeySequence(f"Ctrl+{index + 1}"))
            action.triggered.connect(lambda _=False, i=index: self.tabs.setCurrentIndex(i))
            view_menu.addAction(action)
        view_menu.addSeparator()
        view_menu.addAction(self.portfolio_dock.toggleViewAction())
        self.refresh_action = refresh

    def _on_connect_triggered(self) -> None:
        from watchkeeper.app.dialogs.connect import ConnectDialog

        dialog = ConnectDialog(self.runner, self.workspace, parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self.governance.set_target(dialog.target))
        dialog.open()

    def _on_refresh_triggered(self) -> None:
        current = self.tabs.currentWidget()
        if current is self.drift:
            self.drift.analyse(force=True)
        elif current is self.performance:
            self.performance.analyse(force=True)
        elif current is self.slices:
            self.slices.analyse(force=True)
        elif current is self.challenger:
            self.challenger.analyse(force=True)
        elif current is self.governance:
            self.governance.refresh()
        else:
            self._health_started = True
            self.portfolio.check_health(self.cache)

    # -- wiring ------------------------------------------------------------------------

    def _on_portfolio_selection_changed(self, model: str, version: str) -> None:
        p = self.portfolio.state.portfolio
        entry = p.model(model) if p is not None else None
        self.drift.set_selection(entry, version)
        self.performance.set_selection(entry, version)
        self.slices.set_selection(entry, version)
        self.challenger.set_selection(entry, version)  # the model's champion vs challenger
        self.governance.set_selection(entry, version)
        self.statusBar().showMessage(f"Workspace: {self.workspace} · {model} version {version}")

    def _on_portfolio_health_ready(self, results: dict[str, Any]) -> None:
        from watchkeeper.app.panels.analyses import effective_window

        p = self.portfolio.state.portfolio
        for name, (summary, drift, perf) in results.items():
            entry = p.model(name) if p is not None else None
            window = effective_window(entry, None)
            self.cache[("drift", name, summary.version, window)] = drift
            self.cache[("performance", name, summary.version, window, "")] = perf

    def _on_runner_task_finished(self, _key: str, _outcome: str) -> None:
        """Start the health sweep once the first views are done (they feed it)."""
        if self._health_started or not self._check_health:
            return
        if self.portfolio.state.portfolio is None:
            return
        busy = set(self.runner.active()) & {"portfolio", "drift", "performance"}
        if not busy:
            self._health_started = True
            self.portfolio.check_health(self.cache)

    # -- layout ------------------------------------------------------------------------

    def _restore_layout(self) -> None:
        s = self.settings
        if s.value("layout/version") != _LAYOUT_VERSION and s.value("layout/version") != str(
            _LAYOUT_VERSION
        ):
            return
        geometry = s.value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        state = s.value("window/state")
        if isinstance(state, QByteArray):
            self.restoreState(state, _LAYOUT_VERSION)
        for splitter in self._splitters():
            value = s.value(f"splitters/{splitter.objectName()}")
            if isinstance(value, QByteArray):
                splitter.restoreState(value)
        tab = s.value("window/tab")
        if tab is not None:
            self.tabs.setCurrentIndex(int(tab))

    def save_layout(self) -> None:
        """Remember geometry, dock, tab and splitters for the next start."""
        s = self.settings
        s.setValue("layout/version", _LAYOUT_VERSION)
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState(_LAYOUT_VERSION))
        s.setValue("window/tab", self.tabs.currentIndex())
        for splitter in self._splitters():
            s.setValue(f"splitters/{splitter.objectName()}", splitter.saveState())
        s.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        """Save the layout and stop every worker at its next check."""
        self.save_layout()
        self.runner.cancel()
        super().closeEvent(event)
