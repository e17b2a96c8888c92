"""The workbench's main window.

For now it shows which workspace it loaded and what that workspace holds (models,
versions and their roles, row counts, the planted events of the demo); the views of
drift, performance, slices, champion-challenger and governance arrive with their issues.
"""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHeaderView,
    QLabel,
    QMainWindow,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)


class MainWindow(QMainWindow):
    def __init__(self, workspace: Path | None = None) -> None:
        super().__init__()
        self.workspace = workspace
        self.setWindowTitle(f"Watchkeeper — {workspace.name}" if workspace else "Watchkeeper")
        self.manifest = _read_manifest(workspace)

        self.heading = QLabel()
        self.heading.setTextFormat(Qt.TextFormat.RichText)
        self.heading.setWordWrap(True)
        self.models_table = QTableWidget(0, 5)
        self.models_table.setHorizontalHeaderLabels(["Model", "Version", "Role", "Events", "Task"])
        self.events_table = QTableWidget(0, 4)
        self.events_table.setHorizontalHeaderLabels(["Model", "Planted event", "From", "Detail"])
        for table in (self.models_table, self.events_table):
            table.verticalHeader().setVisible(False)
            table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
            table.setAlternatingRowColors(True)
            table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
            table.horizontalHeader().setStretchLastSection(True)

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(_titled("Models in this workspace", self.models_table))
        splitter.addWidget(_titled("Planted events (demo truth)", self.events_table))
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addWidget(self.heading)
        layout.addWidget(splitter, 1)
        self.setCentralWidget(central)
        self._fill()

    def _fill(self) -> None:
        if self.workspace is None:
            self.heading.setText("<h2>No workspace open</h2>Start with <tt>watchkeeper demo</tt>.")
            self.statusBar().showMessage("No workspace")
            return
        self.statusBar().showMessage(f"Workspace: {self.workspace}")
        if self.manifest is None:
            self.heading.setText(
                f"<h2>{self.workspace.name}</h2>No manifest.json in {self.workspace}."
            )
            return
        models = self.manifest.get("models", {})
        self.heading.setText(
            f"<h2>Workspace {self.workspace.name}</h2>"
            f"{len(models)} models · telemetry from {self.manifest.get('start', '?')} "
            f"to {self.manifest.get('as_of', '?')} · recipe {self.manifest.get('recipe_version')}"
        )
        rows = []
        for name, info in models.items():
            for version, v in info.get("versions", {}).items():
                rows.append(
                    (name, version, v.get("role", ""), v.get("rows", ""), info.get("task", ""))
                )
        _set_rows(self.models_table, rows)
        events = [
            (
                e.get("model", ""),
                str(e.get("kind", "")).replace("_", " "),
                _day_label(e),
                e.get("description", ""),
            )
            for e in self.manifest.get("events", [])
        ]
        _set_rows(self.events_table, events)


def _read_manifest(workspace: Path | None) -> dict | None:
    if workspace is None:
        return None
    try:
        return json.loads((workspace / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _day_label(event: dict) -> str:
    start = str(event.get("start") or "")[:10]
    day = event.get("start_day")
    return f"{start} (day {day})" if day is not None else start


def _titled(title: str, widget: QWidget) -> QWidget:
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    label = QLabel(f"<b>{title}</b>")
    layout.addWidget(label)
    layout.addWidget(widget)
    return box


def _set_rows(table: QTableWidget, rows: list[tuple]) -> None:
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            text = f"{value:,}" if isinstance(value, int) else str(value)
            item = QTableWidgetItem(text)
            if isinstance(value, int):
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            table.setItem(r, c, item)
