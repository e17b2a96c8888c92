"""One paint of the window per turn of the event loop, however many plots changed in it.

Why: when a ``QGraphicsScene`` processes its changed items (a queued call, one per scene),
``QGraphicsView`` dispatches its window's pending update request itself
(``QCoreApplication::sendPostedEvents(window, UpdateRequest)``): the whole window's dirty
region is painted there and then. A result that changes two plots and lays the panel out
again thus painted the window five times back to back, posted events all running before
any timer: the Champion vs challenger view's first draw held the GUI thread 107-192 ms
(``benchmarks/ui.py``; a ``QApplication.notify`` probe showed five scene calls of 10-62 ms,
each a paint of the window). Here the window's update request, when it arrives inside a
scene's call, is put off to the next turn: the scenes' calls take about a millisecond, and
one paint draws what all of them changed.
"""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QEvent, QObject, QTimer
from PySide6.QtWidgets import QGraphicsView, QWidget

__all__ = ["ScenePaints"]


class ScenePaints(QObject):
    """Puts off the paints that ``window``'s plots' scenes would force, to the next turn.

    :meth:`watch` installs it on the scenes of the window's plots (call it again after
    plots are added: a scene already watched is not watched twice). A scene's queued call
    marks that one is under way; the window's update request that arrives meanwhile is
    dropped, and a new one is posted from a zero timer, so the repaint manager (which sends
    no other request while one is outstanding) paints on the next turn, once. That one is
    never put off.
    """

    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self._window = window
        self._in_scene_call = False
        self._posted = False  # our own request is on its way
        self.deferred = 0  # paints put off (tests read it)
        self._again = QTimer(self)
        self._again.setSingleShot(True)
        self._again.setInterval(0)
        self._again.timeout.connect(self._request_paint)
        window.installEventFilter(self)

    def watch(self) -> None:
        """Watch the scenes of every plot the window holds now."""
        for view in self._window.findChildren(QGraphicsView):
            scene = view.scene()
            if scene is not None and not scene.property("wk_paints_watched"):
                scene.setProperty("wk_paints_watched", True)
                scene.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind == QEvent.Type.MetaCall and watched is not self._window:
            # a scene's queued call: it may dispatch the window's update request itself
            self._in_scene_call = True
        elif kind == QEvent.Type.UpdateRequest and watched is self._window:
            if self._in_scene_call and not self._posted:
                self._in_scene_call = False
                self.deferred += 1
                self._again.start()
                return True
            # ours, or the repaint manager's own: painted now. Ours always passes, so a
            # scene busy on every turn (a hover) puts a paint off by one turn at most
            self._in_scene_call = self._posted = False
        return False

    def _request_paint(self) -> None:
        self._posted = True
        QCoreApplication.postEvent(self._window, QEvent(QEvent.Type.UpdateRequest))
