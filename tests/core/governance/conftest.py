"""Fixtures of the governance tests: a store on each engine, a PostgreSQL team, tampering."""

from __future__ import annotations

import itertools
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from watchkeeper.core.governance import GovernanceStore, db
from watchkeeper.core.governance.roles import add_user, create_groups, init_roles

PASSWORD = "wk-team-pw"
TEAM = {"alice": "approver", "carol": "approver", "bob": "viewer", "admin": "admin"}
_names = itertools.count()


@pytest.fixture(autouse=True)
def _keyring(plaintext_keyring: None) -> None:
    """Every test here signs with keys from its own file keyring (tests/conftest.py)."""


def _drop(postgres, url: str) -> None:  # type: ignore[no-untyped-def]
    """Drop a test database when done: fewer dirty pages for the cluster's final checkpoint."""
    import psycopg

    name = sa.make_url(url).database
    with psycopg.connect(
        f"host=127.0.0.1 port={postgres.port} user=postgres password={postgres.password} "
        "dbname=postgres",
        autocommit=True,
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database on each engine (PostgreSQL as its superuser)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'governance.db'}"
        return
    pg_url = request.getfixturevalue("postgres_url")
    yield pg_url
    _drop(request.getfixturevalue("postgres"), pg_url)


@pytest.fixture
def store(url: str) -> Iterator[GovernanceStore]:
    with GovernanceStore.open(url, create=True) as s:
        yield s


@pytest.fixture(scope="session")
def team(postgres) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Login roles alice/carol (approvers), bob (viewer), admin — cluster-wide, made once."""
    url = postgres.url("postgres")
    create_groups(url)
    for name, role in TEAM.items():
        add_user(url, name, role, PASSWORD)
    return TEAM


@pytest.fixture
def team_db(postgres, team) -> Iterator[dict[str, str]]:  # type: ignore[no-untyped-def]
    """A fresh governance database with roles; URLs per person (and 'owner', the superuser)."""
    name = f"wk_team_{os.getpid()}_{next(_names)}"
    owner = postgres.create_database(name)
    db.upgrade(owner)
    init_roles(owner)
    urls = {person: postgres.url(name, person, PASSWORD) for person in team}
    urls["owner"] = owner
    yield urls
    _drop(postgres, owner)


@pytest.fixture
def tamper():  # type: ignore[no-untyped-def]
    """The :func:`tamper_with` function, for tests that play the attacker."""
    return tamper_with


def tamper_with(url: str, statement: str, params: dict | None = None) -> int:
    """Change rows behind the store's back, as an attacker with write access would.

    SQLite: drop the append-only triggers (anyone holding the file can). PostgreSQL: as the
    superuser, allowing changes for the transaction. Returns the affected row count.
    """
    if url.startswith("sqlite"):
        path = sa.make_url(url).database
        conn = sqlite3.connect(path)
        try:
            triggers = conn.execute(
                "SELECT name FROM sqlite_master "
                "WHERE type = 'trigger' AND name LIKE 'watchkeeper_%'"
            ).fetchall()
            for (name,) in triggers:
                conn.execute(f"DROP TRIGGER {name}")
            count = conn.execute(statement, params or {}).rowcount
            conn.commit()
            return count
        finally:
            conn.close()
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("SET LOCAL watchkeeper.allow_changes = 'on'"))
            return conn.execute(sa.text(statement), params or {}).rowcount
    finally:
        engine.dispose()
