"""Since when a feature drifts: the onset of a sustained change in its per-window statistic.

The worst window says *how bad*, not *since when*; a user asking "since when" wants the
first window of the change that is still going on (or that was the strongest). A one-sided
CUSUM over the statistic series answers that the way Page's procedure does: it accumulates
the excess over a reference level and, once the excess passes an alarm level, the change
began where the accumulation last left zero. Unlike a first-threshold crossing it dates a
gradual ramp from where the ramp begins, and unlike a least-squares segmentation it needs no
model of the shape after the change.

The reference level sits halfway between the series' quiet level (its lower quartile, which
stays a baseline even when the change covers most of the history) and the level the spec
calls worth watching (``psi_watch``); the alarm needs an excess of two watch levels, so noise
near the baseline never alarms and one window far above the drift level does. Once alarmed
the accumulation is capped at the alarm level, so a change that ended is seen to end within
a few windows (its end is the window after its last elevated one).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Onset", "change_onset"]


@dataclass(frozen=True)
class Onset:
    """A change in a statistic series, by window index.

    ``start``: the first window of the change; ``peak``: its largest value; ``end``: the
    first window after it (None while it is still going on at the last window).
    """

    start: int
    peak: int
    end: int | None

    @property
    def ongoing(self) -> bool:
        return self.end is None


def change_onset(values: np.ndarray | list[float | None], watch: float) -> Onset | None:
    """The latest sustained rise of ``values`` above its quiet level, or None if there is none.

    ``values`` is the statistic per window (NaN or None where a window could not be judged;
    such windows neither add to nor reset the accumulation). ``watch`` is the level the spec
    considers worth watching (e.g. the PSI watch threshold), > 0. The latest change is the
    one that is going on, or else the last that ended, so "since when" is about now.
    """
    if not watch > 0:
        raise ValueError(f"watch must be positive, got {watch!r}")
    x = np.array([np.nan if v is None else v for v in values], dtype=float)
    finite = x[np.isfinite(x)]
    if finite.size == 0:
        return None
    quiet = min(float(np.quantile(finite, 0.25)), watch / 2)
    reference = (quiet + watch) / 2
    alarm = 2 * watch
    episodes: list[Onset] = []
    total, start, peak, last_up, alarmed = 0.0, -1, -1, -1, False
    for i, v in enumerate(x):
        if not np.isfinite(v):
            continue
        step = v - reference
        if total == 0.0 and step <= 0:
            continue
        if total == 0.0:
            start, peak, alarmed = i, i, False
        if step > 0:
            last_up = i
        # Capped at the alarm level once it alarms: a long change must not take as long
        # again to drain, or the next one would be dated to this one's start.
        total = max(0.0, total + step)
        if x[i] > x[peak]:
            peak = i
        if total > alarm:
            alarmed, total = True, alarm
        if total == 0.0:
            if alarmed:
                episodes.append(Onset(start, peak, last_up + 1))
            alarmed = False
    if total > 0.0 and alarmed:
        episodes.append(Onset(start, peak, None))
    return episodes[-1] if episodes else None
