"""The chain cannot be jammed or a key id claimed twice, even by hand-made rows.

An approver may INSERT audit entries and identities directly, not only through the store:

- one entry with ``prev_hash = entry_hash`` (or ``entry_hash`` = the genesis hash, which
  entry #1's ``prev_hash`` holds) made every later write fail on the unique ``prev_hash``;
  an entry off the head (a fork, a gap) did the same in two steps. A CHECK refuses the
  self-reference; a BEFORE INSERT trigger refuses any entry that does not extend the current
  head (next ``seq``, ``prev_hash`` = the head's ``entry_hash``), so no cycle can form;
- a second ``identities`` row carrying alice's key id made verify blame her genuine records.
  A unique index keeps a key id to one registration.

A database already holding such a row (it could take no write since) or a key id registered
twice refuses this upgrade, naming the constraint or the duplicated key id; ``audit verify``
names the row for its admin to remove (``allow_changes``) before upgrading again.

SQLite: the same refusals as a trigger (anyone holding the file can drop it; the chain and
the signatures are what detect a change there) and the unique index.

Revision ID: 0005_chain_constraints
Revises: 0004_writer_lock
Create Date: 2026-05-01
"""

from __future__ import annotations

from alembic import op

revision = "0005_chain_constraints"
down_revision = "0004_writer_lock"
branch_labels = None
depends_on = None

GENESIS = "sha256:" + "0" * 64  # frozen here: schema.GENESIS_HASH may not change a revision

PG_CHECK_CHAIN = f"""
CREATE OR REPLACE FUNCTION watchkeeper_check_chain() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    head_seq integer;
    head_hash text;
BEGIN
    IF NEW.prev_hash = NEW.entry_hash THEN
        RAISE EXCEPTION 'watchkeeper: audit entry #% references itself (prev_hash = entry_hash)',
            NEW.seq;
    END IF;
    IF NEW.entry_hash = '{GENESIS}' THEN
        RAISE EXCEPTION 'watchkeeper: audit entry #% claims the genesis hash as its own',
            NEW.seq;
    END IF;
    SELECT seq, entry_hash INTO head_seq, head_hash FROM audit_log ORDER BY seq DESC LIMIT 1;
    IF NEW.seq IS DISTINCT FROM coalesce(head_seq, 0) + 1
            OR NEW.prev_hash IS DISTINCT FROM coalesce(head_hash, '{GENESIS}') THEN
        RAISE EXCEPTION 'watchkeeper: audit entry #% (prev_hash %) does not extend the '
            'chain''s head (#%, %)', NEW.seq, NEW.prev_hash, coalesce(head_seq, 0),
            coalesce(head_hash, '{GENESIS}');
    END IF;
    RETURN NEW;
END
$$;
"""

SQLITE_CHECK_CHAIN = f"""
CREATE TRIGGER watchkeeper_audit_log_chain BEFORE INSERT ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'watchkeeper: an audit entry references itself')
        WHERE NEW.prev_hash = NEW.entry_hash;
    SELECT RAISE(ABORT, 'watchkeeper: an audit entry claims the genesis hash as its own')
        WHERE NEW.entry_hash = '{GENESIS}';
    SELECT RAISE(ABORT, 'watchkeeper: an audit entry does not extend the chain''s head')
        WHERE NEW.seq IS NOT coalesce((SELECT max(seq) FROM audit_log), 0) + 1
            OR NEW.prev_hash IS NOT coalesce(
                (SELECT entry_hash FROM audit_log ORDER BY seq DESC LIMIT 1), '{GENESIS}');
END
"""


def upgrade() -> None:
    op.create_index("uq_identities_key_id", "identities", ["key_id"], unique=True)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE audit_log ADD CONSTRAINT ck_audit_log_not_self "
            "CHECK (prev_hash <> entry_hash)"
        )
        op.execute(
            "ALTER TABLE audit_log ADD CONSTRAINT ck_audit_log_not_genesis "
            f"CHECK (entry_hash <> '{GENESIS}')"
        )
        op.execute(PG_CHECK_CHAIN)
        op.execute(
            "CREATE TRIGGER watchkeeper_audit_log_chain BEFORE INSERT ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION watchkeeper_check_chain()"
        )
    else:
        op.execute(SQLITE_CHECK_CHAIN)


def downgrade() -> None:
    # Safe: dropping constraints loses no record.
    op.execute(
        "DROP TRIGGER IF EXISTS watchkeeper_audit_log_chain"
        + (" ON audit_log" if op.get_bind().dialect.name == "postgresql" else "")
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS watchkeeper_check_chain()")
        op.execute("ALTER TABLE audit_log DROP CONSTRAINT IF EXISTS ck_audit_log_not_genesis")
        op.execute("ALTER TABLE audit_log DROP CONSTRAINT IF EXISTS ck_audit_log_not_self")
    op.drop_index("uq_identities_key_id", table_name="identities")
