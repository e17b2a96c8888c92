"""Light, dark and system themes: the window's palette and every plot follow, remembered."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from watchkeeper.app.theme import (
    THEME_KEY,
    apply_theme,
    current_theme_name,
    restore_theme,
    saved_theme,
    theme_menu,
    tone,
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


def _contrast(a: QColor, b: QColor) -> float:
    """WCAG 2 contrast ratio of two colours."""

    def luminance(c: QColor) -> float:
        def channel(v: float) -> float:
            return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

        return (
            0.2126 * channel(c.redF()) + 0.7152 * channel(c.greenF()) + 0.0722 * channel(c.blueF())
        )

    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


@pytest.mark.parametrize("name", ["light", "dark"])
def test_text_tones_read_on_the_window_of_each_theme(app, settings, name: str) -> None:
    """Secondary, ok, warning and error text keep WCAG AA contrast (4.5:1) in both themes;
    the dark-red warning text of the light theme all but vanished on the dark window."""
    apply_theme(app, name, settings)
    window = app.palette().color(QPalette.ColorRole.Window)
    for meaning in ("muted", "ok", "warning", "error"):
        ratio = _contrast(QColor(tone(meaning)), window)
        assert ratio >= 4.5, (name, meaning, tone(meaning), round(ratio, 2))
    assert _contrast(app.palette().color(QPalette.ColorRole.PlaceholderText), window) >= 3.0


def test_gate_rows_keep_dark_text_on_their_light_tints(app, settings) -> None:
    import pandas as pd
    from PySide6.QtCore import Qt

    from watchkeeper.app.panels.compare import GateTableModel

    apply_theme(app, "dark", settings)
    model = GateTableModel()
    model.set_frame(pd.DataFrame({"result": ["PASS", "FAIL"], "type": ["min_labeled", "slice"]}))
    for row in range(2):
        back = model.data(model.index(row, 1), Qt.ItemDataRole.BackgroundRole).color()
        fore = model.data(model.index(row, 1), Qt.ItemDataRole.ForegroundRole).color()
        assert _contrast(back, fore) >= 4.5


@pytest.mark.parametrize("name", ["light", "dark"])
def test_tinted_badges_and_banners_read_in_each_theme(app, settings, name: str) -> None:
    """Banners, identity badges and gate rows: text on its tint at WCAG AA, and the tint
    belongs to the theme (a light tint would glare on the dark window)."""
    from watchkeeper.app.theme import tint

    apply_theme(app, name, settings)
    window = app.palette().color(QPalette.ColorRole.Window)
    for meaning in ("ok", "info", "warning", "error"):
        t = tint(meaning)
        assert _contrast(QColor(t.background), QColor(t.text)) >= 4.5, (name, meaning)
        assert _contrast(QColor(t.background), window) < 2.0, (name, meaning)
