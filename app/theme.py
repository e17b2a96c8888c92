"""Light, dark or the system's look for the whole window, plots included, remembered.

:func:`apply_theme` sets the application's style and palette — Fusion with its standard
palette for ``"light"``, Fusion with :func:`dark_palette` for ``"dark"``, the platform's own
style and palette for ``"system"`` — and switches the plots' colours
(:func:`watchkeeper.widgets.plot_theme.set_plot_theme`) to match; with ``"system"`` the plots
follow the platform's colour scheme, also when it changes while the window is open. The
choice is kept in ``QSettings`` under :data:`THEME_KEY`; :func:`restore_theme` applies it at
start-up and :func:`theme_menu` is the View menu's *Theme* submenu.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QActionGroup, QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QMenu, QStyleFactory, QWidget

from watchkeeper.widgets.plot_theme import DARK, LIGHT, current_theme, set_plot_theme

__all__ = [
    "THEME_KEY",
    "THEME_LABELS",
    "THEME_NAMES",
    "Tint",
    "apply_theme",
    "badge",
    "current_theme_name",
    "dark_palette",
    "mute",
    "restore_theme",
    "saved_theme",
    "system_is_dark",
    "theme_menu",
    "tint",
    "tone",
]

#: The QSettings key holding the chosen theme.
THEME_KEY = "theme"
THEME_NAMES = ("light", "dark", "system")
THEME_LABELS = {"light": "&Light", "dark": "&Dark", "system": "Follow the &system"}
_PROPERTY = "watchkeeper_theme"
# What the application looked like before the first switch: "system" goes back to it.
_original: dict[str, Any] = {}


#: Text colours by meaning, each readable on its theme's window background (WCAG AA for
#: normal text: 4.5:1 or more against the light palette's and the dark palette's window).
_TONES = {
    "light": {"muted": "#5f6368", "ok": "#1b6e2a", "warning": "#6b4b00", "error": "#8a1c1c"},
    "dark": {"muted": "#9aa0a6", "ok": "#81c995", "warning": "#f0c36d", "error": "#f28b82"},
}


class Tint(NamedTuple):
    """A tinted badge or banner: its background, its text and its border (``#rrggbb``)."""

    background: str
    text: str
    border: str


#: Tinted backgrounds by meaning with their text (WCAG AA, 4.5:1 or more, tested): light
#: tints with dark text in the light theme, dark tints with light text in the dark theme,
#: so a badge neither glares nor vanishes on either window.
_TINTS = {
    "light": {
        "ok": Tint("#e3f4e6", "#1b6e2a", "#a8d5b1"),
        "info": Tint("#eef4fb", "#1e3a5f", "#c5d8ef"),
        "warning": Tint("#fff7e0", "#6b4b00", "#f0d890"),
        "error": Tint("#fde8e8", "#8a1c1c", "#f5b5b5"),
    },
    "dark": {
        "ok": Tint("#1f3a27", "#b7e4c2", "#2f6b3d"),
        "info": Tint("#1c2b3d", "#c5d8ef", "#34506f"),
        "warning": Tint("#3a2f12", "#f6dc9c", "#6b5a22"),
        "error": Tint("#3f1f1f", "#f6b8b3", "#7a3030"),
    },
}


def tone(meaning: str) -> str:
    """The text colour (``#rrggbb``) for ``meaning`` — "muted", "ok", "warning" or "error" —
    in the theme now on, for rich text and style sheets built when a view is filled."""
    return _TONES["dark" if current_theme().name == "dark" else "light"][meaning]


def tint(meaning: str) -> Tint:
    """The tint for ``meaning`` — "ok", "info", "warning" or "error" — in the theme now on,
    for badges, banners and table rows that carry it."""
    return _TINTS["dark" if current_theme().name == "dark" else "light"][meaning]


def badge(text: str, meaning: str) -> str:
    """``text`` (already escaped) as a small tinted badge in rich text."""
    t = tint(meaning)
    return f"<span style='background:{t.background};color:{t.text}'>&nbsp;{text}&nbsp;</span>"


def mute(widget: QWidget) -> None:
    """Draw ``widget``'s text in the palette's secondary colour, following theme switches."""
    widget.setForegroundRole(QPalette.ColorRole.PlaceholderText)


def dark_palette() -> QPalette:
    """A dark Fusion palette: light text on dark greys, a blue highlight, muted disabled
    text, links readable on the dark base."""
    window, base, alt = QColor(37, 39, 43), QColor(28, 30, 33), QColor(45, 47, 52)
    text, muted = QColor(225, 228, 232), QColor(130, 134, 140)
    p = QPalette()
    roles = {
        QPalette.ColorRole.Window: window,
        QPalette.ColorRole.WindowText: text,
        QPalette.ColorRole.Base: base,
        QPalette.ColorRole.AlternateBase: alt,
        QPalette.ColorRole.ToolTipBase: QColor(50, 53, 58),
        QPalette.ColorRole.ToolTipText: text,
        QPalette.ColorRole.PlaceholderText: muted,
        QPalette.ColorRole.Text: text,
        QPalette.ColorRole.Button: QColor(48, 51, 56),
        QPalette.ColorRole.ButtonText: text,
        QPalette.ColorRole.BrightText: QColor(255, 120, 110),
        QPalette.ColorRole.Light: QColor(70, 73, 79),
        QPalette.ColorRole.Midlight: QColor(58, 61, 66),
        QPalette.ColorRole.Mid: QColor(40, 42, 46),
        QPalette.ColorRole.Dark: QColor(20, 21, 23),
        QPalette.ColorRole.Shadow: QColor(0, 0, 0),
        QPalette.ColorRole.Highlight: QColor(42, 110, 187),
        QPalette.ColorRole.HighlightedText: QColor(255, 255, 255),
        QPalette.ColorRole.Link: QColor(110, 170, 255),
        QPalette.ColorRole.LinkVisited: QColor(180, 140, 255),
    }
    for role, colour in roles.items():
        p.setColor(QPalette.ColorGroup.All, role, colour)
    for role in (
        QPalette.ColorRole.WindowText,
        QPalette.ColorRole.Text,
        QPalette.ColorRole.ButtonText,
    ):
        p.setColor(QPalette.ColorGroup.Disabled, role, muted)
    p.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Highlight, QColor(70, 73, 79))
    return p


