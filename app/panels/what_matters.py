"""Beside the drift view: drift against importance, and the training–serving skew.

Its own pane (a tab widget) so the drift panel only hosts it: the drift panel hands it each
result (:meth:`WhatMattersPane.show_for`); it computes importance and skew on a worker and
draws the quadrant and the skew table. A click on a quadrant point asks the drift panel to
show that feature's distributions (:attr:`feature_clicked`).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from watchkeeper.app.workers import TaskRunner
from watchkeeper.core.workbench.portfolio import ModelEntry
from watchkeeper.widgets.importance_quadrant import ImportanceQuadrant

__all__ = ["WhatMattersPane"]

_SKEW_COLUMNS = (
    "feature",
    "decision",
    "PSI",
    "p (adjusted)",
    "Wasserstein / training std",
    "median serving / training",
)


class WhatMattersPane(QTabWidget):
    feature_clicked = Signal(str)
    #: each feature's share of importance, once computed for the drift shown (the drift
    #: view's ranked list orders by importance × drift with it)
    importance_ready = Signal(object)

    def __init__(self, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("what_matters")
        self.runner = runner
        self.cache: dict[tuple[str, str, int], Any] = {}
        self.quadrant = ImportanceQuadrant()
        self.skew_heading = QLabel("Training–serving skew: waiting for the drift analysis")
        self.skew_heading.setWordWrap(True)
        self.skew_table = QTableWidget(0, len(_SKEW_COLUMNS))
        self.skew_table.setHorizontalHeaderLabels(_SKEW_COLUMNS)
        self.skew_table.verticalHeader().setVisible(False)
        self.skew_table.horizontalHeader().setStretchLastSection(True)
        skew = QWidget()
        box = QVBoxLayout(skew)
        box.addWidget(self.skew_heading)
        box.addWidget(self.skew_table, 1)
        self.addTab(self.quadrant, "Drift × importance")
        self.addTab(skew, "Training–serving skew")
        self.quadrant.feature_clicked.connect(self.feature_clicked)
        # on request: importance loads the registered model (MLflow, seconds) and the skew
        # reads the training dataset; doing that after every drift result would queue slow
        # work the user did not ask for
        self.compute_button = QPushButton("Compute importance and skew")
        self.compute_button.setEnabled(False)
        self.compute_button.clicked.connect(self.compute)
        self.setCornerWidget(self.compute_button)
        self._key: tuple[str, str, int] | None = None
        self._pending: tuple[ModelEntry, str, Any] | None = None

    def show_for(self, entry: ModelEntry | None, version: str | None, drift: Any) -> None:
        """Make ``version``'s drift the one :meth:`compute` ranks (drawn at once if cached)."""
        if entry is None or version is None or drift is None:
            self._pending = None
            self.compute_button.setEnabled(False)
            self.quadrant.clear("Importance: select a model version")
            return
        key = (entry.name, version, id(drift))
        self._key = key
        self._pending = (entry, version, drift)
        if key in self.cache:
            self.compute_button.setEnabled(False)
            self._draw(key, self.cache[key], drift)
            return
        self.compute_button.setEnabled(True)
        self.quadrant.clear(
            "Importance and training–serving skew are computed on request: press "
            "“Compute importance and skew” (it loads the registered model)."
        )
        self.skew_heading.setText("Training–serving skew: not computed yet")
        self.skew_table.setRowCount(0)

    def compute(self) -> None:
        """Start the importance and skew work for the version last shown."""
        if self._pending is None or self._key is None:
            return
        entry, version, drift = self._pending
        key = self._key
        self.compute_button.setEnabled(False)
        self.quadrant.clear("Importance: computing on the reference…")

        def work(progress, cancelled):
            from watchkeeper.core.errors import WatchkeeperError
            from watchkeeper.core.workbench.model_checks import run_importance, run_skew

            progress(0.1, "importance on the reference")
            importance = run_importance(entry, version)
            progress(0.6, "training–serving skew")
            try:
                skew = run_skew(entry, version)
                skew_error = None
            except WatchkeeperError as exc:
                skew, skew_error = None, str(exc)
            return importance, skew, skew_error

        self.runner.run(
            "what-matters",
            work,
            label=f"Importance and skew of {entry.name} v{version}",
            on_result=lambda r: self._on_result(key, r, drift),
            on_error=lambda m: self.quadrant.clear(f"Importance could not be computed: {m}"),
        )

    def _on_result(self, key: tuple[str, str, int], result: Any, drift: Any) -> None:
        import shiboken6

        self.cache[key] = result
        if key == self._key and shiboken6.isValid(self.quadrant.points):
            self._draw(key, result, drift)

    def _draw(self, key: tuple[str, str, int], result: Any, drift: Any) -> None:
        from watchkeeper.core.workbench.model_checks import rank_drift

        importance, skew, skew_error = result
        impacts = rank_drift(drift, importance)
        source = importance.source + (f" ({importance.note})" if importance.note else "")
        self.quadrant.set_data(impacts, source, drift.settings.psi_drift)
        self.importance_ready.emit(importance.as_mapping())
        self._draw_skew(key, skew, skew_error)

    def _draw_skew(self, key: tuple[str, str, int], skew: Any, error: str | None) -> None:
        self.skew_table.setRowCount(0)
        if skew is None:
            why = error or "the registry has no training dataset for this version"
            self.skew_heading.setText(f"Training–serving skew of v{key[1]}: not available ({why})")
            return
        found = ", ".join(f.name for f in skew.skewed) or "no feature"
        self.skew_heading.setText(
            f"<b>Training–serving skew of v{skew.version}</b>: {found} differs. Training data "
            f"<i>{skew.dataset}</i> ({skew.training_rows:,} rows) against what it was served "
            f"{skew.serving_span} ({skew.serving_rows:,} rows), with drift's statistics."
        )
        self.skew_table.setRowCount(len(skew.features))
        for row, f in enumerate(skew.features):
            cells = (
                f.name,
                f.decision,
                # "—": not measured (no Wasserstein distance between categories), not zero
                "—" if f.psi is None else f"{f.psi:.3f}",
                "—" if f.p_adjusted is None else f"{f.p_adjusted:.2g}",
                "—" if f.wasserstein_normalized is None else f"{f.wasserstein_normalized:.3f}",
                # a unit change reads here as ×0.01, where the Wasserstein ratio is capped
                "—" if f.median_ratio is None else f"×{f.median_ratio:.3g}",
            )
            for col, text in enumerate(cells):
                self.skew_table.setItem(row, col, QTableWidgetItem(text))
        self.skew_table.resizeColumnsToContents()
