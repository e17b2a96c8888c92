"""The main window on the demo workspace: what it lists, and that it paints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from PySide6.QtGui import QImage

from watchkeeper.app.main_window import MainWindow


def table_column(table, column: int) -> list[str]:
    return [table.item(r, column).text() for r in range(table.rowCount())]


def test_window_lists_models_versions_and_planted_events(qtbot, demo_workspace: Path) -> None:
    manifest = json.loads((demo_workspace / "manifest.json").read_text())
    window = MainWindow(demo_workspace)
    qtbot.addWidget(window)
    window.show()
    assert window.windowTitle() == f"Watchkeeper — {demo_workspace.name}"
    rows = list(
        zip(
            table_column(window.models_table, 0),
            table_column(window.models_table, 1),
            table_column(window.models_table, 2),
            strict=True,
        )
    )
    assert ("fraud-detector", "1", "champion") in rows
    assert ("fraud-detector", "2", "challenger") in rows
    assert ("churn-model", "3", "champion") in rows
    fraud_v1 = manifest["models"]["fraud-detector"]["versions"]["1"]["rows"]
    assert f"{fraud_v1:,}" in table_column(window.models_table, 3)
    kinds = table_column(window.events_table, 1)
    assert {"gradual drift", "pipeline incident", "concept change"} <= set(kinds)
    assert "2026-04-06 (day 95)" in table_column(window.events_table, 2)
    assert str(demo_workspace) in window.statusBar().currentMessage()


def test_window_without_a_workspace_says_how_to_start(qtbot) -> None:
    window = MainWindow(None)
    qtbot.addWidget(window)
    assert "watchkeeper demo" in window.heading.text()
    assert window.models_table.rowCount() == 0


def test_window_on_a_folder_without_manifest(qtbot, tmp_path: Path) -> None:
    window = MainWindow(tmp_path)
    qtbot.addWidget(window)
    assert "No manifest.json" in window.heading.text()


def test_demo_command_opens_and_paints_the_window(demo_workspace: Path, tmp_path: Path) -> None:
    """The README's first command, end to end, as a process: window shown, painted, closed."""
    shot = tmp_path / "window.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("watchkeeper")),
            "demo",
            "--workspace",
            str(demo_workspace),
            "--events-per-day",
            "1000",
            "--screenshot",
            str(shot),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "(up to date)" in result.stdout
    image = QImage(str(shot))
    assert image.width() >= 800 and image.height() >= 500
    # Not a blank window: the painted tables give many distinct colours.
    colours = {
        image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, image.height(), 7)
    }
    assert len(colours) > 20
