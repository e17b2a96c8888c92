"""The governance tables, as they stand at the newest migration.

Every record table is append-only and shares the same identity columns: ``id`` (chosen by
the writer, so the record's hash can cover it), ``created_at`` (the server's clock on
PostgreSQL), ``actor`` (the signed-in database role on PostgreSQL, the OS login on SQLite),
``actor_verified``, ``key_id`` (the Ed25519 key that signed it), ``record_hash`` (digest of
every other column but ``signature``) and ``signature`` (over the same canonical JSON).

The schema is created and changed only by the Alembic migrations in ``migrations/``; this
module describes the result for the store and the verifier. A test checks the two agree.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

#: Columns of a record that its hash and signature do not cover: they *are* the hash and
#: the signature. Every other stored column is covered.
UNHASHED = frozenset({"record_hash", "signature"})

ID = sa.String(36)
HASH = sa.String(71)  # "sha256:" + 64 hex digits
NAME = sa.String(200)


def _record_columns() -> list[sa.Column]:
    return [
        sa.Column("id", ID, primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", NAME, nullable=False),
        sa.Column("actor_verified", sa.Boolean, nullable=False),
        sa.Column("key_id", HASH, nullable=False),
        sa.Column("record_hash", HASH, nullable=False),
        sa.Column("signature", sa.Text, nullable=False),
    ]


identities = sa.Table(
    "identities",
    metadata,
    *_record_columns(),
    sa.Column("public_key", sa.Text, nullable=False),
    # One registration per key, so no second row can claim someone's key (migration 0005).
    sa.Index("uq_identities_key_id", "key_id", unique=True),
)

monitor_specs = sa.Table(
    "monitor_specs",
    metadata,
    *_record_columns(),
    sa.Column("model", NAME, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("toml", sa.Text, nullable=False),
    sa.Column("toml_digest", HASH, nullable=False),
    sa.UniqueConstraint("model", "version", name="uq_monitor_specs_model_version"),
)

approvals = sa.Table(
    "approvals",
    metadata,
    *_record_columns(),
    sa.Column("model", NAME, nullable=False),
    sa.Column("model_version", NAME, nullable=False),
    sa.Column("role", NAME, nullable=False),
    sa.Column("decision", sa.String(16), nullable=False),
    sa.Column("policy", sa.Text, nullable=False),
    sa.Column("evidence", sa.Text, nullable=False),
    sa.Column("evidence_digest", HASH, nullable=False),
    sa.Column("comment", sa.Text, nullable=False),
)

rollbacks = sa.Table(
    "rollbacks",
    metadata,
    *_record_columns(),
    sa.Column("model", NAME, nullable=False),
    sa.Column("from_version", NAME, nullable=False),
    sa.Column("to_version", NAME, nullable=False),
    sa.Column("reason_class", sa.String(32), nullable=False),
    sa.Column("incident_ref", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("evidence", sa.Text, nullable=False),
    sa.Column("evidence_digest", HASH, nullable=False),
)

rollback_applications = sa.Table(
    "rollback_applications",
    metadata,
    *_record_columns(),
    sa.Column("rollback_id", ID, sa.ForeignKey("rollbacks.id"), nullable=False),
    sa.Column("result", sa.String(16), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
)

model_cards = sa.Table(
    "model_cards",
    metadata,
    *_record_columns(),
    sa.Column("model", NAME, nullable=False),
    sa.Column("model_version", NAME, nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("base_revision", sa.Integer, nullable=True),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("content_digest", HASH, nullable=False),
    sa.UniqueConstraint("model", "model_version", "revision", name="uq_model_cards_revision"),
)

incident_notes = sa.Table(
    "incident_notes",
    metadata,
    *_record_columns(),
    sa.Column("model", NAME, nullable=False),
    sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("links", sa.Text, nullable=False),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    # 1, 2, 3, ... with no gap; ``prev_hash`` unique, so the chain cannot fork. Migration
    # 0005 adds what this description leaves out: an entry must extend the current head and
    # may not reference itself or claim the genesis hash (a trigger, and CHECKs on PostgreSQL).
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor", NAME, nullable=False),
    sa.Column("actor_verified", sa.Boolean, nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("table_name", sa.String(64), nullable=False),
    sa.Column("record_id", ID, nullable=False),
    sa.Column("record_hash", HASH, nullable=False),
    sa.Column("prev_hash", HASH, nullable=False, unique=True),
    sa.Column("entry_hash", HASH, nullable=False, unique=True),
)

#: Never holds a row. PostgreSQL writers lock it (SHARE ROW EXCLUSIVE, which needs UPDATE on
#: it: only approvers have that) to append to the chain one at a time; migration 0004.
audit_chain_lock = sa.Table(
    "audit_chain_lock",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
)

#: Tables holding signed records, in the order a reader meets them.
RECORD_TABLES: tuple[sa.Table, ...] = (
    identities,
    monitor_specs,
    approvals,
    rollbacks,
    rollback_applications,
    model_cards,
    incident_notes,
)
RECORD_TABLE_BY_NAME = {t.name: t for t in RECORD_TABLES}
#: Every governance table: all append-only, all guarded by triggers.
ALL_TABLES: tuple[sa.Table, ...] = (*RECORD_TABLES, audit_log)

#: ``prev_hash`` of the first audit entry.
GENESIS_HASH = "sha256:" + "0" * 64
