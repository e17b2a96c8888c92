"""A plot with nothing to draw hides its axes: ticks over an empty range say nothing true.

pyqtgraph draws an empty view box over a default or stale range, so a failed or empty plot
showed axes such as "-0.4 … 0.4" or dates "59.600 … 00.400". :func:`show_axes` hides or
shows a plot's axes (and with them its grid) as one switch the widgets call from their
``set_data``/``clear``.
"""

from __future__ import annotations

from collections.abc import Iterable

import pyqtgraph as pg

__all__ = ["show_axes"]


def show_axes(plot: pg.PlotItem, shown: bool, axes: Iterable[str] = ("left", "bottom")) -> None:
    """Show ``plot``'s ``axes`` when it draws data, hide them when it draws nothing."""
    for name in axes:
        plot.showAxis(name, shown)
