"""The one way long work leaves the UI thread.

Core analyses take ``progress(fraction, message)`` and ``cancelled()`` callables and check
them between chunks (STYLE.md). :class:`TaskRunner` runs such a function on this module's
pool of Python threads and brings everything back to the GUI thread: progress, the result,
the error.
Panels never create threads. Work is keyed ("drift", "registry"...): a new request under a
key cancels the previous one and the older result, if it still arrives, is dropped — the
newest request wins, as in Orange's ``ConcurrentMixin``.

The worker is superqt's ``FunctionWorker`` reduced to what is used here (a pool job, an
abort flag, results relayed by queued signals to this GUI-thread object): importing
``superqt`` loads every superqt widget and cost 0.5-1 s of the window's start-up.

The pool is Python's, not Qt's: PySide6 6.12 drops one reference to ``None`` each time C++
calls a Python ``QRunnable.run`` (or ``QThread.run``) override on another thread — which
superqt's workers and ``QThreadPool.start(callable)`` both do — so after a few thousand tasks
``None`` is freed and the interpreter aborts ("none_dealloc"). Python threads calling
``Signal.emit`` do not touch that path.

Progress is coalesced: a task has at most one report queued for the GUI thread, which reads
the latest one when it gets there and then at most every :data:`PROGRESS_INTERVAL_MS`. Every
queued report is a Python slot that waits for the GIL among the analysis's own threads; the
drift analysis of the wide demo sent them by the hundred, and the GUI thread worked through
that queue ahead of paints and clicks (py-spy: most of its waits for the GIL were in those
slots or behind them).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import itertools
import logging
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import shiboken6
from PySide6.QtCore import QCoreApplication, QObject, QTimer, Signal

from watchkeeper.app.analysis_process import ChildWork, child_pool
from watchkeeper.core.memory import return_free_memory_soon
from watchkeeper.core.progress import CancelCheck, Cancelled, Progress

log = logging.getLogger(__name__)

Work = Callable[[Progress, CancelCheck], Any]

#: a task's progress reaches the GUI thread at most this often (the latest report wins)
PROGRESS_INTERVAL_MS = 100


# Cancelled work keeps its thread until its next check, so the pool is wider than the cores:
# a burst of replaced requests must not queue the newest one behind them.
_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="watchkeeper-work")
_RUNNING: set[concurrent.futures.Future[None]] = set()
_RUNNING_LOCK = threading.Lock()


def _submit(job: Callable[[], None]) -> None:
    future = _POOL.submit(job)
    with _RUNNING_LOCK:
        _RUNNING.add(future)
    future.add_done_callback(_forget)


def _forget(future: concurrent.futures.Future[None]) -> None:
    with _RUNNING_LOCK:
        _RUNNING.discard(future)


def busy_workers() -> int:
    """How many tasks are still running or queued (cancelled ones until their next check)."""
    with _RUNNING_LOCK:
        return len(_RUNNING)


def wait_for_workers(timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for every task to end; whether they all did."""
    with _RUNNING_LOCK:
        running = list(_RUNNING)
    _, not_done = concurrent.futures.wait(running, timeout=timeout)
    return not not_done


class _Relay(QObject):
    """Carries workers' news to the GUI thread, then to the runner that asked, if it lives.

    Workers never emit on a :class:`TaskRunner`: the GUI thread may delete a runner (its
    window closed, a test ended) while a worker emits on it, and a queued call posted during
    that deletion was delivered to freed memory (a segfault in ``QMetaMethod::name``, seen in
    the suite). The relay is a child of the application and lives as long as it; runners are
    looked up by id, weakly, on the GUI thread.
    """

    progressed = Signal(int, str, int, object)  # runner, key, generation, _LatestProgress
    returned = Signal(int, str, int, object)  # runner, key, generation, result
    errored = Signal(int, str, int, object)  # runner, key, generation, exception
    partial = Signal(int, str, int, object)  # runner, key, generation, a first result

    def __init__(self, parent: QObject) -> None:
        super().__init__(parent)
        # bound methods of this GUI-thread object: emissions from workers are queued
        self.progressed.connect(self._on_progressed)
        self.partial.connect(self._on_partial)
        self.returned.connect(self._on_returned)
        self.errored.connect(self._on_errored)

    def _on_progressed(self, rid: int, key: str, gen: int, latest: _LatestProgress) -> None:
        runner = _live_runner(rid)
        if runner is not None:
            runner._on_worker_progress(key, gen, latest)
        else:
            latest.delivered()

    def _on_partial(self, rid: int, key: str, gen: int, result: Any) -> None:
        runner = _live_runner(rid)
        if runner is not None:
            runner._on_worker_partial(key, gen, result)

    def _on_returned(self, rid: int, key: str, gen: int, result: Any) -> None:
        runner = _live_runner(rid)
        if runner is not None:
            runner._on_worker_returned(key, gen, result)

    def _on_errored(self, rid: int, key: str, gen: int, exc: Any) -> None:
        runner = _live_runner(rid)
        if runner is not None:
            runner._on_worker_errored(key, gen, exc)


