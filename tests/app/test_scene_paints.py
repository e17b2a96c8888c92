"""Two plots changed in one turn paint the window once, on the next turn, not once per scene
inside the scenes' queued calls; a scene busy on every turn still lets the window paint."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QCoreApplication, QEvent, QObject, QTimer
from PySide6.QtWidgets import QHBoxLayout, QWidget

from watchkeeper.app.scene_paints import ScenePaints


class _Paints(QObject):
    """Paint events each watched widget receives."""

    def __init__(self, *widgets: QWidget) -> None:
        super().__init__()
        self.count = {id(w): 0 for w in widgets}
        for w in widgets:
            w.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint and id(watched) in self.count:
            self.count[id(watched)] += 1
        return False

    def total(self) -> int:
        return sum(self.count.values())


def _window(qtbot) -> tuple[QWidget, list[pg.PlotDataItem], _Paints]:
    window = QWidget()
    layout = QHBoxLayout(window)
    curves, views = [], []
    for _ in range(2):
        plot = pg.PlotWidget()
        curves.append(plot.plot(np.arange(10.0), np.arange(10.0)))
        views.append(plot.viewport())
        layout.addWidget(plot)
    qtbot.addWidget(window)
    window.resize(600, 300)
    window.show()
    qtbot.waitExposed(window)
    qtbot.wait(100)  # the first paints done
    return window, curves, _Paints(*views)


def _change(curves: list[pg.PlotDataItem], k: int) -> None:
    for curve in curves:
        curve.setData(np.arange(10.0), np.sin(np.arange(10.0) + k))


def test_plots_changed_together_paint_on_the_next_turn_not_in_their_scenes_calls(qtbot) -> None:
    # Qt's own way first: each scene's queued call paints the window there and then
    _plain, curves, paints = _window(qtbot)
    _change(curves, 1)
    QCoreApplication.sendPostedEvents()  # the scenes' queued calls, no timer
    assert paints.total() >= 2, paints.count

    window, curves, paints = _window(qtbot)
    scene_paints = ScenePaints(window)
    scene_paints.watch()
    _change(curves, 1)
    QCoreApplication.sendPostedEvents()
    assert paints.total() == 0 and scene_paints.deferred >= 1
    # and the next turns paint both plots (pyqtgraph's later range updates paint again)
    qtbot.waitUntil(lambda: all(n >= 1 for n in paints.count.values()), timeout=2000)


def test_a_scene_busy_on_every_turn_still_lets_the_window_paint(qtbot) -> None:
    """A paint put off is requested again for the next turn, and that request is never put
    off: a plot updated on every turn (a hover) does not starve the window of paints."""
    window, curves, paints = _window(qtbot)
    scene_paints = ScenePaints(window)
    scene_paints.watch()
    turns = {"n": 0}
    ticker = QTimer()
    ticker.setInterval(0)

    def tick() -> None:
        turns["n"] += 1
        _change(curves, turns["n"])
        if turns["n"] >= 60:
            ticker.stop()

    ticker.timeout.connect(tick)
    ticker.start()
    qtbot.waitUntil(lambda: not ticker.isActive(), timeout=5000)
    assert scene_paints.deferred >= 1
    assert paints.total() >= 20, paints.count  # painted all along, not only at the end


def test_watch_finds_plots_added_later_and_never_twice(qtbot) -> None:
    window, curves, _ = _window(qtbot)
    scene_paints = ScenePaints(window)
    scene_paints.watch()
    late = pg.PlotWidget()
    window.layout().addWidget(late)
    scene_paints.watch()
    scene_paints.watch()
    assert late.scene().property("wk_paints_watched") is True
    assert all(c.scene().property("wk_paints_watched") for c in curves)
