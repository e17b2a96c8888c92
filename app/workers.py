"""The one way long work leaves the UI thread.

Core analyses take ``progress(fraction, message)`` and ``cancelled()`` callables and check
them between chunks (STYLE.md). :class:`TaskRunner` runs such a function on superqt's
thread pool and brings everything back to the GUI thread: progress, the result, the error.
Panels never create threads. Work is keyed ("drift", "registry"...): a new request under a
key cancels the previous one and the older result, if it still arrives, is dropped — the
newest request wins, as in Orange's ``ConcurrentMixin``.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Signal
from superqt.utils import FunctionWorker

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]
Cancelled = Callable[[], bool]
Work = Callable[[Progress, Cancelled], Any]


class TaskCancelled(Exception):
    """Raised by work that noticed ``cancelled()``; ends the task quietly."""


@dataclass
class _Task:
    key: str
    generation: int
    label: str
    worker: FunctionWorker
    on_result: Callable[[Any], None]
    on_error: Callable[[str], None] | None


class TaskRunner(QObject):
    """Runs keyed work off the GUI thread; only the GUI thread sees results."""

    task_started = Signal(str, str)  # key, label
    task_progressed = Signal(str, float, str)  # key, fraction 0..1, message
    task_finished = Signal(str, str)  # key, outcome: "done" | "failed" | "cancelled"
    _relay_progress = Signal(str, int, float, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._tasks: dict[str, _Task] = {}
        self._generations = itertools.count(1)
        # Emitted from worker threads; a bound method of this GUI-thread object is queued.
        self._relay_progress.connect(self._on_worker_progress)

    def run(
        self,
        key: str,
        work: Work,
        *,
        label: str,
        on_result: Callable[[Any], None],
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        """Start ``work(progress, cancelled)``; a task running under ``key`` is cancelled."""
        self.cancel(key)
        generation = next(self._generations)
        worker_box: list[FunctionWorker] = []

        def progress(fraction: float, message: str = "") -> None:
            self._relay_progress.emit(key, generation, float(fraction), message)

        def cancelled() -> bool:
            return bool(worker_box) and worker_box[0].abort_requested

        worker = FunctionWorker(work, progress, cancelled)
        worker_box.append(worker)
        task = _Task(key, generation, label, worker, on_result, on_error)
        self._tasks[key] = task
        worker.returned.connect(lambda result, t=task: self._on_returned(t, result))
        worker.errored.connect(lambda exc, t=task: self._on_errored(t, exc))
        self.task_started.emit(key, label)
        worker.start()

    def cancel(self, key: str | None = None) -> None:
        """Ask the task under ``key`` (or every task) to stop at its next check."""
        keys = list(self._tasks) if key is None else [key]
        for k in keys:
            task = self._tasks.pop(k, None)
            if task is not None:
                task.worker.quit()
                self.task_finished.emit(k, "cancelled")

    def active(self) -> list[str]:
        return list(self._tasks)

    def label(self, key: str) -> str:
        task = self._tasks.get(key)
        return task.label if task else ""

    def _is_current(self, task: _Task) -> bool:
        current = self._tasks.get(task.key)
        return current is not None and current.generation == task.generation

    def _on_worker_progress(self, key: str, generation: int, fraction: float, message: str) -> None:
        current = self._tasks.get(key)
        if current is not None and current.generation == generation:
            self.task_progressed.emit(key, fraction, message)

    def _on_returned(self, task: _Task, result: Any) -> None:
        if not self._is_current(task):
            return  # a newer request replaced this one, or it was cancelled
        del self._tasks[task.key]
        try:
            task.on_result(result)
        finally:
            self.task_finished.emit(task.key, "done")

    def _on_errored(self, task: _Task, exc: BaseException) -> None:
        if not self._is_current(task):
            return
        del self._tasks[task.key]
        if isinstance(exc, TaskCancelled):
            self.task_finished.emit(task.key, "cancelled")
            return
        message = describe_error(exc)
        if task.on_error is not None:
            task.on_error(message)
        self.task_finished.emit(task.key, "failed")


def describe_error(exc: BaseException) -> str:
    """The message a person should see: ours verbatim, a bug as one line (logged fully)."""
    from watchkeeper.core.errors import WatchkeeperError

    if isinstance(exc, WatchkeeperError):
        return str(exc)
    log.error("internal error in a background task", exc_info=exc)
    return f"internal error: {type(exc).__name__}: {exc}"
