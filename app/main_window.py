"""The workbench's main window: the portfolio on the left, the views in tabs on the right.

The window wires panels together and owns what they share: the one
:class:`~watchkeeper.app.workers.TaskRunner` (its running task and Cancel sit in the status
bar), the result cache (the health sweep's analyses are the views' results too), and the
layout, remembered in ``QSettings`` (geometry, dock, tab, splitters — nothing else lives
there). The portfolio's selection drives every view.

Startup order keeps the first picture fast and avoids doing work twice: the workspace is
read in the background; the selected model's drift and performance run; only when both
have finished does the health sweep judge the other models, reusing what the views found.

What the views read is the window's *evidence* (:mod:`watchkeeper.core.workbench.evidence`):
a live workspace folder, or an offline bundle opened with File > Open bundle… (Ctrl+O) or
``watchkeeper open BUNDLE``. Opening validates the bundle in the TaskRunner; only a valid
one replaces what is open (a damaged or altered file is explained in the window's message
banner, and the previous workspace stays). While a bundle is open a banner across the window
and its title say so: frozen evidence, offline, decisions go to the bundle's outbox —
File > Sync outbox… pushes them to a shared database.
"""

from __future__ import annotations

import gc
from html import escape
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from watchkeeper.app.analysis_process import prestart_soon
from watchkeeper.app.panels.common import MessageBanner
from watchkeeper.app.panels.compare import make_challenger_panel
from watchkeeper.app.panels.drift import DriftPanel
from watchkeeper.app.panels.governance import make_governance_panel
from watchkeeper.app.panels.overview import OverviewPanel
from watchkeeper.app.panels.performance import PerformancePanel
from watchkeeper.app.panels.portfolio import PortfolioPanel
from watchkeeper.app.panels.slices import make_slices_panel
from watchkeeper.app.scene_paints import ScenePaints
from watchkeeper.app.task_status import TaskStatusWidget
from watchkeeper.app.theme import theme_menu
from watchkeeper.app.workers import TaskRunner

__all__ = ["MainWindow"]

#: The longest the application window keeps the cyclic collector off while it starts (ms).
STARTUP_GC_PAUSE_MS = 120_000

_LAYOUT_VERSION = 1
OPEN_KEY = "open"
SYNC_KEY = "bundle.sync"
#: What File > Open bundle… offers.
BUNDLE_FILTER = "Watchkeeper bundles (*.wkbundle *.wkb *.zip);;All files (*)"
_BUNDLE_STYLE = "QLabel { background:#1e3a5f; color:#ffffff; padding:6px 10px; border-radius:3px; }"
_TAB_NAMES = (
    "Overview",
    "Drift",
    "Performance",
    "Slices",
    "Champion vs challenger",
    "Governance",
)


