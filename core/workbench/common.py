"""What every workbench analysis shares: progress and cancel plumbing, the read lock."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from watchkeeper.core.errors import WatchkeeperError

__all__ = [
    "READ_LOCK",
    "Cancelled",
    "Progress",
    "WorkCancelled",
    "check",
    "spec_of",
    "stage",
]

Progress = Callable[[float, str], None]
Cancelled = Callable[[], bool]

#: Reading is serialised by one lock: the window's views start their analyses together when
#: the selection changes, and an embedded database (DuckDB, SQLite) is happier with one
#: reader at a time in a process; the reads are short next to the statistics.
READ_LOCK = threading.Lock()


class WorkCancelled(WatchkeeperError):
    """Raised by an analysis that noticed ``cancelled()`` (the caller asked it to stop)."""

    def __init__(self, message: str = "cancelled") -> None:
        super().__init__(message)


def check(cancelled: Cancelled | None) -> None:
    """Raise :class:`WorkCancelled` when the caller asked to stop."""
    if cancelled is not None and cancelled():
        raise WorkCancelled


def stage(progress: Progress, lo: float, hi: float) -> Progress:
    """A sub-stage's progress mapped onto ``[lo, hi]`` of the whole (Orange's wrap_callback)."""
    return lambda f, m="": progress(lo + (hi - lo) * float(f), m)


def spec_of(entry: Any) -> Any:
    """The entry's monitor spec, or a SpecError saying why it has none."""
    from watchkeeper.core.errors import SpecError

    if entry.spec is None:
        raise SpecError(f"{entry.name}: {entry.spec_error or 'no monitor spec'}")
    return entry.spec
