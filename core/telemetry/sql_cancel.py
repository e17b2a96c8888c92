"""Cancelling a statement while the database runs it.

A pushed-down count can run for minutes on a warehouse; the window's Cancel must stop the
work where it runs, not only stop reading its answer. :func:`cancellable` watches a
``cancelled()`` callback from a small thread while a statement executes on ``conn`` and, when
it says stop, asks the driver to cancel what that connection is running:

* Spark SQL (PyHive): a synchronous Thrift call cannot be interrupted (the cancel would wait
  for the same socket), so within the block the statement is submitted asynchronously and its
  status polled; a stop sends TCancelOperation, which cancels the Spark job;
* PostgreSQL (psycopg 3): ``connection.cancel()``, the server-side cancel request;
* DuckDB: ``interrupt()`` on the connection;
* SQLite: ``interrupt()`` on the connection.

The statement then fails in its own thread with the driver's error; the caller checks
:attr:`Guard.fired` and raises :class:`~watchkeeper.core.progress.Cancelled` instead.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa

__all__ = ["POLL_S", "Guard", "cancellable"]

POLL_S = 0.1
log = logging.getLogger(__name__)


class Guard:
    """What :func:`cancellable` did: ``fired`` once it asked the driver to cancel."""

    def __init__(self) -> None:
        self.fired = False
        self.cursor: Any = None


def _interrupt(dialect: str, cursor: Any) -> None:
    if dialect == "hive":
        cursor.cancel()
    elif dialect == "postgresql":
        cursor.connection.cancel()
    elif dialect == "duckdb":
        getattr(cursor, "_CursorWrapper__c", cursor).interrupt()  # duckdb-engine's wrapper
    elif dialect == "sqlite":
        cursor.connection.interrupt()


@contextlib.contextmanager
def cancellable(conn: sa.Connection, cancelled: Callable[[], bool] | None) -> Iterator[Guard]:
    """Within the block, statements on ``conn`` are cancelled where they run when
    ``cancelled()`` turns true (checked every POLL_S seconds)."""
    guard = Guard()
    if cancelled is None:
        yield guard
        return
    dialect = conn.dialect.name
    if dialect == "hive":
        with _hive_cancellable(conn, cancelled) as guard:
            yield guard
        return
    done = threading.Event()

    def capture(_conn: Any, cursor: Any, *_args: Any) -> None:
        guard.cursor = cursor

    def watch() -> None:
        while not done.wait(POLL_S):
            if guard.cursor is not None and cancelled():
                try:
                    _interrupt(dialect, guard.cursor)
                    guard.fired = True
                except Exception as exc:  # a driver without cancel: reading stops later
                    log.debug("cannot cancel on %s: %s", dialect, exc)
                return

    sa.event.listen(conn, "before_cursor_execute", capture)
    watcher = threading.Thread(target=watch, name="wk-sql-cancel", daemon=True)
    watcher.start()
    try:
        yield guard
    finally:
        done.set()
        watcher.join()
        sa.event.remove(conn, "before_cursor_execute", capture)


@contextlib.contextmanager
def _hive_cancellable(conn: sa.Connection, cancelled: Callable[[], bool]) -> Iterator[Guard]:
    from pyhive.exc import OperationalError
    from TCLIService.ttypes import TOperationState

    guard = Guard()
    running = (
        TOperationState.INITIALIZED_STATE,
        TOperationState.PENDING_STATE,
        TOperationState.RUNNING_STATE,
    )

    def execute(cursor: Any, statement: str, parameters: Any, context: Any) -> bool | None:
        if context.root_connection is not conn:
            return None  # another connection's statement: SQLAlchemy's own execute
        guard.cursor = cursor
        cursor.execute(statement, parameters, async_=True)
        while True:
            state = cursor.poll(get_progress_update=False).operationState
            if state not in running:
                break
            if cancelled():
                cursor.cancel()
                guard.fired = True
                raise OperationalError("the statement was cancelled")
            time.sleep(POLL_S)
        if state != TOperationState.FINISHED_STATE:
            raise OperationalError(f"the statement ended in state {state}")
        return True

    engine = conn.engine
    sa.event.listen(engine, "do_execute", execute)
    try:
        yield guard
    finally:
        sa.event.remove(engine, "do_execute", execute)
