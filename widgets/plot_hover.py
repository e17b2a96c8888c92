"""Tooltips with exact values: the plot under the cursor says what its nearest point holds.

A widget gives a ``describe_at(x, y, reach)`` function in *data* coordinates — the text for
the point nearest to ``(x, y)``, or "" when nothing is within ``reach`` (data units in x and
y; None means no limit). :func:`install_hover` maps the scene's mouse moves onto the plot's
view box, turns a reach of :data:`REACH_PX` screen pixels into data units, and shows the
text as a tooltip that follows the cursor. Tests call ``describe_at`` directly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QToolTip

__all__ = ["REACH_PX", "Describe", "install_hover", "nearest_index"]

#: How far (screen pixels) from a point the cursor still shows it.
REACH_PX = 14.0

Describe = Callable[[float, float, "tuple[float, float] | None"], str]


def nearest_index(
    xs: np.ndarray,
    ys: np.ndarray | None,
    x: float,
    y: float,
    reach: tuple[float, float] | None,
) -> int | None:
    """Index of the finite point nearest to ``(x, y)``, distances measured in units of
    ``reach`` (so "nearest on screen"); None when there is none within reach. With ``ys``
    None only x counts (a time series: the window under the cursor)."""
    xs = np.asarray(xs, dtype=float)
    if xs.size == 0:
        return None
    sx, sy = reach if reach is not None else (1.0, 1.0)
    sx = sx if sx > 0 else 1.0
    sy = sy if sy > 0 else 1.0
    dx = (xs - x) / sx
    if ys is None:
        d2 = dx * dx
    else:
        dy = (np.asarray(ys, dtype=float) - y) / sy
        d2 = dx * dx + dy * dy
    d2 = np.where(np.isfinite(d2), d2, np.inf)
    i = int(np.argmin(d2))
    if not np.isfinite(d2[i]) or (reach is not None and d2[i] > 1.0):
        return None
    return i


def install_hover(view: pg.GraphicsView, plot: pg.PlotItem, describe: Describe) -> None:
    """Show ``describe(x, y, reach)`` as a tooltip while the mouse moves over ``plot``."""
    vb = plot.getViewBox()

    def on_mouse_moved(pos: QPointF) -> None:
        if not vb.sceneBoundingRect().contains(pos):
            return
        point = vb.mapSceneToView(pos)
        px = vb.viewPixelSize()
        reach = (abs(px[0]) * REACH_PX, abs(px[1]) * REACH_PX)
        text = describe(point.x(), point.y(), reach)
        where = view.mapToGlobal(view.mapFromScene(pos))
        if text:
            QToolTip.showText(where, text, view)
        else:
            QToolTip.hideText()

    scene: Any = view.scene()
    scene.sigMouseMoved.connect(on_mouse_moved)
