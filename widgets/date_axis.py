"""A date axis whose labels never touch."""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg

__all__ = ["DateAxis"]

#: Pixels kept free between two labels.
GAP = 6


class DateAxis(pg.DateAxisItem):
    """pyqtgraph's ``DateAxisItem`` less the labels that would touch one already drawn.

    Its levels (months, then days, …) are spaced each on its own, so a day's label could sit
    against the next month's: "30" before "Sep" read "30Sep" under the Performance view of a
    weekly log. The coarser level's labels come first and are kept; a finer one that would
    come within :data:`GAP` pixels of a kept label is left out (its tick stays)."""

    def generateDrawSpecs(self, p: Any) -> Any:
        specs = super().generateDrawSpecs(p)
        if specs is None:
            return None
        axis, ticks, texts = specs
        kept: list[Any] = []
        for spec in texts:
            room = spec[0].adjusted(-GAP, 0, GAP, 0)
            if not any(room.intersects(other[0]) for other in kept):
                kept.append(spec)
        return axis, ticks, kept
