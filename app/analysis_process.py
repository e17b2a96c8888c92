"""Analyses run in a child process, so the window's GUI thread never waits for their GIL.

Why: with the analysis on threads of the window's own process, the GUI thread got the GIL
only between the workers' turns. At 500 features × 365 windows the Drift view froze for
150-350 ms at a time while our own handlers took 24-51 ms (py-spy, stops 27-28: the GUI
thread waited in ``Shiboken::GilState``). Lowering the switch interval, one pool thread or
niced workers did not help; another process has a GIL of its own.

The parent side (:class:`ChildPool`) is used by :mod:`.workers` from a pool thread, which
blocks in ``poll`` (the GIL released) and turns the child's messages into the task's
progress, partial answers, result or error. The child (:func:`serve`, started as
``python -m watchkeeper.app.analysis_process FD``) imports no Qt; it runs one task at a time
and reads the parent's messages on a thread of its own, so a cancel reaches the running
task's ``cancelled()`` at its next check.

Results travel as pickles (protocol 5) with their numpy arrays as out-of-band buffers, read
into writable memory: the wide demo's drift result is 47 MB, which the parent unpickled in
0.06-0.16 s in-band, holding the GIL; with the arrays out of band, 0.03-0.07 s.

A child that dies (killed, out of memory) fails its task with a plain message; the next task
gets a new child. A child whose resident memory stays above :data:`RETIRE_RSS_BYTES` after
a task exits and is replaced, so the memory an analysis took goes back to the system.
"""

from __future__ import annotations

import contextlib
import copyreg
import importlib
import itertools
import logging
import os
import pickle
import queue
import socket
import subprocess
import sys
import threading
import time
import traceback
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from watchkeeper.core.errors import WatchkeeperError

log = logging.getLogger(__name__)

__all__ = [
    "RETIRE_RSS_BYTES",
    "ChildDied",
    "ChildPool",
    "ChildWork",
    "child_pids",
    "child_pool",
    "close_children",
    "prestart_soon",
    "serve",
    "suits_child",
]

#: A child resident above this after its task exits and is replaced by a fresh one.
RETIRE_RSS_BYTES = 768 << 20
#: At most this many children at once (one still finishing a cancelled task, one working);
#: a further task waits for one of them.
MAX_CHILDREN = 2
#: The child's niceness: on a busy machine the window's GUI thread comes first. At load
#: 3.6-4.4 on two cores (another engineer's tests and Spark), the demo's drift + performance
#: on a model's click stalled the window 146-334 ms with the child at nice 0, 93-109 ms at
#: nice 10; opening the window 121-168 against 29-94 ms; the analyses took 0-25 % longer
#: (benchmarks/ui.py, three rounds each, alternating). On an idle machine it changes nothing.
#: ``WATCHKEEPER_CHILD_NICE`` overrides it.
CHILD_NICE = 10
#: The child sends progress at most this often (the window shows it every 100 ms).
PROGRESS_INTERVAL_S = 0.05
#: Modules a new child imports before its first task, while the user still looks around.
WARM_IMPORTS = (
    "numpy",
    "scipy.stats",
    "pyarrow",
    "duckdb",
    "watchkeeper.core.workbench.analyses",
    "watchkeeper.core.drift.engine",
    "watchkeeper.core.drift.engine_sql",
)


@dataclass(frozen=True)
class ChildWork:
    """``fn(*args, progress=, cancelled=[, partial=], **kwargs)`` to run in a child process.

    ``fn`` must be a module-level function and the arguments picklable (a closure cannot
    travel: that is why this is not a ``work(progress, cancelled)`` callable). ``after`` runs in the
    parent on each partial answer and the result before the window gets them (on the pool
    thread, e.g. ranking a result's rows for the views).
    """

    fn: Callable[..., Any]
    args: Sequence[Any] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    after: Callable[[Any], None] | None = None
    #: the keyword under which ``fn`` takes its callable for partial answers
    partial_keyword: str = "partial"


class ChildDied(WatchkeeperError):
    """The child process ended while it ran a task (shown to the user as it is)."""


# -- the wire: pickles with out-of-band buffers ---------------------------------------------


def _mappingproxy(content: dict[Any, Any]) -> types.MappingProxyType[Any, Any]:
    return types.MappingProxyType(content)


def _reduce_mappingproxy(proxy: types.MappingProxyType[Any, Any]) -> tuple[Any, ...]:
    return _mappingproxy, (dict(proxy),)


# frozen results hold read-only mappings (a performance view's per-class metrics)
copyreg.pickle(types.MappingProxyType, _reduce_mappingproxy)


