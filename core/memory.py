"""Giving freed heap memory back to the operating system after a large analysis.

glibc's allocator keeps what a process frees inside its heaps for later reuse, and from
the arenas of worker threads it rarely returns it: after the wide demo's drift analysis
(500 features × 365 windows) the window held 1.26 GB resident, of which ~450 MB were freed
blocks — ``malloc_trim(0)`` brought it to 0.82 GB. The next analysis then starts lower, and a
window that runs several in a row (the health sweep after the views) peaks lower.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys
import threading
import time
from collections.abc import Callable

__all__ = [
    "GROWTH_BYTES",
    "TRIM_DELAY_S",
    "return_free_memory",
    "return_free_memory_if_grown",
    "return_free_memory_soon",
    "trims_done",
]

_lock = threading.Lock()
#: How long after the last request :func:`return_free_memory_soon` trims: glibc holds each
#: arena's lock while it walks it, so the GUI thread's allocations wait for the trim of the
#: main arena. Trimmed the moment a task ended, that was the moment the window drew the
#: task's result: a 136 ms stall of the Drift view at 500 features (benchmarks/ui.py).
TRIM_DELAY_S = 2.0
_soon = threading.Condition()
_due: float | None = None
_trimmer: threading.Thread | None = None
_trims = 0


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    trim = getattr(libc, "malloc_trim", None)  # glibc only (not musl)
    if trim is None:
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def return_free_memory() -> bool:
    """Return the allocator's free memory to the system (glibc); whether it could be asked.

    Called on a worker thread once a task is done: ctypes releases the GIL for the call, so
    the GUI thread keeps running while glibc walks its heaps. One trim at a time.
    """
    arrow = sys.modules.get("pyarrow")
    if arrow is not None:
        # Arrow's own allocator (mimalloc) keeps freed pages too: 24 MB after the demo's
        # drift; imported here only if the process already has it
        arrow.default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is None:
        return False
    global _trims
    with _lock:
        trim(0)
        _trims += 1
    return True


#: :func:`return_free_memory_if_grown`'s default: a trim is worth its cost (it walks every
#: heap, and the pages it returns fault in again when the next batch is allocated) once the
#: resident set has grown this much since the last one.
GROWTH_BYTES = 256 << 20

_after_trim: int | None = None


def _resident_bytes() -> int | None:
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _page_size()
    except (OSError, ValueError, IndexError):
        return None


@functools.cache
def _page_size() -> int:
    import os

    return os.sysconf("SC_PAGE_SIZE")


def return_free_memory_if_grown(growth: int | None = None) -> bool:
    """:func:`return_free_memory` when the process's resident set has grown by ``growth``
    bytes (default :data:`GROWTH_BYTES`) since the last trim asked here (or none was);
    whether it trimmed. Between the
    batches of a streamed analysis: at 500 features × 730,000 rows a trim after each batch
    cost 2.5 s (system time refaulting the pages) for the same peak, while at 4,000,000 rows
    × 41 it kept ~150 MB of freed blocks from piling up."""
    global _after_trim
    growth = GROWTH_BYTES if growth is None else growth
    now = _resident_bytes()
    if now is not None and _after_trim is not None and now < _after_trim + growth:
        return False
    done = return_free_memory()
    _after_trim = _resident_bytes()
    return done


def trims_done() -> int:
    """How many trims this process has made (for tests and benchmarks)."""
    return _trims


def return_free_memory_soon(delay_s: float | None = None) -> None:
    """:func:`return_free_memory` once ``delay_s`` (default :data:`TRIM_DELAY_S`) have passed
    without another request: tasks ending together get one trim, after the window has drawn
    their results. On a daemon thread of its own, started on first use."""
    global _due, _trimmer
    delay = TRIM_DELAY_S if delay_s is None else delay_s
    with _soon:
        _due = time.monotonic() + delay
        if _trimmer is None or not _trimmer.is_alive():
            _trimmer = threading.Thread(target=_trim_when_due, name="watchkeeper-trim", daemon=True)
            _trimmer.start()
        _soon.notify()


def _trim_when_due() -> None:
    global _due
    while True:
        with _soon:
            while _due is None:
                _soon.wait()
            wait = _due - time.monotonic()
            if wait > 0:
                _soon.wait(wait)  # a newer request moves the deadline: look again
                continue
            _due = None
        return_free_memory()
