"""Things the user should know that are not errors, told by whoever presents the work.

Core code cannot print (the window has no terminal) and must not import Qt, so it calls
:func:`notify` with one sentence; the CLI listens and prints each sentence once on stderr,
the window shows its own banner. With nobody listening a notice is dropped. Standard library
only: the CLI subscribes before it knows which command will run, and importing it stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["listening", "notify"]

_listeners: list[Callable[[str], None]] = []


def notify(text: str) -> None:
    """Tell every listener ``text`` (one sentence, no trailing newline)."""
    for listener in list(_listeners):
        listener(text)


@contextmanager
def listening(listener: Callable[[str], None]) -> Iterator[None]:
    """Hand every notice made inside the block to ``listener``."""
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)
