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

The same watch enforces the statement timeout an engine carries in its execution options
(:data:`~watchkeeper.core.telemetry.warehouse.TIMEOUT_OPTION`; a warehouse has one by
default): past it the statement is cancelled the same way and the block raises
:class:`StatementTimeout`, which names the setting, with the connection rolled back and usable.
On ``hive://`` every statement — inside a block or not — runs asynchronously and is polled
(:func:`install_hive_execution`), so the timeout holds for reflection and reads too.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa

from watchkeeper.core.errors import TelemetryError
from watchkeeper.core.telemetry.warehouse import TIMEOUT_OPTION

__all__ = [
    "POLL_S",
    "Guard",
    "StatementTimeout",
    "cancellable",
    "cancellable_or_refused",
    "install_hive_execution",
]

POLL_S = 0.1
#: Rows a Spark/Hive fetch asks for at once: PyHive's 1,000 made the Champion view's 666,344
#: pairs 684 round trips; 10,000 is HiveServer2's and Spark's default most per fetch.
FETCH_ROWS = 10_000
log = logging.getLogger(__name__)


class Guard:
    """What :func:`cancellable` did: ``fired`` once it asked the driver to cancel."""

    def __init__(self) -> None:
        self.fired = False
        self.timed_out: float | None = None  # the timeout (s) that fired, if it did
        self.cursor: Any = None


class StatementTimeout(TelemetryError):
    """A statement ran past its timeout and was cancelled where it ran."""


#: conn.info key of the (cancelled, guard) a cancellable block on a hive connection watches.
_WATCH = "watchkeeper.cancellable"


def timeout_message(seconds: float) -> str:
    return (
        f"the query ran past the statement timeout of {seconds:g} s and was cancelled on the "
        "server; narrow the time range, or raise the limit with timeout_s=<seconds> in the "
        "source URL (hive://host:port/db?timeout_s=3600#table)"
    )


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
    ``cancelled()`` turns true (checked every POLL_S seconds) or when they run past the
    connection's statement timeout (then the block raises :class:`StatementTimeout`)."""
    guard = Guard()
    timeout = conn.get_execution_options().get(TIMEOUT_OPTION)
    if cancelled is None and timeout is None:
        yield guard
        return
    try:
        if conn.dialect.name == "hive":
            install_hive_execution(conn.engine)
            conn.info[_WATCH] = (cancelled, guard)
            try:
                yield guard
            finally:
                conn.info.pop(_WATCH, None)
        else:
            with _watched(conn, cancelled, timeout, guard):
                yield guard
    except sa.exc.DBAPIError:
        if guard.timed_out is None:
            raise
        conn.rollback()  # only reads: the connection stays usable
        raise StatementTimeout(timeout_message(guard.timed_out)) from None


@contextlib.contextmanager
def cancellable_or_refused(
    conn: sa.Connection,
    cancelled: Callable[[], bool] | None,
    *,
    what: str,
    refused: str,
    error: type[Exception],
) -> Iterator[Guard]:
    """:func:`cancellable`, and a driver's error turned into what the caller says: a stop
    asked for raises ``Cancelled(f"{what} was cancelled in the database")``, anything else
    ``error(f"the database refused {refused}: …")``; the connection is rolled back either way."""
    from watchkeeper.core.progress import Cancelled
    from watchkeeper.core.telemetry.sql_values import short_error

    guard = None
    try:
        with cancellable(conn, cancelled) as guard:
            yield guard
    except sa.exc.DBAPIError as exc:
        conn.rollback()
        if guard is not None and guard.fired:
            raise Cancelled(f"{what} was cancelled in the database") from None
        raise error(f"the database refused {refused}: {short_error(exc)}") from None


@contextlib.contextmanager
def _watched(
    conn: sa.Connection,
    cancelled: Callable[[], bool] | None,
    timeout: float | None,
    guard: Guard,
) -> Iterator[None]:
    dialect = conn.dialect.name
    done = threading.Event()
    started = time.monotonic()

    def capture(_conn: Any, cursor: Any, *_args: Any) -> None:
        guard.cursor = cursor

    def watch() -> None:
        while not done.wait(POLL_S):
            if guard.cursor is None:
                continue
            late = timeout is not None and time.monotonic() - started > timeout
            if late or (cancelled is not None and cancelled()):
                try:
                    _interrupt(dialect, guard.cursor)
                    guard.fired = True
                    if late:
                        guard.timed_out = timeout
                except Exception as exc:  # a driver without cancel: reading stops later
                    log.debug("cannot cancel on %s: %s", dialect, exc)
                return

    sa.event.listen(conn, "before_cursor_execute", capture)
    watcher = threading.Thread(target=watch, name="wk-sql-cancel", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()
        sa.event.remove(conn, "before_cursor_execute", capture)


def install_hive_execution(engine: sa.Engine) -> None:
    """Run every statement on ``engine`` (a ``hive://`` one) asynchronously and poll it:
    a synchronous Thrift call cannot be interrupted (the cancel would wait for the same
    socket), a polled one can be cancelled by a ``cancellable`` block or the timeout."""
    if not sa.event.contains(engine, "do_execute", _hive_execute):
        sa.event.listen(engine, "do_execute", _hive_execute)


def _hive_execute(cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
    from pyhive.exc import OperationalError
    from TCLIService.ttypes import TOperationState

    running = (
        TOperationState.INITIALIZED_STATE,
        TOperationState.PENDING_STATE,
        TOperationState.RUNNING_STATE,
    )
    cancelled, guard = context.root_connection.info.get(_WATCH, (None, None))
    timeout = context.execution_options.get(TIMEOUT_OPTION)
    deadline = None if timeout is None else time.monotonic() + float(timeout)
    if guard is not None:
        guard.cursor = cursor
    if cancelled is not None and cancelled():
        # asked to stop before it was sent: a statement of a few hundred milliseconds
        # would otherwise run to its end between two polls, and the next one after it
        if guard is not None:
            guard.fired = True
        raise OperationalError("the statement was cancelled before it was sent")
    cursor.arraysize = FETCH_ROWS
    cursor.execute(statement, parameters, async_=True)
    while True:
        state = cursor.poll(get_progress_update=False).operationState
        if state not in running:
            break
        if cancelled is not None and cancelled():
            cursor.cancel()
            if guard is not None:
                guard.fired = True
            raise OperationalError("the statement was cancelled")
        if deadline is not None and time.monotonic() > deadline:
            cursor.cancel()
            if guard is not None:
                guard.fired = True
                guard.timed_out = float(timeout)
            raise OperationalError(timeout_message(float(timeout)))
        time.sleep(POLL_S)
    if state != TOperationState.FINISHED_STATE:
        # the server's own error (a bad statement) comes with the operation's status
        status = cursor.poll()
        raise OperationalError(status.errorMessage or f"the statement ended in state {state}")
    return True