_relay: _Relay | None = None
_RUNNERS: weakref.WeakValueDictionary[int, TaskRunner] = weakref.WeakValueDictionary()
_runner_ids = itertools.count(1)


def _the_relay() -> _Relay:
    """The application's relay, made on first use (on the GUI thread, by ``run``)."""
    global _relay
    if _relay is None or not shiboken6.isValid(_relay):
        app = QCoreApplication.instance()
        if app is None:
            raise RuntimeError("TaskRunner.run needs a QApplication")
        _relay = _Relay(app)
    return _relay


def _live_runner(rid: int) -> TaskRunner | None:
    runner = _RUNNERS.get(rid)
    return runner if runner is not None and shiboken6.isValid(runner) else None


def _emit(signal: Any, *args: Any) -> None:
    """Emit on the relay from a worker thread; after the application is gone, nothing."""
    with contextlib.suppress(RuntimeError):
        signal.emit(*args)


class _LatestProgress:
    """A task's newest progress report, shared by its worker threads and the GUI thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value: tuple[float, str] | None = None
        self._queued = False

    def put(self, fraction: float, message: str) -> bool:
        """Keep the report; whether the caller must queue a signal (none is on its way)."""
        with self._lock:
            self._value = (fraction, message)
            if self._queued:
                return False
            self._queued = True
            return True

    def take(self) -> tuple[float, str] | None:
        """The report not yet shown, if any (the GUI thread keeps the slot while it waits)."""
        with self._lock:
            value, self._value = self._value, None
            return value

    def delivered(self) -> bool:
        """Release the slot unless a report arrived meanwhile; whether one did."""
        with self._lock:
            if self._value is not None:
                return True
            self._queued = False
            return False


@dataclass
class _Task:
    key: str
    generation: int
    label: str
    abort: threading.Event
    on_result: Callable[[Any], None]
    on_error: Callable[[str], None] | None
    on_partial: Callable[[Any], None] | None = None
    owner: QObject | None = None

    def orphaned(self) -> bool:
        """Whether the widget whose methods receive this task's news was deleted."""
        return self.owner is not None and not shiboken6.isValid(self.owner)


def _owner_of(*callbacks: Callable[..., Any] | None) -> QObject | None:
    """The Qt object a task's callbacks belong to, if any: a method's object, or the first
    Qt object a lambda closes over.

    A window's runner outlives a panel it serves (a panel rebuilt, a test's widget closed
    while the runner lives on): a late result then called a deleted label ("Internal C++
    object already deleted", seen in CI from the Slices builder's preview count).
    """
    for callback in callbacks:
        owner = getattr(callback, "__self__", None)
        if isinstance(owner, QObject):
            return owner
        # a lambda or a nested function: the Qt object it closes over (``self`` mostly)
        for cell in getattr(callback, "__closure__", None) or ():
            with contextlib.suppress(ValueError):  # an empty cell
                if isinstance(cell.cell_contents, QObject):
                    return cell.cell_contents
    return None