class MainWindow(QMainWindow):
    """The workbench over one workspace folder or one offline bundle (or none: it says how
    to start)."""

    def __init__(
        self,
        workspace: Path | None = None,
        *,
        bundle: Path | None = None,
        trusted_keys: list[str] | None = None,
        settings: QSettings | None = None,
        check_health: bool = True,
        freeze_heap: bool = False,
    ) -> None:
        super().__init__()
        self.workspace = workspace
        self.evidence: Any = None  # WorkspaceEvidence | BundleEvidence | None
        self.trusted_keys = trusted_keys
        self.last_sync: Any = None  # the SyncReport of the last outbox sync
        self.dialog: Any = None  # the sync's connect dialog while it is open
        self.settings = settings if settings is not None else QSettings()
        self.setWindowTitle(f"Watchkeeper — {workspace.name}" if workspace else "Watchkeeper")
        self.runner = TaskRunner(self)
        self.cache: dict[tuple[str, ...], Any] = {}
        self._check_health = check_health
        self._first_drift_done = False
        self._heap_frozen = not freeze_heap  # the application asks; tests' windows do not
        if freeze_heap:
            # Start-up imports (mlflow, SQLAlchemy, pydantic) on worker threads set off full
            # collections of a growing heap: no cyclic collection until the freeze below,
            # which a timer forces should no drift result ever come.
            gc.disable()
            # a timer the window owns: it dies with the window (a bare singleShot would fire
            # into a deleted window)
            self._gc_timer = QTimer(self)
            self._gc_timer.setSingleShot(True)
            self._gc_timer.timeout.connect(self._end_startup_gc_pause)
            self._gc_timer.start(STARTUP_GC_PAUSE_MS)
        self._health_started = False
        prestart_soon()  # the analysis process imports while the portfolio loads

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
        # What is open, across every tab: the bundle banner (persistent while a bundle is
        # open) and a message banner for what failed to open.
        self.bundle_banner = QLabel()
        self.bundle_banner.setWordWrap(True)
        self.bundle_banner.setStyleSheet(_BUNDLE_STYLE)
        self.bundle_banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.bundle_banner.setVisible(False)
        self.message_banner = MessageBanner()
        central = QWidget()
        central_layout = QVBoxLayout(central)
        central_layout.setContentsMargins(4, 4, 4, 0)
        central_layout.addWidget(self.bundle_banner)
        central_layout.addWidget(self.message_banner)
        central_layout.addWidget(self.tabs, 1)
        self.setCentralWidget(central)
        # What the first window showed, kept where people and tests look for it.
        self.heading = self.overview.heading
        self.models_table = self.overview.models_table
        self.events_table = self.overview.events_table

        self.task_status = TaskStatusWidget(self.runner)
        self.statusBar().addPermanentWidget(self.task_status)
        self._build_actions()

        self.portfolio.selection_changed.connect(self._on_portfolio_selection_changed)
        self.portfolio.health_ready.connect(self._on_portfolio_health_ready)
        self.governance.sync_requested.connect(self.sync_outbox)
        self.runner.task_finished.connect(self._on_runner_task_finished)
        # the plots' scenes paint the window once per turn, not once each (scene_paints)
        self.scene_paints = ScenePaints(self)
        self.scene_paints.watch()
        self.tabs.currentChanged.connect(lambda _index: self.scene_paints.watch())
        self.resize(1400, 900)
        self._restore_layout()
        if workspace is not None:
            from watchkeeper.core.workbench.evidence import WorkspaceEvidence

            self._set_evidence(WorkspaceEvidence(workspace))
        else:
            self.statusBar().showMessage("No workspace")
        if bundle is not None:
            self.open_bundle(bundle)

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
            self.governance.records,
        )

    # -- actions -----------------------------------------------------------------------

    def _build_actions(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        new_monitor = QAction("&New monitor…", self)
        new_monitor.setShortcut(QKeySequence(Qt.Modifier.CTRL | Qt.Key.Key_N))
        new_monitor.setToolTip("Guess a monitor spec from your own predictions table or file")
        new_monitor.triggered.connect(self.new_monitor)
        file_menu.addAction(new_monitor)
        self.new_monitor_action = new_monitor
        open_bundle = QAction("&Open bundle…", self)
        open_bundle.setShortcut(QKeySequence(Qt.Modifier.CTRL | Qt.Key.Key_O))
        open_bundle.setToolTip("Open an offline incident bundle (validated before it is shown)")
        open_bundle.triggered.connect(self._on_open_bundle_triggered)
        file_menu.addAction(open_bundle)
        open_folder = QAction("Open &workspace folder…", self)
        open_folder.triggered.connect(self._on_open_workspace_triggered)
        file_menu.addAction(open_folder)
        file_menu.addSeparator()
        connect_action = QAction("&Connect and sign in…", self)
        connect_action.triggered.connect(self._on_connect_triggered)
        file_menu.addAction(connect_action)
        sync_action = QAction("&Sync outbox…", self)
        sync_action.setToolTip("Push the open bundle's outbox to a shared governance database")
        sync_action.setEnabled(False)
        sync_action.triggered.connect(self.sync_outbox)
        file_menu.addAction(sync_action)
        file_menu.addSeparator()
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        self.open_bundle_action = open_bundle
        self.connect_action = connect_action
        self.sync_action = sync_action
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
        view_menu.addSeparator()
        self.theme_menu = theme_menu(self, self.settings)
        view_menu.addMenu(self.theme_menu)
        self.refresh_action = refresh

    def new_monitor(self) -> Any:
        """Open the New-monitor wizard; what it saves opens here (app/dialogs/new_monitor)."""
        from watchkeeper.app.dialogs.new_monitor import NewMonitorWizard

        workspace = None if self._bundle_open() else self.workspace
        wizard = NewMonitorWizard(self.runner, workspace, parent=self)
        wizard.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        # the open workspace is read again, so the new model joins its portfolio
        wizard.saved.connect(lambda written: self.open_workspace(written.workspace))
        wizard.open()
        return wizard

    def _on_open_bundle_triggered(self) -> None:
        start = str(self.evidence.path.parent) if self._bundle_open() else ""
        path, _ = QFileDialog.getOpenFileName(self, "Open bundle", start, BUNDLE_FILTER)
        if path:
            self.open_bundle(Path(path))

    def _on_open_workspace_triggered(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open workspace folder")
        if path:
            self.open_workspace(Path(path))

    def _on_connect_triggered(self) -> None:
        from watchkeeper.app.dialogs.connect import ConnectDialog

        if self._bundle_open():  # offline: a connection is for syncing the outbox
            self.sync_outbox()
            return
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

    # -- what is open ------------------------------------------------------------------

    def _bundle_open(self) -> bool:
        return self.evidence is not None and self.evidence.kind == "bundle"

    def _where(self) -> str:
        if self._bundle_open():
            return f"Bundle: {self.evidence.path} (offline)"
        return f"Workspace: {self.workspace}"

    def open_bundle(self, path: Path) -> None:
        """Validate and open the bundle at ``path`` in the background; show it if it is
        valid, else say what failed and keep what is open."""
        from watchkeeper.core.workbench.evidence import BundleEvidence

        path = Path(path)
        trusted = self.trusted_keys
        self.message_banner.clear_message()
        self.statusBar().showMessage(f"Opening {path}…")

        def work(progress, cancelled):
            progress(0.1, "checking the signature and every part")
            return BundleEvidence.open(path, trusted_keys=trusted)

        self.runner.run(
            OPEN_KEY,
            work,
            label=f"Open bundle {path.name}",
            on_result=self._set_evidence,
            on_error=lambda message: self._on_open_failed(path, message),
        )

    def open_workspace(self, folder: Path) -> None:
        """Show a live workspace folder (leaving a bundle, if one is open)."""
        from watchkeeper.core.workbench.evidence import WorkspaceEvidence

        self.message_banner.clear_message()
        self._set_evidence(WorkspaceEvidence(Path(folder)))

    def _on_open_failed(self, path: Path, message: str) -> None:
        kept = (
            f"the bundle {escape(self.evidence.path.name)} stays open"
            if self._bundle_open()
            else f"the workspace {escape(self.workspace.name)} stays open"
            if self.workspace is not None
            else "nothing else was open"
        )
        self.message_banner.show_message(
            f"<b>The bundle {escape(path.name)} was not opened.</b> {escape(message)}<br>"
            f"Nothing was changed: {kept}. A bundle that fails these checks was damaged in "
            "transit or altered after it was signed — ask its exporter for a fresh copy (or "
            "check that the copy you have is complete), then open it again."
        )
        self.statusBar().showMessage(f"Could not open {path}")

    def _set_evidence(self, evidence: Any) -> None:
        """Show ``evidence`` in every view: forget the previous results, read the models."""
        from watchkeeper.app.panels.governance_work import BundleTarget, GovernanceTarget

        previous, self.evidence = self.evidence, evidence
        self.portfolio.reset()
        self.runner.cancel()
        self.cache.clear()
        self._health_started = False
        for panel in (self.drift, self.performance, self.slices, self.challenger):
            panel.set_selection(None, None)
        self.governance.set_selection(None, None)
        bundle = evidence.kind == "bundle"
        self.workspace = None if bundle else evidence.root
        self.overview.set_workspace(evidence.path if bundle else evidence.root)
        if bundle:
            facts = evidence.facts
            self.governance.set_target(BundleTarget(evidence))
            self.setWindowTitle(
                f"Watchkeeper — frozen bundle of {facts.model}, exported by {facts.exporter}, "
                f"as of {facts.as_of:%Y-%m-%d %H:%M} UTC — offline"
            )
            self.bundle_banner.setText(
                f"<b>Frozen bundle of {escape(facts.model)}</b>, exported by "
                f"<b>{escape(facts.exporter)}</b> (key <tt>{escape(facts.exporter_key_id)}</tt>), "
                f"as of <b>{facts.as_of:%Y-%m-%d %H:%M} UTC</b> — <b>offline</b>: nothing is "
                "read from a registry or database, and decisions go to the bundle's outbox "
                "(File → Sync outbox… pushes them). "
                f"<span style='color:#c5d8ef'>{escape(str(evidence.path))}</span>"
            )
            self.bundle_banner.setToolTip(evidence.bundle.summary())
            problems = evidence.bundle.outbox_problems
            if problems:
                self.message_banner.show_message(
                    f"<b>The outbox of {escape(evidence.path.name)} is damaged:</b> "
                    f"{escape(problems[0])}.<br>The bundle's evidence is intact and shown; its "
                    "outbox will not be synced. Find the complete copy of the bundle (the one "
                    "last written on this computer) and open that one.",
                    level="warning",
                )
        else:
            self.governance.set_target(GovernanceTarget.from_workspace(evidence.root))
            self.setWindowTitle(f"Watchkeeper — {evidence.root.name}")
        self.bundle_banner.setVisible(bundle)
        self.sync_action.setEnabled(bundle)
        self.statusBar().showMessage(self._where())
        self.portfolio.load(evidence, health=False)
        if previous is not None and previous is not evidence:
            previous.close()

    # -- the outbox ----------------------------------------------------------------------

    def sync_outbox(self) -> Any:
        """Choose and sign in to a shared database, then push the bundle's outbox to it."""
        from watchkeeper.app.dialogs.connect import ConnectDialog

        if not self._bundle_open():
            return None
        name = self.evidence.path.name
        dialog = ConnectDialog(
            self.runner,
            None,
            intro=f"Choose the shared governance database to sync the outbox of {name} to, "
            "and sign in. Entries already there are skipped; entries that conflict with "
            "newer records are reported and stay in the outbox.",
            parent=self,
        )
        dialog.setWindowTitle(f"Sync the outbox of {name}")
        dialog.use_button.setText("Sync to this database")
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self.start_sync(dialog.target))
        dialog.finished.connect(lambda _r: setattr(self, "dialog", None))
        self.dialog = dialog
        dialog.open()
        return dialog

    def start_sync(self, target: Any) -> None:
        """Push the outbox to ``target``'s database in the TaskRunner; report the outcome."""
        from watchkeeper.app.panels.governance_work import sync_outbox

        if target is None or not self._bundle_open():
            return
        path = self.evidence.path

        def work(progress, cancelled):
            return sync_outbox(path, target, progress, cancelled)

        self.statusBar().showMessage(f"Syncing the outbox of {path.name}…")
        self.runner.run(
            SYNC_KEY,
            work,
            label=f"Sync the outbox of {path.name}",
            on_result=self._on_synced,
            on_error=self._on_sync_failed,
        )

    def _on_synced(self, report: Any) -> None:
        self.last_sync = report
        level = "info" if report.complete else "warning"
        self.governance.state.set(notice=(level, sync_message(report)))
        self.governance.refresh()
        self.tabs.setCurrentWidget(self.governance)
        self.statusBar().showMessage(
            f"Outbox synced: {len(report.synced)} pushed, {len(report.already_synced)} "
            f"already there, {len(report.conflicts)} conflicts, {len(report.refused)} refused"
        )

    def _on_sync_failed(self, message: str) -> None:
        self.governance.state.set(
            notice=(
                "error",
                f"<b>The outbox was not synced.</b> {escape(message)}<br>Nothing in the bundle "
                "changed; check the database and sign in again (File → Sync outbox…).",
            )
        )
        self.tabs.setCurrentWidget(self.governance)
        self.statusBar().showMessage("Outbox not synced")

    # -- wiring ------------------------------------------------------------------------

    def _on_portfolio_selection_changed(self, model: str, version: str) -> None:
        p = self.portfolio.state.portfolio
        entry = p.model(model) if p is not None else None
        self.drift.set_selection(entry, version)
        self.performance.set_selection(entry, version)
        self.slices.set_selection(entry, version)
        self.challenger.set_selection(entry, version)  # the model's champion vs challenger
        self.governance.set_selection(entry, version)
        self.statusBar().showMessage(f"{self._where()} · {model} version {version}")

    def _on_portfolio_health_ready(self, results: dict[str, Any]) -> None:
        from watchkeeper.core.workbench.health import health_window

        p = self.portfolio.state.portfolio
        for name, (summary, drift, perf) in results.items():
            entry = p.model(name) if p is not None else None
            if drift is None or perf is None or entry is None or entry.spec is None:
                continue
            # the views find these under the keys they cache by (their window choice parsed)
            window = health_window(entry.spec)
            if not drift.decisions_only:  # else the Drift view computes the whole result
                self.cache[("drift", name, summary.version, window)] = drift
            if perf.metric == entry.spec.gate.primary_metric:
                self.cache[("performance", name, summary.version, window, "")] = perf

    def _on_runner_task_finished(self, key: str, outcome: str) -> None:
        """Freeze the start-up heap, and start the health sweep once the first views are
        done (they feed it)."""
        self._freeze_startup_heap(key, outcome)
        if self._health_started or not self._check_health:
            return
        if self.portfolio.state.portfolio is None:
            return
        busy = set(self.runner.active()) & {"portfolio", "drift", "performance"}
        if not busy:
            self._health_started = True
            self.portfolio.check_health(self.cache)

    def _freeze_startup_heap(self, key: str, outcome: str) -> None:
        """``gc.freeze()`` once, when the first drift result is in and nothing else runs
        (the collector is off until then, :data:`STARTUP_GC_PAUSE_MS` at most).

        A full collection holds the GIL while it walks every tracked object — after the
        first analyses (mlflow, SQLAlchemy, pandas, pydantic, DuckDB imported) a few million:
        170-210 ms during which the GUI thread cannot paint (benchmarks/ui.py at 100,000
        events a day). What is alive then lives as long as the window; frozen, the
        collector never walks it again. Refcounting still frees it; only a reference cycle
        among those objects would stay, once.
        """
        if key == "drift" and outcome == "done":
            self._first_drift_done = True
        if self._heap_frozen or not self._first_drift_done or self.runner.active():
            return
        self._end_startup_gc_pause()

    def _end_startup_gc_pause(self) -> None:
        if self._heap_frozen:
            return
        self._heap_frozen = True
        self._gc_timer.stop()
        gc.freeze()
        gc.enable()

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
        """Save the layout, stop every worker at its next check, close an open bundle."""
        self.save_layout()
        self.runner.cancel()
        if self.evidence is not None:
            self.evidence.close()  # removes a bundle's extracted telemetry
        super().closeEvent(event)


def sync_message(report: Any) -> str:
    """A sync's outcome as the Governance banner shows it: counts, then every problem."""
    head = (
        f"<b>Outbox synced to {escape(report.store)}</b> as {escape(report.identity)}: "
        f"{len(report.synced)} entries recorded, {len(report.already_synced)} already there"
    )
    if report.conflicts:
        head += f", <b>{len(report.conflicts)} in conflict</b> (not recorded)"
    if report.refused:
        head += f", <b>{len(report.refused)} refused</b>"
    lines = [head + "."]
    lines += [f"Conflict {i[:8]}: {escape(_cap(why))}" for i, why in report.conflicts.items()]
    lines += [f"Refused {i[:8]}: {escape(_cap(why))}" for i, why in report.refused.items()]
    if report.exporter_known is None:
        lines.append("Note: the bundle's signing key is not registered in this database.")
    return "<br>".join(lines)


def _cap(text: str, limit: int = 400) -> str:
    """A reason short enough for a banner line (the status tip and the report keep all)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
