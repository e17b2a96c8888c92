"""Progress and cancel: what every long computation in core takes, and how it stops.

A long function takes ``progress(fraction, message)`` and ``cancelled()`` (the window's
worker passes both; the CLI passes none) and calls :func:`check_cancelled` between stages.
A cancel raises :class:`Cancelled`, which is deliberately *not* a
:class:`~watchkeeper.core.errors.WatchkeeperError`: code that skips a model whose data is
bad (``except WatchkeeperError``) must never swallow the user's request to stop.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["CancelCheck", "Cancelled", "Progress", "check_cancelled", "quiet", "stage"]

#: ``progress(fraction, message)``: fraction in ``[0, 1]`` of the whole, a short message.
Progress = Callable[[float, str], None]
#: ``cancelled()``: True once the caller asked the work to stop.
CancelCheck = Callable[[], bool]


class Cancelled(Exception):
    """The caller asked the work to stop; nothing partial is returned."""

    def __init__(self, message: str = "cancelled") -> None:
        super().__init__(message)


def check_cancelled(cancelled: CancelCheck | None) -> None:
    """Raise :class:`Cancelled` when the caller asked to stop."""
    if cancelled is not None and cancelled():
        raise Cancelled


def quiet(fraction: float, message: str = "") -> None:
    """A progress callback that reports nowhere (the CLI's)."""


def stage(progress: Progress | None, lo: float, hi: float) -> Progress:
    """A sub-stage's progress mapped onto ``[lo, hi]`` of the whole (Orange's wrap_callback)."""
    if progress is None:
        return quiet

    def mapped(fraction: float, message: str = "") -> None:
        progress(lo + (hi - lo) * float(fraction), message)

    return mapped
