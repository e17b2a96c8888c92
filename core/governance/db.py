"""Connecting to the governance database and migrating it.

One engine factory for both engines. SQLite gets SQLAlchemy's documented fix for pysqlite's
transaction handling (we emit BEGIN ourselves), foreign keys on, a busy timeout, and
``BEGIN IMMEDIATE`` for write transactions, so two writers queue instead of racing for the
audit chain's head. PostgreSQL writers serialise on a table lock only writers may take
(see ``store.py``).

Migrations are the Alembic scripts shipped in ``migrations/``; there is no alembic.ini.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event

from watchkeeper.core.errors import WatchkeeperError

if TYPE_CHECKING:  # alembic loads only when a migration step needs it
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"

#: Execution option that makes a SQLite transaction start with BEGIN IMMEDIATE.
WRITE = "watchkeeper_write"

#: How long a SQLite connection waits for another program's lock on the file before the
#: operation fails as "busy". Read when an engine is made (tests shorten it). Writes of ours
#: take milliseconds, so waiting longer only delays the message when someone holds the file.
BUSY_TIMEOUT_SECONDS = 10.0

_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6


def normalize_url(url: str) -> str:
    """A SQLAlchemy URL; a bare file path means a SQLite database at that path."""
    url = str(url).strip()
    if not url:
        raise WatchkeeperError("no governance database given (--db URL)")
    if "://" not in url:
        return f"sqlite:///{Path(url).expanduser().resolve()}"
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    try:
        sa.make_url(url)
    except (sa.exc.ArgumentError, ValueError):
        # e.g. an unclosed "[" of an IPv6 host or a port that is not a number: make_url
        # raises a bare ValueError, which every caller would otherwise meet on its own
        from watchkeeper.core.registry.credentials import redact_uri

        raise WatchkeeperError(
            f"{redact_uri(url)!r} is not a database URL (a port must be a number, an IPv6 host "
            "is written in brackets: postgresql://user@[::1]:5432/db)"
        ) from None
    return url


def masked(url: str | sa.URL) -> str:
    """The URL as it may be shown: never with its password."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL: shown without what may be credentials
        text = str(url)
        return text.split("@", 1)[-1] if "@" in text else text


def create_engine(url: str, *, must_exist: bool = True) -> sa.Engine:
    """An engine on ``url``; a missing SQLite file is an error unless ``must_exist`` is false."""
    url = normalize_url(url)
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        raise WatchkeeperError(f"{url!r} is not a database URL") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        path = parsed.database
        if not path or path == ":memory:":
            raise WatchkeeperError(
                "the governance database must be a file, not an in-memory SQLite"
            )
        file = Path(path)
        if must_exist and not file.exists():
            raise WatchkeeperError(
                f"no governance database at {file} (create it with `watchkeeper db init --db "
                f"{masked(parsed)}`)"
            )
        if not file.parent.is_dir():
            raise WatchkeeperError(f"cannot create {file}: folder {file.parent} does not exist")
        engine = sa.create_engine(parsed, connect_args={"timeout": BUSY_TIMEOUT_SECONDS})
        _fix_sqlite_transactions(engine)
        return engine
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return sa.create_engine(parsed, pool_pre_ping=True)
    raise WatchkeeperError(
        f"{masked(parsed)}: the governance database is SQLite or PostgreSQL, not {backend}"
    )


def _fix_sqlite_transactions(engine: sa.Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: object) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        immediate = conn.get_execution_options().get(WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextlib.contextmanager
def translate_errors(url: str, doing: str) -> Iterator[None]:
    """Turn driver errors into one-line :class:`WatchkeeperError` messages."""
    try:
        yield
    except WatchkeeperError:
        raise
    except sa.exc.DBAPIError as exc:
        raise WatchkeeperError(describe_db_error(exc, url, doing)) from None


def describe_db_error(exc: sa.exc.DBAPIError, url: str, doing: str) -> str:
    orig = exc.orig
    where = masked(url)
    sqlstate = getattr(orig, "sqlstate", None)
    diag = getattr(orig, "diag", None)
    lines = str(orig).strip().splitlines() or [type(orig).__name__]
    primary = getattr(diag, "message_primary", None) or lines[0]
    if sqlstate == "42501":
        hint = ""
        if doing.startswith(("record", "save", "store")):
            hint = "; recording needs the watchkeeper_approver role"
        return f"{where}: permission denied while trying to {doing} ({primary}{hint})"
    if sqlstate == "P0001":  # raised by our triggers; the message says what and why
        return f"{where}: refused while trying to {doing}: {primary}"
    if is_sqlite_busy(orig):
        return (
            f"{where}: the governance database is busy: another program is writing to it "
            f"(waited {BUSY_TIMEOUT_SECONDS:g} s to {doing}); nothing was written, try again"
        )
    if isinstance(exc, sa.exc.OperationalError) and exc.statement is None:
        return f"{where}: cannot connect: {primary.removeprefix('connection failed: ')}"
    return f"{where}: cannot {doing}: {primary}"


def is_sqlite_busy(error: BaseException | None) -> bool:
    """Whether SQLite gave up waiting for another connection's lock on the file."""
    if not isinstance(error, sqlite3.OperationalError):
        return False
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:  # the primary code is the low byte of an extended one
        return code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)
    return "database is locked" in str(error) or "database table is locked" in str(error)


# --- migrations --------------------------------------------------------------------------


def alembic_config(connection: sa.Connection | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: sa.Engine) -> str | None:
    """The database's revision; ``None`` for a database never migrated."""
    from alembic.runtime.migration import MigrationContext

    with (
        translate_errors(str(engine.url), "read the database's revision"),
        engine.connect() as conn,
    ):
        return MigrationContext.configure(conn).get_current_revision()


def current_revision_on(conn: sa.Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


def upgrade(url: str, revision: str = "head", *, create: bool = True) -> str:
    """Migrate the database at ``url`` up to ``revision``; returns the revision reached."""
    engine = create_engine(url, must_exist=not create)
    try:
        return migrate(engine, revision, url=url)
    finally:
        engine.dispose()


def migrate(engine: sa.Engine, revision: str = "head", *, url: str | None = None) -> str:
    from alembic import command
    from alembic.util import CommandError

    shown = url or engine.url
    with translate_errors(str(shown), "migrate the governance database"):
        try:
            with engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
                command.upgrade(alembic_config(conn), revision)
        except CommandError as exc:
            raise WatchkeeperError(f"{masked(shown)}: cannot upgrade: {exc}") from None
        return current_revision(engine) or "base"


def downgrade(url: str, revision: str) -> str:
    """Migrate down to ``revision`` where safe; a step that would drop records refuses."""
    from alembic import command
    from alembic.util import CommandError

    engine = create_engine(url)
    try:
        with translate_errors(url, "downgrade the governance database"):
            try:
                with engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
                    command.downgrade(alembic_config(conn), revision)
            except CommandError as exc:
                raise WatchkeeperError(f"{masked(url)}: cannot downgrade: {exc}") from None
            except RuntimeError as exc:  # refuse_if_rows
                raise WatchkeeperError(f"{masked(url)}: {exc}") from None
            return current_revision(engine) or "base"
    finally:
        engine.dispose()