def _send(conn: Connection, lock: threading.Lock, message: Any) -> None:
    buffers: list[pickle.PickleBuffer] = []
    body = pickle.dumps(message, protocol=5, buffer_callback=buffers.append)
    raws = [b.raw() for b in buffers]
    with lock:
        conn.send_bytes(pickle.dumps((len(body), [r.nbytes for r in raws])))
        conn.send_bytes(body)
        for raw in raws:
            conn.send_bytes(raw)


def _receive(conn: Connection) -> Any:
    size, sizes = pickle.loads(conn.recv_bytes())
    body = conn.recv_bytes()
    if len(body) != size:
        raise ChildDied(f"a message of {len(body)} bytes where {size} were announced")
    buffers = []
    for n in sizes:
        buf = bytearray(n)  # writable: arrays of a result may be written by their readers
        if n:
            got = conn.recv_bytes_into(buf)
            if got != n:
                raise ChildDied(f"a buffer of {got} bytes where {n} were announced")
        else:
            conn.recv_bytes()
        buffers.append(buf)
    return pickle.loads(body, buffers=buffers)


# -- the child -------------------------------------------------------------------------------


def _resident_bytes() -> int | None:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _portable_error(exc: BaseException) -> BaseException:
    """``exc`` if it survives a pickle round trip, else a stand-in with its words."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        if isinstance(exc, WatchkeeperError):
            return WatchkeeperError(str(exc))
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def serve(fd: int, retire_bytes: int = RETIRE_RSS_BYTES) -> None:
    """The child's loop: run each task the parent sends, report back, until told to exit."""
    import signal

    from watchkeeper.core.memory import return_free_memory

    # Ctrl+C in a terminal reaches the whole process group: the window decides, not the child
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    niceness = int(os.environ.get("WATCHKEEPER_CHILD_NICE", str(CHILD_NICE)))
    if niceness and hasattr(os, "nice"):
        with contextlib.suppress(OSError):
            os.nice(niceness)
    conn = Connection(fd)
    send_lock = threading.Lock()
    tasks: queue.Queue[tuple[Any, ...] | None] = queue.Queue()
    current: dict[str, Any] = {"id": None, "abort": threading.Event()}
    current_lock = threading.Lock()
    cancelled_early: set[int] = set()

    def listen() -> None:
        while True:
            try:
                message = _receive(conn)
            except (EOFError, OSError):
                message = ("exit",)
            if message[0] == "run":
                tasks.put(message)
            elif message[0] == "cancel":
                with current_lock:
                    if current["id"] == message[1]:
                        current["abort"].set()
                    else:
                        cancelled_early.add(message[1])
            else:  # exit, or the parent is gone
                with current_lock:
                    current["abort"].set()
                tasks.put(None)
                return

    threading.Thread(target=listen, name="watchkeeper-child-listen", daemon=True).start()
    for name in WARM_IMPORTS:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    _send(conn, send_lock, ("ready", os.getpid()))

    while (task := tasks.get()) is not None:
        _, task_id, module, name, args, kwargs, partial_keyword = task
        abort = threading.Event()
        with current_lock:
            current["id"], current["abort"] = task_id, abort
            if task_id in cancelled_early:
                cancelled_early.discard(task_id)
                abort.set()
        last_progress = [0.0]

        def progress(
            fraction: float,
            message: str = "",
            _id: int = task_id,
            _last: list[float] = last_progress,
        ) -> None:
            now = time.monotonic()
            if now - _last[0] >= PROGRESS_INTERVAL_S:
                _last[0] = now
                _send(conn, send_lock, ("progress", _id, (float(fraction), message)))

        def partial(*values: Any, _id: int = task_id) -> None:
            # one value as it is; several (``on_model(name, judged)``) as a tuple
            _send(conn, send_lock, ("partial", _id, values[0] if len(values) == 1 else values))

        extra: dict[str, Any] = {"progress": progress, "cancelled": abort.is_set}
        if partial_keyword:
            extra[partial_keyword] = partial
        try:
            fn = getattr(importlib.import_module(module), name)
            outcome: tuple[str, Any] = ("result", fn(*args, **kwargs, **extra))
        except BaseException as exc:  # every failure goes to the parent, in words it can show
            if not isinstance(exc, Exception):
                raise
            outcome = ("error", (_portable_error(exc), traceback.format_exc()))
        resident = _resident_bytes()
        retire = resident is not None and resident > retire_bytes
        if retire:
            return_free_memory()
            resident = _resident_bytes()
            retire = resident is not None and resident > retire_bytes
        try:
            try:
                _send(conn, send_lock, (outcome[0], task_id, (outcome[1], retire)))
            except (pickle.PicklingError, TypeError, AttributeError) as exc:
                # a result that cannot travel is a bug of the function that made it: say so
                failure = RuntimeError(f"the result could not be sent back: {exc}")
                _send(conn, send_lock, ("error", task_id, ((failure, ""), retire)))
        except OSError:
            break  # the window is gone: nobody to answer
        outcome = ("", None)
        with current_lock:
            current["id"] = None
        if retire:
            break
        # the result sent and dropped: what the task freed goes back to the system while
        # the child waits (glibc kept ~225 MB of the wide drift's heap in an idle child)
        return_free_memory()
    with contextlib.suppress(OSError):
        conn.close()
    # no interpreter teardown: nothing is left to flush, and DuckDB's bindings print
    # "leaked" warnings to the window's terminal when torn down
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


