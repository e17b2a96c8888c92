"""Light, dark and system themes: the window's palette and every plot follow, remembered."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication

from watchkeeper.app.theme import (
    THEME_KEY,
    apply_theme,
    current_theme_name,
    restore_theme,
    saved_theme,
    theme_menu,
)
from watchkeeper.widgets.metric_timeline import MetricTimelineWidget
from watchkeeper.widgets.plot_theme import DARK, LIGHT, current_theme, set_plot_theme
from watchkeeper.widgets.slice_chart import SliceChartWidget


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def app(qapp) -> Iterator[QApplication]:
    """The application, put back as it was (style, palette, plots) after the test."""
    style, palette = qapp.style().name(), QPalette(qapp.palette())
    yield qapp
    apply_theme(qapp, "system", remember=False)
    qapp.setStyle(style)
    qapp.setPalette(palette)
    qapp.setProperty("watchkeeper_theme", None)
    set_plot_theme(LIGHT)


def window_lightness(app: QApplication) -> int:
    return app.palette().color(QPalette.ColorRole.Window).lightness()


def background(widget) -> tuple[int, int, int]:
    c = widget.graphics.backgroundBrush().color()
    return (c.red(), c.green(), c.blue())


def test_dark_and_back_changes_the_palette_and_the_plots(qtbot, app, settings) -> None:
    timeline = MetricTimelineWidget()
    chart = SliceChartWidget()
    qtbot.addWidget(timeline)
    qtbot.addWidget(chart)
    assert apply_theme(app, "dark", settings) == "dark"
    assert app.style().name().lower() == "fusion"
    assert window_lightness(app) < 80
    text = app.palette().color(QPalette.ColorRole.WindowText).lightness()
    assert text > 180  # light text on the dark window
    assert current_theme() is DARK
    assert background(timeline) == DARK.background
    pen = timeline.realized_curve.opts["pen"].color()
    assert (pen.red(), pen.green(), pen.blue()) == DARK.colour(0)
    assert chart.plot_widget.backgroundBrush().color().lightness() < 60
    assert settings.value(THEME_KEY) == "dark" and saved_theme(settings) == "dark"
    assert current_theme_name(app) == "dark"

    apply_theme(app, "light", settings)
    assert window_lightness(app) > 200
    assert current_theme() is LIGHT and background(timeline) == LIGHT.background
    pen = timeline.realized_curve.opts["pen"].color()
    assert (pen.red(), pen.green(), pen.blue()) == LIGHT.colour(0)
    assert settings.value(THEME_KEY) == "light"


def test_system_goes_back_to_the_platform_look(qtbot, app, settings) -> None:
    before = QPalette(app.palette())
    apply_theme(app, "dark", settings)
    apply_theme(app, "system", settings)
    assert app.palette().color(QPalette.ColorRole.Window) == before.color(QPalette.ColorRole.Window)
    assert current_theme() is (DARK if window_lightness(app) < 128 else LIGHT)
    assert saved_theme(settings) == "system"


def test_the_choice_is_remembered_and_restored(app, settings) -> None:
    assert saved_theme(settings) == "system"  # nothing saved yet
    settings.setValue(THEME_KEY, "no-such-theme")
    assert saved_theme(settings) == "system"
    settings.setValue(THEME_KEY, "dark")
    assert restore_theme(app, settings) == "dark"
    assert current_theme() is DARK and window_lightness(app) < 80
    with pytest.raises(ValueError, match="light, dark, system"):
        apply_theme(app, "sepia", settings)


def test_theme_menu_checks_the_current_theme_and_switches(qtbot, app, settings) -> None:
    apply_theme(app, "light", settings)
    menu = theme_menu(None, settings)
    qtbot.addWidget(menu)
    actions = {a.data(): a for a in menu.actions()}
    assert list(actions) == ["light", "dark", "system"]
    assert actions["light"].isChecked() and not actions["dark"].isChecked()
    actions["dark"].trigger()
    assert current_theme() is DARK and settings.value(THEME_KEY) == "dark"
    assert actions["dark"].isChecked() and not actions["light"].isChecked()
    apply_theme(app, "light", settings)  # switched elsewhere: the menu shows it when opened
    menu.aboutToShow.emit()
    assert actions["light"].isChecked()
