"""``watchkeeper db init --db URL [--roles]`` and ``watchkeeper db upgrade --db URL``.

``init`` creates the governance database (a new SQLite file, or the tables in an existing
PostgreSQL database) by running every migration; with ``--roles`` (PostgreSQL) it also
creates the viewer / approver / admin roles and their grants. ``upgrade`` migrates an
existing database to the newest revision.
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "db",
        help="create or upgrade the governance database",
        description="Create or upgrade the shared governance database.",
    )
    sub = p.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    init = sub.add_parser(
        "init",
        help="create the governance database (and, with --roles, its PostgreSQL roles)",
        description="Create the governance database by running every migration. With --roles "
        "(PostgreSQL, as its owner or a superuser) also create the roles watchkeeper_viewer, "
        "watchkeeper_approver and watchkeeper_admin with their grants.",
    )
    init.add_argument(
        "--db",
        required=True,
        metavar="URL",
        help="a SQLAlchemy URL (sqlite:///FILE, postgresql+psycopg://...) or a file",
    )
    init.add_argument(
        "--roles",
        action="store_true",
        help="create viewer / approver / admin roles and grants (PostgreSQL)",
    )
    init.set_defaults(run=run_init)
    up = sub.add_parser(
        "upgrade",
        help="migrate an existing governance database to this version's schema",
        description="Migrate an existing governance database to the newest revision.",
    )
    up.add_argument(
        "--db",
        required=True,
        metavar="URL",
        help="a SQLAlchemy URL (sqlite:///FILE, postgresql+psycopg://...) or a file",
    )
    up.set_defaults(run=run_upgrade)


def run_init(args: argparse.Namespace) -> int:
    from watchkeeper.core.errors import WatchkeeperError
    from watchkeeper.core.governance import db

    url = db.normalize_url(args.db)
    if args.roles and not url.startswith("postgres"):
        raise WatchkeeperError(
            f"{db.masked(url)}: roles exist only on PostgreSQL; a SQLite database is one "
            "person's, whose identity is the OS login"
        )
    revision = db.upgrade(url, create=True)
    print(f"governance database {db.masked(db.normalize_url(args.db))} at revision {revision}")
    if args.roles:
        from watchkeeper.core.governance.roles import init_roles

        roles = init_roles(args.db)
        print(f"roles ready: {', '.join(roles)} (make people members with GRANT <role> TO <user>)")
    return 0


def run_upgrade(args: argparse.Namespace) -> int:
    from watchkeeper.core.governance import db

    engine = db.create_engine(args.db)  # must exist: upgrading nothing is a typo
    try:
        before = db.current_revision(engine)
        revision = db.migrate(engine, url=db.normalize_url(args.db))
    finally:
        engine.dispose()
    shown = db.masked(db.normalize_url(args.db))
    if before == revision:
        print(f"governance database {shown} already at revision {revision}")
    else:
        print(f"governance database {shown} upgraded from {before or 'empty'} to {revision}")
    return 0