# -- the parent ------------------------------------------------------------------------------


class _Child:
    """One child process and the parent's end of its socket."""

    def __init__(self, retire_bytes: int) -> None:
        parent_end, child_end = socket.socketpair()
        env = dict(os.environ)
        # the modules the parent imports, from where it imports them (a source tree, a test)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        try:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "watchkeeper.app.analysis_process",
                    str(child_end.fileno()),
                    str(retire_bytes),
                ],
                pass_fds=(child_end.fileno(),),
                stdin=subprocess.DEVNULL,
                env=env,
                close_fds=True,
            )
        finally:
            child_end.close()
        self.conn = Connection(parent_end.detach())
        self.send_lock = threading.Lock()
        self.ready = False

    @property
    def pid(self) -> int:
        return self.process.pid

    def send(self, message: Any) -> None:
        _send(self.conn, self.send_lock, message)

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Block until the child has imported its modules (its first message)."""
        if self.ready:
            return
        if not self.conn.poll(timeout):
            raise ChildDied(f"the analysis process did not start within {timeout:.0f} s")
        message = _receive(self.conn)
        if message[0] != "ready":
            raise ChildDied(f"the analysis process said {message[0]!r} before it was ready")
        self.ready = True

    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self, timeout: float = 2.0) -> None:
        if self.alive():
            with contextlib.suppress(OSError, ValueError):
                self.send(("exit",))
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        with contextlib.suppress(OSError):
            self.conn.close()

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)
        with contextlib.suppress(OSError):
            self.conn.close()


class ChildPool:
    """Children started on demand (or ahead with :meth:`prestart`), reused between tasks."""

    def __init__(
        self, max_children: int = MAX_CHILDREN, retire_bytes: int = RETIRE_RSS_BYTES
    ) -> None:
        self.max_children = max_children
        self.retire_bytes = retire_bytes
        self._idle: list[_Child] = []
        self._busy: set[_Child] = set()
        self._lock = threading.Condition()
        self._ids = itertools.count(1)
        self._closed = False

    def pids(self) -> list[int]:
        """The children's process ids (for benchmarks and tests)."""
        with self._lock:
            return [c.pid for c in [*self._idle, *self._busy] if c.alive()]

    def prestart(self) -> None:
        """Start a child now, if none is idle, so the first task does not wait for imports."""
        with self._lock:
            if self._closed or self._idle or len(self._busy) >= self.max_children:
                return
            self._idle.append(_Child(self.retire_bytes))

    def _acquire(self, abort: threading.Event) -> _Child | None:
        with self._lock:
            while True:
                if self._closed:
                    raise ChildDied("the window is closing")
                while self._idle:
                    child = self._idle.pop()
                    if child.alive():
                        self._busy.add(child)
                        return child
                    child.kill()
                if len(self._busy) < self.max_children:
                    child = _Child(self.retire_bytes)
                    self._busy.add(child)
                    return child
                if abort.is_set():
                    return None
                self._lock.wait(0.1)

    def _release(self, child: _Child, reuse: bool) -> None:
        with self._lock:
            self._busy.discard(child)
            if reuse and not self._closed and child.alive():
                self._idle.append(child)
            else:
                threading.Thread(target=child.close, daemon=True).start()
            self._lock.notify_all()
        if not reuse:
            # the next task should not wait for a fresh child's imports either
            threading.Thread(target=self.prestart, daemon=True).start()

    def run(
        self,
        work: ChildWork,
        progress: Callable[[float, str], None],
        abort: threading.Event,
        partial: Callable[[Any], None] | None = None,
    ) -> Any:
        """Run ``work`` in a child; its result, or its error raised here (on the caller's
        thread, which waits with the GIL released)."""
        from watchkeeper.core.progress import Cancelled

        child = self._acquire(abort)
        if child is None:
            raise Cancelled()
        task_id = next(self._ids)
        reuse = False
        try:
            child.wait_ready()
            fn = work.fn
            child.send(
                ("run", task_id, fn.__module__, fn.__qualname__, tuple(work.args),
                 dict(work.kwargs), work.partial_keyword if partial is not None else "")
            )  # fmt: skip
            told_to_cancel = False
            while True:
                if abort.is_set() and not told_to_cancel:
                    child.send(("cancel", task_id))
                    told_to_cancel = True
                if not child.conn.poll(0.1):
                    if not child.alive():
                        raise EOFError
                    continue
                kind, got_id, payload = _receive(child.conn)
                if got_id != task_id:
                    continue
                if kind == "progress":
                    if not told_to_cancel:
                        progress(*payload)
                elif kind == "partial":
                    if partial is not None and not told_to_cancel:
                        if work.after is not None:
                            work.after(payload)
                        partial(payload)
                else:
                    value, retire = payload
                    reuse = not retire
                    if kind == "error":
                        exc, text = value
                        if text:
                            log.debug("the analysis process failed:\n%s", text)
                        raise exc
                    if work.after is not None:
                        work.after(value)
                    return value
        except (EOFError, ConnectionError, BrokenPipeError) as exc:
            try:  # the socket closes a moment before the process is reaped
                code: int | None = child.process.wait(2)
            except subprocess.TimeoutExpired:
                code = None
            child.kill()
            raise ChildDied(_died_message(code)) from exc
        finally:
            self._release(child, reuse)

    def close(self) -> None:
        """Stop every child (the window is closing)."""
        with self._lock:
            self._closed = True
            children = [*self._idle, *self._busy]
            self._idle.clear()
            self._lock.notify_all()
        for child in children:
            child.close()


