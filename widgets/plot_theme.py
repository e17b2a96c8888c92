"""Plot colours for a light and a dark window, and the one place that says which is on.

Every plot widget takes its background, text, axis, grid and series colours from the current
:class:`PlotTheme` and follows changes: it calls :func:`follow_theme` once with its
``apply_theme`` method, which runs at once and again whenever :func:`set_plot_theme` switches.
Followers are held by weak reference and dropped once their widget is deleted. (Not a Qt
signal on a module-level QObject: with PySide6 6.12 that object's connections made the
interpreter abort while finalizing in our runs.)

The series palette is Okabe & Ito's colour-blind-safe set ("Color Universal Design", 2008),
ordered so the first two (the pair most plots compare: realized/estimated,
champion/challenger, reference/current) stay apart under every common colour-vision
deficiency; the dark theme uses the set's lighter members first so lines keep their contrast
on a dark background. Meaning is never carried by colour alone: lines also differ in style
and every series is named in a legend or key.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass

import pyqtgraph as pg
import shiboken6
from PySide6.QtCore import QObject

__all__ = [
    "DARK",
    "LIGHT",
    "THEMES",
    "PlotTheme",
    "current_theme",
    "follow_theme",
    "set_plot_theme",
    "style_plot",
]

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class PlotTheme:
    """The colours one plot theme draws with (RGB tuples)."""

    name: str
    background: RGB
    foreground: RGB  # tick labels, axis titles, legend text
    axis: RGB  # axis lines and ticks; the grid is this colour at ``grid_alpha``
    muted: RGB  # reference lines, the chance diagonal, secondary text
    neutral: RGB  # bars that are context, not the subject (coverage, the overall value)
    alert: RGB  # alert lines, critical outlines, positives
    legend_background: tuple[int, int, int, int]
    grid_alpha: float
    series: tuple[RGB, ...]
    #: sequential colour ramp for densities, sparse → dense (reads on this background)
    density: tuple[RGB, RGB]

    def colour(self, index: int) -> RGB:
        """The ``index``-th series colour (the palette repeats)."""
        return self.series[index % len(self.series)]

    def hex(self, rgb: RGB) -> str:
        return "#{:02x}{:02x}{:02x}".format(*rgb)


# Okabe–Ito: blue, orange, bluish green, reddish purple, sky blue, vermilion, yellow.
LIGHT = PlotTheme(
    name="light",
    background=(255, 255, 255),
    foreground=(40, 40, 40),
    axis=(90, 90, 90),
    muted=(100, 100, 100),
    neutral=(130, 138, 150),
    alert=(200, 30, 30),
    legend_background=(255, 255, 255, 210),
    grid_alpha=0.15,
    series=(
        (0, 114, 178),
        (230, 159, 0),
        (0, 158, 115),
        (204, 121, 167),
        (86, 180, 233),
        (213, 94, 0),
        (240, 228, 66),
    ),
    density=((219, 234, 254), (23, 37, 84)),
)
DARK = PlotTheme(
    name="dark",
    background=(30, 32, 36),
    foreground=(222, 225, 230),
    axis=(160, 164, 172),
    muted=(170, 174, 182),
    neutral=(120, 128, 140),
    alert=(255, 105, 97),
    legend_background=(30, 32, 36, 210),
    grid_alpha=0.22,
    series=(
        (86, 180, 233),
        (230, 159, 0),
        (0, 190, 140),
        (224, 150, 190),
        (120, 160, 255),
        (240, 120, 40),
        (240, 228, 66),
    ),
    density=((25, 45, 90), (200, 225, 255)),
)
THEMES = {t.name: t for t in (LIGHT, DARK)}


_current: PlotTheme = LIGHT
#: Who follows the theme: weak references to bound methods (a deleted widget drops out).
_followers: list[weakref.WeakMethod] = []


def current_theme() -> PlotTheme:
    return _current


def set_plot_theme(theme: PlotTheme | str) -> PlotTheme:
    """Make ``theme`` (or ``"light"``/``"dark"``) current; following plots redraw."""
    global _current
    if isinstance(theme, str):
        if theme not in THEMES:
            raise ValueError(f"plot theme must be one of {sorted(THEMES)}, not {theme!r}")
        theme = THEMES[theme]
    if theme != _current:
        _current = theme
        for apply in _live_followers():
            apply(theme)
    return theme


def follow_theme(apply: Callable[[PlotTheme], None]) -> None:
    """Call ``apply`` — a bound method of a widget, such as its ``apply_theme`` — with the
    current theme now and after every switch, for as long as its widget lives."""
    apply(_current)
    _followers.append(weakref.WeakMethod(apply))  # type: ignore[arg-type]


def _live_followers() -> list[Callable[[PlotTheme], None]]:
    """The followers whose objects still exist (Python and C++ side); the rest are dropped."""
    live, keep = [], []
    for ref in _followers:
        method = ref()
        owner = getattr(method, "__self__", None)
        if method is None or (isinstance(owner, QObject) and not shiboken6.isValid(owner)):
            continue
        keep.append(ref)
        live.append(method)
    _followers[:] = keep
    return live


def style_plot(
    plot: pg.PlotItem, theme: PlotTheme, *, grid: tuple[bool, bool] = (True, True)
) -> None:
    """Axis lines, tick text, axis titles and grid of one plot in ``theme``'s colours."""
    for name in ("left", "bottom", "right", "top"):
        axis = plot.getAxis(name)
        axis.setPen(pg.mkPen(*theme.axis))
        axis.setTextPen(pg.mkPen(*theme.foreground))
    if any(grid):
        plot.showGrid(x=grid[0], y=grid[1], alpha=theme.grid_alpha)
    if plot.titleLabel is not None and plot.titleLabel.text:
        plot.titleLabel.setText(plot.titleLabel.text, color=theme.hex(theme.foreground))
    legend = plot.legend
    if legend is not None:
        legend.setBrush(pg.mkBrush(*theme.legend_background))
        legend.setPen(pg.mkPen(*theme.axis, 120))
        legend.setLabelTextColor(pg.mkColor(*theme.foreground))
        for _sample, label in legend.items:
            label.setText(label.text)  # a label takes a new colour when its text is set
