"""Which statements an analysis sends: the measure of "one scan per analysis".

:func:`recorded_statements` collects every statement any SQLAlchemy engine of this process
sends while the block runs — what the tests and ``benchmarks/spark.py`` count, and what tells
an analysis that scans the table once per window (or per feature) from one that scans it once.
Reflection (``DESCRIBE``, ``information_schema``) reads no rows: :func:`scans` leaves it out.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["recorded_statements", "scans"]

_LOCK = threading.Lock()


@contextlib.contextmanager
def recorded_statements() -> Iterator[list[str]]:
    """The statements sent while inside, in order (filled as they are sent)."""
    import sqlalchemy as sa
    from sqlalchemy.engine import Engine

    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        with _LOCK:
            seen.append(statement)

    sa.event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(Engine, "before_cursor_execute", record)


def scans(statements: list[str], table: str) -> list[str]:
    """The statements that read rows of ``table`` (a ``SELECT`` naming it)."""
    out = []
    for s in statements:
        text = " ".join(s.split())
        if text.upper().startswith("SELECT") and table in text and "information_schema" not in text:
            out.append(text)
    return out