def _died_message(code: int | None) -> str:
    how = "was killed" if code is not None and code < 0 else "ended"
    hint = (
        " (the system may have run out of memory: choose a longer window or fewer features)"
        if code == -9
        else ""
    )
    return (
        f"The analysis process {how} unexpectedly (exit code {code}){hint}. "
        "Press Refresh to run it again."
    )


_pool: ChildPool | None = None
_pool_lock = threading.Lock()


def child_pool() -> ChildPool:
    """The process-wide pool, made on first use and closed at exit."""
    global _pool
    with _pool_lock:
        if _pool is None:
            import atexit

            _pool = ChildPool()
            atexit.register(_pool.close)
        return _pool


def child_pids() -> list[int]:
    """The live children's process ids, none if no pool was started (benchmarks read their
    memory)."""
    with _pool_lock:
        pool = _pool
    return pool.pids() if pool is not None else []


def close_children() -> None:
    """Stop the pool's children, if any were started (the window is closing)."""
    with _pool_lock:
        pool = _pool
    if pool is not None:
        pool.close()


def _children_allowed() -> bool:
    return os.environ.get("WATCHKEEPER_CHILD", "1") != "0" and sys.platform != "win32"


def prestart_soon() -> None:
    """Start a child on a thread of its own (the window's start-up does not wait for it),
    so that the first drift analysis finds its modules imported."""
    if _children_allowed():
        threading.Thread(
            target=child_pool().prestart, name="watchkeeper-prestart", daemon=True
        ).start()


def suits_child(entry: Any) -> bool:
    """Whether ``entry``'s analyses should run in a child process: a file, DuckDB, SQLite, and
    Spark (``hive://``), whose answers are decoded from Thrift and measured here.

    Spark's analyses waited on their server, but the window still froze while one ran on its
    thread: selecting the demo model on a Spark table (``benchmarks/spark_window.py``, two
    runs each) stalled it 136 and 132 ms with drift and performance on threads, 53 and 65 ms
    in the child, and the two views were done in 30.5-30.6 s instead of 35.5-35.6 s. The
    child reads a profile's password from the same OS keyring as the window. A PostgreSQL
    or other server stays on a thread (not measured). ``WATCHKEEPER_CHILD=0`` keeps every
    analysis on threads; so does a platform without ``pass_fds`` (Windows).
    """
    if not _children_allowed():
        return False
    if getattr(getattr(entry, "evidence", None), "kind", "") == "bundle":
        # an opened bundle owns the temporary folder of its extracted telemetry: a copy in
        # the child would remove it when collected
        return False
    spec = getattr(entry, "spec", None)
    if spec is None:
        return False
    # the scheme read here, not by core.evaluation.data (which imports pyarrow: 94 ms of the
    # GUI thread the first time); ``file.duckdb#table`` and plain paths have none
    location = spec.telemetry.source.strip().lower()
    if "://" not in location:
        return True
    return location.startswith(("duckdb:", "sqlite:", "file:", "hive:"))


if __name__ == "__main__":
    # run by its import name: what the child pickles must name this module, not __main__
    from watchkeeper.app import analysis_process

    analysis_process.serve(int(sys.argv[1]), int(sys.argv[2]))
