"""Exporting a plot as PNG or SVG, and the right-click menu that offers it.

Every plot widget keeps pyqtgraph's own ViewBox menu off (its range and transform items are
not for our readers) and gets instead one small menu of ours: *Export plot…*. The format
follows the file name's extension, at the size on screen and with the plot's current theme
background: ``.png`` renders the plot's scene into a ``QImage`` the way pyqtgraph's
exporters do (their ``Exporter`` base: the item's rectangle, items in export mode);
``.svg`` is pyqtgraph's SVG generation (vector: lines, bars and text stay editable; an image
item is embedded as a bitmap; large coordinates such as epoch seconds are re-projected,
which Qt's own ``QSvgGenerator`` would round to 6 digits), with the closed-path fix of
:func:`_closed_paths_tolerated`. pyqtgraph's ``ImageExporter``/``SVGExporter`` objects are
not created: their parameter trees made the interpreter abort at exit in our runs
(PySide6 6.12: "bool_dealloc ... refcount error" while garbage-collecting).

A widget calls :func:`install_plot_menu` with its graphics view and its own ``export(path)``;
the menu reports a failed write in a message box, since the user asked for it.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from pyqtgraph.exporters import Exporter
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QAction, QColor, QImage, QPainter
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox, QWidget

__all__ = [
    "EXPORT_ACTION_TEXT",
    "EXPORT_FILTERS",
    "ask_export_path",
    "export_plot",
    "install_plot_menu",
]

EXPORT_ACTION_TEXT = "Export plot…"
#: File-dialog filters by extension; the first is the default.
EXPORT_FILTERS = {".png": "PNG image (*.png)", ".svg": "SVG drawing (*.svg)"}
_last_folder: Path | None = None


def export_plot(item: Any, path: Path | str) -> Path:
    """Write ``item`` (a plot or layout item, or a whole scene) to ``path``: PNG or SVG by
    extension. Raises ``ValueError`` for another extension or an item with no size on screen,
    ``OSError`` when the file cannot be written."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in EXPORT_FILTERS:
        raise ValueError(f"export as .png or .svg: {path.name!r} has {suffix or 'no'} extension")
    rect = item.sceneBoundingRect() if hasattr(item, "sceneBoundingRect") else item.sceneRect()
    if rect.width() < 1 or rect.height() < 1:
        raise ValueError("the plot has no size on screen yet; show it before exporting")
    if not path.parent.is_dir():
        raise OSError(f"could not write {path}: folder {path.parent} does not exist")
    if suffix == ".png":
        _SceneExporter(item).export(path)
    else:
        _write_svg(item, path)
    return path


def _write_svg(item: Any, path: Path) -> None:
    """pyqtgraph's SVG generation, called without its exporter object (the parameter tree,
    see the module's notes), at the item's size on screen."""
    module: Any = importlib.import_module("pyqtgraph.exporters.SVGExporter")
    target = Exporter(item).getTargetRect()
    options = {
        "background": _background(item),
        "width": target.width(),
        "height": target.height(),
        "scaling stroke": False,
    }
    with _closed_paths_tolerated(module):
        text = module.generateSvg(item, options)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise OSError(f"could not write {path}: {exc.strerror or exc}") from None


def _background(item: Any) -> QColor:
    scene = item.scene() if hasattr(item, "scene") and callable(item.scene) else item
    return scene.views()[0].backgroundBrush().color()


class _SceneExporter(Exporter):
    """The scene under an item, painted at its size on screen into a PNG image."""

    def export(self, path: Path) -> None:  # type: ignore[override]
        target = self.getTargetRect()
        width, height = max(1, round(target.width())), max(1, round(target.height()))
        background = _background(self.item)
        image = QImage(width, height, QImage.Format.Format_ARGB32)
        image.fill(background)
        painter = QPainter(image)
        try:
            self.setExportMode(True, {"antialias": True, "background": background})
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            self.getScene().render(painter, QRectF(0, 0, width, height), self.getSourceRect())
        finally:
            self.setExportMode(False)
            painter.end()
        if not image.save(str(path), "PNG"):
            raise OSError(f"could not write {path}")


@contextlib.contextmanager
def _closed_paths_tolerated(module: Any) -> Iterator[None]:
    """While it lasts, pyqtgraph's SVG exporter accepts closed paths (``... Z``).

    pyqtgraph 0.14 re-projects every path's points and reads each space-separated token as
    ``x,y``; Qt 6's SVG generator ends closed paths with a ``Z`` token, which every view box
    and legend draws, so every export fails (pyqtgraph issue #3495, fixed after 0.14). The
    wrapper hides the ``Z`` tokens from that step and puts a ``Z`` back at the end of the path.
    Remove it when the lock moves past pyqtgraph 0.14.
    """
    original = module.correctCoordinates

    def tolerant(node: Any, defs: Any, item: Any, options: Any) -> Any:
        closed = []
        for path in node.getElementsByTagName("path"):
            d = path.getAttribute("d")
            if "Z" in d or "z" in d:
                tokens = d.replace("Z", " Z ").replace("z", " z ").split()
                path.setAttribute("d", " ".join(t for t in tokens if t not in ("Z", "z")))
                closed.append(path)
        result = original(node, defs, item, options)
        for path in closed:
            d = path.getAttribute("d").strip()
            if d:
                path.setAttribute("d", f"{d} Z")
        return result

    module.correctCoordinates = tolerant
    try:
        yield
    finally:
        module.correctCoordinates = original


def ask_export_path(parent: QWidget, suggested: str) -> Path | None:
    """Ask where to save; the chosen filter adds its extension when the name has none."""
    global _last_folder
    folder = _last_folder or Path.home()
    name, chosen = QFileDialog.getSaveFileName(
        parent,
        "Export plot",
        str(folder / f"{suggested}.png"),
        ";;".join(EXPORT_FILTERS.values()),
    )
    if not name:
        return None
    path = Path(name)
    if path.suffix.lower() not in EXPORT_FILTERS:
        ext = next((e for e, f in EXPORT_FILTERS.items() if f == chosen), ".png")
        path = path.with_name(path.name + ext)
    _last_folder = path.parent
    return path


def install_plot_menu(
    owner: QWidget,
    view: pg.GraphicsView,
    export: Callable[[Path], Path],
    suggested_name: Callable[[], str] | str = "plot",
) -> QMenu:
    """Give ``view`` a right-click menu with *Export plot…* calling ``export(path)``.

    The menu opens on a right click that no plot item took (pyqtgraph's ViewBox menu stays
    disabled). Returns the menu (tests and callers may add actions).
    """
    menu = QMenu(owner)
    action = QAction(EXPORT_ACTION_TEXT, menu)
    action.setToolTip("Save this plot as a PNG image or an SVG drawing")
    menu.addAction(action)

    def on_export_triggered() -> None:
        name = suggested_name() if callable(suggested_name) else suggested_name
        path = ask_export_path(owner, name)
        if path is None:
            return
        try:
            export(path)
        except (OSError, ValueError) as exc:
            QMessageBox.warning(owner, "Export plot", f"The plot was not exported: {exc}")

    def on_scene_clicked(ev: Any) -> None:
        if ev.button() == Qt.MouseButton.RightButton and not ev.isAccepted():
            ev.accept()
            menu.popup(ev.screenPos().toPoint())

    action.triggered.connect(on_export_triggered)
    view.scene().sigMouseClicked.connect(on_scene_clicked)
    return menu
