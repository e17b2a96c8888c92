"""PostgreSQL roles for a team: viewer, approver, admin — with grants and guards.

``init_roles(url)`` (run by the database owner or a superuser, after the migrations) creates
the group roles and grants:

- ``watchkeeper_viewer``: read every governance table (and ``audit verify``);
- ``watchkeeper_approver``: a viewer who may INSERT records and audit entries — decisions
  are only ever inserted — and lock ``audit_chain_lock``, which serialises writers;
- ``watchkeeper_admin``: an approver who may also UPDATE and DELETE. The append-only
  triggers still refuse those unless the admin sets ``watchkeeper.allow_changes = on`` for
  the transaction (:func:`allow_changes`); ``audit verify`` reports whatever changed.

People are login roles made members of a group (:func:`add_user`). Role names are
cluster-wide; grants are per database, so run ``init_roles`` on each governance database.
"""

from __future__ import annotations

import sqlalchemy as sa

from watchkeeper.core.errors import WatchkeeperError
from watchkeeper.core.governance import db, schema

__all__ = ["GROUPS", "add_user", "allow_changes", "create_groups", "init_roles"]

GROUPS = {
    "viewer": "watchkeeper_viewer",
    "approver": "watchkeeper_approver",
    "admin": "watchkeeper_admin",
}


def _q(conn: sa.Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote_identifier(name)


def _require_postgres(engine: sa.Engine, url: str) -> None:
    if engine.dialect.name != "postgresql":
        raise WatchkeeperError(
            f"{db.masked(url)}: roles exist only on PostgreSQL; a SQLite database is one "
            "person's, whose identity is the OS login"
        )


def _create_group(conn: sa.Connection, role: str) -> None:
    exists = conn.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first()
    if exists is None:
        conn.execute(sa.text(f"CREATE ROLE {_q(conn, role)} NOLOGIN"))


def create_groups(url: str) -> list[str]:
    """Create the three group roles if missing (cluster-wide; no grants)."""
    url = db.normalize_url(url)
    engine = db.create_engine(url)
    try:
        _require_postgres(engine, url)
        with db.translate_errors(url, "create roles"), engine.begin() as conn:
            for role in GROUPS.values():
                _create_group(conn, role)
        return list(GROUPS.values())
    finally:
        engine.dispose()


def init_roles(url: str) -> list[str]:
    """Create the three group roles (if missing) and grant them on this database's tables."""
    url = db.normalize_url(url)
    engine = db.create_engine(url)
    try:
        _require_postgres(engine, url)
        with db.translate_errors(url, "create roles and grants"), engine.begin() as conn:
            if db.current_revision_on(conn) is None:
                raise WatchkeeperError(
                    f"{db.masked(url)} has no governance tables yet; run `watchkeeper db init` "
                    "first"
                )
            viewer, approver, admin = (GROUPS[k] for k in ("viewer", "approver", "admin"))
            for role in (viewer, approver, admin):
                _create_group(conn, role)
            schema_name: str = conn.execute(sa.text("SELECT current_schema()")).scalar_one()
            tables = [t.name for t in schema.ALL_TABLES] + ["alembic_version"]
            listed = ", ".join(_q(conn, t) for t in tables)
            qs = _q(conn, schema_name)
            statements = [
                f"REVOKE ALL ON {listed} FROM PUBLIC",
                f"GRANT USAGE ON SCHEMA {qs} TO {viewer}",
                f"GRANT SELECT ON {listed} TO {viewer}",
                f"GRANT {viewer} TO {approver}",
                f"GRANT INSERT ON {', '.join(_q(conn, t.name) for t in schema.ALL_TABLES)} "
                f"TO {approver}",
                # Writers serialise by locking this table, a mode INSERT does not allow.
                f"REVOKE ALL ON {_q(conn, schema.audit_chain_lock.name)} FROM PUBLIC",
                f"GRANT UPDATE ON {_q(conn, schema.audit_chain_lock.name)} TO {approver}",
                f"GRANT {approver} TO {admin}",
                f"GRANT UPDATE, DELETE ON {', '.join(_q(conn, t.name) for t in schema.ALL_TABLES)}"
                f" TO {admin}",
            ]
            for statement in statements:
                conn.execute(sa.text(statement))
            # Whoever sets the roles up administers them (a superuser needs no membership).
            me = conn.execute(
                sa.text("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")
            ).one()
            if not me.rolsuper:
                conn.execute(sa.text(f"GRANT {admin} TO {_q(conn, me.current_user)}"))
        return [viewer, approver, admin]
    finally:
        engine.dispose()


def add_user(url: str, name: str, role: str, password: str | None = None) -> None:
    """Create login role ``name`` (if missing) and make it a member of ``role``'s group."""
    if role not in GROUPS:
        raise WatchkeeperError(f"role must be one of {', '.join(GROUPS)}, got {role!r}")
    url = db.normalize_url(url)
    engine = db.create_engine(url)
    try:
        _require_postgres(engine, url)
        with db.translate_errors(url, f"add user {name}"), engine.begin() as conn:
            group = conn.execute(
                sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": GROUPS[role]}
            ).first()
            if group is None:
                raise WatchkeeperError(
                    f"role {GROUPS[role]} does not exist yet: run `watchkeeper db init --roles "
                    "--db URL` first"
                )
            exists = conn.execute(
                sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": name}
            ).first()
            if exists is None:
                conn.execute(sa.text(f"CREATE ROLE {_q(conn, name)} LOGIN"))
            if password is not None:
                # The password is sent as a literal (CREATE/ALTER ROLE take no parameters);
                # quoted by the driver so any text is safe.
                from psycopg import sql

                raw = conn.connection.driver_connection
                assert raw is not None
                raw.execute(
                    sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                        sql.Identifier(name), sql.Literal(password)
                    )
                )
            conn.execute(sa.text(f"GRANT {GROUPS[role]} TO {_q(conn, name)}"))
    finally:
        engine.dispose()


def allow_changes(conn: sa.Connection) -> None:
    """Let the admin UPDATE or DELETE governance rows for the rest of this transaction only."""
    conn.execute(sa.text("SET LOCAL watchkeeper.allow_changes = 'on'"))
