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
from collections.abc import Callable

__all__ = ["return_free_memory"]

_lock = threading.Lock()


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
    trim = _malloc_trim()
    if trim is None:
        return False
    with _lock:
        trim(0)
    return True
