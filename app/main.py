"""Start the Qt application and show the workbench window."""

from __future__ import annotations

import sys
from pathlib import Path

SCREENSHOT_WAIT_MS = 30_000


def open_workbench(
    workspace: Path | None = None,
    screenshot: Path | None = None,
    *,
    bundle: Path | None = None,
    trusted_keys: list[str] | None = None,
) -> int:
    """Run the workbench until its window closes; returns the exit code.

    ``bundle``: open that offline bundle (validated again by the window, in the background)
    instead of a workspace; ``trusted_keys`` as ``watchkeeper open --trusted-key``.

    ``screenshot`` (hidden CLI option, for smoke tests and packaging): save a PNG of the
    window once it has been shown and its first analyses have finished (at most
    ``SCREENSHOT_WAIT_MS`` later), then quit.
    """
    from PySide6.QtCore import QTimer
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from watchkeeper.app.analysis_process import close_children
    from watchkeeper.app.main_window import MainWindow
    from watchkeeper.app.theme import restore_theme
    from watchkeeper.app.workers import wait_for_workers
    from watchkeeper.resources import resource_path

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Watchkeeper")
    app.setOrganizationName("Watchkeeper")
    app.setWindowIcon(QIcon(str(resource_path("watchkeeper.svg"))))
    restore_theme(app)  # the look chosen last time (View > Theme), before the first paint
    window = MainWindow(
        workspace,
        bundle=bundle,
        trusted_keys=trusted_keys,
        check_health=screenshot is None,
        freeze_heap=True,
    )
    window.show()
    if screenshot is not None:
        waited = [0]

        def grab_when_idle() -> None:
            waited[0] += 250
            busy = window.runner.active() or any(
                panel.drawing() for panel in (window.drift, window.challenger)
            )
            if busy and waited[0] < SCREENSHOT_WAIT_MS:
                QTimer.singleShot(250, grab_when_idle)
                return
            # Errors here would be swallowed by Qt's timer and leave the app running.
            try:
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                saved = window.grab().save(str(screenshot))
            except OSError:
                saved = False
            window.close()
            if saved:
                print(f"screenshot {screenshot}")
                app.quit()
            else:
                print(f"watchkeeper: could not write the screenshot {screenshot}", file=sys.stderr)
                app.exit(2)

        QTimer.singleShot(500, grab_when_idle)
    code = app.exec()
    # Workers were asked to stop when the window closed; let them reach their next check.
    wait_for_workers(5.0)
    close_children()
    return code