def system_is_dark(app: QGuiApplication) -> bool:
    """Whether the platform asks for dark colours (its colour scheme, else its palette)."""
    scheme = app.styleHints().colorScheme()
    if scheme == Qt.ColorScheme.Dark:
        return True
    if scheme == Qt.ColorScheme.Light:
        return False
    palette = _original.get("palette") or app.palette()
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def current_theme_name(app: QApplication | None = None) -> str:
    """The theme last applied to ``app`` ("system" when none was)."""
    app = app or QApplication.instance()
    name = app.property(_PROPERTY) if app is not None else None
    return name if name in THEME_NAMES else "system"


def saved_theme(settings: QSettings | None = None) -> str:
    """The remembered theme; anything unknown reads as "system"."""
    value = (settings or QSettings()).value(THEME_KEY)
    return value if isinstance(value, str) and value in THEME_NAMES else "system"


def apply_theme(
    app: QApplication, name: str, settings: QSettings | None = None, *, remember: bool = True
) -> str:
    """Give ``app`` (and every plot) the ``"light"``, ``"dark"`` or ``"system"`` look;
    remembered in ``settings`` (default ``QSettings()``) unless ``remember`` is false."""
    if name not in THEME_NAMES:
        raise ValueError(f"theme must be one of {', '.join(THEME_NAMES)}, not {name!r}")
    if not _original:
        _original["style"] = app.style().name()
        _original["palette"] = QPalette(app.palette())
        app.styleHints().colorSchemeChanged.connect(_on_system_scheme_changed)
    if name == "system":
        style = QStyleFactory.create(_original["style"]) or QStyleFactory.create("Fusion")
        app.setStyle(style)
        app.setPalette(_original["palette"])
        set_plot_theme(DARK if system_is_dark(app) else LIGHT)
    else:
        app.setStyle(QStyleFactory.create("Fusion"))
        if name == "dark":
            app.setPalette(dark_palette())
            set_plot_theme(DARK)
        else:
            app.setPalette(app.style().standardPalette())
            set_plot_theme(LIGHT)
    app.setProperty(_PROPERTY, name)
    if remember:
        target = settings or QSettings()
        target.setValue(THEME_KEY, name)
        target.sync()
    return name


def restore_theme(app: QApplication, settings: QSettings | None = None) -> str:
    """Apply the remembered theme (at start-up, before the window is shown)."""
    return apply_theme(app, saved_theme(settings), settings, remember=False)


def _on_system_scheme_changed(_scheme: Qt.ColorScheme) -> None:
    app = QApplication.instance()
    if isinstance(app, QApplication) and current_theme_name(app) == "system":
        set_plot_theme(DARK if system_is_dark(app) else LIGHT)


def theme_menu(parent: QWidget, settings: QSettings | None = None) -> QMenu:
    """The *Theme* submenu: Light, Dark, Follow the system — one checked, the current."""
    menu = QMenu("&Theme", parent)
    group = QActionGroup(menu)
    group.setExclusive(True)
    current = current_theme_name()
    for name in THEME_NAMES:
        action = QAction(THEME_LABELS[name], menu)
        action.setCheckable(True)
        action.setChecked(name == current)
        action.setData(name)
        group.addAction(action)
        menu.addAction(action)

    def on_triggered(action: QAction) -> None:
        app = QApplication.instance()
        if isinstance(app, QApplication):
            apply_theme(app, action.data(), settings)

    def on_about_to_show() -> None:  # another menu or a restore may have switched it
        now = current_theme_name()
        for action in group.actions():
            action.setChecked(action.data() == now)

    group.triggered.connect(on_triggered)
    menu.aboutToShow.connect(on_about_to_show)
    menu.theme_actions = group  # type: ignore[attr-defined]
    return menu
