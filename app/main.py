"""Start the Qt application and show the workbench window."""

from __future__ import annotations

import sys
from pathlib import Path


def open_workbench(workspace: Path | None = None, screenshot: Path | None = None) -> int:
    """Run the workbench until its window closes; returns the exit code.

    ``screenshot`` (hidden CLI option, for smoke tests and packaging): save a PNG of the
    window once it has been shown and painted, then quit.
    """
    from PySide6.QtCore import QTimer
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from watchkeeper.app.main_window import MainWindow
    from watchkeeper.resources import resource_path

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Watchkeeper")
    app.setOrganizationName("Watchkeeper")
    app.setWindowIcon(QIcon(str(resource_path("watchkeeper.svg"))))
    window = MainWindow(workspace)
    window.resize(1100, 700)
    window.show()
    if screenshot is not None:

        def grab_and_quit() -> None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            window.grab().save(str(screenshot))
            print(f"screenshot {screenshot}")
            window.close()
            app.quit()

        QTimer.singleShot(500, grab_and_quit)
    return app.exec()
