"""Migrations: first revision to head on both engines, safe downgrades, schema agreement."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from watchkeeper.core.errors import WatchkeeperError
from watchkeeper.core.governance import GovernanceStore, db, schema, verify_audit

REVISIONS = [
    "0001_initial",
    "0002_decisions",
    "0003_guards",
    "0004_writer_lock",
    "0005_chain_constraints",
]


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_from_the_first_revision_to_head_step_by_step(url):
    assert db.head_revision() == REVISIONS[-1]
    assert db.upgrade(url, REVISIONS[0]) == REVISIONS[0]
    assert {"identities", "approvals", "audit_log", "monitor_specs"} <= _tables(url)
    assert "model_cards" not in _tables(url)
    for revision in REVISIONS[1:]:
        assert db.upgrade(url, revision, create=False) == revision
    assert {t.name for t in schema.ALL_TABLES} <= _tables(url)
    assert db.upgrade(url) == REVISIONS[-1]  # idempotent at head


def test_migrations_build_exactly_the_schema_the_code_expects(url):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    db.upgrade(url)
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), schema.metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_downgrade_where_safe_and_refuse_where_records_would_be_lost(url):
    with GovernanceStore.open(url, create=True) as store:
        store.record_rollback("m", "2", "1", reason_class="other", reason="kept")
    # dropping the guards loses nothing: allowed, records kept, upgrade restores them
    assert db.downgrade(url, "0002_decisions") == "0002_decisions"
    assert db.upgrade(url) == "0005_chain_constraints"
    assert verify_audit(url).ok
    # dropping tables that hold records: refused, nothing changed
    with pytest.raises(WatchkeeperError, match=r"would destroy 1 record\(s\) in rollbacks"):
        db.downgrade(url, "0001_initial")
    assert db.current_revision(db.create_engine(url)) == "0005_chain_constraints"
    with GovernanceStore.open(url) as store:
        assert [r.reason for r in store.rollbacks()] == ["kept"]
    assert verify_audit(url).ok


def test_an_empty_database_downgrades_all_the_way(url):
    db.upgrade(url)
    assert db.downgrade(url, "base") == "base"
    assert not {t.name for t in schema.ALL_TABLES} & _tables(url)


def test_opening_a_missing_sqlite_file_or_a_foreign_url_says_what_to_do(tmp_path):
    with pytest.raises(WatchkeeperError, match=r"no governance database at .*db init"):
        GovernanceStore.open(f"sqlite:///{tmp_path / 'nope.db'}")
    with pytest.raises(WatchkeeperError, match="SQLite or PostgreSQL, not mysql"):
        GovernanceStore.open("mysql://u:secret@h/db")
    with pytest.raises(WatchkeeperError, match=r"folder .* does not exist"):
        db.upgrade(str(tmp_path / "missing" / "g.db"))
    # a bare path means a SQLite file
    assert db.upgrade(str(tmp_path / "g.db")) == "0005_chain_constraints"


def test_an_unreachable_server_is_one_line_without_the_password(postgres):
    url = postgres.url("postgres", "nobody", "s3cret-pw").replace(str(postgres.port), "1")
    with pytest.raises(WatchkeeperError) as info:
        GovernanceStore.open(url)
    assert "s3cret-pw" not in str(info.value) and "\n" not in str(info.value)
    assert "127.0.0.1" in str(info.value)