class TaskRunner(QObject):
    """Runs keyed work off the GUI thread; only the GUI thread sees results."""

    task_started = Signal(str, str)  # key, label
    task_progressed = Signal(str, float, str)  # key, fraction 0..1, message
    task_finished = Signal(str, str)  # key, outcome: "done" | "failed" | "cancelled"

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._tasks: dict[str, _Task] = {}
        self._generations = itertools.count(1)
        self._id = next(_runner_ids)
        _RUNNERS[self._id] = self

    def run(
        self,
        key: str,
        work: Work | ChildWork,
        *,
        label: str,
        on_result: Callable[[Any], None],
        on_error: Callable[[str], None] | None = None,
        on_partial: Callable[[Any], None] | None = None,
    ) -> None:
        """Start ``work(progress, cancelled)``; a task running under ``key`` is cancelled.

        With ``on_partial``, ``work`` is called as ``work(progress, cancelled, partial)``:
        each ``partial(value)`` reaches ``on_partial`` on the GUI thread while the task is
        still the current one under ``key`` (a first answer before the whole one).
        A :class:`ChildWork` runs in a child process (:mod:`.analysis_process`) instead, with
        the same progress, partial answers, cancellation and errors.
        """
        self.cancel(key)
        generation = next(self._generations)
        abort = threading.Event()

        relay, rid = _the_relay(), self._id
        latest = _LatestProgress()

        def progress(fraction: float, message: str = "") -> None:
            if latest.put(float(fraction), message):
                _emit(relay.progressed, rid, key, generation, latest)

        def send_partial(value: Any) -> None:
            _emit(relay.partial, rid, key, generation, value)

        def job() -> None:  # on a pool thread
            try:
                if isinstance(work, ChildWork):
                    # this thread waits for the child with the GIL released
                    sink = send_partial if on_partial is not None else None
                    result = child_pool().run(work, progress, abort, sink)
                elif on_partial is not None:
                    result = work(progress, abort.is_set, send_partial)  # type: ignore[call-arg]
                else:
                    result = work(progress, abort.is_set)
            except Exception as exc:  # every failure goes to the GUI thread
                _emit(relay.errored, rid, key, generation, exc)
            else:
                _emit(relay.returned, rid, key, generation, result)
            finally:
                # what the analysis freed goes back to the system (glibc keeps worker
                # threads' freed blocks otherwise: ~450 MB after the wide demo's drift),
                # once the window has drawn the result (a trim locks the heaps it walks)
                result = None
                return_free_memory_soon()

        owner = _owner_of(on_result, on_partial, on_error)
        self._tasks[key] = _Task(
            key, generation, label, abort, on_result, on_error, on_partial, owner
        )
        self.task_started.emit(key, label)
        _submit(job)

    def cancel(self, key: str | None = None) -> None:
        """Ask the task under ``key`` (or every task) to stop at its next check."""
        keys = list(self._tasks) if key is None else [key]
        for k in keys:
            task = self._tasks.pop(k, None)
            if task is not None:
                task.abort.set()
                self.task_finished.emit(k, "cancelled")

    def active(self) -> list[str]:
        return list(self._tasks)

    def label(self, key: str) -> str:
        task = self._tasks.get(key)
        return task.label if task else ""

    def _on_worker_progress(self, key: str, generation: int, latest: _LatestProgress) -> None:
        if self._current(key, generation) is None:
            latest.delivered()
            return
        value = latest.take()
        if value is not None:
            self.task_progressed.emit(key, *value)
        # the slot stays taken for an interval: reports meanwhile only replace the value
        QTimer.singleShot(
            PROGRESS_INTERVAL_MS, self, lambda: self._after_interval(key, generation, latest)
        )

    def _after_interval(self, key: str, generation: int, latest: _LatestProgress) -> None:
        if latest.delivered():
            self._on_worker_progress(key, generation, latest)

    def _on_worker_partial(self, key: str, generation: int, value: Any) -> None:
        task = self._current(key, generation)
        if task is not None and task.on_partial is not None:
            task.on_partial(value)

    def _current(self, key: str, generation: int) -> _Task | None:
        task = self._tasks.get(key)
        if task is None or task.generation != generation:
            return None
        if task.orphaned():  # its widget is gone: the work is dropped, as if cancelled
            del self._tasks[key]
            task.abort.set()
            self.task_finished.emit(key, "cancelled")
            return None
        return task

    def _on_worker_returned(self, key: str, generation: int, result: Any) -> None:
        task = self._current(key, generation)
        if task is None:
            return  # a newer request replaced this one, or it was cancelled
        del self._tasks[task.key]
        try:
            task.on_result(result)
        finally:
            self.task_finished.emit(task.key, "done")

    def _on_worker_errored(self, key: str, generation: int, exc: BaseException) -> None:
        task = self._current(key, generation)
        if task is None:
            return
        del self._tasks[task.key]
        if isinstance(exc, Cancelled):
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


class PartialResults(QObject):
    """A task's early answers, handed from its worker thread to ``deliver`` on the GUI thread.

    ``new_request()`` gives the work function a callable for one request; a later one
    or ``drop()`` makes the earlier request's callables send nothing more, so a slow task's
    early answer never lands on a newer selection (as the runner drops its late results).
    The final result still comes through :class:`TaskRunner`; what is sent before it arrives
    first (both travel by queued signals to the GUI thread, in order).
    """

    arrived = Signal(int, object)  # request, value

    def __init__(self, deliver: Callable[[Any], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._deliver = deliver
        self._request = 0
        self.arrived.connect(self._on_arrived)

    def new_request(self) -> Callable[[Any], None]:
        self._request += 1
        request = self._request

        def send(value: Any) -> None:  # on the worker's thread
            if request == self._request and shiboken6.isValid(self):
                _emit(self.arrived, request, value)

        return send

    def drop(self) -> None:
        """Whatever the current request still sends is ignored."""
        self._request += 1

    def _on_arrived(self, request: int, value: Any) -> None:
        if request == self._request:
            self._deliver(value)
