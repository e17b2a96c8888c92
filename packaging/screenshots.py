"""Take a screenshot of every view of the real window, for the README and for review.

Run it on a screen (under Xvfb on a headless machine), so the window is a real X11 window:

    Xvfb :77 -screen 0 1600x1000x24 &
    DISPLAY=:77 .venv/bin/python packaging/screenshots.py --workspace DEMO --out DIR

The workspace is a demo workspace (``watchkeeper demo --no-gui --workspace DEMO``). Each tab is
shown in turn, the script waits until the window's workers are idle (and a little longer, for
the plots to paint), then saves ``QWidget.grab()`` of the whole window as ``<view>.png``.
``--theme dark`` takes them in the dark theme, with a ``-dark`` suffix.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

NAMES = ("overview", "drift", "performance", "slices", "challenger", "governance")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, help="demo workspace folder")
    parser.add_argument("--bundle", type=Path, help="open this incident bundle instead")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--size", default="1400x900", help="window size, WxH")
    parser.add_argument("--theme", choices=("light", "dark"), default="light")
    parser.add_argument("--prefix", default="", help="prefix of every file name")
    parser.add_argument("--model", default="fraud-detector", help="model to select")
    parser.add_argument("--version", default="1", help="its version to select")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per view")
    args = parser.parse_args(argv)

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Watchkeeper-screenshots")  # its own QSettings, not the user's
    app.setOrganizationName("Watchkeeper")
    QSettings().clear()
    suffix = "-dark" if args.theme == "dark" else ""
    if args.theme == "dark":
        from watchkeeper.app.theme import apply_theme

        apply_theme(app, "dark")

    from watchkeeper.app.main_window import MainWindow

    width, height = (int(v) for v in args.size.lower().split("x"))
    window = MainWindow(args.workspace)
    if args.bundle is not None:
        window.open_bundle(args.bundle)
    window.resize(width, height)
    window.show()
    args.out.mkdir(parents=True, exist_ok=True)

    def settle(seconds: float) -> None:
        """Process events until the runner has been idle for ``seconds``."""
        deadline = time.monotonic() + args.timeout
        idle_since = None
        while time.monotonic() < deadline:
            app.processEvents()
            if window.runner.active():
                idle_since = None
            elif idle_since is None:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since >= seconds:
                return
            time.sleep(0.02)
        print(f"warning: workers still busy after {args.timeout:.0f} s", file=sys.stderr)

    settle(1.0)
    window.portfolio.select(args.model, args.version)
    settle(1.0)
    for index, name in enumerate(NAMES):
        window.tabs.setCurrentIndex(index)
        settle(1.5)
        path = args.out / f"{args.prefix}{name}{suffix}.png"
        if not window.grab().save(str(path)):
            print(f"could not write {path}", file=sys.stderr)
            return 2
        print(path)
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
