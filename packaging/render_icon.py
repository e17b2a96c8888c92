"""Render packaging/watchkeeper.png (256x256) from resources/watchkeeper.svg with Qt offscreen.

Run: QT_QPA_PLATFORM=offscreen .venv/bin/python packaging/render_icon.py
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

HERE = Path(__file__).resolve().parent
SIZE = int(sys.argv[1]) if len(sys.argv) > 1 else 256


def main() -> int:
    app = QGuiApplication.instance() or QGuiApplication([])  # noqa: F841 - needed for fonts
    renderer = QSvgRenderer(str(HERE.parent / "resources" / "watchkeeper.svg"))
    if not renderer.isValid():
        print("render_icon: resources/watchkeeper.svg is not a valid SVG", file=sys.stderr)
        return 1
    image = QImage(SIZE, SIZE, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    out = HERE / "watchkeeper.png"
    if not image.save(str(out)):
        print(f"render_icon: could not write {out}", file=sys.stderr)
        return 1
    print(f"{out} {SIZE}x{SIZE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
